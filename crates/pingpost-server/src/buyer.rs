//! The buyers' API, behind a buyer's own key (`Authorization: Bearer <key>`; accepted
//! nowhere else, and no partner key or operator token is accepted here):
//! - `GET /v1/buyer/sales?since=&until=&limit=&cursor=`: the buyer's own charged sales,
//!   newest first; `next_cursor` continues the listing.
//! - `POST /v1/buyer/returns` `{"sale_id", "reason", "note"?, "idempotency_key"?}`: returns a
//!   bad lead; 201 with the return.

use crate::body::RequestBody;
use crate::error::ApiError;
use crate::{admin, query, returns, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_engine::returns::Returner;
use pingpost_store::{LedgerQuery, SaleRecord};
use serde_json::json;
use std::sync::Arc;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

/// Routes relative to `/v1/buyer`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/sales", get(sales)).route("/returns", post(open_return))
}

/// Proof that the request carries a buyer's key: which buyer.
pub struct Buyer(pub BuyerId);

impl FromRequestParts<Arc<AppState>> for Buyer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let key = admin::auth::bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let config = state.engine.config();
        let buyer = config.buyer_by_key_hash(&Sha256Hex::digest(key)).ok_or_else(ApiError::unauthorized)?;
        Ok(Buyer(buyer.id.clone()))
    }
}

async fn sales(
    Buyer(buyer): Buyer,
    State(state): State<Arc<AppState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    query::only_known(&params, &["since", "until", "limit", "cursor"])?;
    let (since, until) = query::range(&params)?;
    let limit = query::limit(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = query::get(&params, "cursor").map(parse_cursor).transpose()?;
    let q = LedgerQuery::Buyer { buyer, since, until, after, limit };
    let page = state.engine.store().ledger(q).await?;
    let next = (page.len() == limit).then(|| page.last().map(cursor_of)).flatten();
    Ok(Json(json!({"sales": page.iter().map(render).collect::<Vec<_>>(), "next_cursor": next})))
}

fn render(r: &SaleRecord) -> serde_json::Value {
    json!({
        "sale_id": r.sale_id,
        "ping_id": r.ping_id,
        "offer": r.offer,
        "contract": r.contract,
        "price": r.price,
        "sold_at": r.sold_at,
        "state": r.state.as_str(),
    })
}

/// A cursor is the last listed sale's charge time (ms) and id: stable under new sales.
fn cursor_of(r: &SaleRecord) -> String {
    format!("{}.{}", r.sold_at.unwrap_or(r.reserved_at).timestamp_millis(), r.sale_id)
}

fn parse_cursor(text: &str) -> Result<(Timestamp, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "is not a cursor this listing answered");
    let (ms, id) = text.split_once('.').ok_or_else(bad)?;
    let at = ms.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis).ok_or_else(bad)?;
    if id.is_empty() || id.len() > 128 {
        return Err(bad());
    }
    Ok((at, id.to_string()))
}

async fn open_return(
    Buyer(buyer): Buyer,
    State(state): State<Arc<AppState>>,
    body: RequestBody,
) -> Result<Response, ApiError> {
    let ask = returns::ask(body).await?;
    let r = state.engine.open_return(Returner::Buyer(buyer), ask).await?;
    Ok((StatusCode::CREATED, Json(returns::for_buyer(&r))).into_response())
}
