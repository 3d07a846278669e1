//! Partners' request bodies → engine requests. Identifiers are normalized and hashed here;
//! from this point on only their hashes travel.
//!
//! A ping or a post comes as JSON or as a form ([`encoding`] decides which, from its
//! `Content-Type`). Each encoding has one reader ([`json`], [`form`]) that turns the bytes
//! into an [`Intake`]: the request's own fields and the lead. Everything after that (what is
//! required, the lead's size, identifiers, the fields filters read) is this module's, once
//! for both.

mod encoding;
mod form;
mod json;

pub use encoding::Encoding;

use crate::error::ApiError;
use axum::http::HeaderValue;
use pingpost_core::config::Config;
use pingpost_core::identity::{Identity, RawIdentity};
use pingpost_core::ids::{OfferId, PartnerId};
use pingpost_core::intake::{self, FieldError, Stage};
use pingpost_core::lead::{fields_of, LeadFields};
use pingpost_engine::{PingRequest, PostRequest};
use serde_json::{Map, Value};

use pingpost_core::intake::IDENTIFIER_FIELDS;
const MAX_FIELDS: usize = 200;

/// The request's own fields that a form names at its top level; every other form field is
/// a lead field.
pub const OWN_FIELDS: [&str; 5] = ["offer", "idempotency_key", "ping_id", "bid_ids", "test"];

/// A ping's or a post's body, whichever its encoding: each of the request's own fields as its
/// encoding gave it (its type checked by the reader, whichever endpoint; not yet required),
/// and the lead. A ping then uses the fields a ping has and a post those a post has; the
/// others' values are left unused, as other top-level JSON keys always were.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Intake {
    pub offer: Option<String>,
    pub idempotency_key: Option<String>,
    pub ping_id: Option<String>,
    pub bid_ids: Option<Vec<String>>,
    /// A test lead (SPEC "Test leads"): a boolean; absent is live.
    pub test: Option<bool>,
    /// The lead's fields as sent: a form's are all strings.
    pub lead: Option<Map<String, Value>>,
}

