//! `GET /v1/admin/audit`: the `leadDedup` log, filtered, newest first, a page at a time.
//! Parse (query string → [`AuditQuery`], every bad parameter a 422 naming it) → ask the
//! sink → encode (RFC 3339 times, the page's cursor).

use super::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::SecondsFormat;
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::ids::{BuyerId, OfferId, PartnerId, VerticalId};
use pingpost_core::Timestamp;
use pingpost_engine::audit::{cursor_is_well_formed, AuditEntry, AuditPage, AuditQuery};
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The dedup audit log, newest first.
///
/// One entry per contract a checkpoint dropped; identifiers never appear. Every filter is
/// optional; an unknown or repeated parameter is refused.
#[utoipa::path(get, path = "/audit", tag = "operator", security(("operator_token" = [])),
    params(
        ("buyer" = Option<String>, Query, description = "Only this buyer's contracts."),
        ("partner" = Option<String>, Query, description = "Only this partner's pings."),
        ("vertical" = Option<String>, Query, description = "Only this vertical."),
        ("offer" = Option<String>, Query, description = "Only this offer."),
        ("checkpoint" = Option<crate::openapi::CheckpointParam>, Query, description = "Only drops at this checkpoint, or a buyer's \"duplicate\" answer to a post (`post_duplicate`)."),
        ("since" = Option<String>, Query, description = "At or after (RFC 3339).", format = DateTime),
        ("until" = Option<String>, Query, description = "Before (RFC 3339).", format = DateTime),
        ("limit" = Option<usize>, Query, description = "1 to 1000; 100 when absent.", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of entries.", body = AuditAnswer),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn list(
    _: Operator,
    State(state): State<Arc<AppState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    let q = parse(&params)?;
    let page = state.engine.audit_page(q).await?;
    Ok(Json(encode(&page)))
}

/// The query string as an [`AuditQuery`]. An empty value counts as absent, so a form or a
/// script may send every parameter; an unknown or repeated parameter is refused, because a
/// misspelt filter silently ignored would show an operator the wrong entries.
fn parse(params: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery::newest(DEFAULT_LIMIT);
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        if seen.contains(&name.as_str()) {
            return Err(ApiError::invalid(name.as_str(), "is given more than once"));
        }
        seen.push(name);
        if value.is_empty() && KNOWN.contains(&name.as_str()) {
            continue;
        }
        match name.as_str() {
            "buyer" => q.buyer = Some(BuyerId::new(value)),
            "partner" => q.partner = Some(PartnerId::new(value)),
            "vertical" => q.vertical = Some(VerticalId::new(value)),
            "offer" => q.offer = Some(OfferId::new(value)),
            "checkpoint" => q.checkpoint = Some(checkpoint(value)?),
            "since" => q.since = Some(crate::query::time("since", value)?),
            "until" => q.until = Some(crate::query::time("until", value)?),
            "limit" => q.limit = limit(value)?,
            "cursor" if cursor_is_well_formed(value) => q.cursor = Some(value.to_string()),
            "cursor" => return Err(ApiError::invalid("cursor", "is not a cursor this API returned (next_cursor)")),
            other => {
                return Err(ApiError::invalid(other, format!("is not a parameter; use one of {}", KNOWN.join(", "))))
            }
        }
    }
    if let (Some(since), Some(until)) = (q.since, q.until) {
        if until <= since {
            return Err(ApiError::invalid("until", "must be later than since"));
        }
    }
    Ok(q)
}

const KNOWN: [&str; 9] = ["buyer", "partner", "vertical", "offer", "checkpoint", "since", "until", "limit", "cursor"];

fn checkpoint(value: &str) -> Result<Checkpoint, ApiError> {
    Checkpoint::ALL.into_iter().find(|c| c.as_str() == value).ok_or_else(|| {
        let names: Vec<&str> = Checkpoint::ALL.iter().map(|c| c.as_str()).collect();
        ApiError::invalid("checkpoint", format!("must be one of {}", names.join(", ")))
    })
}

