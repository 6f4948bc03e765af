//! The sagas HTTP API: one saga with every step, and sagas by state. Errors answer with a
//! JSON body `{"error": ...}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use milo_bus::{Store, StoreError};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{saga_key, state_prefix, Saga, SagaState, SAGA_PREFIX};

/// Routes of the coordinator.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/sagas", get(list))
        .route("/sagas/{id}", get(show))
        .with_state(store)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn show(State(store): State<Store>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return error(StatusCode::BAD_REQUEST, format!("not an order id: {id:?}"));
    };
    match store.get::<Saga>(&saga_key(id)) {
        Ok(Some(saga)) => Json(saga).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no saga for order {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// A state, or `active` for every unfinished one.
    state: Option<String>,
    /// Only sagas whose state has not changed for this many seconds (stuck ones).
    older_than: Option<u64>,
    limit: Option<usize>,
}

const MAX_LIMIT: usize = 500;

async fn list(
    State(store): State<Store>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        let msg = format!("limit must be 1..={MAX_LIMIT}");
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let states: Vec<SagaState> = match q.state.as_deref() {
        None => SagaState::ALL.to_vec(),
        Some("active") => SagaState::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect(),
        Some(s) => match SagaState::parse(s) {
            Some(state) => vec![state],
            None => {
                let known: Vec<&str> = SagaState::ALL.iter().map(|s| s.as_str()).collect();
                let msg = format!(
                    "unknown state {s:?}; expected active or one of {}",
                    known.join(", ")
                );
                return error(StatusCode::BAD_REQUEST, msg);
            }
        },
    };
    let cutoff = q.older_than.map(|secs| {
        OffsetDateTime::now_utc() - time::Duration::seconds(secs.min(i64::MAX as u64) as i64)
    });
    match select(&store, &states, cutoff, limit) {
        Ok(sagas) => Json(json!({ "sagas": sagas })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Sagas in `states` whose last change is before `cutoff`, at most `limit`.
fn select(
    store: &Store,
    states: &[SagaState],
    cutoff: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<Saga>, StoreError> {
    let mut out = Vec::new();
    for state in states {
        for (id, ()) in store.scan::<()>(&state_prefix(*state), None, usize::MAX)? {
            let Some(saga) = store.get::<Saga>(&format!("{SAGA_PREFIX}{id}"))? else {
                continue;
            };
            if cutoff.is_some_and(|c| saga.updated_at > c) {
                continue;
            }
            out.push(saga);
            if out.len() == limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}
