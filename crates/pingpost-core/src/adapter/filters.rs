//! pingpost's template filters (the SPEC's list), as pure functions over template values.
//!
//! Every filter passes a missing value (undefined or none) through unchanged, so a field
//! whose lead value is missing is left out of the body rather than failing the call. Their
//! errors never quote the value they were given: a lead's plaintext email or phone must not
//! reach a log through an error message.

use super::spec::ValueMap;
use crate::filter::Scalar;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use sha2::Digest;
use std::borrow::Cow;
use std::fmt::Write;

/// The name under which a render's context carries `now` for the `age` filter, out of
/// reach of a template's own `{% set now = … %}`.
pub(super) const NOW: &str = "__pingpost_now";

/// Marks an error raised by one of our filters: its text is ours and quotes no value, so
/// it may be shown (other template errors are reduced to their kind, see `template.rs`).
#[derive(Debug, thiserror::Error)]
#[error("pingpost filter")]
pub(super) struct OwnFault;

pub(super) fn fault(message: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message).with_source(OwnFault)
}

fn missing(v: &Value) -> bool {
    v.is_undefined() || v.is_none()
}

/// A value's text: strings as they are, numbers and booleans as written; `None` when missing.
pub(super) fn text_of(v: &Value) -> Option<Cow<'_, str>> {
    if missing(v) {
        None
    } else if let Some(s) = v.as_str() {
        Some(Cow::Borrowed(s))
    } else {
        Some(Cow::Owned(v.to_string()))
    }
}

/// Applies `f` to the value's text, passing a missing value through.
fn on_text(v: Value, f: impl FnOnce(&str) -> Result<Value, Error>) -> Result<Value, Error> {
    match text_of(&v) {
        None => Ok(v),
        Some(text) => f(&text),
    }
}

/// `phone(f)`: a North American number (10 digits, or 11 starting with 1) written as `f`.
pub(super) fn phone(v: Value, format: &str) -> Result<Value, Error> {
    on_text(v, |text| {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let ten = match digits.len() {
            10 => digits.as_str(),
            11 if digits.starts_with('1') => &digits[1..],
            _ => return Err(fault("phone: not a 10-digit North American number")),
        };
        let (area, exchange, line) = (&ten[..3], &ten[3..6], &ten[6..]);
        let written = match format {
            "e164" => format!("+1{ten}"),
            "digits" => format!("1{ten}"),
            "digits10" => ten.to_string(),
            "dashed" => format!("{area}-{exchange}-{line}"),
            "dotted" => format!("{area}.{exchange}.{line}"),
            "parens" => format!("({area}) {exchange}-{line}"),
            _ => return Err(fault("phone: the format is one of e164, digits, digits10, dashed, dotted, parens")),
        };
        Ok(Value::from(written))
    })
}

/// A date or instant as a buyer may send it: `YYYY-MM-DD`, `MM/DD/YYYY` or RFC 3339 (kept in
/// its own offset; a bare date is midnight).
enum When {
    Local(NaiveDateTime),
    Zoned(DateTime<chrono::FixedOffset>),
}

impl When {
    fn read(text: &str) -> Option<When> {
        let text = text.trim();
        let midnight = |d: NaiveDate| When::Local(d.and_time(chrono::NaiveTime::MIN));
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(midnight)
            .or_else(|_| NaiveDate::parse_from_str(text, "%m/%d/%Y").map(midnight))
            .or_else(|_| DateTime::parse_from_rfc3339(text).map(When::Zoned))
            .ok()
    }

    fn date(&self) -> NaiveDate {
        match self {
            When::Local(t) => t.date(),
            When::Zoned(t) => t.date_naive(),
        }
    }
}

/// `date(strftime)`.
pub(super) fn date(v: Value, format: &str) -> Result<Value, Error> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    // chrono panics when asked to write a format it could not read: refuse it here instead.
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(fault("date: the format is not a valid strftime format"));
    }
    on_text(v, |text| {
        let when = When::read(text).ok_or_else(|| fault("date: not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339)"))?;
        let mut out = String::new();
        let written = match when {
            When::Local(t) => write!(out, "{}", t.format_with_items(items.iter())),
            When::Zoned(t) => write!(out, "{}", t.format_with_items(items.iter())),
        };
        written.map_err(|_| fault("date: the format asks for what a date does not have"))?;
        Ok(Value::from(out))
    })
}

/// `age`: whole years from a date to the render's `now`.
pub(super) fn age(state: &State, v: Value) -> Result<Value, Error> {
    let now =
        state.lookup(NOW).and_then(|n| n.as_str().and_then(When::read)).ok_or_else(|| fault("age: no current time"))?;
    age_at(now.date(), v)
}

