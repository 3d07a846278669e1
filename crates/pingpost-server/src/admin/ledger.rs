//! `GET /v1/admin/ledger?sale_id=|ping_id=|buyer=|state=unconfirmed[&limit=]`: sales with
//! their state (a buyer's: its charged sales, newest first). `state=unconfirmed` lists the sales whose outcome is unknown (their engine died, or
//! their settlement was lost, after the lead may have left): what an operator reconciles with
//! the buyer by hand.

use crate::admin::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::{LedgerQuery, SaleRecord};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(ledger))
}

/// Sales with their state, by sale, ping, buyer, or the unconfirmed ones.
///
/// As the store keeps them: a settled sale until its return window and 31 days have passed, a
/// ping's index 31 days (`pingpost_store::kept_after_settling`). The books keep every sale:
/// a buyer's older sales are in its `GET /v1/buyer/sales`, the money in `GET /v1/admin/accounts`.
#[utoipa::path(get, path = "/ledger", tag = "operator", security(("operator_token" = [])),
    params(
        ("sale_id" = Option<String>, Query, description = "One sale."),
        ("ping_id" = Option<String>, Query, description = "A ping's sales: what its post tried."),
        ("buyer" = Option<String>, Query, description = "A buyer's charged sales, newest first."),
        ("state" = Option<crate::openapi::LedgerStateParam>, Query, description = "`unconfirmed`: sales whose outcome is unknown."),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 when absent.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The sales (exactly one filter given).", body = LedgerAnswer),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "Not exactly one filter, or an invalid one; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn ledger(
    _: Operator,
    State(state): State<Arc<AppState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<LedgerAnswer>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    let q = parse(&params)?;
    let sales = state.engine.store().ledger(q).await?;
    Ok(Json(LedgerAnswer { sales: sales.iter().map(LedgerSale::of).collect() }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct LedgerAnswer {
    sales: Vec<LedgerSale>,
}

/// A sale in the ledger.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LedgerSale {
    sale_id: String,
    ping_id: String,
    partner: PartnerId,
    offer: OfferId,
    vertical: VerticalId,
    buyer: BuyerId,
    contract: ContractId,
    /// What the buyer pays.
    price: Money,
    /// What the partner earns.
    payout: Money,
    /// `reserved`, `sold`, `rolled_back`, `released`, `unconfirmed` or `returned`.
    state: &'static str,
    /// When it was charged (sold, or kept as unconfirmed).
    #[schema(value_type = Option<String>, format = DateTime)]
    sold_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    reserved_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    lease_until: Timestamp,
    /// Why a released sale was released (`rejected`, or an error's code); on a sale sold at a
    /// lower price than its bid, `below_min_payout` when the payout that price left is below
    /// what the partner accepts (the sale stands: settle the difference with the partner).
    reason: Option<String>,
    /// The buyer's own id for the lead, when its answer gave one.
    lead_id: Option<String>,
    /// A repeat sale: the contract's `repeat.after_days` it was sold under; absent for a new
    /// lead.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_after_days: Option<u16>,
}

impl LedgerSale {
    fn of(r: &SaleRecord) -> Self {
        LedgerSale {
            sale_id: r.sale_id.clone(),
            ping_id: r.ping_id.clone(),
            partner: r.partner.clone(),
            offer: r.offer.clone(),
            vertical: r.vertical.clone(),
            buyer: r.buyer.clone(),
            contract: r.contract.clone(),
            price: r.price,
            payout: r.payout,
            state: r.state.as_str(),
            sold_at: r.sold_at,
            reserved_at: r.reserved_at,
            lease_until: r.lease_until,
            reason: r.reason.clone(),
            lead_id: r.lead_id.clone(),
            repeat_after_days: r.repeat_after.map(|w| w.days()),
        }
    }
}

/// Exactly one of `sale_id`, `ping_id` and `state`; an unknown or repeated parameter is a
/// 422 (a misspelt filter silently ignored would list the wrong sales).
fn parse(params: &[(String, String)]) -> Result<LedgerQuery, ApiError> {
    for (i, (k, _)) in params.iter().enumerate() {
        if !["sale_id", "ping_id", "buyer", "state", "limit"].contains(&k.as_str()) {
            return Err(ApiError::invalid(k.clone(), "is not a ledger filter (sale_id, ping_id, buyer, state, limit)"));
        }
        if params[..i].iter().any(|(earlier, _)| earlier == k) {
            return Err(ApiError::invalid(k.clone(), "is given twice"));
        }
    }
    let get = |name: &str| crate::query::get(params, name);
    let limit = crate::query::limit(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let id = |name: &'static str, v: &str| {
        if v.len() > 128 {
            Err(ApiError::invalid(name, "must be 1-128 characters"))
        } else {
            Ok(v.to_string())
        }
    };
    match (get("sale_id"), get("ping_id"), get("buyer"), get("state")) {
        (Some(v), None, None, None) => Ok(LedgerQuery::Sale(id("sale_id", v)?)),
        (None, Some(v), None, None) => Ok(LedgerQuery::Ping(id("ping_id", v)?)),
        (None, None, Some(v), None) => Ok(LedgerQuery::Buyer {
            buyer: BuyerId::new(id("buyer", v)?),
            since: None,
            until: None,
            after: None,
            limit,
        }),
        (None, None, None, Some("unconfirmed")) => Ok(LedgerQuery::Unconfirmed { limit }),
        (None, None, None, Some(_)) => Err(ApiError::invalid("state", "must be unconfirmed")),
        (None, None, None, None) => {
            Err(ApiError::invalid("state", "give sale_id, ping_id, buyer or state=unconfirmed"))
        }
        _ => Err(ApiError::invalid("state", "give only one of sale_id, ping_id, buyer and state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &[(&str, &str)], expected: Result<LedgerQuery, &str>) {
        let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let got = parse(&params).map_err(|e| e.field.unwrap_or_default());
        assert_eq!(got, expected.map_err(String::from), "{query:?}");
    }

    #[test]
    fn one_filter_is_required_and_every_refusal_names_its_field() {
        check(&[("sale_id", "s1")], Ok(LedgerQuery::Sale("s1".into())));
        check(&[("ping_id", "p1")], Ok(LedgerQuery::Ping("p1".into())));
        check(&[("state", "unconfirmed")], Ok(LedgerQuery::Unconfirmed { limit: DEFAULT_LIMIT }));
        check(&[("state", "unconfirmed"), ("limit", "5")], Ok(LedgerQuery::Unconfirmed { limit: 5 }));
        check(&[], Err("state"));
        check(&[("state", "sold")], Err("state"));
        check(&[("sale_id", "s1"), ("ping_id", "p1")], Err("state"));
        check(&[("state", "unconfirmed"), ("limit", "0")], Err("limit"));
        // An empty value is absent, as in every query string.
        check(&[("sale_id", "")], Err("state"));
        check(&[("sale_id", ""), ("state", "unconfirmed")], Ok(LedgerQuery::Unconfirmed { limit: DEFAULT_LIMIT }));
        check(&[("sale_id", &"s".repeat(129))], Err("sale_id"));
        let of_b1 = LedgerQuery::Buyer {
            buyer: BuyerId::new("b1"),
            since: None,
            until: None,
            after: None,
            limit: DEFAULT_LIMIT,
        };
        check(&[("buyer", "b1")], Ok(of_b1));
        check(&[("buyer", "b1"), ("sale_id", "s1")], Err("state"));
        check(&[("seller", "b1")], Err("seller"));
        check(&[("sale_id", "a"), ("sale_id", "b")], Err("sale_id"));
    }
}
