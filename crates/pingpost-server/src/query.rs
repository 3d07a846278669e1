//! What query strings share: times and the time range of reports.

use crate::error::ApiError;
use pingpost_core::Timestamp;

/// An RFC 3339 time. An offset's `+` sent unencoded arrives as a space: read it as the `+`
/// it was.
pub fn time(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .or_else(|e| {
            if value.contains(' ') {
                chrono::DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
            } else {
                Err(e)
            }
        })
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time, e.g. 2026-11-23T15:00:00Z"))
}

/// Refuses a parameter not in `known`, or given twice: a misspelt filter silently ignored
/// would show an operator the wrong figures.
pub fn only_known(params: &[(String, String)], known: &[&str]) -> Result<(), ApiError> {
    for (i, (name, _)) in params.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(ApiError::invalid(
                name.as_str(),
                format!("is not a parameter; use one of {}", known.join(", ")),
            ));
        }
        if params[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(ApiError::invalid(name.as_str(), "is given more than once"));
        }
    }
    Ok(())
}

/// The value of `name` as sent; `None` when absent or empty (an empty value is absent, as
/// the document says with `allowEmptyValue`). Not trimmed: ` partner` is not a value the
/// document names, and is refused like any other.
pub fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// `since` and `until` (`[since, until)`), each optional; `until` must be after `since`.
pub fn range(params: &[(String, String)]) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
    let since = get(params, "since").map(|v| time("since", v)).transpose()?;
    let until = get(params, "until").map(|v| time("until", v)).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(ApiError::invalid("until", "must be later than since"));
        }
    }
    Ok((since, until))
}

/// A range `[since, until)` of at most `max_days`: `since` defaults to `max_days` before
/// `until`, or before `now` when `until` is left out, which leaves the range open up to now
/// (and whatever a clock a little ahead wrote since). A wider range is a 422 naming `since`
/// when `until` was left out, else `until`.
pub fn bounded_range(
    params: &[(String, String)],
    now: Timestamp,
    max_days: i64,
) -> Result<(Timestamp, Option<Timestamp>), ApiError> {
    let max = chrono::Duration::days(max_days);
    match range(params)? {
        (Some(s), None) if s < now - max => {
            Err(ApiError::invalid("since", format!("must be at most {max_days} days ago when until is left out")))
        }
        (Some(s), Some(u)) if u - s > max => {
            Err(ApiError::invalid("until", format!("must be at most {max_days} days after since")))
        }
        (since, until) => Ok((since.unwrap_or(until.unwrap_or(now) - max), until)),
    }
}

/// `limit`: a whole number in `1..=max`, `default` when absent.
pub fn limit(params: &[(String, String)], default: usize, max: usize) -> Result<usize, ApiError> {
    match get(params, "limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid("limit", format!("must be a whole number in 1..={max}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default()
    }

    /// (query, expected range or the field a 422 names), at 2026-11-23T15:00:00Z, 93 days.
    fn check(query: &[(&str, &str)], want: Result<(&str, Option<&str>), &str>) {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).single().unwrap_or_default();
        let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let got = bounded_range(&params, now, 93).map_err(|e| e.field.unwrap_or_default());
        let want = want.map(|(s, u)| (at(s), u.map(at))).map_err(str::to_string);
        assert_eq!(got, want, "{query:?}");
    }

    #[test]
    fn a_bounded_range_defaults_to_the_last_93_days_and_refuses_a_wider_one() {
        check(&[], Ok(("2026-08-22T15:00:00Z", None)));
        check(&[("until", "2026-10-01T00:00:00Z")], Ok(("2026-06-30T00:00:00Z", Some("2026-10-01T00:00:00Z"))));
        check(&[("since", "2026-11-01T00:00:00Z")], Ok(("2026-11-01T00:00:00Z", None)));
        check(&[("since", "2026-08-22T15:00:00Z")], Ok(("2026-08-22T15:00:00Z", None)));
        check(&[("since", "2026-08-22T14:59:59Z")], Err("since"));
        let quarter = [("since", "2026-01-01T00:00:00Z"), ("until", "2026-04-04T00:00:00Z")];
        check(&quarter, Ok(("2026-01-01T00:00:00Z", Some("2026-04-04T00:00:00Z"))));
        check(&[("since", "2026-01-01T00:00:00Z"), ("until", "2026-04-04T00:00:01Z")], Err("until"));
        check(&[("since", "2026-11-02T00:00:00Z"), ("until", "2026-11-01T00:00:00Z")], Err("until"));
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_empty_value_is_absent_and_no_value_is_trimmed() {
        let p = params(&[("since", ""), ("by", " partner"), ("until", "2026-11-23T15:00:00Z")]);
        assert_eq!(super::get(&p, "since"), None);
        assert_eq!(super::get(&p, "by"), Some(" partner"));
        assert_eq!(super::get(&p, "cursor"), None);
        assert!(super::range(&p).is_ok());
        assert!(super::range(&params(&[("since", " 2026-11-23T15:00:00Z")])).is_err());
    }
}
