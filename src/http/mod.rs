//! Serving the HTTP API: the routes of the parts in this process behind one set of rules, and
//! a tiny client for tools and tests ([`client`]).
//!
//! Every request, outermost first: a log line ([`log`]: method, path, peer, token name,
//! status, latency; never a body or a header), a time limit and a body limit ([`limits`]),
//! a bearer token for anything but GET and HEAD where one is needed ([`guard`]). Connections
//! are served by hyper directly so that a client slow to send its request head is cut off too
//! (axum's `serve` sets no timer, so hyper's header-read timeout cannot run there).
//! Every error answers with a JSON body `{"error": ...}`.

pub mod client;
mod guard;
mod limits;
mod log;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use milo_bus::Shutdown;
use milo_config::HttpConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::validate_request::ValidateRequestHeaderLayer;

use guard::Guard;
pub use limits::MAX_BODY;

/// A JSON error response `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    milo_order::http::error(status, message)
}

/// Binds `addr` and serves `router` under `http`'s rules (time limit, tokens) until
/// `shutdown`; returns the bound address. Requests still running then get the time limit to
/// finish.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    http: &HttpConfig,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let guard = Guard::new(http, bound);
    if guard.locked() {
        tracing::warn!(
            http = %bound,
            "HTTP listens beyond loopback with no [http.tokens]: every request but GET and \
             HEAD is refused."
        );
    }
    let app = app(router, guard, http.request_timeout());
    let task = tokio::spawn(accept(listener, app, http.request_timeout(), shutdown));
    Ok((bound, task))
}

/// The routes wrapped in the rules; the last layer added runs first.
fn app(router: Router, guard: Guard, limit: Duration) -> Router {
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(ValidateRequestHeaderLayer::custom(guard))
        .layer(axum::middleware::from_fn_with_state(limit, limits::limit))
        .layer(axum::middleware::from_fn(log::mark_reads))
        .layer(log::trace())
}

/// Accepts connections until `shutdown`, then lets each finish its request (the time limit
/// at most).
async fn accept(listener: TcpListener, app: Router, limit: Duration, mut shutdown: Shutdown) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = connection(stream, peer, app.clone(), limit, shutdown.clone());
                    conns.spawn(conn);
                }
                Err(e) => {
                    // Out of file descriptors, most likely: give the others a moment.
                    tracing::warn!(error = %e, "HTTP accept failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limit, drained).await.is_err() {
        tracing::warn!("HTTP requests still running at shutdown were cut off.");
    }
}

/// Serves one connection: HTTP/1.1, the request head within `limit` (also the longest a
/// kept-alive connection may sit idle), the peer's address in each request.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limit: Duration,
    mut shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let service = app.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limit);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection closed.");
    }
}
