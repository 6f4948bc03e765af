//! `GET /analytics/summary`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use milo_bus::Store;
use serde_json::json;

use crate::service::SUMMARY_KEY;
use crate::summary::Summary;

/// Routes of the analytics service.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/analytics/summary", get(summary))
        .with_state(store)
}

async fn summary(State(store): State<Store>) -> Response {
    match store.get::<Summary>(SUMMARY_KEY) {
        Ok(s) => Json(s.unwrap_or_default().to_json()).into_response(),
        Err(e) => {
            let body = json!({ "error": e.to_string() });
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
    }
}
