//! The operators' money: buyers' balances and top-ups, and the accounts.
//! - `POST /v1/admin/buyers/{id}/balance` `{"add": "500.00", "id"?}` adds to a buyer's
//!   prepaid balance (once per `id`: a client that retries sends the same one) and answers
//!   the new balance; the top-up is in the books.
//! - `GET /v1/admin/buyers/{id}/balance` the balance as it stands (`{"balance", "credit",
//!   "spent", "reserved"}`); the buyer reads its own at `GET /v1/buyer/balance`.
//! - `GET /v1/admin/accounts?by=partner|buyer|offer&since=&until=` the books' accounts, as
//!   JSON or, with `Accept: text/csv`, CSV.
//! - `GET /v1/admin/reconcile`: the books checked against the store; every difference named
//!   (`"ok": false` when there is one).

use crate::admin::auth::Operator;
use crate::admin::body;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::query;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pingpost_books::{AccountGroup, AccountsQuery, GroupBy};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_engine::balance::Balance;
use pingpost_engine::reconcile::Difference;
use pingpost_store::{TopUp, TopUpOutcome};
use serde_json::json;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(top_up, read_balance)).routes(routes!(accounts)).routes(routes!(reconcile))
}

/// `{"add": "500.00", "id"?}`: `id` makes a retried request apply once.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TopUpRequest {
    add: String,
    #[serde(default)]
    id: Option<String>,
}

/// The buyer's balance after a top-up.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TopUpAnswer {
    buyer: BuyerId,
    top_up_id: String,
    balance: Money,
}

/// Add to a buyer's prepaid balance; the top-up is in the books.
#[utoipa::path(post, path = "/buyers/{id}/balance", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The buyer's id.")),
    request_body = TopUpRequest,
    responses(
        (status = 200, description = "The new balance.", body = TopUpAnswer),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such buyer.", body = ErrorBody),
        (status = 409, description = "The `id` is another top-up's, of another buyer or amount (`top_up_id_reused`); nothing was added.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "An invalid amount or id, or a buyer without a prepaid balance.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn top_up(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(buyer): Path<String>,
    body: RequestBody,
) -> Result<Json<TopUpAnswer>, ApiError> {
    let req: TopUpRequest = body::json(body).await?;
    let config = state.engine.config();
    let Some(b) = config.buyers.get(buyer.as_str()) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no buyer {buyer:?}")));
    };
    let Some(configured) = b.balance else {
        return Err(ApiError::invalid("add", "this buyer has no prepaid balance (set its balance first)"));
    };
    let amount = Money::parse(&req.add).map_err(|e| ApiError::invalid("add", e.to_string()))?;
    if amount.is_zero() {
        return Err(ApiError::invalid("add", "must be more than 0.00"));
    }
    let id = match req.id {
        Some(id) if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) => {
            return Err(ApiError::invalid("id", "must be 1-128 printable characters"))
        }
        Some(id) => id,
        None => state.engine.new_token(),
    };
    let buyer = BuyerId::new(buyer);
    let t = TopUp { id: id.clone(), buyer: buyer.clone(), amount, at: state.engine.now() };
    let money = match state.engine.store().top_up(t).await? {
        TopUpOutcome::Applied(money) => money,
        TopUpOutcome::IdReused { buyer, amount } => {
            let message = format!("top-up id {id:?} was used for {amount} to buyer {buyer}; send a new id");
            return Err(ApiError::new(StatusCode::CONFLICT, "top_up_id_reused", message));
        }
    };
    let balance = configured.minor() + money.credit.minor() - money.spent.minor();
    tracing::info!(buyer = %buyer, top_up_id = %id, amount = %amount, "balance topped up");
    Ok(Json(TopUpAnswer { buyer, top_up_id: id, balance: Money::from_minor(balance) }))
}

