//! `GET /v1/admin/whatif`: how the last days' pings would have gone with another window
//! (a contract's or a vertical's) or another `repeat_after_days`, from the lead event log.

use crate::admin::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Days, NaiveDate};
use pingpost_core::ids::{ContractId, VerticalId};
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_engine::whatif::{WhatIfAnswer, WhatIfChange};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(what_if))
}

/// Days counted when `since` is not given.
const DEFAULT_DAYS: u64 = 7;
/// The longest range asked about (the log keeps at most its retention anyway).
const MAX_DAYS: i64 = 366;

/// What a what-if would have done: the figures of another window or repeat threshold.
///
/// Counted from the lead event log's rollup over whole UTC days, without touching live
/// state. Give `contract` with `window_days`, or `vertical` with `window_days` or
/// `repeat_after_days`; `off` for no window (a contract) or no repeats.
#[utoipa::path(get, path = "/whatif", tag = "operator", security(("operator_token" = [])),
    params(
        ("contract" = Option<String>, Query, description = "A contract, for its window."),
        ("vertical" = Option<String>, Query, description = "A vertical, for its window or its repeat_after_days."),
        ("window_days" = Option<String>, Query, description = "The window asked about, in days (1-365); `off` turns a contract's dedup off."),
        ("repeat_after_days" = Option<String>, Query, description = "A vertical's repeat threshold asked about, in days, below its window; `off` for none."),
        ("since" = Option<String>, Query, description = "The first UTC day counted (a date, or an RFC 3339 time read as its UTC day); 7 days before `until` when absent."),
        ("until" = Option<String>, Query, description = "The first UTC day not counted; tomorrow (today counted) when absent."),
    ),
    responses(
        (status = 200, description = "The setting in force and the one asked about, and the figures.", body = WhatIfAnswer),
        (status = 400, description = "The query string is malformed.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such contract or vertical.", body = ErrorBody),
        (status = 422, description = "A parameter is missing, invalid or contradicts another; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store or the event log could not be reached.", body = ErrorBody),
    ))]
async fn what_if(
    _: Operator,
    State(state): State<Arc<AppState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<WhatIfAnswer>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_query", e.body_text()))?;
    let (change, since, until) = parse(&params, state.engine.now())?;
    Ok(Json(state.engine.what_if(change, since, until).await?))
}

/// A number of days, or `off` where `off_allowed`.
fn days(field: &'static str, value: &str, off_allowed: bool) -> Result<Option<WindowDays>, ApiError> {
    if value == "off" && off_allowed {
        return Ok(None);
    }
    let n: i64 = value.parse().map_err(|_| ApiError::invalid(field, "must be a whole number of days"))?;
    WindowDays::new(n).map(Some).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn day(field: &'static str, value: &str) -> Result<NaiveDate, ApiError> {
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(d) => Ok(d),
        Err(_) => crate::query::time(field, value)
            .map(|t| t.date_naive())
            .map_err(|_| ApiError::invalid(field, "must be a date (2026-11-30) or an RFC 3339 time")),
    }
}

/// The query string as the change asked about and its days.
pub(crate) fn parse(
    params: &[(String, String)],
    now: Timestamp,
) -> Result<(WhatIfChange, NaiveDate, NaiveDate), ApiError> {
    let get =
        |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let window = get("window_days");
    let repeat = get("repeat_after_days");
    let change = match (get("contract"), get("vertical")) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("vertical", "give a contract or a vertical, not both")),
        (None, None) => return Err(ApiError::invalid("contract", "is required (or vertical)")),
        (Some(c), None) => {
            if repeat.is_some() {
                return Err(ApiError::invalid(
                    "repeat_after_days",
                    "is a vertical's; a contract's what-if asks window_days",
                ));
            }
            let w = window.ok_or_else(|| ApiError::invalid("window_days", "is required"))?;
            WhatIfChange::ContractWindow(ContractId::new(c), days("window_days", w, true)?)
        }
        (None, Some(v)) => match (window, repeat) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid("repeat_after_days", "ask window_days or repeat_after_days, not both"))
            }
            (None, None) => return Err(ApiError::invalid("window_days", "is required (or repeat_after_days)")),
            (Some(w), None) => {
                let w =
                    days("window_days", w, false)?.ok_or_else(|| ApiError::invalid("window_days", "is required"))?;
                WhatIfChange::VerticalWindow(VerticalId::new(v), w)
            }
            (None, Some(r)) => WhatIfChange::VerticalRepeat(VerticalId::new(v), days("repeat_after_days", r, true)?),
        },
    };
    let tomorrow = now.date_naive().checked_add_days(Days::new(1)).unwrap_or(now.date_naive());
    let until = get("until").map(|v| day("until", v)).transpose()?.unwrap_or(tomorrow);
    let since = match get("since") {
        Some(v) => day("since", v)?,
        None => until.checked_sub_days(Days::new(DEFAULT_DAYS)).unwrap_or(until),
    };
    if since >= until {
        return Err(ApiError::invalid("until", "must be a day after since"));
    }
    if (until - since).num_days() > MAX_DAYS {
        return Err(ApiError::invalid("since", "must be at most 366 days before until"));
    }
    Ok((change, since, until))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn parsed(query: &[(&str, &str)]) -> Result<(WhatIfChange, NaiveDate, NaiveDate), String> {
        let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        parse(&params, now).map_err(|e| e.field.unwrap_or_default())
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn parameters_are_validated_and_name_the_bad_field() {
        let c1 = ContractId::new("c1");
        let w = |d| WindowDays::new(d).ok();
        assert_eq!(
            parsed(&[("contract", "c1"), ("window_days", "60")]),
            Ok((WhatIfChange::ContractWindow(c1.clone(), w(60)), date(1), date(8))),
            "the last 7 days, today counted"
        );
        assert_eq!(
            parsed(&[
                ("contract", "c1"),
                ("window_days", "off"),
                ("since", "2026-11-30"),
                ("until", "2026-12-07T10:00:00Z")
            ]),
            Ok((WhatIfChange::ContractWindow(c1, None), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), date(7)))
        );
        assert_eq!(
            parsed(&[("vertical", "auto"), ("repeat_after_days", "off")]).map(|p| p.0),
            Ok(WhatIfChange::VerticalRepeat(VerticalId::new("auto"), None))
        );
        for (query, field) in [
            (&[("window_days", "60")][..], "contract"),
            (&[("contract", "c1")][..], "window_days"),
            (&[("contract", "c1"), ("window_days", "0")][..], "window_days"),
            (&[("contract", "c1"), ("window_days", "sixty")][..], "window_days"),
            (&[("contract", "c1"), ("vertical", "auto"), ("window_days", "6")][..], "vertical"),
            (&[("vertical", "auto"), ("window_days", "off")][..], "window_days"),
            (&[("vertical", "auto"), ("window_days", "6"), ("repeat_after_days", "3")][..], "repeat_after_days"),
            (&[("contract", "c1"), ("repeat_after_days", "3")][..], "repeat_after_days"),
            (&[("contract", "c1"), ("window_days", "6"), ("since", "2026-12-09")][..], "until"),
            (&[("contract", "c1"), ("window_days", "6"), ("since", "2024-01-01")][..], "since"),
            (&[("contract", "c1"), ("window_days", "6"), ("since", "last week")][..], "since"),
        ] {
            assert_eq!(parsed(query).map(|_| ()), Err(field.to_string()), "{query:?}");
        }
    }
}