impl Intake {
    /// `body` read by the encoding its `Content-Type` names.
    pub fn read(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<Intake, ApiError> {
        match Encoding::of(content_type, body)? {
            Encoding::Json => json::read(body),
            Encoding::Form => form::read(body),
        }
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(ApiError::invalid(field, "must be a non-empty string")),
        None => Err(ApiError::invalid(field, "is required")),
    }
}

fn required_lead(lead: Option<Map<String, Value>>) -> Result<Map<String, Value>, ApiError> {
    let lead = lead.ok_or_else(|| ApiError::invalid("lead", "is required"))?;
    if lead.len() > MAX_FIELDS {
        return Err(ApiError::invalid("lead", format!("has more than {MAX_FIELDS} fields")));
    }
    Ok(lead)
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

/// An operator's sample lead (a buyer call's preview or test): its identifiers hashed as a
/// ping's are, when it has any, and its fields as a post carries them.
pub fn sample_lead(lead: &Value) -> Result<(Option<Identity>, LeadFields), ApiError> {
    let Value::Object(map) = lead else { return Err(ApiError::invalid("lead", "must be an object")) };
    let has_identifier = IDENTIFIER_FIELDS.iter().any(|f| map.get(*f).is_some_and(|v| !v.is_null()));
    let identity = if has_identifier { Some(identity(map)?) } else { None };
    Ok((identity, fields_of(map, Stage::Post).map_err(invalid)?))
}

/// A ping, from a body of either encoding (no `Content-Type` is JSON).
pub fn ping_request(
    content_type: Option<&HeaderValue>,
    body: &[u8],
    config: &Config,
    partner: &PartnerId,
) -> Result<PingRequest, ApiError> {
    ping(Intake::read(content_type, body)?, config, partner)
}

pub fn post_request(
    content_type: Option<&HeaderValue>,
    body: &[u8],
    config: &Config,
    partner: &PartnerId,
) -> Result<PostRequest, ApiError> {
    post(Intake::read(content_type, body)?, config, partner)
}

fn invalid(e: FieldError) -> ApiError {
    ApiError::invalid(e.field, e.message)
}

/// The lead in the vertical's names: the partner's aliases applied, before anything else.
fn aliased(lead: &mut Map<String, Value>, config: &Config, partner: &PartnerId) -> Result<(), ApiError> {
    match config.partners.get(partner) {
        Some(p) if !p.field_aliases.is_empty() => intake::apply_aliases(lead, &p.field_aliases).map_err(invalid),
        _ => Ok(()),
    }
}

/// A ping's request: its lead checked against its offer's vertical and consent (typed
/// values in their kept form, personal fields refused), then hashed. An offer the
/// configuration lacks, or the partner may not ping, is left to the engine's 404 or 403: a
/// partner learns nothing of an offer's fields that is not its own.
pub fn ping(intake: Intake, config: &Config, partner: &PartnerId) -> Result<PingRequest, ApiError> {
    let offer = required(intake.offer, "offer")?;
    let mut lead = required_lead(intake.lead)?;
    aliased(&mut lead, config, partner)?;
    let offer_id = OfferId::new(offer.as_str());
    let allowed = config.partners.get(partner).is_some_and(|p| p.offers.contains(&offer_id));
    if let Some((vertical, consent)) = config.lead_rules(&offer_id).filter(|_| allowed) {
        lead = intake::check(vertical, consent, Stage::Ping, lead).map_err(invalid)?;
    }
    Ok(PingRequest {
        offer,
        identity: identity(&lead)?,
        fields: fields_of(&lead, Stage::Ping).map_err(invalid)?,
        idempotency_key: intake.idempotency_key,
        test: intake.test.unwrap_or(false),
    })
}

/// A post's request: the lead in the vertical's names and its identifiers hashed; the
/// engine checks it against the ping's offer (which only the ping's record names).
pub fn post(intake: Intake, config: &Config, partner: &PartnerId) -> Result<PostRequest, ApiError> {
    let ping_id = required(intake.ping_id, "ping_id")?;
    let mut lead = required_lead(intake.lead)?;
    aliased(&mut lead, config, partner)?;
    Ok(PostRequest {
        ping_id,
        identity: identity(&lead)?,
        lead,
        bid_ids: intake.bid_ids,
        test: intake.test.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingpost_core::lead::FieldValue;

    const FORM: &str = "application/x-www-form-urlencoded";

    /// No configuration: the offers `o` and `auto` are unknown, so their leads are read as
    /// they come (the engine answers 404 for them); the typed checks have their own tests.
    fn ping_request(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<PingRequest, ApiError> {
        super::ping_request(content_type, body, &Config::default(), &PartnerId::new("p1"))
    }

    fn post_request(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<PostRequest, ApiError> {
        super::post_request(content_type, body, &Config::default(), &PartnerId::new("p1"))
    }

    fn ping_as(content_type: Option<&str>, body: &str) -> Result<PingRequest, ApiError> {
        let header = content_type.map(|c| HeaderValue::from_str(c).expect("a header value"));
        ping_request(header.as_ref(), body.as_bytes())
    }

    fn field_of(result: Result<PingRequest, ApiError>) -> (u16, Option<String>) {
        let e = result.expect_err("should fail");
        (e.status.as_u16(), e.field)
    }

    #[test]
    fn bad_bodies_name_their_field() {
        let check = |body: &str, status: u16, field: Option<&str>| {
            assert_eq!(field_of(ping_request(None, body.as_bytes())), (status, field.map(String::from)), "{body}");
        };
        check("{", 400, None);
        check("[]", 400, None);
        check(r#"{"lead":{"email":"a@b.co"}}"#, 422, Some("offer"));
        check(r#"{"offer":"","lead":{"email":"a@b.co"}}"#, 422, Some("offer"));
        check(r#"{"offer":"o"}"#, 422, Some("lead"));
        check(r#"{"offer":"o","lead":"x"}"#, 422, Some("lead"));
        check(r#"{"offer":"o","lead":{}}"#, 422, Some("lead.email"));
        check(r#"{"offer":"o","lead":{"email":"nope"}}"#, 422, Some("lead.email"));
        check(r#"{"offer":"o","lead":{"phone":"123"}}"#, 422, Some("lead.phone"));
        check(r#"{"offer":"o","lead":{"phone":5551234567}}"#, 422, Some("lead.phone"));
        check(r#"{"offer":"o","lead":{"email_sha256":"zz"}}"#, 422, Some("lead.email_sha256"));
        check(r#"{"offer":"o","lead":{"email":"a@b.co","state":["CA"]}}"#, 422, Some("lead.state"));
        check(r#"{"offer":"o","lead":{"email":"a@b.co"},"idempotency_key":5}"#, 422, Some("idempotency_key"));
        check(r#"{"offer":"o","lead":{"email":"a@b.co"},"test":"yes"}"#, 422, Some("test"));
        for key in ["Email", "EMAIL", "e-mail", "email_address", "phone_number", "mobile", "cell"] {
            let body = format!(r#"{{"offer":"o","lead":{{"email":"a@b.co","{key}":"x"}}}}"#);
            check(&body, 422, Some(&format!("lead.{key}")));
        }
    }

    #[test]
    fn identifiers_are_hashed_and_kept_out_of_fields() {
        let p = ping_request(None, br#"{"offer":"o","lead":{"email":"A@B.co","state":"CA","age":30}}"#).unwrap();
        assert!(!p.fields.contains_key("email"));
        assert_eq!(p.fields.get("age"), Some(&FieldValue::Number(30.0)));
        assert_eq!(p.identity.email().map(|h| h.as_str().len()), Some(64));
    }

    /// The same ping as JSON and as a form is the same engine request, but for the form's
    /// fields being text (which filters read as the numbers they spell).
    #[test]
    fn a_form_ping_is_the_json_ping() {
        let json = r#"{"offer":"auto","idempotency_key":"k","lead":{"email":"Jo@X.co","phone":"(555) 123-4567","zip":"90210","age":34}}"#;
        let form = "offer=auto&idempotency_key=k&email=Jo%40X.co&phone=%28555%29+123-4567&zip=90210&age=34";
        for content_type in [None, Some("application/json"), Some("application/json; charset=UTF-8")] {
            let (from_json, from_form) = (ping_as(content_type, json).unwrap(), ping_as(Some(FORM), form).unwrap());
            assert_eq!((&from_json.offer, &from_json.idempotency_key), (&from_form.offer, &from_form.idempotency_key));
            assert_eq!(from_json.identity, from_form.identity);
            assert_eq!(from_json.fields.get("zip"), from_form.fields.get("zip"));
            assert_eq!(from_form.fields.get("age"), Some(&FieldValue::Text("34".into())));
            let age = |p: &PingRequest| p.fields.get("age").and_then(FieldValue::as_number);
            assert_eq!((age(&from_json), age(&from_form)), (Some(34.0), Some(34.0)));
        }
    }

    #[test]
    fn a_form_posts_as_json_does() {
        let form = "ping_id=p1&bid_ids=p1-0,p1-2&email=jo%40x.co&first_name=Jo&age=34&test=no";
        let post = post_request(Some(&HeaderValue::from_static(FORM)), form.as_bytes()).unwrap();
        assert_eq!(post.ping_id, "p1");
        assert_eq!(post.bid_ids, Some(vec!["p1-0".to_string(), "p1-2".to_string()]));
        // The buyer gets the lead as the form sent it, its own fields left out.
        assert_eq!(Value::Object(post.lead), serde_json::json!({"email": "jo@x.co", "first_name": "Jo", "age": "34"}));
        assert!(post.identity.email().is_some());
        let empty =
            post_request(Some(&HeaderValue::from_static(FORM)), b"ping_id=p1&bid_ids=&email=jo%40x.co").unwrap();
        assert_eq!(empty.bid_ids, None);
        let missing = post_request(Some(&HeaderValue::from_static(FORM)), b"email=jo%40x.co").map_err(|e| e.field);
        assert_eq!(missing.err(), Some(Some("ping_id".to_string())));
    }

    /// The identifiers' rules and the plaintext-name check are the lead's, whichever encoding.
    #[test]
    fn a_forms_lead_follows_the_rules_of_a_json_lead() {
        let check = |form: &str, status: u16, field: &str| {
            assert_eq!(field_of(ping_as(Some(FORM), form)), (status, Some(field.to_string())), "{form}");
        };
        check("email=a%40b.co", 422, "offer");
        check("offer=", 422, "offer");
        check("offer=o", 422, "lead.email");
        check("offer=o&email=nope", 422, "lead.email");
        check("offer=o&phone=123", 422, "lead.phone");
        check("offer=o&email_sha256=zz", 422, "lead.email_sha256");
        check("offer=o&email=a%40b.co&test=maybe", 422, "test");
        for key in ["Email", "EMAIL", "e-mail", "email_address", "phone_number", "mobile", "cell"] {
            check(&format!("offer=o&email=a%40b.co&{key}=x"), 422, &format!("lead.{key}"));
        }
        let too_many: String = (0..=MAX_FIELDS).map(|i| format!("&f{i}=x")).collect();
        check(&format!("offer=o&email=a%40b.co{too_many}"), 422, "lead");
    }

    #[test]
    fn other_content_types_are_refused_with_415_and_no_header_is_json() {
        let json = r#"{"offer":"o","lead":{"email":"a@b.co"}}"#;
        for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x"] {
            let e = ping_as(Some(content_type), json).expect_err(content_type);
            assert_eq!((e.status.as_u16(), e.code), (415, "unsupported_media_type"), "{content_type}");
            let e = post_request(Some(&HeaderValue::from_str(content_type).unwrap()), b"ping_id=p").expect_err("415");
            assert_eq!(e.status.as_u16(), 415, "{content_type}");
        }
        assert!(ping_as(None, json).is_ok());
        assert!(ping_as(Some("application/json;charset=utf-8"), json).is_ok());
        // `curl -d '{…}'` labels its JSON a form.
        assert!(ping_as(Some(FORM), json).is_ok());
        assert_eq!(field_of(ping_as(None, "offer=o&email=a%40b.co")), (400, None), "no header is JSON");
    }
}