/// A prepaid buyer's money as it stands, as decimal strings:
/// `balance = configured balance + credit − spent − reserved`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BalanceView {
    /// What the buyer's next sales may take.
    balance: Money,
    /// Top-ups and refunds since the balance was configured.
    credit: Money,
    /// Charged by its sales (sold, or kept as unconfirmed).
    spent: Money,
    /// Held by its reservations in flight (posts awaiting the buyer's answer).
    reserved: Money,
}

impl From<Balance> for BalanceView {
    fn from(b: Balance) -> Self {
        BalanceView { balance: b.balance, credit: b.credit, spent: b.spent, reserved: b.reserved }
    }
}

/// A prepaid buyer's balance as it stands.
///
/// What top-ups and refunds added, what sales were charged and what reservations in flight
/// hold; the configured starting balance is the buyer's own setting.
#[utoipa::path(get, path = "/buyers/{id}/balance", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The buyer's id.")),
    responses(
        (status = 200, description = "The balance.", body = BalanceView),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such buyer (`not_found`), or one without a prepaid balance (`no_balance`).", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn read_balance(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(buyer): Path<String>,
) -> Result<Json<BalanceView>, ApiError> {
    let balance = state.engine.balance(&BuyerId::new(buyer)).await?;
    Ok(Json(balance.into()))
}

/// The books' accounts by partner, buyer or offer over a time range.
#[utoipa::path(get, path = "/accounts", tag = "operator", security(("operator_token" = [])),
    params(
        ("by" = crate::openapi::AccountsBy, Query, description = "`partner`, `buyer` or `offer`."),
        ("since" = Option<String>, Query, description = "RFC 3339; the range is [since, until).", format = DateTime),
        ("until" = Option<String>, Query, description = "RFC 3339.", format = DateTime),
    ),
    responses(
        (status = 200, description = "One group per key: JSON, or CSV with `Accept: text/csv`.", content(
            (OperatorReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown; `field` names it.", body = ErrorBody),
        (status = 503, description = "The books or the store could not be reached.", body = ErrorBody),
    ))]
async fn accounts(
    _: Operator,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    query::only_known(&params, &["by", "since", "until"])?;
    let by: GroupBy = match query::get(&params, "by") {
        None => return Err(ApiError::invalid("by", "is required: partner, buyer or offer")),
        Some(v) => v.parse().map_err(|_| ApiError::invalid("by", "must be partner, buyer or offer"))?,
    };
    let (since, until) = query::range(&params)?;
    // The operator's accounts include what this node moved last; a partner's report never
    // relays (see `report`).
    state.engine.relay_books().await?;
    report(&state, &headers, AccountsQuery { by, since, until, only: None }, Audience::Operator).await
}

/// A partner's report (documents [`Audience::Partner`]'s rows).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `report` builds
pub(crate) struct PartnerReport {
    groups: Vec<PartnerAccount>,
}

/// A partner's side of its account over the range.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `report` builds
struct PartnerAccount {
    key: String,
    sales: i64,
    /// Of `sales`, those of returning consumers bought again at a repeat price.
    repeat_sales: i64,
    payouts: Money,
    clawbacks: Money,
    net_payout: Money,
}

/// Who reads an account: the operator sees every figure; a partner only its own side (what
/// it earned and had clawed back), never what buyers paid or the marketplace kept — a
/// partner of a `payout` offer sees no gross price anywhere.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Operator,
    Partner,
}

