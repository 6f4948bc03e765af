//! Serving the HTTP API: the routes of the parts in this process, JSON errors everywhere;
//! and a tiny client for tools and tests ([`client`]).

pub mod client;

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::Router;
use milo_bus::Shutdown;
use tokio::net::TcpListener;

/// Binds `addr` and serves `router` until `shutdown`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    mut shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = router
        .fallback(|| async { milo_order::http::error(StatusCode::NOT_FOUND, "no such route") });
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.wait().await });
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "HTTP server stopped.");
        }
    });
    Ok((bound, task))
}
