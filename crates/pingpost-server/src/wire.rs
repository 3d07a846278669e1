//! Partners' request bodies → engine requests. Identifiers are normalized and hashed here;
//! from this point on only their hashes travel.

use crate::error::ApiError;
use pingpost_core::identity::{plaintext_identifier_name, Identity, RawIdentity};
use pingpost_core::lead::{FieldValue, LeadFields};
use pingpost_engine::{PingRequest, PostRequest};
use serde_json::{Map, Value};

const IDENTIFIER_FIELDS: [&str; 4] = ["email", "email_sha256", "phone", "phone_sha256"];
const MAX_FIELDS: usize = 200;

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "malformed_json",
            "request body must be a JSON object",
        )),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid(field, "is required")),
        Some(_) => Err(ApiError::invalid(field, "must be a non-empty string")),
    }
}

fn lead_object(body: &Map<String, Value>) -> Result<&Map<String, Value>, ApiError> {
    match body.get("lead") {
        Some(Value::Object(m)) => {
            if m.len() > MAX_FIELDS {
                return Err(ApiError::invalid("lead", format!("has more than {MAX_FIELDS} fields")));
            }
            Ok(m)
        }
        None | Some(Value::Null) => Err(ApiError::invalid("lead", "is required")),
        Some(_) => Err(ApiError::invalid("lead", "must be an object")),
    }
}

fn identity(lead: &Map<String, Value>) -> Result<Identity, ApiError> {
    let mut texts: [Option<&str>; 4] = [None; 4];
    for (slot, name) in texts.iter_mut().zip(IDENTIFIER_FIELDS) {
        *slot = match lead.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ApiError::invalid(format!("lead.{name}"), "must be a string")),
        };
    }
    let raw = RawIdentity { email: texts[0], email_sha256: texts[1], phone: texts[2], phone_sha256: texts[3] };
    Identity::from_raw(&raw).map_err(|e| ApiError::invalid(format!("lead.{}", e.field), e.message))
}

/// Qualifying fields: everything but the identifiers. `strict` refuses nested values (a
/// ping's fields are for filters); a post forwards them untouched and filters skip them.
fn fields(lead: &Map<String, Value>, strict: bool) -> Result<LeadFields, ApiError> {
    let mut out = LeadFields::new();
    for (k, v) in lead {
        if IDENTIFIER_FIELDS.contains(&k.as_str()) {
            continue;
        }
        // A ping's fields go to every real-time bidder; a post's only to the buyer that bought.
        if let Some(kind) = plaintext_identifier_name(k).filter(|_| strict) {
            let name = kind.as_str();
            return Err(ApiError::invalid(
                format!("lead.{k}"),
                format!("looks like a plaintext {name}, which would reach every bidder: send it as `{name}` (or `{name}_sha256`), which is hashed"),
            ));
        }
        let value = match v {
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) => FieldValue::Number(f),
                None => continue,
            },
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) if strict => {
                return Err(ApiError::invalid(format!("lead.{k}"), "must be a string, number or boolean"));
            }
            Value::Array(_) | Value::Object(_) => continue,
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// An operator's sample lead (a buyer call's preview or test): its identifiers hashed as a
/// ping's are, when it has any, and its fields as a post carries them.
pub fn sample_lead(lead: &Value) -> Result<(Option<Identity>, LeadFields), ApiError> {
    let Value::Object(map) = lead else { return Err(ApiError::invalid("lead", "must be an object")) };
    let has_identifier = IDENTIFIER_FIELDS.iter().any(|f| map.get(*f).is_some_and(|v| !v.is_null()));
    let identity = if has_identifier { Some(identity(map)?) } else { None };
    Ok((identity, fields(map, false)?))
}

pub fn ping_request(body: &[u8]) -> Result<PingRequest, ApiError> {
    let body = object(body)?;
    let offer = required_str(&body, "offer")?.to_string();
    let lead = lead_object(&body)?;
    let idempotency_key = match body.get("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::invalid("idempotency_key", "must be a string")),
    };
    Ok(PingRequest { offer, identity: identity(lead)?, fields: fields(lead, true)?, idempotency_key })
}

pub fn post_request(body: &[u8]) -> Result<PostRequest, ApiError> {
    let body = object(body)?;
    let ping_id = required_str(&body, "ping_id")?.to_string();
    let lead = lead_object(&body)?;
    let bid_ids = match body.get("bid_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::invalid("bid_ids", "must be an array of strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::invalid("bid_ids", "must be an array of strings")),
    };
    Ok(PostRequest {
        ping_id,
        identity: identity(lead)?,
        fields: fields(lead, false)?,
        lead: Value::Object(lead.clone()),
        bid_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<PingRequest, ApiError>) -> (u16, Option<String>) {
        let e = result.expect_err("should fail");
        (e.status.as_u16(), e.field)
    }

    #[test]
    fn bad_bodies_name_their_field() {
        let check = |body: &str, status: u16, field: Option<&str>| {
            assert_eq!(field_of(ping_request(body.as_bytes())), (status, field.map(String::from)), "{body}");
        };
        check("{", 400, None);
        check("[]", 400, None);
        check(r#"{"lead":{"email":"a@b.co"}}"#, 422, Some("offer"));
        check(r#"{"offer":"o","lead":"x"}"#, 422, Some("lead"));
        check(r#"{"offer":"o","lead":{}}"#, 422, Some("lead.email"));
        check(r#"{"offer":"o","lead":{"email":"nope"}}"#, 422, Some("lead.email"));
        check(r#"{"offer":"o","lead":{"phone":"123"}}"#, 422, Some("lead.phone"));
        check(r#"{"offer":"o","lead":{"phone":5551234567}}"#, 422, Some("lead.phone"));
        check(r#"{"offer":"o","lead":{"email_sha256":"zz"}}"#, 422, Some("lead.email_sha256"));
        check(r#"{"offer":"o","lead":{"email":"a@b.co","state":["CA"]}}"#, 422, Some("lead.state"));
        check(r#"{"offer":"o","lead":{"email":"a@b.co"},"idempotency_key":5}"#, 422, Some("idempotency_key"));
        for key in ["Email", "EMAIL", "e-mail", "email_address", "phone_number", "mobile", "cell"] {
            let body = format!(r#"{{"offer":"o","lead":{{"email":"a@b.co","{key}":"x"}}}}"#);
            check(&body, 422, Some(&format!("lead.{key}")));
        }
    }

    #[test]
    fn identifiers_are_hashed_and_kept_out_of_fields() {
        let p = ping_request(br#"{"offer":"o","lead":{"email":"A@B.co","state":"CA","age":30}}"#).unwrap();
        assert!(!p.fields.contains_key("email"));
        assert_eq!(p.fields.get("age"), Some(&FieldValue::Number(30.0)));
        assert_eq!(p.identity.email().map(|h| h.as_str().len()), Some(64));
    }
}
