//! `GET /v1/admin/stats?by=partner|buyer|vertical&since=&until=`: dedup counts per group
//! over the whole UTC hours overlapping `[since, until)` (default: the last 24 hours).

use crate::admin::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use pingpost_core::Timestamp;
use pingpost_engine::stats::{GroupBy, StatsGroup, MAX_RANGE};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct StatsAnswer {
    groups: Vec<StatsGroup>,
}

/// What a stats request asks for, validated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StatsQuery {
    pub by: GroupBy,
    pub since: Timestamp,
    pub until: Timestamp,
}

/// Dedup counts per partner, buyer or vertical over the whole UTC hours of a range.
#[utoipa::path(get, path = "/stats", tag = "operator", security(("operator_token" = [])),
    params(
        ("by" = crate::openapi::StatsBy, Query, description = "`partner`, `buyer` or `vertical`."),
        ("since" = Option<String>, Query, description = "RFC 3339; 24 hours ago when absent.", format = DateTime),
        ("until" = Option<String>, Query, description = "RFC 3339; now when absent.", format = DateTime),
    ),
    responses(
        (status = 200, description = "One group per key with counts.", body = StatsAnswer),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "A parameter is invalid or unknown; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn stats(
    _: Operator,
    State(state): State<Arc<AppState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<StatsAnswer>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    let q = parse(&params, state.engine.now())?;
    let groups = state.engine.stats_query(q.by, q.since, q.until).await?;
    Ok(Json(StatsAnswer { groups }))
}

/// The query string as a [`StatsQuery`]; the console's charts read theirs with it too.
pub(crate) fn parse(params: &[(String, String)], now: Timestamp) -> Result<StatsQuery, ApiError> {
    let get = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let by = match get("by") {
        None | Some("") => return Err(ApiError::invalid("by", "is required: partner, buyer or vertical")),
        Some(v) => GroupBy::parse(v).ok_or_else(|| ApiError::invalid("by", "must be partner, buyer or vertical"))?,
    };
    let time = |name: &'static str, default: Timestamp| -> Result<Timestamp, ApiError> {
        match get(name) {
            None | Some("") => Ok(default),
            Some(v) => crate::query::time(name, v),
        }
    };
    let until = time("until", now)?;
    let since = time("since", until - chrono::Duration::hours(24))?;
    if since >= until {
        return Err(ApiError::invalid("until", "must be after since"));
    }
    if until - since > MAX_RANGE {
        return Err(ApiError::invalid("since", "must be at most 366 days before until"));
    }
    Ok(StatsQuery { by, since, until })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 15, 30, 0).unwrap()
    }

    fn check(query: &[(&str, &str)], expected: Result<(GroupBy, Timestamp, Timestamp), &str>) {
        let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let got = parse(&params, now()).map(|q| (q.by, q.since, q.until)).map_err(|e| e.field.unwrap_or_default());
        assert_eq!(got, expected.map_err(String::from), "{query:?}");
    }

    #[test]
    fn parameters_are_validated_and_name_the_bad_field() {
        let day = chrono::Duration::hours(24);
        check(&[("by", "partner")], Ok((GroupBy::Partner, now() - day, now())));
        check(
            &[("by", "buyer"), ("since", "2026-11-01T00:00:00Z"), ("until", "2026-11-02T00:00:00+01:00")],
            Ok((
                GroupBy::Buyer,
                chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                chrono::Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).unwrap(),
            )),
        );
        check(
            &[("by", "vertical"), ("since", "2025-11-22T15:30:00Z")],
            Ok((GroupBy::Vertical, chrono::Utc.with_ymd_and_hms(2025, 11, 22, 15, 30, 0).unwrap(), now())),
        );
        check(
            &[("by", "partner"), ("since", "2026-11-23T10:00:00 01:00")],
            Ok((GroupBy::Partner, chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(), now())),
        );
        check(&[], Err("by"));
        check(&[("by", "offer")], Err("by"));
        check(&[("by", "partner"), ("since", "yesterday")], Err("since"));
        check(&[("by", "partner"), ("until", "2026-13-01T00:00:00Z")], Err("until"));
        check(&[("by", "partner"), ("since", "2026-11-23T15:30:00Z")], Err("until"));
        check(&[("by", "partner"), ("since", "2025-11-22T15:29:59Z")], Err("since"));
    }
}
