//! Reading one value as its type: the kept (normalized) JSON value, or a refusal saying what
//! was expected. Form posts send every value as text, so every type reads from text too;
//! surrounding spaces never matter.

use super::schema::{EnumValues, FieldType};
use super::states;
use crate::identity::{normalize_email, normalize_phone};
use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::net::IpAddr;

/// Whether a value counts as not sent: `null`, or text of spaces only (a form sends an
/// unfilled input as an empty string).
pub fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// `value` (present, see [`is_absent`]) read as `kind`.
pub fn read(kind: &FieldType, value: &Value) -> Result<Value, String> {
    match kind {
        FieldType::Text { min_length, max_length } => text(value, *min_length, *max_length),
        FieldType::Integer { min, max } => integer(value).and_then(|n| within(n as f64, *min, *max).map(|_| n.into())),
        FieldType::Number { min, max } => {
            let (kept, n) = number(value)?;
            within(n, *min, *max).map(|_| kept)
        }
        FieldType::Boolean => boolean(value).map(Value::Bool),
        FieldType::Date => date(value),
        FieldType::Enum(values) => one_of(value, values),
        FieldType::Zip => zip(value),
        FieldType::State => scalar_text(value)
            .and_then(|t| states::code_of(&t))
            .map(|code| Value::String(code.to_string()))
            .ok_or_else(|| "must be a US state or territory: its two-letter code or its name".to_string()),
        FieldType::Url => url(value),
        FieldType::Ip => ip(value),
        FieldType::Email => {
            let t = only_text(value).ok_or("must be an email address")?;
            normalize_email(t).map(Value::String).map_err(|e| e.message)
        }
        FieldType::Phone => {
            let t = scalar_text(value).ok_or("must be a phone number")?;
            normalize_phone(&t).map(Value::String).map_err(|e| e.message)
        }
    }
}

/// A string, trimmed; nothing else.
fn only_text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s.trim()),
        _ => None,
    }
}

/// A string (trimmed) or a number as it was written: codes a JSON sender may give as
/// numbers (a ZIP, a phone, an enum of `1`/`2`/`3`).
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s.trim())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn text(value: &Value, min: Option<u32>, max: Option<u32>) -> Result<Value, String> {
    let t = scalar_text(value).ok_or("must be text")?;
    let length = t.chars().count();
    if let Some(max) = max.filter(|m| length > *m as usize) {
        return Err(format!("must be at most {max} characters, got {length}"));
    }
    if let Some(min) = min.filter(|m| length < *m as usize) {
        return Err(format!("must be at least {min} characters, got {length}"));
    }
    Ok(Value::String(t.into_owned()))
}

const WHOLE: &str = "must be a whole number";

fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            .ok_or_else(|| WHOLE.to_string()),
        Value::String(s) => s.trim().parse().map_err(|_| WHOLE.to_string()),
        _ => Err(WHOLE.to_string()),
    }
}

/// The kept number (a whole number stays whole) and its value for range checks.
fn number(value: &Value) -> Result<(Value, f64), String> {
    const NUMBER: &str = "must be a number";
    match value {
        Value::Number(n) => Ok((Value::Number(n.clone()), n.as_f64().ok_or(NUMBER)?)),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(whole) = t.parse::<i64>() {
                return Ok((whole.into(), whole as f64));
            }
            let f = t.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or(NUMBER)?;
            Ok((Number::from_f64(f).map(Value::Number).ok_or(NUMBER)?, f))
        }
        _ => Err(NUMBER.to_string()),
    }
}

/// Bounds are inclusive.
fn within(n: f64, min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(format!("must be at least {min}"));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(format!("must be at most {max}"));
    }
    Ok(())
}

/// true/false, yes/no, y/n, 1/0 in any case, as JSON booleans, numbers or text.
pub(super) fn boolean(value: &Value) -> Result<bool, String> {
    const TRUE: [&str; 4] = ["true", "yes", "y", "1"];
    const FALSE: [&str; 4] = ["false", "no", "n", "0"];
    let expected = || "must be true or false (or yes/no, y/n, 1/0)".to_string();
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_u64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(expected()),
        },
        Value::String(s) => {
            let t = s.trim();
            if TRUE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                Ok(true)
            } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                Ok(false)
            } else {
                Err(expected())
            }
        }
        _ => Err(expected()),
    }
}

