//! The HTTP ceiling: the same axum stack as the engine, answering any POSTed JSON with a
//! small answer shaped like a ping's, and doing nothing else. Every benchmark figure is
//! divided by what this server reaches on the same machine.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub fn router() -> Router {
    let counter = Arc::new(AtomicU64::new(0));
    Router::new().fallback(move |body: Result<Json<Value>, axum::extract::rejection::JsonRejection>| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move { answer(n, body.is_ok()) }
    })
}

fn answer(n: u64, parsed: bool) -> Response {
    if !parsed {
        // Parse the body like the engine does, so the ceiling includes JSON decoding.
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "malformed_json", "message": "body is not JSON"}})),
        )
            .into_response();
    }
    Json(json!({
        "ping_id": format!("echo-{n:016x}"),
        "status": "accepted",
        "reason": null,
        "bids": [{"bid_id": format!("echo-bid-{n:016x}"), "buyer": "echo", "contract": "echo-1", "price": "10.00"}],
        "expires_at": "2030-01-01T00:00:00Z",
        "decision_us": 1,
    }))
    .into_response()
}
