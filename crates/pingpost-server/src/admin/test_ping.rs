//! `POST /v1/admin/test-ping` `{"partner", "offer", "lead"}`: the console's ping tester. An
//! operator pings a lead as one of the partners — a real ping, through every checkpoint,
//! recording what any ping records — and sees the whole answer (every bid with its buyer,
//! contract and price) and what each checkpoint dropped (the ping's audit entries).

use crate::admin::auth::Operator;
use crate::admin::body;
use crate::body::RequestBody;
use crate::disclose;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pingpost_core::ids::PartnerId;
use pingpost_engine::audit::AuditQuery;
use serde_json::Value;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(test_ping))
}

/// A lead to ping as a partner.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TestPing {
    partner: String,
    offer: String,
    #[schema(value_type = crate::openapi::Lead)]
    lead: Value,
}

/// The whole answer and every drop.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TestPingAnswer<'a> {
    answer: disclose::PingView<'a>,
    /// The ping's audit entries: the contracts (or, without one, the whole ping) each
    /// checkpoint dropped.
    dropped: Vec<Dropped>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Dropped {
    checkpoint: String,
    buyer: Option<String>,
    contract: Option<String>,
    matched: Option<String>,
}

/// Ping a lead as a partner, and see everything.
///
/// A real ping through every checkpoint (it records what any ping records); the answer is
/// shown whole, whatever the offer discloses to its partner, with the ping's drops.
#[utoipa::path(post, path = "/test-ping", tag = "operator", security(("operator_token" = [])),
    request_body = TestPing,
    responses(
        (status = 200, description = "The answer and every drop.", body = TestPingAnswer),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 403, description = "The partner may not ping this offer.", body = ErrorBody),
        (status = 404, description = "Unknown offer or partner.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn test_ping(
    _: Operator,
    State(state): State<Arc<AppState>>,
    body: RequestBody,
) -> Result<Json<Value>, ApiError> {
    let t: TestPing = body::json(body).await?;
    let config = state.engine.config();
    let partner = PartnerId::new(t.partner.clone());
    if !config.partners.contains_key(&partner) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_partner", format!("no partner {:?}", t.partner)));
    }
    let wire = serde_json::json!({"offer": t.offer, "lead": t.lead}).to_string();
    let req = crate::wire::ping_request(None, wire.as_bytes(), &config, &partner)?;
    let started = state.engine.now() - chrono::Duration::seconds(1);
    let answer = state.engine.ping(&partner, req).await?;
    let audit = state.engine.audit();
    audit.flush().await?;
    let q = AuditQuery { partner: Some(partner), since: Some(started), ..AuditQuery::newest(1_000) };
    let dropped = audit
        .query(q)
        .await?
        .entries
        .into_iter()
        .filter(|e| *e.ping_id == *answer.ping_id)
        .map(|e| Dropped {
            checkpoint: e.checkpoint.as_str().to_string(),
            buyer: e.buyer.map(|b| b.to_string()),
            contract: e.contract.map(|c| c.to_string()),
            matched: e.matched.map(|m| m.as_str().to_string()),
        })
        .collect();
    let shown = TestPingAnswer { answer: disclose::ping_for_operator(&answer, &config), dropped };
    serde_json::to_value(&shown)
        .map(Json)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
}
