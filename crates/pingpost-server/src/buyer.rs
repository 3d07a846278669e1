//! The buyers' API, behind a buyer's own key (`Authorization: Bearer <key>`; accepted
//! nowhere else, and no partner key or operator token is accepted here):
//! - `GET /v1/buyer/sales?since=&until=&limit=&cursor=`: the buyer's own charged sales,
//!   newest first; `next_cursor` continues the listing.
//! - `POST /v1/buyer/returns` `{"sale_id", "reason", "note"?, "idempotency_key"?}`: returns a
//!   bad lead; 201 with the return.
//! - `GET /v1/buyer/balance`: the buyer's prepaid balance as it stands (`{"balance", "credit",
//!   "spent", "reserved"}`), as operators read it.

use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::{admin, query, returns, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{BuyerId, ContractId, OfferId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_engine::returns::Returner;
use pingpost_engine::sales_list::{ListedSale, SalesQuery};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

/// Routes relative to `/v1/buyer`.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(sales)).routes(routes!(open_return)).routes(routes!(balance))
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

/// The buyer's own charged sales (sold, unconfirmed, returned), newest first.
///
/// The last month from the store, older sales from the books: any `since` reaches every sale.
#[utoipa::path(get, path = "/sales", tag = "buyer", security(("buyer_key" = [])),
    params(
        ("since" = Option<String>, Query, description = "Sold at or after (RFC 3339).", format = DateTime),
        ("until" = Option<String>, Query, description = "Sold before (RFC 3339).", format = DateTime),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 when absent.", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of sales.", body = BuyerSales),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or unknown buyer key.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn sales(
    Buyer(buyer): Buyer,
    State(state): State<Arc<AppState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<BuyerSales>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    query::only_known(&params, &["since", "until", "limit", "cursor"])?;
    let (since, until) = query::range(&params)?;
    let limit = query::limit(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = query::get(&params, "cursor").map(parse_cursor).transpose()?;
    let page = state.engine.buyer_sales(SalesQuery { buyer, since, until, after, limit }).await?;
    let next_cursor = (page.len() == limit).then(|| page.last().map(cursor_of)).flatten();
    Ok(Json(BuyerSales { sales: page.iter().map(BuyerSale::of).collect(), next_cursor }))
}

/// A page of a buyer's sales.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BuyerSales {
    sales: Vec<BuyerSale>,
    /// Continues the listing; `null` on the last page.
    next_cursor: Option<String>,
}

/// One of a buyer's sales.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BuyerSale {
    sale_id: String,
    ping_id: String,
    offer: OfferId,
    contract: ContractId,
    /// What the buyer was charged.
    price: Money,
    #[schema(value_type = String, format = DateTime)]
    sold_at: Timestamp,
    /// `sold`, `unconfirmed` or `returned` (`rolled_back`, `released` once given back).
    state: &'static str,
    /// The buyer's own id for the lead, as its answer to the post gave it.
    lead_id: Option<String>,
    /// A repeat sale: a consumer the buyer bought before, bought again at its contract's
    /// repeat price.
    repeat: bool,
}

impl BuyerSale {
    fn of(r: &ListedSale) -> Self {
        BuyerSale {
            sale_id: r.sale_id.clone(),
            ping_id: r.ping_id.clone(),
            offer: r.offer.clone(),
            contract: r.contract.clone(),
            price: r.price,
            sold_at: r.sold_at,
            state: r.state.as_str(),
            lead_id: r.lead_id.clone(),
            repeat: r.repeat,
        }
    }
}

/// A cursor is the last listed sale's charge time (ms) and id: stable under new sales.
fn cursor_of(r: &ListedSale) -> String {
    format!("{}.{}", r.sold_at.timestamp_millis(), r.sale_id)
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

/// The buyer's own prepaid balance as it stands.
///
/// `balance` is what its next sales may take: its configured balance, plus `credit` (top-ups
/// and refunds), less `spent` (charged by sales) and `reserved` (held by posts awaiting its
/// answer).
#[utoipa::path(get, path = "/balance", tag = "buyer", security(("buyer_key" = [])),
    responses(
        (status = 200, description = "The balance.", body = admin::money::BalanceView),
        (status = 401, description = "No or unknown buyer key.", body = ErrorBody),
        (status = 404, description = "The buyer has no prepaid balance (`no_balance`).", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn balance(
    Buyer(buyer): Buyer,
    State(state): State<Arc<AppState>>,
) -> Result<Json<admin::money::BalanceView>, ApiError> {
    Ok(Json(state.engine.balance(&buyer).await?.into()))
}

/// Return a bad lead.
///
/// Refunded at once when the buyer's policy approves by itself, else left for an operator.
/// A sale is returned at most once.
#[utoipa::path(post, path = "/returns", tag = "buyer", security(("buyer_key" = [])),
    request_body = returns::ReturnBody,
    responses(
        (status = 201, description = "The return, approved or pending.", body = returns::BuyerReturnView),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or unknown buyer key.", body = ErrorBody),
        (status = 404, description = "No such sale of this buyer's (`unknown_sale`).", body = ErrorBody),
        (status = 409, description = "The sale has a return already (`already_returned`).", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "Refused: `return_window_passed`, `return_rate_exceeded`, `not_returnable`, or an invalid field.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn open_return(
    Buyer(buyer): Buyer,
    State(state): State<Arc<AppState>>,
    body: RequestBody,
) -> Result<Response, ApiError> {
    let ask = returns::ask(body, &state.engine).await?;
    let r = state.engine.open_return(Returner::Buyer(buyer), ask).await?;
    Ok((StatusCode::CREATED, Json(returns::for_buyer(&r))).into_response())
}