/// `YYYY-MM-DD`, `MM/DD/YYYY` (month and day may have one digit) or RFC 3339 (the date as
/// written, in its own offset: a birth date must not move a day with the time zone).
/// The year must have four digits and be 1000 or later, so `01/02/03` is never read as the
/// year 3.
fn date(value: &Value) -> Result<Value, String> {
    let expected = || "must be a date: YYYY-MM-DD, MM/DD/YYYY or RFC 3339".to_string();
    let t = only_text(value).ok_or_else(expected)?;
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let ymd = |y: &str, m: &str, d: &str| NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let parsed = if t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
        let (y, m, d) = (&t[..4], &t[5..7], &t[8..]);
        (digits(y, 4..=4) && digits(m, 2..=2) && digits(d, 2..=2)).then(|| ymd(y, m, d)).flatten()
    } else if let Some((m, (d, y))) = t.split_once('/').and_then(|(m, rest)| Some((m, rest.split_once('/')?))) {
        (digits(m, 1..=2) && digits(d, 1..=2) && digits(y, 4..=4)).then(|| ymd(y, m, d)).flatten()
    } else {
        DateTime::parse_from_rfc3339(t).ok().map(|dt| dt.date_naive())
    };
    parsed
        .filter(|d| (1000..=9999).contains(&d.year()))
        .map(|d| Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())))
        .ok_or_else(expected)
}

fn one_of(value: &Value, values: &EnumValues) -> Result<Value, String> {
    scalar_text(value)
        .and_then(|t| values.find(&t).map(|v| Value::String(v.to_string())))
        .ok_or_else(|| format!("must be one of: {}", values.listed().join(", ")))
}

/// Five digits, or ZIP+4 (`12345-6789`, `12345 6789`, `123456789`) kept as its five.
fn zip(value: &Value) -> Result<Value, String> {
    let expected = || "must be a 5-digit ZIP code (or ZIP+4)".to_string();
    let t = scalar_text(value).ok_or_else(expected)?;
    let b = t.as_bytes();
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let ok = match b.len() {
        5 | 9 => all_digits(b),
        10 => all_digits(&b[..5]) && matches!(b[5], b'-' | b' ') && all_digits(&b[6..]),
        _ => false,
    };
    if !ok {
        return Err(expected());
    }
    Ok(Value::String(t[..5].to_string()))
}

/// An absolute `http://` or `https://` URL with a host (a name, an IPv4 or a bracketed IPv6
/// address) and no spaces; kept as sent. A light parse: enough to refuse what is not a URL
/// without a URL library.
fn url(value: &Value) -> Result<Value, String> {
    let t = only_text(value).filter(|t| is_web_url(t));
    t.map(|t| Value::String(t.to_string()))
        .ok_or_else(|| "must be an absolute http:// or https:// URL with a host".to_string())
}

pub(super) fn is_web_url(t: &str) -> bool {
    let Some((scheme, rest)) = t.split_once("://") else { return false };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, tail)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", tail.strip_prefix(':')),
            _ => return false,
        },
        None => match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    host_ok && port_ok
}

