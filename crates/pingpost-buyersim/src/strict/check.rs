//! What the strict buyers check, stated once: the method, the content type, and each field
//! of a spec ([`Field`]) by its [`Format`]. A buyer module only says which fields its spec
//! has and where in the body they are ([`Body`]).

use super::Credentials;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use std::collections::HashMap;

/// One field of a buyer's spec, by the dotted name the buyer documents (`Lead.Phone`): a
/// JSON buyer nests it (`{"Lead": {"Phone": …}}`), a form buyer takes it as it is, an XML
/// buyer nests it under its root element (`<lead><contact><phone>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub format: Format,
}

/// How a field must be written. In a JSON body the integer formats must be JSON integers and
/// every other format a JSON string; a form or XML body is all text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The buyer's key for the marketplace: the secret of this name ([`Credentials`]).
    /// Missing or wrong, the request is refused 401 before anything else is looked at.
    Secret(&'static str),
    /// A fixed id the buyer assigned the marketplace (a vendor id).
    Fixed(&'static str),
    /// The same, as an integer (a campaign's `tagId`).
    FixedInteger(i64),
    /// The reference the buyer's own ping answer issued (the buyer checks it is one).
    PingReference,
    /// Free text of 1 to `max` characters, no control characters.
    Text {
        max: usize,
    },
    Email,
    /// Exactly five digits.
    Zip,
    /// A US state's (or DC's, or a territory's) two-letter code, upper case.
    State,
    /// An integer in `min..=max`.
    Integer {
        min: i64,
        max: i64,
    },
    /// One of these codes.
    Code(&'static [&'static str]),
    /// One of these codes, as an integer.
    IntegerCode(&'static [i64]),
    /// Exactly ten digits, the area code first: `5551234567`.
    Phone10,
    /// `+1` and the ten digits: `+15551234567`.
    PhoneE164,
    /// `555-123-4567`.
    PhoneDashed,
    /// `MM/DD/YYYY`, a real calendar date.
    DateMdy,
    /// `YYYY-MM-DD`, a real calendar date.
    DateIso,
}

/// One thing wrong with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The field as the buyer names it; `None` for the request as a whole.
    pub field: Option<String>,
    pub message: String,
}

/// A request refused before any business decision: its status and every problem found.
/// Messages never repeat a value that was sent (it may be a consumer's personal data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub problems: Vec<Problem>,
}

impl Refusal {
    fn one(status: StatusCode, field: Option<&str>, message: impl Into<String>) -> Self {
        Refusal { status, problems: vec![Problem { field: field.map(str::to_string), message: message.into() }] }
    }

    /// A body that cannot be read at all.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Refusal::one(StatusCode::BAD_REQUEST, None, message)
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Refusal::one(StatusCode::BAD_REQUEST, Some(field), message)
    }

    pub(crate) fn unauthorized(field: Option<&str>, message: impl Into<String>) -> Self {
        Refusal::one(StatusCode::UNAUTHORIZED, field, message)
    }

    pub(crate) fn conflict(field: &str, message: impl Into<String>) -> Self {
        Refusal::one(StatusCode::CONFLICT, Some(field), message)
    }

    /// Every problem on one line: `Lead.Phone: must be exactly 10 digits; Lead.DOB: …`.
    pub(crate) fn summary(&self) -> String {
        self.problems
            .iter()
            .map(|p| match &p.field {
                Some(field) => format!("{field}: {}", p.message),
                None => p.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Only POST: what every one of these specs says.
pub(crate) fn method(method: &Method) -> Result<(), Refusal> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(Refusal::one(StatusCode::METHOD_NOT_ALLOWED, None, "method not allowed: use POST"))
    }
}

/// The media type must be `expected`; parameters (`; charset=utf-8`) may follow.
pub(crate) fn content_type(headers: &HeaderMap, expected: &str) -> Result<(), Refusal> {
    let media_type =
        headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(expected) => Ok(()),
        _ => Err(Refusal::one(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, format!("content type must be {expected}"))),
    }
}

/// A field's value as the body holds it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> Input<'a> {
    fn is_blank(self) -> bool {
        match self {
            Input::Text(s) => s.trim().is_empty(),
            Input::Json(Value::String(s)) => s.trim().is_empty(),
            Input::Json(v) => v.is_null(),
        }
    }

    pub(crate) fn text(self) -> Result<&'a str, String> {
        match self {
            Input::Text(s) => Ok(s),
            Input::Json(Value::String(s)) => Ok(s),
            Input::Json(_) => Err("must be a string".into()),
        }
    }

    fn integer(self) -> Result<i64, String> {
        match self {
            Input::Text(s) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("must be a whole number".into());
                }
                s.parse().map_err(|_| "must be a whole number".into())
            }
            Input::Json(Value::Number(n)) => n.as_i64().ok_or_else(|| "must be an integer".into()),
            Input::Json(_) => Err("must be a JSON integer".into()),
        }
    }
}