impl Audience {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Audience::Operator => &[
                "key",
                "sales",
                "repeat_sales",
                "gross",
                "repeat_gross",
                "refunds",
                "net_revenue",
                "payouts",
                "clawbacks",
                "net_payout",
                "margin",
            ],
            Audience::Partner => &["key", "sales", "repeat_sales", "payouts", "clawbacks", "net_payout"],
        }
    }

    fn row(self, g: &AccountGroup) -> Vec<(&'static str, serde_json::Value)> {
        let all = [
            ("key", json!(g.key)),
            ("sales", json!(g.sales)),
            ("repeat_sales", json!(g.repeat_sales)),
            ("gross", json!(g.gross)),
            ("repeat_gross", json!(g.repeat_gross)),
            ("refunds", json!(g.refunds)),
            ("net_revenue", json!(g.net_revenue)),
            ("payouts", json!(g.payouts)),
            ("clawbacks", json!(g.clawbacks)),
            ("net_payout", json!(g.net_payout)),
            ("margin", json!(g.margin)),
        ];
        all.into_iter().filter(|(name, _)| self.columns().contains(name)).collect()
    }
}

/// Whether the books and the store agree, and every difference.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ReconcileAnswer {
    /// No difference.
    ok: bool,
    /// Sales of the store compared.
    sales: usize,
    /// Books entries compared.
    entries: usize,
    /// Prepaid buyers' balances compared.
    balances: usize,
    differences: Vec<Difference>,
}

/// Check the books against the store.
///
/// Every sale the store charged has its entries, no entry lacks its sale, amounts agree to
/// the cent, and each prepaid buyer's balance equals its top-ups − charges + refunds.
#[utoipa::path(get, path = "/reconcile", tag = "operator", security(("operator_token" = [])),
    responses(
        (status = 200, description = "The comparison (`ok` is false when there is a difference).", body = ReconcileAnswer),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 503, description = "The books or the store could not be reached.", body = ErrorBody),
    ))]
async fn reconcile(_: Operator, State(state): State<Arc<AppState>>) -> Result<Json<ReconcileAnswer>, ApiError> {
    let r = state.engine.reconcile().await?;
    Ok(Json(ReconcileAnswer {
        ok: r.differences.is_empty(),
        sales: r.sales,
        entries: r.entries,
        balances: r.balances,
        differences: r.differences,
    }))
}

/// The operators' accounts (documents [`Audience::Operator`]'s rows).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `report` builds
struct OperatorReport {
    groups: Vec<OperatorAccount>,
}

/// One key's account over the range.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `report` builds
struct OperatorAccount {
    key: String,
    sales: i64,
    /// Of `sales`, those of returning consumers bought again at a repeat price.
    repeat_sales: i64,
    /// What buyers were charged, net of rollbacks.
    gross: Money,
    /// Of `gross`, what the repeat sales were charged.
    repeat_gross: Money,
    refunds: Money,
    net_revenue: Money,
    /// What partners earned.
    payouts: Money,
    clawbacks: Money,
    net_payout: Money,
    /// What the marketplace kept: `net_revenue − net_payout`.
    margin: Money,
}

/// The books' accounts for `q` as JSON or CSV, with the figures `audience` may see. It only
/// reads: the relay moves entries to the books on its own schedule, never on a partner's call.
pub(crate) async fn report(
    state: &AppState,
    headers: &HeaderMap,
    q: AccountsQuery,
    audience: Audience,
) -> Result<Response, ApiError> {
    let groups = state.engine.books().accounts(q).await?;
    if wants_csv(headers) {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv(&groups, audience)?).into_response());
    }
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        groups.iter().map(|g| audience.row(g).into_iter().map(|(k, v)| (k.to_string(), v)).collect()).collect();
    Ok(Json(json!({"groups": rows})).into_response())
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"))
}

fn csv(groups: &[AccountGroup], audience: Audience) -> Result<String, ApiError> {
    let internal = |e: csv::Error| {
        tracing::error!(error = %e, "accounts not written as CSV");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(audience.columns()).map_err(internal)?;
    for g in groups {
        let row: Vec<String> = audience
            .row(g)
            .into_iter()
            .map(|(_, v)| match v {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            })
            .collect();
        out.write_record(&row).map_err(internal)?;
    }
    let bytes = out.into_inner().map_err(|e| internal(e.into_error().into()))?;
    String::from_utf8(bytes).map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
}
