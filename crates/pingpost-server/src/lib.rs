//! The HTTP API. The only crate that knows partners' JSON: it parses and validates requests
//! (hashing identifiers at the edge), calls the engine, and maps every failure to the
//! spec's JSON error with its status.
//!
//! # Layout
//! - [`error`]: the JSON error shape and the status of each failure.
//! - [`body`]: request bodies under a size limit, refused so the client reads the refusal.
//! - [`wire`]: request bodies → engine requests.
//! - [`disclose`]: answers → what the offer lets its partner see.
//! - [`routes`]: partner handlers, authentication.
//! - [`console`]: the operators' console (`/console`), a client of the admin API.
//! - [`admin`]: the operators' API under `/v1/admin/`.
//! - [`query`]: query-string times and report ranges, shared by the reports.
//! - [`openapi`]: the API document, `GET /openapi.json`.
//! - [`metrics`]: the Prometheus recorder (installed once per process) and `/metrics`.

pub mod admin;
pub mod body;
pub mod buyer;
pub mod console;
pub mod disclose;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod returns;
pub mod routes;
pub mod wire;

use pingpost_engine::Engine;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest request body accepted; a lead is a few hundred bytes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub use admin::auth::AdminToken;

pub struct AppState {
    pub engine: Arc<Engine>,
    /// Limit of partner bodies (pings, posts).
    pub body_limit: usize,
    pub admin_token: AdminToken,
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// The caller owns the listener, so tests bind `127.0.0.1:0` and run the real server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // axum leaves Nagle on for accepted connections: small answers would wait for the
    // client's delayed ACK, adding up to milliseconds to a sub-millisecond ping.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
    });
    axum::serve(listener, routes::router(state)).with_graceful_shutdown(shutdown).await
}