/// Where a buyer finds its fields in a request's body.
pub(crate) trait Body {
    /// The field of this dotted name: `Ok(None)` when absent, `Err` when the body holds it
    /// in a way the buyer cannot read (twice, or not as a value).
    fn field(&self, name: &str) -> Result<Option<Input<'_>>, String>;
}

/// A JSON body: dotted names are nested objects.
pub(crate) struct JsonBody<'a>(pub &'a Value);

impl Body for JsonBody<'_> {
    fn field(&self, name: &str) -> Result<Option<Input<'_>>, String> {
        let mut value = self.0;
        for part in name.split('.') {
            match value.get(part) {
                Some(inner) => value = inner,
                None => return Ok(None),
            }
        }
        Ok(Some(Input::Json(value)))
    }
}

/// A form body: names as they are, each at most once.
pub(crate) struct FormBody(HashMap<String, String>);

impl FormBody {
    pub(crate) fn read(body: &[u8]) -> Result<Self, Refusal> {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if fields.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(Refusal::invalid(&name, "was sent more than once"));
            }
        }
        Ok(FormBody(fields))
    }
}

impl Body for FormBody {
    fn field(&self, name: &str) -> Result<Option<Input<'_>>, String> {
        Ok(self.0.get(name).map(|v| Input::Text(v)))
    }
}

/// Checks a body against a spec: the credentials first (401, and nothing more said to a
/// caller the buyer does not know), then every other field (400, every problem listed).
pub(crate) fn fields(spec: &[Field], body: &dyn Body, credentials: &Credentials) -> Result<(), Refusal> {
    let secret = |f: &&Field| matches!(f.format, Format::Secret(_));
    if let Some(problem) = spec.iter().filter(secret).find_map(|f| problem(f, body, credentials)) {
        return Err(Refusal { status: StatusCode::UNAUTHORIZED, problems: vec![problem] });
    }
    let problems: Vec<Problem> =
        spec.iter().filter(|f| !secret(f)).filter_map(|f| problem(f, body, credentials)).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal { status: StatusCode::BAD_REQUEST, problems })
    }
}

fn problem(field: &Field, body: &dyn Body, credentials: &Credentials) -> Option<Problem> {
    let outcome = match body.field(field.name) {
        Err(message) => Err(message),
        Ok(None) => Err("is required".to_string()),
        Ok(Some(input)) if input.is_blank() => Err("is required".to_string()),
        Ok(Some(input)) => field.format.check(input, credentials),
    };
    outcome.err().map(|message| Problem { field: Some(field.name.to_string()), message })
}

impl Format {
    /// `Err` says what is wrong, in the words the buyer's error answer uses.
    fn check(self, input: Input<'_>, credentials: &Credentials) -> Result<(), String> {
        match self {
            Format::Secret(name) => {
                (Some(input.text()?) == credentials.secret(name)).then_some(()).ok_or_else(|| "is not valid".into())
            }
            Format::Fixed(id) => {
                (input.text()? == id).then_some(()).ok_or_else(|| "is not one this buyer issued".into())
            }
            Format::FixedInteger(id) => {
                (input.integer()? == id).then_some(()).ok_or_else(|| "is not one this buyer issued".into())
            }
            Format::PingReference => input.text().map(drop),
            Format::Text { max } => text(input.text()?, max),
            Format::Email => email(input.text()?),
            Format::Zip => shaped(input.text()?, "NNNNN", "must be 5 digits"),
            Format::State => state(input.text()?),
            Format::Integer { min, max } => {
                let n = input.integer()?;
                (min..=max).contains(&n).then_some(()).ok_or_else(|| format!("must be from {min} to {max}"))
            }
            Format::Code(codes) => {
                let code = input.text()?;
                codes.contains(&code).then_some(()).ok_or_else(|| format!("must be one of {}", codes.join(", ")))
            }
            Format::IntegerCode(codes) => {
                let code = input.integer()?;
                codes.contains(&code).then_some(()).ok_or_else(|| {
                    format!("must be one of {}", codes.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
                })
            }
            Format::Phone10 => phone(input.text()?, "", "NNNNNNNNNN", "must be exactly 10 digits"),
            Format::PhoneE164 => phone(input.text()?, "+1", "NNNNNNNNNN", "must be +1 and 10 digits"),
            Format::PhoneDashed => phone(input.text()?, "", "NNN-NNN-NNNN", "must be written 555-123-4567"),
            Format::DateMdy => date(input.text()?, "NN/NN/NNNN", "%m/%d/%Y", "must be a date as MM/DD/YYYY"),
            Format::DateIso => date(input.text()?, "NNNN-NN-NN", "%Y-%m-%d", "must be a date as YYYY-MM-DD"),
        }
    }
}

/// Whether `text` has `shape`, where `N` is a digit and any other character itself.
fn fits(text: &str, shape: &str) -> bool {
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(c, s)| if s == b'N' { c.is_ascii_digit() } else { c == s })
}