pub(super) fn age_at(now: NaiveDate, v: Value) -> Result<Value, Error> {
    on_text(v, |text| {
        let born =
            When::read(text).ok_or_else(|| fault("age: not a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339)"))?.date();
        if born > now {
            return Err(fault("age: the date is in the future"));
        }
        let before_birthday = (now.month(), now.day()) < (born.month(), born.day());
        Ok(Value::from(i64::from(now.year() - born.year()) - i64::from(before_birthday)))
    })
}

/// `yes_no(yes, no)`: true, "yes", "y", "1", "true" (any case) → `yes`; their opposites → `no`.
pub(super) fn yes_no(v: Value, yes: Value, no: Value) -> Result<Value, Error> {
    if missing(&v) {
        return Ok(v);
    }
    if v.kind() == ValueKind::Bool {
        return Ok(if v.is_true() { yes } else { no });
    }
    let text = text_of(&v).unwrap_or_default();
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "1" | "true" => Ok(yes),
        "no" | "n" | "0" | "false" => Ok(no),
        _ => Err(fault("yes_no: the value is neither yes nor no")),
    }
}

/// `map(name)` over one value map: the value's entry (exact, then ignoring ASCII case), else
/// `default`, else the value unchanged.
pub(super) fn map_value(map: &ValueMap, v: Value) -> Value {
    let Some(text) = text_of(&v) else { return v };
    let entry = map
        .get(text.as_ref())
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(&text)).map(|(_, s)| s))
        .or_else(|| map.get("default"));
    entry.map_or(v, scalar_value)
}

pub(super) fn scalar_value(s: &Scalar) -> Value {
    match s {
        Scalar::Bool(b) => Value::from(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::Text(t) => Value::from(t.as_str()),
    }
}

/// `digits`: only the ASCII digits.
pub(super) fn digits(v: Value) -> Result<Value, Error> {
    on_text(v, |t| Ok(Value::from(t.chars().filter(char::is_ascii_digit).collect::<String>())))
}

/// `md5`: the lowercase hex MD5 of the text.
pub(super) fn md5(v: Value) -> Result<Value, Error> {
    on_text(v, |t| Ok(Value::from(hex::encode(md5::Md5::digest(t.as_bytes())))))
}

/// `sha256`: the lowercase hex SHA-256 of the text.
pub(super) fn sha256(v: Value) -> Result<Value, Error> {
    on_text(v, |t| Ok(Value::from(hex::encode(sha2::Sha256::digest(t.as_bytes())))))
}

/// `ascii`: Latin letters lose their accents (é → e, ß → ss, Æ → AE), typographic quotes,
/// dashes and spaces become their ASCII forms, and any other non-ASCII character is dropped.
pub(super) fn ascii(v: Value) -> Result<Value, Error> {
    on_text(v, |t| {
        let mut out = String::with_capacity(t.len());
        for c in t.chars() {
            if c.is_ascii() {
                out.push(c);
            } else if let Some(folded) = fold(c) {
                if c.is_lowercase() {
                    out.push_str(&folded.to_ascii_lowercase());
                } else {
                    out.push_str(folded);
                }
            }
        }
        Ok(Value::from(out))
    })
}

/// The ASCII letters a Latin-1 or Latin Extended-A letter is written with (upper case; the
/// caller lowers them for a lower-case letter), or the ASCII form of common punctuation.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => "A",
        'Æ' | 'æ' => "AE",
        'Ç' | 'ç' | 'Ć'..='č' => "C",
        'Ð' | 'ð' | 'Ď'..='đ' => "D",
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => "E",
        'Ĝ'..='ģ' => "G",
        'Ĥ'..='ħ' => "H",
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => "I",
        'Ĳ' | 'ĳ' => "IJ",
        'Ĵ' | 'ĵ' => "J",
        'Ķ'..='ĸ' => "K",
        'Ĺ'..='ł' => "L",
        'Ñ' | 'ñ' | 'Ń'..='ŋ' => "N",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō'..='ő' => "O",
        'Œ' | 'œ' => "OE",
        'Ŕ'..='ř' => "R",
        'Ś'..='š' | 'ſ' => "S",
        'ß' => "SS",
        'Ţ'..='ŧ' => "T",
        'Þ' | 'þ' => "TH",
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => "U",
        'Ŵ' | 'ŵ' => "W",
        'Ý' | 'ý' | 'ÿ' | 'Ŷ'..='Ÿ' => "Y",
        'Ź'..='ž' => "Z",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' => " ",
        _ => return None,
    })
}

