//! Handlers. Each one: authenticate, read a bounded body, parse, call the engine, answer.

use crate::body::RequestBody;
use crate::disclose;
use crate::error::ApiError;
use crate::{admin, buyer, wire, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pingpost_core::config::Partner;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/ping", post(ping))
        .route("/v1/post", post(post_lead))
        .route("/v1/partner/report", get(partner_report))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .nest("/v1/buyer", buyer::router())
        .nest("/v1/admin", admin::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_answer))
        .with_state(state)
}

/// The partner whose `Authorization: Bearer <key>` this is. The operator token is not a
/// partner key: partner writes whose key equals it are refused, so it never matches here.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Partner, ApiError> {
    let key = admin::auth::bearer(headers).ok_or_else(ApiError::unauthorized)?;
    state.engine.partner_for_key(key).ok_or_else(ApiError::unauthorized)
}

async fn ping(State(state): State<Arc<AppState>>, headers: HeaderMap, body: RequestBody) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let bytes = body.bytes(state.body_limit).await?;
    let req = wire::ping_request(&bytes)?;
    let engine = Arc::clone(&state.engine);
    let answer = to_completion(async move { engine.ping(&partner.id, req).await }).await?;
    Ok(Json(disclose::ping(&answer, &state.engine.config())).into_response())
}

async fn post_lead(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let bytes = body.bytes(state.body_limit).await?;
    let req = wire::post_request(&bytes)?;
    let engine = Arc::clone(&state.engine);
    let answer = to_completion(async move { engine.post(&partner.id, req).await }).await?;
    Ok(Json(disclose::post(&answer, &state.engine.config())).into_response())
}

/// `GET /v1/partner/report?since=&until=`: the calling partner's own account, from the books
/// (JSON, or CSV with `Accept: text/csv`). Only the partner's key opens it, and only its own,
/// with its own side of the money only (payouts, clawbacks, net payout).
async fn partner_report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<axum::extract::Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let axum::extract::Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    crate::query::only_known(&params, &["since", "until"])?;
    let (since, until) = crate::query::range(&params)?;
    let q = pingpost_books::AccountsQuery {
        by: pingpost_books::GroupBy::Partner,
        since,
        until,
        only: Some(partner.id.to_string()),
    };
    admin::money::report(&state, &headers, q, admin::money::Audience::Partner).await
}

/// Runs engine work in its own task. A client that hangs up drops the handler, and with it
/// any future the handler owns: a ping would keep its vertical reservation without its
/// record, a post would stop between reserving a sale and settling it. A task finishes.
async fn to_completion<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, pingpost_engine::EngineError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "engine task failed");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store answers within a second. The store's own decorator sets the
/// `pingpost_store_up` gauge from the answer; a probe that gives up first sets it here.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(Duration::from_secs(1), state.engine.store().health()).await {
        Ok(Ok(())) => Json(json!({"ready": true})).into_response(),
        Ok(Err(e)) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string()).into_response()
        }
        Err(_) => {
            pingpost_store::timed::set_store_up(false);
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "store did not answer within 1 s")
                .into_response()
        }
    }
}

/// Prometheus text. Unauthenticated like the probes: it carries ids and counts, no lead data,
/// and is meant to be reached on the internal network only.
async fn metrics() -> Response {
    match crate::metrics::handle() {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "metrics_disabled", "no metrics recorder is installed").into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}

fn panic_answer(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
}