fn shaped(text: &str, shape: &str, message: &str) -> Result<(), String> {
    fits(text, shape).then_some(()).ok_or_else(|| message.to_string())
}

fn text(text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn email(text: &str) -> Result<(), String> {
    let valid = match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && text.len() <= 254
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    valid.then_some(()).ok_or_else(|| "must be an email address".into())
}

/// A US phone number after `prefix`, in `shape`; the area code never starts with 0 or 1
/// (a leading 1 is a country code slipped in).
fn phone(text: &str, prefix: &str, shape: &str, message: &str) -> Result<(), String> {
    let number = text.strip_prefix(prefix).ok_or_else(|| message.to_string())?;
    shaped(number, shape, message)?;
    match number.bytes().next() {
        Some(b'2'..=b'9') => Ok(()),
        _ => Err("must not start with 0 or 1 (the area code comes first)".into()),
    }
}

fn date(text: &str, shape: &str, format: &str, message: &str) -> Result<(), String> {
    shaped(text, shape, message)?;
    let date = NaiveDate::parse_from_str(text, format).map_err(|_| "is not a calendar date".to_string())?;
    (date.year() >= 1900).then_some(()).ok_or_else(|| "must be after 1900".into())
}

const STATES: [&str; 56] = [
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY",
    "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY",
];

fn state(text: &str) -> Result<(), String> {
    STATES.contains(&text).then_some(()).ok_or_else(|| "must be a two-letter US state code".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: Format, value: &str) -> Result<(), String> {
        format.check(Input::Text(value), &Credentials::demo())
    }

    #[test]
    fn formats_take_what_specs_write_and_refuse_the_rest() {
        let cases: &[(Format, &str, bool)] = &[
            (Format::Zip, "90210", true),
            (Format::Zip, "9021", false),
            (Format::Zip, "90210-1234", false),
            (Format::Phone10, "5551234567", true),
            (Format::Phone10, "555123456", false),
            (Format::Phone10, "15551234567", false),
            (Format::Phone10, "1551234567", false),
            (Format::Phone10, "555-123-4567", false),
            (Format::PhoneE164, "+15551234567", true),
            (Format::PhoneE164, "5551234567", false),
            (Format::PhoneDashed, "555-123-4567", true),
            (Format::PhoneDashed, "555.123.4567", false),
            (Format::DateMdy, "04/15/1990", true),
            (Format::DateMdy, "1990-04-15", false),
            (Format::DateMdy, "4/15/1990", false),
            (Format::DateMdy, "02/30/1990", false),
            (Format::DateIso, "1990-04-15", true),
            (Format::DateIso, "04/15/1990", false),
            (Format::State, "CA", true),
            (Format::State, "ca", false),
            (Format::State, "California", false),
            (Format::Email, "jane@example.com", true),
            (Format::Email, "jane@example", false),
            (Format::Email, "jane example@example.com", false),
            (Format::Code(&["M", "F"]), "F", true),
            (Format::Code(&["M", "F"]), "female", false),
            (Format::Integer { min: 18, max: 99 }, "34", true),
            (Format::Integer { min: 18, max: 99 }, "34.0", false),
            (Format::Integer { min: 18, max: 99 }, "17", false),
            (Format::Text { max: 5 }, "Jane", true),
            (Format::Text { max: 5 }, "Janette", false),
            (Format::Text { max: 50 }, "Ja\u{7}ne", false),
            (Format::Secret("pinecrest_api_key"), "demo-pinecrest-api-key", true),
            (Format::Secret("pinecrest_api_key"), "demo-crestline-api-token", false),
        ];
        for (format, value, ok) in cases {
            assert_eq!(check(*format, value).is_ok(), *ok, "{format:?} on {value:?}");
        }
    }

    #[test]
    fn json_integers_are_integers_and_json_text_is_strings() {
        let creds = Credentials::demo();
        let age = Format::Integer { min: 18, max: 99 };
        assert!(age.check(Input::Json(&serde_json::json!(34)), &creds).is_ok());
        assert!(age.check(Input::Json(&serde_json::json!("34")), &creds).is_err());
        assert!(age.check(Input::Json(&serde_json::json!(34.0)), &creds).is_err());
        assert!(Format::Zip.check(Input::Json(&serde_json::json!("90210")), &creds).is_ok());
        assert!(Format::Zip.check(Input::Json(&serde_json::json!(90210)), &creds).is_err());
    }

    #[test]
    fn form_fields_sent_twice_are_refused() {
        assert!(FormBody::read(b"a=1&b=2").is_ok());
        let refusal = FormBody::read(b"a=1&a=2").err().map(|r| r.summary());
        assert_eq!(refusal.as_deref(), Some("a: was sent more than once"));
    }
}
