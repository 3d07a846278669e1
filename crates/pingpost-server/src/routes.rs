//! Handlers. Each one: authenticate, read a bounded body, parse, call the engine, answer.

use crate::body::RequestBody;
use crate::disclose;
use crate::error::{ApiError, ErrorBody};
use crate::{admin, buyer, wire, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pingpost_core::ids::PartnerId;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Every documented route, with the document they make up.
pub fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(ping))
        .routes(routes!(post_lead))
        .routes(routes!(partner_report))
        .routes(routes!(partner_docs))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .nest("/v1/buyer", buyer::router())
        .nest("/v1/admin", admin::router())
}

pub fn router(state: Arc<AppState>) -> Router {
    let (documented, doc) = crate::openapi::split(api());
    let doc = Arc::new(doc);
    documented
        .route("/openapi.json", get(move || std::future::ready(Json(Arc::clone(&doc)))))
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_answer))
        .with_state(state)
}

/// The partner whose `Authorization: Bearer <key>` this is. The operator token is not a
/// partner key: partner writes whose key equals it are refused, so it never matches here.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<PartnerId, ApiError> {
    let key = admin::auth::bearer(headers).ok_or_else(ApiError::unauthorized)?;
    state.engine.partner_for_key(key).ok_or_else(ApiError::unauthorized)
}

