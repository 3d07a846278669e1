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
