//! Request logs with tower-http's `TraceLayer`: one line per request when it is answered, in
//! a span with the method, path, peer and (for a request with a token) the token's name; the
//! line has the status and latency. Never a body, a query string or a header. Reads that
//! succeed log at DEBUG (tills and screens poll them); everything else at INFO, server
//! errors at WARN.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, Response};
use axum::middleware::Next;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// Marks the answer to a GET or HEAD (for its log level).
#[derive(Clone, Copy)]
struct Read;

type MakeSpan = fn(&Request) -> Span;
type OnResponse = fn(&Response<Body>, Duration, &Span);

/// The request log layer: [`span`], [`answered`], nothing else (tower-http's defaults would
/// also log each request's start and every server error at ERROR).
pub type Trace =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), OnResponse, (), (), ()>;

/// The request log layer.
pub fn trace() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(span as MakeSpan)
        .on_request(())
        .on_response(answered as OnResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn span(req: &Request) -> Span {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
    tracing::info_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        peer = %peer.map_or("-".to_owned(), |p| p.0.to_string()),
        token = tracing::field::Empty,
    )
}

fn answered(response: &Response<Body>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::warn!(status, latency_ms, "HTTP request failed.");
    } else if response.extensions().get::<Read>().is_some() && status < 400 {
        tracing::debug!(status, latency_ms, "HTTP request answered.");
    } else {
        tracing::info!(status, latency_ms, "HTTP request answered.");
    }
}

/// Marks the answers to reads, so that [`trace`] logs them quietly.
pub async fn mark_reads(req: Request, next: Next) -> axum::response::Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let mut response = next.run(req).await;
    if read {
        response.extensions_mut().insert(Read);
    }
    response
}
