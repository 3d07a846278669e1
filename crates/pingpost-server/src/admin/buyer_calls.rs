//! `POST /v1/admin/buyers/{id}/preview` and `/test`: an operator tries one of a buyer's calls
//! on a sample lead before it sells anything. A preview answers exactly what would be sent
//! (the adapter's own request, secrets masked) and sends nothing; a test sends it to the
//! call's `sandbox_url` (or, with `"live": true`, where it really goes) and answers the
//! buyer's answer and how pingpost read it. Neither writes to the store.

use crate::admin::auth::Operator;
use crate::admin::body;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use pingpost_core::adapter::{CallKind, OutboundRequest, Reading};
use pingpost_core::ids::{BuyerId, OfferId};
use pingpost_engine::buyer::trial::{Tested, Trial};
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(preview)).routes(routes!(test))
}

/// One of a buyer's calls on a sample lead.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TryCall {
    /// `bid`, `dq` or `post`.
    #[schema(value_type = String, example = "post")]
    call: CallKind,
    /// The offer whose contract of this buyer names the call's URL and price.
    offer: String,
    /// As a partner sends it; a bid or DQ call sees only its qualifying fields and its
    /// identifiers' hashes, as on a ping.
    #[schema(value_type = crate::openapi::Lead)]
    lead: Value,
    /// A test only: send to the call's real `url` rather than its `sandbox_url`.
    #[serde(default)]
    live: bool,
}

fn trial(buyer: String, t: &TryCall) -> Result<Trial, ApiError> {
    let (identity, fields) = crate::wire::sample_lead(&t.lead)?;
    Ok(Trial {
        buyer: BuyerId::new(buyer),
        call: t.call,
        offer: OfferId::new(t.offer.clone()),
        lead: t.lead.clone(),
        identity,
        fields,
    })
}

/// The whole request, as the executor sends it.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct RequestView {
    method: String,
    url: String,
    /// In the order sent, `Content-Type` first.
    #[schema(value_type = Vec<Vec<String>>)]
    headers: Vec<(String, String)>,
    body: String,
}

fn view(r: &OutboundRequest) -> RequestView {
    RequestView {
        method: r.method.as_str().to_string(),
        url: r.url.clone(),
        headers: r.all_headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: r.body.clone(),
    }
}

/// What one of a buyer's calls would send, sent nowhere.
///
/// Exactly the request a ping or a post would make of this buyer with this lead (the same
/// adapter call builds both), every secret shown as `••••••`.
#[utoipa::path(post, path = "/buyers/{id}/preview", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The buyer's id.")),
    request_body = TryCall,
    responses(
        (status = 200, description = "The request, secrets masked.", body = RequestView),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such buyer.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "The lead, the offer, or a template of the call (its field named) refused.", body = ErrorBody),
    ))]
async fn preview(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<Json<RequestView>, ApiError> {
    let t: TryCall = body::json(body).await?;
    if t.live {
        return Err(ApiError::invalid("live", "is a test's: a preview sends nothing"));
    }
    let request = state.engine.preview(&trial(id, &t)?)?;
    Ok(Json(view(&request)))
}

/// What a buyer answered.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TestAnswer {
    /// The request sent, secrets masked.
    request: RequestView,
    /// The buyer's status (absent when it did not answer).
    status: Option<u16>,
    /// The buyer's body (at most 64 KiB, any secret masked).
    body: Option<String>,
    /// Why there was no answer (`timeout`, `unreachable`, `answer_too_large`…).
    error: Option<String>,
    elapsed_ms: u64,
    /// How pingpost read the answer.
    #[schema(value_type = Object)]
    reading: Value,
}

/// Send one of a buyer's calls and read its answer.
///
/// Sent to the call's `sandbox_url`, or its real URL with `"live": true`. Sells nothing and
/// writes nothing: no dedup state, cap, ledger or books entry.
#[utoipa::path(post, path = "/buyers/{id}/test", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The buyer's id.")),
    request_body = TryCall,
    responses(
        (status = 200, description = "The request, the answer and its reading.", body = TestAnswer),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such buyer.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "The lead, the offer, a template of the call, or a missing sandbox_url (its field named) refused.", body = ErrorBody),
    ))]
async fn test(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<Json<TestAnswer>, ApiError> {
    let t: TryCall = body::json(body).await?;
    let tested: Tested = state.engine.test_call(&trial(id, &t)?, t.live).await?;
    let (status, body, error) = match tested.answer {
        Ok((status, body)) => (Some(status), Some(body), None),
        Err(code) => (None, None, Some(code)),
    };
    Ok(Json(TestAnswer {
        request: view(&tested.request),
        status,
        body,
        error,
        elapsed_ms: tested.elapsed_ms,
        reading: reading(tested.reading.as_ref()),
    }))
}

/// `{"outcome", "price", "token", "lead_id", "redirect_url", "reason"}` as the call reads.
fn reading(r: Option<&Reading>) -> Value {
    match r {
        None => Value::Null,
        Some(Reading::Bid(b)) => {
            json!({"outcome": if b.price.is_some() { "bid" } else { "no_bid" }, "price": b.price.map(|p| p.to_string()), "token": b.token})
        }
        Some(Reading::Dq(d)) => json!({"outcome": match d.disqualified {
            Some(true) => "disqualified",
            Some(false) => "qualified",
            None => "no_answer",
        }}),
        Some(Reading::Post(p)) => json!({
            "outcome": p.outcome.as_str(),
            "price": p.price.map(|x| x.to_string()),
            "lead_id": p.lead_id,
            "redirect_url": p.redirect_url,
            "reason": p.reason,
        }),
    }
}
