//! Every request's time limit (`http.request_timeout_ms`) and body limit: the body must
//! arrive within the limit (else 408: the client is too slow), and the answer too (else 504:
//! the store is). A request head that does not arrive in time closes the connection (hyper's
//! header-read timeout, set where connections are served).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::LengthLimitError;
use tokio::time::{timeout_at, Instant};

/// The largest request body taken, in bytes: axum's own default, kept (an order is a few
/// hundred bytes; a 10,000-line one still gets the menu's clear refusal, not a 413).
pub const MAX_BODY: usize = 2 << 20;

/// Reads the body within the limit, then runs the request within what is left of it.
pub async fn limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let deadline = Instant::now() + limit;
    let ms = limit.as_millis();
    let (parts, body) = req.into_parts();
    let bytes = match timeout_at(deadline, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if too_large(&e) => {
            let msg = format!("the request body is over {MAX_BODY} bytes");
            return super::error(StatusCode::PAYLOAD_TOO_LARGE, msg);
        }
        Ok(Err(_)) => {
            return super::error(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
        Err(_) => {
            let msg = format!("the request body did not arrive within {ms} ms");
            let mut response = super::error(StatusCode::REQUEST_TIMEOUT, msg);
            // The rest of the body may still come: this connection is done.
            let close = HeaderValue::from_static("close");
            response.headers_mut().insert(CONNECTION, close);
            return response;
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match timeout_at(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let msg = format!("no answer within {ms} ms (http.request_timeout_ms)");
            super::error(StatusCode::GATEWAY_TIMEOUT, msg)
        }
    }
}

/// True if reading the body failed on the size limit.
fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}
