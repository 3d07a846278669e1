//! The operators' side of returns:
//! - `POST /v1/admin/returns` `{"sale_id", "reason", "note"?, "idempotency_key"?}` files a
//!   return for any sale, on behalf of its buyer, under the sale's policy;
//! - `POST /v1/admin/returns/{id}` `{"decision": "approve"|"deny", "note"?}` decides a pending
//!   one (final);
//! - `GET /v1/admin/returns?status=pending|approved|denied&limit=` lists them, newest first.

use crate::admin::auth::Operator;
use crate::admin::body;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::{query, returns, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pingpost_engine::returns::Returner;
use pingpost_store::{ReturnQuery, ReturnStatus};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list, file)).routes(routes!(decide, one))
}

/// File a return for any sale, on behalf of its buyer, under the sale's policy.
#[utoipa::path(post, path = "/returns", tag = "operator", security(("operator_token" = [])),
    request_body = returns::ReturnBody,
    responses(
        (status = 201, description = "The return, approved or pending.", body = returns::OperatorReturnView),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such sale (`unknown_sale`).", body = ErrorBody),
        (status = 409, description = "The sale has a return already (`already_returned`).", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "Refused: `return_window_passed`, `return_rate_exceeded`, `not_returnable`, or an invalid field.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn file(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Response, ApiError> {
    let ask = returns::ask(body, &state.engine).await?;
    let r = state.engine.open_return(Returner::Operator, ask).await?;
    Ok((StatusCode::CREATED, Json(returns::for_operator(&r))).into_response())
}

/// `{"decision": "approve"|"deny", "note"?}`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Decision {
    decision: DecisionKind,
    #[serde(default)]
    note: Option<String>,
}

#[derive(serde::Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum DecisionKind {
    Approve,
    Deny,
}

/// Decide a pending return; a decision is final.
///
/// Approving refunds the buyer and claws back as its reason says; denying frees its place
/// under the buyer's rate cap.
#[utoipa::path(post, path = "/returns/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The return's id (`ret-<sale id>`).")),
    request_body = Decision,
    responses(
        (status = 200, description = "The return as decided.", body = returns::OperatorReturnView),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such return (`unknown_return`).", body = ErrorBody),
        (status = 409, description = "Decided before (`already_decided`).", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "An invalid decision or note.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn decide(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<Json<returns::OperatorReturnView>, ApiError> {
    let d: Decision = body::json(body).await?;
    if d.note.as_ref().is_some_and(|n| n.len() > 1_000) {
        return Err(ApiError::invalid("note", "must be at most 1000 bytes"));
    }
    let r = state.engine.decide_return(&id, d.decision == DecisionKind::Approve, d.note).await?;
    Ok(Json(returns::for_operator(&r)))
}

/// Read one return.
#[utoipa::path(get, path = "/returns/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The return's id (`ret-<sale id>`).")),
    responses(
        (status = 200, description = "The return.", body = returns::OperatorReturnView),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such return (`unknown_return`).", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn one(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<returns::OperatorReturnView>, ApiError> {
    match state.engine.returns(ReturnQuery::Id(id.clone())).await?.pop() {
        Some(r) => Ok(Json(returns::for_operator(&r))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_return", format!("no return {id:?}"))),
    }
}

/// A page of returns.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ReturnList {
    returns: Vec<returns::OperatorReturnView>,
}

/// Returns of one status, newest first.
#[utoipa::path(get, path = "/returns", tag = "operator", security(("operator_token" = [])),
    params(
        ("status" = Option<crate::openapi::ReturnStatusParam>, Query, description = "`pending` (when absent), `approved` or `denied`."),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 when absent.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The returns.", body = ReturnList),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn list(
    _: Operator,
    State(state): State<Arc<AppState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ReturnList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    query::only_known(&params, &["status", "limit"])?;
    let status = match query::get(&params, "status") {
        None => ReturnStatus::Pending,
        Some(v) => {
            ReturnStatus::parse(v).ok_or_else(|| ApiError::invalid("status", "must be pending, approved or denied"))?
        }
    };
    let limit = query::limit(&params, 100, 1_000)?;
    let found = state.engine.returns(ReturnQuery::Status { status, limit }).await?;
    Ok(Json(ReturnList { returns: found.iter().map(returns::for_operator).collect() }))
}
