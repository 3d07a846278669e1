//! The operators' side of returns:
//! - `POST /v1/admin/returns` `{"sale_id", "reason", "note"?, "idempotency_key"?}` files a
//!   return for any sale, on behalf of its buyer, under the sale's policy;
//! - `POST /v1/admin/returns/{id}` `{"decision": "approve"|"deny", "note"?}` decides a pending
//!   one (final);
//! - `GET /v1/admin/returns?status=pending|approved|denied&limit=` lists them, newest first.

use crate::admin::auth::Operator;
use crate::admin::body;
use crate::body::RequestBody;
use crate::error::ApiError;
use crate::{query, returns, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pingpost_engine::returns::Returner;
use pingpost_store::{ReturnQuery, ReturnStatus};
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/returns", get(list).post(file)).route("/returns/{id}", post(decide).get(one))
}

async fn file(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Response, ApiError> {
    let ask = returns::ask(body).await?;
    let r = state.engine.open_return(Returner::Operator, ask).await?;
    Ok((StatusCode::CREATED, Json(returns::for_operator(&r))).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    decision: DecisionKind,
    #[serde(default)]
    note: Option<String>,
}

#[derive(serde::Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum DecisionKind {
    Approve,
    Deny,
}

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

async fn list(
    _: Operator,
    State(state): State<Arc<AppState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({"returns": found.iter().map(returns::for_operator).collect::<Vec<_>>()})))
}