/// `truncate(length=255, killwords=false, end='...', leeway=5)`, as in Jinja: a text longer
/// than `length + leeway` characters is cut to `length` characters including `end`, at a
/// word boundary unless `killwords`.
pub(super) fn truncate(
    v: Value,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let length = kwargs.get::<Option<usize>>("length")?.or(length).unwrap_or(255);
    let killwords = kwargs.get::<Option<bool>>("killwords")?.or(killwords).unwrap_or(false);
    let end = kwargs.get::<Option<String>>("end")?.or(end).unwrap_or_else(|| "...".into());
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let end_len = end.chars().count();
    if length < end_len {
        return Err(fault("truncate: the length is shorter than the end text"));
    }
    on_text(v, |text| {
        if text.chars().count() <= length.saturating_add(leeway) {
            return Ok(Value::from(text));
        }
        let keep: String = text.chars().take(length - end_len).collect();
        let cut = if killwords { keep.as_str() } else { keep.rsplit_once(' ').map_or(keep.as_str(), |(head, _)| head) };
        Ok(Value::from(format!("{cut}{end}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Result<Value, Error>) -> String {
        r.map(|v| v.to_string()).unwrap_or_else(|e| format!("error: {}", e.detail().unwrap_or_default()))
    }

    #[test]
    fn phones_in_every_format() {
        let p = || Value::from("+1 (555) 123-4567");
        let cases = [
            ("e164", "+15551234567"),
            ("digits", "15551234567"),
            ("digits10", "5551234567"),
            ("dashed", "555-123-4567"),
            ("dotted", "555.123.4567"),
            ("parens", "(555) 123-4567"),
        ];
        for (f, expected) in cases {
            assert_eq!(text(phone(p(), f)), expected, "{f}");
        }
        assert_eq!(text(phone(Value::from(5551234567_i64), "dashed")), "555-123-4567");
        assert!(text(phone(Value::from("12345"), "dashed")).starts_with("error: phone"));
        assert!(text(phone(p(), "nope")).starts_with("error: phone"));
        assert!(phone(Value::UNDEFINED, "e164").is_ok_and(|v| v.is_undefined()));
    }

    #[test]
    fn dates_from_three_shapes() {
        for input in ["1990-07-04", "07/04/1990", "1990-07-04T23:30:00-05:00"] {
            assert_eq!(text(date(Value::from(input), "%m/%d/%Y")), "07/04/1990", "{input}");
        }
        assert!(text(date(Value::from("July 4th"), "%Y")).starts_with("error: date"));
        assert!(text(date(Value::from("1990-07-04"), "%Q")).starts_with("error: date"));
    }

    #[test]
    fn yes_no_reads_every_spelling() {
        let yn = |v: Value| text(yes_no(v, Value::from("Y"), Value::from("N")));
        for v in [
            Value::from(true),
            Value::from("YES"),
            Value::from("y"),
            Value::from("1"),
            Value::from(1),
            Value::from("True"),
        ] {
            assert_eq!(yn(v), "Y");
        }
        for v in [
            Value::from(false),
            Value::from("no"),
            Value::from("N"),
            Value::from("0"),
            Value::from(0),
            Value::from("FALSE"),
        ] {
            assert_eq!(yn(v), "N");
        }
        assert!(yn(Value::from("maybe")).starts_with("error: yes_no"));
    }

    #[test]
    fn value_maps_fall_back_to_default_then_the_value() {
        let map: ValueMap = [("male".to_string(), Scalar::Int(1)), ("default".to_string(), Scalar::Int(0))].into();
        assert_eq!(map_value(&map, Value::from("Male")), Value::from(1));
        assert_eq!(map_value(&map, Value::from("other")), Value::from(0));
        let no_default: ValueMap = [("male".to_string(), Scalar::Text("M".into()))].into();
        assert_eq!(map_value(&no_default, Value::from("female")), Value::from("female"));
    }

    #[test]
    fn digits_hashes_ascii_and_truncate() {
        assert_eq!(text(digits(Value::from("(555) 123-4567"))), "5551234567");
        assert_eq!(
            text(sha256(Value::from("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text(md5(Value::from("abc"))), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(text(ascii(Value::from("Zoë Łukasz-Ørsted Straße “hi” 😀"))), "Zoe Lukasz-Orsted Strasse \"hi\" ");
        let t =
            |v: &str, n| text(truncate(Value::from(v), Some(n), None, None, Kwargs::from_iter(None::<(&str, Value)>)));
        assert_eq!(t("hello big wide world", 12), "hello...");
        assert_eq!(t("hello big world", 12), "hello big world", "within the leeway of 5");
        assert_eq!(t("short", 12), "short");
    }
}
