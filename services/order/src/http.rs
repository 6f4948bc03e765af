//! The orders HTTP API. Every error answers with a JSON body `{"error": ...}`.
//!
//! `POST /orders` answers 202 once the order is durable, 422 when the menu refuses it (the
//! order is kept, rejected), 409 when the shop cannot make it right now by the latest
//! `menu/availability`, and 503 when it is a card order while card payments are offline (the
//! retained `payments/gateway`; `"payment": "cash"` in the body is taken): in both last cases
//! nothing is kept, so the same order id may be placed again later.
//! Every wait for the order service is bounded by the router's `wait`: `POST /orders` with no
//! answer by then says 504 with the order id and `"status": "unknown"` (the POS may send the
//! same order again: its id makes that harmless); a cancellation not decided by then, 202.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use milo_bus::{Commands, Store};
use milo_contracts::events::{OrderLine, OrderPlaced};
use milo_contracts::payments::PaymentMethod;
use milo_contracts::saga::CancelRequested;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use crate::model::{order_key, status_prefix, OrderRecord, Status, ORDER_PREFIX};
use crate::service::Command;

#[derive(Clone)]
struct AppState {
    store: Store,
    commands: Commands<Command>,
    wait: Duration,
}

/// Routes of the order service; a request waits at most `wait` for the service's answer
/// (keep it below the server's request limit, so that this answer, not a generic 504, goes
/// out).
pub fn router(store: Store, commands: Commands<Command>, wait: Duration) -> Router {
    Router::new()
        .route("/orders", post(place).get(list))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/cancel", post(cancel))
        .with_state(AppState {
            store,
            commands,
            wait,
        })
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceBody {
    items: Vec<OrderLine>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    order_id: Option<Uuid>,
    /// `"card"` (the default) or `"cash"`.
    #[serde(default)]
    payment: PaymentMethod,
}

async fn place(
    State(app): State<AppState>,
    body: Result<Json<PlaceBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, e.body_text())
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let order_id = body.order_id.unwrap_or_else(Uuid::now_v7);
    let placed = OrderPlaced {
        order_id,
        items: body.items,
        customer: body.customer,
        payment: body.payment,
    };
    let deadline = Instant::now() + app.wait;
    let (reply, answer) = oneshot::channel();
    let ask = async {
        if !app.commands.send(Command::Place { placed, reply }).await {
            return None;
        }
        answer.await.ok()
    };
    let outcome = match tokio::time::timeout_at(deadline, ask).await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return error(StatusCode::SERVICE_UNAVAILABLE, "order service is stopping"),
        Err(_) => return place_unknown(order_id, app.wait),
    };
    if let Some(reason) = outcome.unavailable {
        return error(StatusCode::CONFLICT, reason);
    }
    if let Some(reason) = outcome.cards_offline {
        let body = json!({ "error": reason, "order_id": order_id, "payment": "card" });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let order = outcome.order;
    if order.status == Status::Rejected {
        let body = json!({
            "error": order.reason.clone().unwrap_or_default(),
            "order_id": order.order_id,
            "status": order.status,
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let body = json!({ "order_id": order.order_id, "status": order.status });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// 504: the order service did not answer in time. The order may yet be taken (the request is
/// queued) or lost with the process: the till cannot tell, so it says so, with the id to send
/// again (harmless: one id, one order) or to look up.
fn place_unknown(order_id: Uuid, wait: Duration) -> Response {
    let body = json!({
        "error": format!(
            "the order service did not answer within {} ms; place the same order_id again \
             (it will not be taken twice) or GET /orders/{order_id}",
            wait.as_millis()
        ),
        "order_id": order_id,
        "status": "unknown",
    });
    (StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response()
}

async fn show(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return error(StatusCode::BAD_REQUEST, format!("not an order id: {id:?}"));
    };
    match app.store.get::<OrderRecord>(&order_key(id)) {
        Ok(Some(order)) => Json(order).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no order {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(order_id) = Uuid::parse_str(&id) else {
        return error(StatusCode::BAD_REQUEST, format!("not an order id: {id:?}"));
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        match serde_json::from_slice::<CancelBody>(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad cancel body: {e}")),
        }
    };
    let request = CancelRequested {
        order_id,
        reason: body.reason,
    };
    let deadline = Instant::now() + app.wait;
    let (reply, answer) = oneshot::channel();
    let ask = async {
        if !app.commands.send(Command::Cancel { request, reply }).await {
            return None;
        }
        answer.await.ok()
    };
    match tokio::time::timeout_at(deadline, ask).await {
        Ok(Some(true)) => {}
        Ok(Some(false)) => return error(StatusCode::NOT_FOUND, format!("no order {order_id}")),
        Ok(None) => return error(StatusCode::SERVICE_UNAVAILABLE, "order service is stopping"),
        Err(_) => {
            let msg = format!(
                "the order service did not take the cancellation within {} ms; ask again",
                app.wait.as_millis()
            );
            let body = json!({ "error": msg, "order_id": order_id, "status": "unknown" });
            return (StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response();
        }
    }
    loop {
        let order = match app.store.get::<OrderRecord>(&order_key(order_id)) {
            Ok(Some(order)) => order,
            Ok(None) => return error(StatusCode::NOT_FOUND, format!("no order {order_id}")),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        if let Some(response) = cancel_outcome(&order) {
            return response;
        }
        if Instant::now() >= deadline {
            let body = json!({ "order_id": order_id, "status": order.status, "cancel": "pending" });
            return (StatusCode::ACCEPTED, Json(body)).into_response();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The answer to a cancellation once it is decided.
fn cancel_outcome(order: &OrderRecord) -> Option<Response> {
    let refused = order.cancel.as_ref().and_then(|c| c.refused.clone());
    let refused = match order.status {
        Status::Canceled => {
            let c = &order.compensation;
            let body = json!({
                "order_id": order.order_id,
                "status": order.status,
                "reason": order.reason,
                "refunded_cents": c.refunded_cents,
                "released": c.released,
                "compensations": c.done,
            });
            return Some((StatusCode::OK, Json(body)).into_response());
        }
        Status::Rejected => Some("the order was rejected".to_owned()),
        Status::Prepared => refused.or_else(|| Some("the drink is already made".to_owned())),
        _ => refused,
    }?;
    let body = json!({ "error": refused, "order_id": order.order_id, "status": order.status });
    Some((StatusCode::CONFLICT, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
    after: Option<Uuid>,
}

const MAX_LIMIT: usize = 500;

async fn list(
    State(app): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1..={MAX_LIMIT}"),
        );
    }
    let after = q.after.map(|a| a.to_string());
    let orders = match q.status.as_deref() {
        None => app
            .store
            .scan::<OrderRecord>(ORDER_PREFIX, after.as_deref(), limit),
        Some(s) => match Status::parse(s) {
            None => return error(StatusCode::BAD_REQUEST, format!("unknown status {s:?}")),
            Some(status) => by_status(&app.store, status, after.as_deref(), limit),
        },
    };
    match orders {
        Ok(orders) => {
            let orders: Vec<OrderRecord> = orders.into_iter().map(|(_, o)| o).collect();
            let next = (orders.len() == limit).then(|| orders.last().map(|o| o.order_id));
            Json(json!({ "orders": orders, "next": next.flatten() })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn by_status(
    store: &Store,
    status: Status,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, OrderRecord)>, milo_bus::StoreError> {
    let ids = store.scan::<()>(&status_prefix(status), after, limit)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, ()) in ids {
        if let Some(order) = store.get::<OrderRecord>(&format!("{ORDER_PREFIX}{id}"))? {
            out.push((id, order));
        }
    }
    Ok(out)
}
