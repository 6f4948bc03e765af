//! The payment service's HTTP API, for the manager: `GET /payments/declined-offline`, the
//! charges authorized offline that the processor declined when they were captured (the drinks
//! were made, the money was not taken), and the offline queue as it stands. Read-only: it
//! answers under the same rules as every other route (a GET needs no token).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use milo_bus::Store;
use serde_json::json;

use crate::offline;

/// Most declined charges listed.
const LIMIT: usize = 10_000;

/// Routes of the payment service.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/payments/declined-offline", get(declined))
        .with_state(store)
}

async fn declined(State(store): State<Store>) -> Response {
    let answer =
        offline::declined(&store, LIMIT).and_then(|list| Ok((list, offline::exposure(&store)?)));
    match answer {
        Ok((declined, queued)) => Json(json!({
            "declined": declined,
            "queued": queued.count,
            "queued_cents": queued.cents,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}
