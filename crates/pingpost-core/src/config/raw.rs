//! The resource shapes as they appear in `contracts/*.toml` and in the admin API's JSON.
//! Deliberately lenient (numbers as i64, money and enums as text) so that validation can
//! name every bad field instead of stopping at the first type error.

use crate::filter::{FieldFilter, Scalar};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawVertical {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub dedup_window_days: Option<i64>,
    /// A consumer submitted again more than this many days after its last submission (and
    /// inside the window) is a repeat, not a duplicate; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_after_days: Option<i64>,
    /// The fields its leads carry; none declared: leads are taken as they come.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<RawField>,
    /// `keep` (default) or `refuse`: what becomes of a field the vertical does not declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_fields: Option<String>,
}

/// One field a vertical's leads carry (see [`crate::intake`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: String,
    /// `text`, `integer`, `number`, `boolean`, `date`, `enum`, `zip`, `state`, `url`, `ip`,
    /// `email` or `phone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ping` (needed on the ping and the post), `post` (on the post only), or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<String>,
    /// Personal data: refused on a ping, only ever sent to the buyer that bought the lead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pii: bool,
    /// An `enum` field's values, kept as listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Inclusive bounds of an `integer` or `number` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Bounds of a `text` field's length, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
}

/// The consent and source fields an offer requires (names of
/// [`crate::intake::ConsentField`]s): `ping`'s on the ping and the post, `post`'s on the post.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ping: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post: Vec<String>,
}

/// `{percent = "15.00"}` or `{fixed = "2.50"}`: a margin, or a repeat lead's price.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawMargin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawOffer {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub vertical: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub max_buyers: Option<i64>,
    #[serde(default)]
    pub ping_budget_ms: Option<i64>,
    #[serde(default)]
    pub ping_ttl_s: Option<i64>,
    #[serde(default)]
    pub margin: Option<RawMargin>,
    /// `payout` (default), `consent` or `full`.
    #[serde(default)]
    pub disclosure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<RawConsent>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawPartner {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub api_key_sha256: Option<String>,
    /// Accepted on write, stored only as its SHA-256, never serialized back.
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub offers: Vec<String>,
    #[serde(default)]
    pub margin: Option<RawMargin>,
    #[serde(default)]
    pub min_payout: Option<String>,
    /// The partner's field names → the vertical's (`{"zipcode" = "zip"}`), renamed before
    /// anything else reads the lead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_aliases: BTreeMap<String, String>,
    /// `live` (the default) or `test`: every ping of a partner in test mode is a test lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawResponse {
    #[serde(default)]
    pub accepted: Option<RawRule>,
    #[serde(default)]
    pub duplicate: Option<RawRule>,
    #[serde(default)]
    pub price: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawBuyer {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The post call's URL, unless `calls.post.url` gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_url: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub balance: Option<String>,
    #[serde(default)]
    pub response: Option<RawResponse>,
    /// Shown to partners of `consent` offers (else `name`).
    #[serde(default)]
    pub legal_name: Option<String>,
    #[serde(default)]
    pub margin: Option<RawMargin>,
    /// Opens the buyers' API; accepted on write, stored only as its SHA-256.
    #[serde(default)]
    pub api_key_sha256: Option<String>,
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub returns: Option<RawReturns>,
    /// The buyer's own protocol: its `bid`, `dq` and `post` calls (each optional: a call left
    /// out speaks pingpost's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<crate::adapter::Calls>,
    /// Value maps for the calls' `map(name)` filter.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value_maps: crate::adapter::ValueMaps,
}

/// A return policy; omitted fields take the buyer's (for a contract) or the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawReturns {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_percent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<bool>,
}

/// Why a buyer may return a lead, and whether the partner's payout is clawed back for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawReturnReason {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub claw_back: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawCaps {
    #[serde(default)]
    pub hourly: Option<i64>,
    #[serde(default)]
    pub daily: Option<i64>,
    #[serde(default)]
    pub weekly: Option<i64>,
    #[serde(default)]
    pub monthly: Option<i64>,
    #[serde(default)]
    pub daily_spend: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    #[serde(default)]
    pub time_zone: Option<String>,
    pub days: Vec<String>,
    /// "HH:MM", inclusive.
    pub start: String,
    /// "HH:MM", exclusive.
    pub end: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawDedup {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub window_days: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawDq {
    /// Where the question goes, unless the buyer's `calls.dq.url` gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub window_days: Option<i64>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    pub id: String,
    pub buyer: String,
    pub offer: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub bid_url: Option<String>,
    #[serde(default)]
    pub bid_timeout_ms: Option<i64>,
    #[serde(default)]
    pub bid_floor: Option<String>,
    #[serde(default)]
    pub bid_ceiling: Option<String>,
    #[serde(default)]
    pub filters: BTreeMap<String, FieldFilter>,
    #[serde(default)]
    pub caps: Option<RawCaps>,
    #[serde(default)]
    pub schedule: Option<RawSchedule>,
    #[serde(default)]
    pub dedup: Option<RawDedup>,
    #[serde(default)]
    pub dq: Option<RawDq>,
    /// Overrides the buyer's return policy, field by field, for this contract's sales.
    #[serde(default)]
    pub returns: Option<RawReturns>,
    /// Bids on repeat consumers at a repeat price instead of dropping them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<RawRepeat>,
}

/// `{after_days = 14, price = {percent = "40.00"}}` (or `price = {fixed = "4.00"}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRepeat {
    /// The buyer buys a consumer again only this many days after its last purchase of it.
    #[serde(default)]
    pub after_days: Option<i64>,
    #[serde(default)]
    pub price: Option<RawMargin>,
}
