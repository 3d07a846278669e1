//! The HTTP API. The only crate that knows partners' JSON (and forms): it parses and
//! validates requests (hashing identifiers at the edge), calls the engine, and maps every
//! failure to the spec's JSON error with its status.
//!
//! # Layout
//! - [`error`]: the JSON error shape and the status of each failure.
//! - [`body`]: request bodies under a size limit, refused so the client reads the refusal.
//! - [`wire`]: request bodies (JSON or forms) → engine requests.
//! - [`disclose`]: answers → what the offer lets its partner see.
//! - [`routes`]: partner handlers, authentication.
//! - [`partner_docs`]: a partner's posting instructions, as JSON and as a page (its own and
//!   the console's).
//! - [`console`]: the operators' console (`/console`), a client of the admin API.
//! - [`admin`]: the operators' API under `/v1/admin/`.
//! - [`query`]: query-string times and report ranges, shared by the reports.
//! - [`openapi`]: the API document, `GET /openapi.json`.
//! - [`metrics`]: the Prometheus recorder (installed once per process) and `/metrics`, served
//!   on an address of its own.
//! - [`listen`]: the connection loop: timeouts, the connection limit, shutdown's deadline.

pub mod admin;
pub mod body;
pub mod buyer;
pub mod console;
pub mod disclose;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod partner_docs;
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
pub use listen::Limits;

pub struct AppState {
    pub engine: Arc<Engine>,
    /// Limit of partner bodies (pings, posts).
    pub body_limit: usize,
    pub admin_token: AdminToken,
    /// The console's sessions and sign-in attempts.
    pub console: console::ConsoleState,
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests,
/// under the default [`Limits`]. The caller owns the listener, so tests bind `127.0.0.1:0`
/// and run the real server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Limits::default(), shutdown).await
}

/// [`serve`] under `limits`.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(listener, "api", routes::router(state), limits, shutdown).await
}

/// Serves `GET /metrics` alone on `listener` (its own address, never the partners': per-buyer
/// counters would tell a partner who bought its lead) until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(listener, "metrics", metrics::router(), Limits::default(), shutdown).await
}