/// Ping a lead: the checkpoints run in their fixed order, then the buyers bid.
///
/// The answer's bids show what the offer's `disclosure` allows. A rejected lead says why
/// (`suppressed`, `vertical_duplicate`, `no_bids`).
#[utoipa::path(post, path = "/v1/ping", tag = "partner", security(("partner_key" = [])),
    request_body(description = "JSON, or the same as a form (its lead's fields at the top level).", content(
        (crate::openapi::PingRequest = "application/json"),
        (crate::openapi::PingForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The lead was auctioned (or rejected, with its reason).", body = disclose::PingView),
        (status = 400, description = "The body is not a JSON object (or a form's text is not UTF-8), or was broken off.", body = ErrorBody),
        (status = 401, description = "No or unknown partner key.", body = ErrorBody),
        (status = 403, description = "The partner may not ping this offer.", body = ErrorBody),
        (status = 404, description = "Unknown offer.", body = ErrorBody),
        (status = 409, description = "A ping with this idempotency key is in flight.", body = ErrorBody),
        (status = 410, description = "A retry of this idempotency key, whose accepted ping expired over 15 minutes ago.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 415, description = "The body is neither JSON nor a form (no `Content-Type` is JSON).", body = ErrorBody),
        (status = 422, description = "A field is invalid (a form's field given twice, too); `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached; nothing was recorded.", body = ErrorBody),
    ))]
async fn ping(State(state): State<Arc<AppState>>, headers: HeaderMap, body: RequestBody) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    // The body is read before its Content-Type is judged: a client that writes its whole
    // body before reading (see `body`) then reads its 415 rather than a reset connection.
    let bytes = body.bytes(state.body_limit).await?;
    let req = wire::ping_request(headers.get(header::CONTENT_TYPE), &bytes, &state.engine.config(), &partner)?;
    let engine = Arc::clone(&state.engine);
    let answer = to_completion(async move { engine.ping(&partner, req).await }).await?;
    let config = state.engine.config();
    let view = disclose::ping(&answer, &config);
    // Written into a buffer sized for the answer (axum's `Json` starts at 128 bytes and grows
    // a 30-bid answer several times over).
    let mut body = Vec::with_capacity(160 + 112 * answer.bids.len());
    serde_json::to_writer(&mut body, &view)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Post the full lead of a ping.
///
/// Delivered to the best bid, and down the waterfall on a refusal or a "duplicate" (rolled
/// back). A repeat answers the first answer.
#[utoipa::path(post, path = "/v1/post", tag = "partner", security(("partner_key" = [])),
    request_body(description = "JSON, or the same as a form (its lead's fields at the top level).", content(
        (crate::openapi::PostRequest = "application/json"),
        (crate::openapi::PostForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "What was sold, and every attempt.", body = disclose::PostView),
        (status = 400, description = "The body is not a JSON object (or a form's text is not UTF-8), or was broken off.", body = ErrorBody),
        (status = 401, description = "No or unknown partner key.", body = ErrorBody),
        (status = 404, description = "Unknown ping (only pings with bids can be posted).", body = ErrorBody),
        (status = 409, description = "A post of this ping is in flight.", body = ErrorBody),
        (status = 410, description = "The ping expired.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 415, description = "The body is neither JSON nor a form (no `Content-Type` is JSON).", body = ErrorBody),
        (status = 422, description = "A field is invalid (a form's field given twice, too); `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn post_lead(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let bytes = body.bytes(state.body_limit).await?;
    let req = wire::post_request(headers.get(header::CONTENT_TYPE), &bytes, &state.engine.config(), &partner)?;
    let engine = Arc::clone(&state.engine);
    let answer = to_completion(async move { engine.post(&partner, req).await }).await?;
    Ok(Json(disclose::post(&answer, &state.engine.config())).into_response())
}

/// The longest range a partner's report covers: a quarter and a couple of days.
const REPORT_MAX_DAYS: i64 = 93;

/// The calling partner's own account.
///
/// From the books, as JSON or (with `Accept: text/csv`) CSV. Only the partner's key opens
/// it, and only its own, with its own side of the money only (payouts, clawbacks, net
/// payout). Over at most 93 days: `since` defaults to 93 days before `until`, or before now
/// when `until` is left out (the range then runs up to now). Entries reach the books within
/// seconds of the sale (the relay's interval).
#[utoipa::path(get, path = "/v1/partner/report", tag = "partner", security(("partner_key" = [])),
    params(
        ("since" = Option<String>, Query, description = "RFC 3339; the range is [since, until), at most 93 days. Default: 93 days before `until`.", format = DateTime),
        ("until" = Option<String>, Query, description = "RFC 3339. Default: none (up to now).", format = DateTime),
    ),
    responses(
        (status = 200, description = "The partner's own account: JSON, or CSV with `Accept: text/csv`.", content(
            (crate::admin::money::PartnerReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or unknown partner key.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown, or the range is over 93 days; `field` names it.", body = ErrorBody),
        (status = 503, description = "The books could not be reached.", body = ErrorBody),
    ))]
async fn partner_report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<axum::extract::Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let axum::extract::Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    crate::query::only_known(&params, &["since", "until"])?;
    let (since, until) = crate::query::bounded_range(&params, state.engine.now(), REPORT_MAX_DAYS)?;
    let q = pingpost_books::AccountsQuery {
        by: pingpost_books::GroupBy::Partner,
        since: Some(since),
        until,
        only: Some(partner.to_string()),
    };
    admin::money::report(&state, &headers, q, admin::money::Audience::Partner).await
}

/// The calling partner's posting instructions.
///
/// For each offer the partner may ping: its fields (type, when required, allowed values,
/// whether personal), the identifiers' rules, the consent fields it requires, and an example
/// ping and post that pass validation (the post's `ping_id` a placeholder); then the partner's
/// aliases, the content types and the errors. Nothing of buyers, contracts or prices, and
/// never a key (`YOUR_API_KEY` stands for it). With `Accept: text/html`, the same as a page.
#[utoipa::path(get, path = "/v1/partner/docs", tag = "partner", security(("partner_key" = [])),
    responses(
        (status = 200, description = "The partner's instructions: JSON, or a page with `Accept: text/html`.", content(
            (crate::partner_docs::PartnerDocs = "application/json"),
            (String = "text/html"),
        )),
        (status = 401, description = "No or unknown partner key.", body = ErrorBody),
    ))]
async fn partner_docs(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let partner = authenticate(&state, &headers)?;
    let config = state.engine.config();
    let base = crate::partner_docs::base_url(&headers);
    let docs = crate::partner_docs::build(&config, &partner, base).ok_or_else(ApiError::unauthorized)?;
    let html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if !html {
        return Ok(Json(docs).into_response());
    }
    // The console's page, served under the console's protections.
    let mut response = crate::console::html_response(StatusCode::OK, crate::partner_docs::standalone(&docs));
    crate::console::protect(response.headers_mut());
    Ok(response)
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

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive.", body = Health)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers within a second.
///
/// The store's own decorator sets the `pingpost_store_up` gauge from the answer; a probe
/// that gives up first sets it here.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 503, description = "The store does not answer.", body = ErrorBody),
    ))]
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(Duration::from_secs(1), state.engine.store().health()).await {
        Ok(Ok(())) => Json(json!({"ready": true})).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(_) => {
            pingpost_store::timed::set_store_up(false);
            tracing::warn!("store did not answer the readiness probe within 1 s");
            ApiError::store_unavailable().into_response()
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

/// `{"status": "ok"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents `healthz`'s answer
struct Health {
    status: String,
}

/// `{"ready": true}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents `readyz`'s answer
struct Ready {
    ready: bool,
}