fn limit(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn entry(e: &AuditEntry) -> Value {
    let mut entry = json!({
        "at": rfc3339(e.at),
        "ping_id": e.ping_id,
        "partner": e.partner.as_str(),
        "vertical": e.vertical.as_str(),
        "offer": e.offer.as_str(),
        "buyer": e.buyer.as_ref().map(BuyerId::as_str),
        "contract": e.contract.as_ref().map(|c| c.as_str()),
        "checkpoint": e.checkpoint.as_str(),
        "matched": e.matched.map(|m| m.as_str()),
        "prior_at": e.prior_at.map(rfc3339),
        "reason": e.reason,
    });
    // Only on a test lead's entries, so a live entry reads as it always did.
    if e.test {
        entry["test"] = Value::Bool(true);
    }
    entry
}

/// A page of the audit log (documents what `encode` writes).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `encode` builds
struct AuditAnswer {
    entries: Vec<AuditEntryView>,
    /// Continues the listing; `null` on the last page.
    next_cursor: Option<String>,
}

/// One contract dropped by one checkpoint (`no_sandbox`: left out of a test lead, its buyer
/// having no sandbox URL for a call the contract needs).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer `entry` builds
struct AuditEntryView {
    #[schema(format = DateTime)]
    at: String,
    ping_id: String,
    partner: String,
    vertical: String,
    offer: String,
    /// The buyer whose contract was dropped (`null` for a whole-ping drop).
    buyer: Option<String>,
    contract: Option<String>,
    checkpoint: String,
    /// Which identifier matched (`email`, `phone`).
    matched: Option<String>,
    /// When the earlier event the lead matched happened.
    #[schema(format = DateTime)]
    prior_at: Option<String>,
    /// On a `post_duplicate` hit, the buyer's own reason, when its answer gave one.
    reason: Option<String>,
    /// `true` on a test lead's entry (left out otherwise): it wrote no dedup state.
    #[schema(nullable = false)]
    test: Option<bool>,
}

fn encode(page: &AuditPage) -> Value {
    json!({
        "entries": page.entries.iter().map(entry).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &[(&str, &str)]) -> Result<AuditQuery, (u16, Option<String>, String)> {
        let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(&params).map_err(|e| (e.status.as_u16(), e.field, e.message))
    }

    #[test]
    fn defaults_and_every_filter() {
        assert_eq!(check(&[]).unwrap(), AuditQuery::newest(DEFAULT_LIMIT));
        let q = check(&[
            ("buyer", "b1"),
            ("partner", "p1"),
            ("vertical", "auto"),
            ("offer", "auto-excl"),
            ("checkpoint", "dq_duplicate"),
            ("since", "2026-11-23T10:00:00-05:00"),
            ("until", "2026-11-24T00:00:00Z"),
            ("limit", "1000"),
            ("cursor", "1795446000000-3"),
        ])
        .unwrap();
        assert_eq!(
            (q.buyer.unwrap().as_str(), q.partner.unwrap().as_str(), q.vertical.unwrap().as_str()),
            ("b1", "p1", "auto")
        );
        assert_eq!(
            (q.offer.unwrap().as_str(), q.limit, q.cursor.as_deref()),
            ("auto-excl", 1000, Some("1795446000000-3"))
        );
        assert_eq!(q.until.map(rfc3339).as_deref(), Some("2026-11-24T00:00:00Z"));
        // A repeated parameter is refused, even when one of them is empty.
        assert_eq!(check(&[("buyer", "b1"), ("buyer", "")]).unwrap_err().1.as_deref(), Some("buyer"));
        let q =
            check(&[("checkpoint", "dq_duplicate"), ("since", "2026-11-23T10:00:00-05:00"), ("limit", "")]).unwrap();
        assert_eq!(q.checkpoint, Some(Checkpoint::DqDuplicate));
        assert_eq!(q.since.map(rfc3339).as_deref(), Some("2026-11-23T15:00:00Z"));
        assert_eq!(q.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn each_bad_parameter_is_named() {
        for (query, field) in [
            (vec![("checkpoint", "vertical")], "checkpoint"),
            (vec![("since", "yesterday")], "since"),
            (vec![("until", "2026-11-23")], "until"),
            (vec![("since", "2026-11-23T12:00:00Z"), ("until", "2026-11-23T12:00:00Z")], "until"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("limit", "ten")], "limit"),
            (vec![("cursor", "abc")], "cursor"),
            (vec![("byuer", "b1")], "byuer"),
        ] {
            let (status, named, _) = check(&query).unwrap_err();
            assert_eq!((status, named.as_deref()), (422, Some(field)), "{query:?}");
        }
        let (_, _, message) = check(&[("checkpoint", "nope")]).unwrap_err();
        assert!(message.contains("vertical_duplicate") && message.contains("post_duplicate"), "{message}");
    }
}
