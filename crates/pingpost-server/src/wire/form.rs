//! A form body (`application/x-www-form-urlencoded`) → [`Intake`]. The request's own fields
//! ([`OWN_FIELDS`]) are read at the top level; every other field is a lead field, kept as the
//! string the form sent (filters read numeric text as numbers, so `age=34` passes a range as
//! `"age": 34` does). Then the rules of JSON bodies apply, unchanged.
//!
//! - A field given twice is refused (422 naming it): which value was meant is a guess, and
//!   different readers of the same form would guess differently.
//! - A form has no `null`: an optional own field left empty (`idempotency_key=`, `bid_ids=`,
//!   `test=`, as an HTML form sends a blank input) is absent. An empty `offer` or `ping_id` is
//!   refused as JSON's `""` is.
//! - `bid_ids` is comma-separated (`a,b`); an empty id between commas is refused.
//! - `test` is `true`/`false`, `1`/`0` or `yes`/`no`, in any case.
//! - Text that is not UTF-8 is refused (400 `malformed_form`). The parser decodes lossily,
//!   putting U+FFFD where bytes were not UTF-8, so a form holding that character is refused
//!   too: a real U+FFFD in a lead is not worth a lead whose text was silently changed.

use super::{Intake, OWN_FIELDS};
use crate::error::ApiError;
use axum::http::StatusCode;
use serde_json::{Map, Value};
use std::collections::HashSet;

pub fn read(body: &[u8]) -> Result<Intake, ApiError> {
    let mut intake = Intake::default();
    let mut lead = Map::new();
    let mut seen = HashSet::new();
    for (key, value) in form_urlencoded::parse(body) {
        if key.contains(char::REPLACEMENT_CHARACTER) || value.contains(char::REPLACEMENT_CHARACTER) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_form",
                "the form's text is not UTF-8 (or holds U+FFFD)",
            ));
        }
        let own = OWN_FIELDS.contains(&key.as_ref());
        if !seen.insert(key.clone()) {
            let field = if own { key.into_owned() } else { format!("lead.{key}") };
            return Err(ApiError::invalid(field, "is given more than once: send each field once"));
        }
        let optional = || Some(value.to_string()).filter(|v| !v.is_empty());
        match key.as_ref() {
            "offer" => intake.offer = Some(value.to_string()),
            "ping_id" => intake.ping_id = Some(value.to_string()),
            "idempotency_key" => intake.idempotency_key = optional(),
            "bid_ids" => intake.bid_ids = bid_ids(&value)?,
            "test" => intake.test = test(&value)?,
            _ => {
                lead.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    intake.lead = Some(lead);
    Ok(intake)
}

fn bid_ids(value: &str) -> Result<Option<Vec<String>>, ApiError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let id = |id: &str| match id.trim() {
        "" => Err(ApiError::invalid("bid_ids", "has an empty bid id: name the bids comma-separated, as `a,b`")),
        id => Ok(id.to_string()),
    };
    value.split(',').map(id).collect::<Result<_, _>>().map(Some)
}

fn test(value: &str) -> Result<Option<bool>, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(ApiError::invalid("test", "must be true, false, 1, 0, yes or no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<Intake, (u16, Option<&str>)>) {
        let got = read(body.as_bytes()).map_err(|e| (e.status.as_u16(), e.field));
        let expected = expected.map_err(|(status, field)| (status, field.map(String::from)));
        assert_eq!(got, expected, "{body}");
    }

    fn lead(fields: &[(&str, &str)]) -> Option<Map<String, Value>> {
        Some(fields.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect())
    }

    #[test]
    fn own_fields_are_the_requests_and_every_other_field_is_a_lead_string() {
        check(
            "offer=auto&idempotency_key=k1&ping_id=p&bid_ids=a,b&test=yes&email=jo%40x.co&age=34&name=Jo+Ann&zip=",
            Ok(Intake {
                offer: Some("auto".into()),
                idempotency_key: Some("k1".into()),
                ping_id: Some("p".into()),
                bid_ids: Some(vec!["a".into(), "b".into()]),
                test: Some(true),
                lead: lead(&[("email", "jo@x.co"), ("age", "34"), ("name", "Jo Ann"), ("zip", "")]),
            }),
        );
        // Nothing is required here; an empty form is an empty lead.
        check("", Ok(Intake { lead: lead(&[]), ..Intake::default() }));
    }

    #[test]
    fn a_field_given_twice_is_refused_naming_it() {
        check("offer=a&offer=b", Err((422, Some("offer"))));
        check("bid_ids=&bid_ids=x", Err((422, Some("bid_ids"))));
        check("test=1&test=1", Err((422, Some("test"))));
        check("offer=a&zip=1&zip=2", Err((422, Some("lead.zip"))));
        check("zip=1&zip=1", Err((422, Some("lead.zip"))));
    }

    #[test]
    fn bid_ids_are_comma_separated_and_empty_means_none() {
        let ids = |v: &[&str]| {
            Ok(Intake {
                bid_ids: Some(v.iter().map(|s| s.to_string()).collect()),
                lead: lead(&[]),
                ..Intake::default()
            })
        };
        check("bid_ids=a", ids(&["a"]));
        check("bid_ids=a%2Cb,c", ids(&["a", "b", "c"]));
        check("bid_ids=a,+b", ids(&["a", "b"]));
        check("bid_ids=", Ok(Intake { lead: lead(&[]), ..Intake::default() }));
        for bad in ["a,,b", "a,", ",a", "a,+"] {
            check(&format!("bid_ids={bad}"), Err((422, Some("bid_ids"))));
        }
    }

    #[test]
    fn test_is_a_boolean_in_words_or_digits_in_any_case() {
        let test = |t| Ok(Intake { test: t, lead: lead(&[]), ..Intake::default() });
        for yes in ["true", "TRUE", "1", "yes", "Yes"] {
            check(&format!("test={yes}"), test(Some(true)));
        }
        for no in ["false", "False", "0", "no", "NO"] {
            check(&format!("test={no}"), test(Some(false)));
        }
        check("test=", test(None));
        for bad in ["2", "y", "on", "maybe", "truee"] {
            check(&format!("test={bad}"), Err((422, Some("test"))));
        }
    }

    #[test]
    fn optional_own_fields_left_empty_are_absent_required_ones_are_kept_for_their_rule() {
        check(
            "offer=&ping_id=&idempotency_key=",
            Ok(Intake {
                offer: Some(String::new()),
                ping_id: Some(String::new()),
                lead: lead(&[]),
                ..Intake::default()
            }),
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_refused() {
        for body in ["zip=%FF", "%C3=1", "name=%EF%BF%BD"] {
            check(body, Err((400, None)));
        }
        assert_eq!(read(b"zip=\xff").map_err(|e| e.code), Err("malformed_form"));
        check("name=%C3%A9", Ok(Intake { lead: lead(&[("name", "é")]), ..Intake::default() }));
    }
}
