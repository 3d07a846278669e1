//! The operators' API under `/v1/admin/`, behind the operator token. Partner keys are never
//! accepted here, and the operator token is never accepted on the partner endpoints.
//!
//! # Layout
//! - [`auth`]: the [`auth::Operator`] extractor (constant-time token check).
//! - [`body`]: bounded JSON bodies whose errors name the field.
//! - [`identifiers`]: emails, phones and hashes from operators, hashed as pings' are.
//! - `config`: verticals, offers, partners, buyers, contracts (CRUD, PATCH).
//! - `suppression`: add / remove / check / bulk import.
//! - `erasure`: forget a consumer's dedup state.
//! - `audit`: the `leadDedup` log, filtered and paginated.
//! - `stats`: dedup counts by partner, buyer or vertical.
//! - `ledger`: sales by id, by ping, and those whose outcome is unknown.
//! - `money`: buyers' top-ups and the books' accounts.
//! - `returns`: returns filed by operators, decisions, lists.
//! - `test_ping`: the console's ping tester (a real ping as a partner, shown whole).
//! - `secrets`: the write-only secrets buyers' calls carry (names listed, values never).
//! - `buyer_calls`: a buyer's call previewed or tested on a sample lead (nothing written).
//! - `whatif`: what another window or repeat threshold would have done to the last days' pings.

mod audit;
pub mod auth;
pub mod body;
mod buyer_calls;
mod config;
mod erasure;
pub mod identifiers;
mod ledger;
pub(crate) mod money;
mod returns;
mod secrets;
pub(crate) mod stats;
mod suppression;
mod test_ping;
mod whatif;

use crate::AppState;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Routes relative to `/v1/admin`, each with its description in the API document.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .merge(config::routes())
        .merge(suppression::routes())
        .merge(erasure::routes())
        .merge(audit::routes())
        .merge(stats::routes())
        .merge(ledger::routes())
        .merge(money::routes())
        .merge(returns::routes())
        .merge(test_ping::routes())
        .merge(secrets::routes())
        .merge(buyer_calls::routes())
        .merge(whatif::routes())
}
