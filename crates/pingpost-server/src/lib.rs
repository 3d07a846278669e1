//! The HTTP API. The only crate that knows partners' JSON: it parses and validates requests
//! (hashing identifiers at the edge), calls the engine, and maps every failure to the
//! spec's JSON error with its status.
//!
//! # Layout
//! - [`error`]: the JSON error shape and the status of each failure.
//! - [`wire`]: request bodies → engine requests.
//! - [`routes`]: handlers, authentication, body limits.

pub mod error;
pub mod routes;
pub mod wire;

use pingpost_engine::Engine;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest request body accepted; a lead is a few hundred bytes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub body_limit: usize,
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// The caller owns the listener, so tests bind `127.0.0.1:0` and run the real server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes::router(state)).with_graceful_shutdown(shutdown).await
}