fn ip(value: &Value) -> Result<Value, String> {
    only_text(value)
        .and_then(|t| t.parse::<IpAddr>().ok())
        .map(|ip| Value::String(ip.to_string()))
        .ok_or_else(|| "must be an IPv4 or IPv6 address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads each input as `kind`: `Ok(kept)` or `Err(part of the message)`.
    fn check(kind: FieldType, table: &[(Value, Result<Value, &str>)]) {
        for (input, expected) in table {
            let got = read(&kind, input);
            match (expected, &got) {
                (Ok(kept), Ok(value)) => assert_eq!(value, kept, "{} {input}", kind.name()),
                (Err(part), Err(message)) => assert!(message.contains(part), "{} {input}: {message}", kind.name()),
                _ => panic!("{} {input}: expected {expected:?}, got {got:?}", kind.name()),
            }
        }
    }

    #[test]
    fn absent_is_null_or_blank_text() {
        for (value, absent) in
            [(json!(null), true), (json!(""), true), (json!("  "), true), (json!("0"), false), (json!(0), false)]
        {
            assert_eq!(is_absent(&value), absent, "{value}");
        }
    }

    #[test]
    fn text() {
        check(
            FieldType::Text { min_length: Some(2), max_length: Some(5) },
            &[
                (json!(" Ann "), Ok(json!("Ann"))),
                (json!("Éloïse"), Err("at most 5 characters, got 6")),
                (json!("Zoë"), Ok(json!("Zoë"))),
                (json!("A"), Err("at least 2 characters, got 1")),
                (json!(123), Ok(json!("123"))),
                (json!(true), Err("must be text")),
                (json!(["a"]), Err("must be text")),
            ],
        );
    }

    #[test]
    fn integer() {
        check(
            FieldType::Integer { min: Some(18.0), max: Some(120.0) },
            &[
                (json!(34), Ok(json!(34))),
                (json!("34"), Ok(json!(34))),
                (json!(" 34 "), Ok(json!(34))),
                (json!(34.0), Ok(json!(34))),
                (json!(18), Ok(json!(18))),
                (json!(120), Ok(json!(120))),
                (json!(34.5), Err("whole number")),
                (json!("34.5"), Err("whole number")),
                (json!("thirty"), Err("whole number")),
                (json!(true), Err("whole number")),
                (json!(17), Err("at least 18")),
                (json!("121"), Err("at most 120")),
            ],
        );
    }

    #[test]
    fn number() {
        check(
            FieldType::Number { min: Some(0.5), max: Some(10.0) },
            &[
                (json!(2.5), Ok(json!(2.5))),
                (json!("2.5"), Ok(json!(2.5))),
                (json!("3"), Ok(json!(3))),
                (json!(3), Ok(json!(3))),
                (json!(10), Ok(json!(10))),
                (json!("0.4"), Err("at least 0.5")),
                (json!(10.01), Err("at most 10")),
                (json!("NaN"), Err("must be a number")),
                (json!("inf"), Err("must be a number")),
                (json!("1,5"), Err("must be a number")),
                (json!(false), Err("must be a number")),
            ],
        );
    }

    #[test]
    fn boolean() {
        let yes = Ok(json!(true));
        let no = Ok(json!(false));
        check(
            FieldType::Boolean,
            &[
                (json!(true), yes.clone()),
                (json!(false), no.clone()),
                (json!("true"), yes.clone()),
                (json!("FALSE"), no.clone()),
                (json!("Yes"), yes.clone()),
                (json!("no"), no.clone()),
                (json!("Y"), yes.clone()),
                (json!("n"), no.clone()),
                (json!("1"), yes.clone()),
                (json!("0"), no.clone()),
                (json!(1), yes),
                (json!(0), no),
                (json!(2), Err("true or false")),
                (json!("on"), Err("true or false")),
                (json!("maybe"), Err("true or false")),
            ],
        );
    }

    #[test]
    fn date() {
        let kept = Ok(json!("1990-04-07"));
        check(
            FieldType::Date,
            &[
                (json!("1990-04-07"), kept.clone()),
                (json!("04/07/1990"), kept.clone()),
                (json!("4/7/1990"), kept.clone()),
                (json!("1990-04-07T23:30:00-05:00"), kept.clone()),
                (json!("1990-04-07T01:00:00Z"), kept),
                (json!("1990-02-30"), Err("must be a date")),
                (json!("13/01/1990"), Err("must be a date")),
                (json!("01/02/90"), Err("must be a date")),
                (json!("0999-01-01"), Err("must be a date")),
                (json!("1990-4-7"), Err("must be a date")),
                (json!("07.04.1990"), Err("must be a date")),
                (json!(19900407), Err("must be a date")),
            ],
        );
    }

    #[test]
    fn enumeration() {
        let values = EnumValues::new(vec!["male".into(), "female".into(), "Other".into(), "2".into()]);
        check(
            FieldType::Enum(values),
            &[
                (json!("male"), Ok(json!("male"))),
                (json!("FEMALE"), Ok(json!("female"))),
                (json!(" other "), Ok(json!("Other"))),
                (json!(2), Ok(json!("2"))),
                (json!("m"), Err("must be one of: male, female, Other, 2")),
                (json!(true), Err("must be one of")),
            ],
        );
    }

    #[test]
    fn zip() {
        check(
            FieldType::Zip,
            &[
                (json!("90210"), Ok(json!("90210"))),
                (json!("02134"), Ok(json!("02134"))),
                (json!("90210-1234"), Ok(json!("90210"))),
                (json!("90210 1234"), Ok(json!("90210"))),
                (json!("902101234"), Ok(json!("90210"))),
                (json!(90210), Ok(json!("90210"))),
                (json!(2134), Err("5-digit ZIP")),
                (json!("9021"), Err("5-digit ZIP")),
                (json!("90210-12"), Err("5-digit ZIP")),
                (json!("9021O"), Err("5-digit ZIP")),
            ],
        );
    }

    #[test]
    fn state() {
        check(
            FieldType::State,
            &[
                (json!("ca"), Ok(json!("CA"))),
                (json!("California"), Ok(json!("CA"))),
                (json!("district of columbia"), Ok(json!("DC"))),
                (json!("PR"), Ok(json!("PR"))),
                (json!("ZZ"), Err("US state or territory")),
                (json!(6), Err("US state or territory")),
            ],
        );
    }

    #[test]
    fn url() {
        check(
            FieldType::Url,
            &[
                (json!("https://example.com/quote?x=1"), Ok(json!("https://example.com/quote?x=1"))),
                (json!(" HTTP://Example.com "), Ok(json!("HTTP://Example.com"))),
                (json!("http://127.0.0.1:8080/a"), Ok(json!("http://127.0.0.1:8080/a"))),
                (json!("http://[::1]/"), Ok(json!("http://[::1]/"))),
                (json!("https://user@example.com/"), Ok(json!("https://user@example.com/"))),
                (json!("example.com"), Err("absolute http")),
                (json!("ftp://example.com/"), Err("absolute http")),
                (json!("https://"), Err("absolute http")),
                (json!("https:///path"), Err("absolute http")),
                (json!("https://exa mple.com/"), Err("absolute http")),
                (json!("https://example..com/"), Err("absolute http")),
                (json!("https://example.com:99999/"), Err("absolute http")),
                (json!("javascript://alert(1)"), Err("absolute http")),
            ],
        );
    }

    #[test]
    fn ip() {
        check(
            FieldType::Ip,
            &[
                (json!("203.0.113.7"), Ok(json!("203.0.113.7"))),
                (json!(" 2001:DB8:0:0::1 "), Ok(json!("2001:db8::1"))),
                (json!("203.0.113"), Err("IPv4 or IPv6")),
                (json!("203.0.113.256"), Err("IPv4 or IPv6")),
                (json!(1), Err("IPv4 or IPv6")),
            ],
        );
    }

    #[test]
    fn email_and_phone_normalize_as_identity_does() {
        check(
            FieldType::Email,
            &[
                (json!(" Ann@Example.COM "), Ok(json!("ann@example.com"))),
                (json!("ann@example"), Err("is not an email address")),
                (json!(42), Err("must be an email address")),
            ],
        );
        check(
            FieldType::Phone,
            &[
                (json!("(202) 555-0143"), Ok(json!("12025550143"))),
                (json!("+44 20 7946 0958"), Ok(json!("442079460958"))),
                (json!(2025550143_u64), Ok(json!("12025550143"))),
                (json!("555-0143"), Err("10 digits")),
            ],
        );
    }
}
