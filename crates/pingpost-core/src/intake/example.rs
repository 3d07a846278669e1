//! The example leads of a partner's posting instructions (`GET /v1/partner/docs`): a ping's
//! and a post's for one offer, built from its vertical's fields and its consent, in the
//! vertical's names. Each passes [`check`](super::check()) on its stage, which the tests
//! below hold for every kind of vertical, so the examples a partner copies never start with
//! a 422.
//!
//! - **The ping**: the identifiers (an email and a phone: both are hashed at the edge), every
//!   field required on the ping, the first few optional fields that are not personal (what
//!   buyers' filters usually read), and the consent fields the offer requires on the ping.
//!   Never a personal field.
//! - **The post**: the ping's lead, plus every field required on the post, every personal
//!   field, and the consent fields the offer requires on the post. A TrustedForm field is a
//!   certificate URL there (what buyers claim), where the ping carries a ping URL.

use super::consent::{Consent, ConsentField};
use super::schema::{Field, FieldType};
use super::Stage;
use crate::config::Vertical;
use serde_json::{Map, Value};

/// How many optional, non-personal fields the example ping carries beyond the required ones.
pub const OPTIONAL_ON_THE_PING: usize = 5;

/// The example ping's lead for an offer of `vertical` requiring `consent`.
pub fn ping_lead(vertical: &Vertical, consent: &Consent) -> Map<String, Value> {
    let mut lead = Map::new();
    lead.insert("email".into(), FieldType::Email.example());
    lead.insert("phone".into(), FieldType::Phone.example());
    let fields: Vec<&Field> = vertical.fields.as_deref().map(|f| f.iter().collect()).unwrap_or_default();
    for field in fields.iter().filter(|f| f.is_required_on(Stage::Ping)) {
        lead.insert(field.name().into(), example(field));
    }
    let optional = fields.iter().filter(|f| f.required().is_none() && !f.is_personal());
    for field in optional.take(OPTIONAL_ON_THE_PING) {
        lead.insert(field.name().into(), example(field));
    }
    for field in consent.required_on(Stage::Ping).iter() {
        lead.insert(field.name().into(), field.example());
    }
    lead
}

/// The example post's lead: [`ping_lead`]'s, completed for the post.
pub fn post_lead(vertical: &Vertical, consent: &Consent) -> Map<String, Value> {
    let mut lead = ping_lead(vertical, consent);
    for field in vertical.fields.iter().flat_map(|f| f.iter()) {
        if field.is_required_on(Stage::Post) || field.is_personal() {
            lead.entry(field.name()).or_insert_with(|| example(field));
        }
    }
    for field in consent.required_on(Stage::Post).iter() {
        lead.entry(field.name()).or_insert_with(|| field.example());
    }
    if let Some(url) = lead.get_mut(ConsentField::TrustedformCertUrl.name()) {
        *url = Value::String(TRUSTEDFORM_CERTIFICATE.into());
    }
    lead
}

/// A TrustedForm certificate URL, for the post (a ping refuses one: see
/// [`ConsentField::read_on`]).
pub const TRUSTEDFORM_CERTIFICATE: &str = "https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567";

/// A declared field's example: a consent field declared with its own type keeps its
/// built-in format, so its example is the built-in one.
fn example(field: &Field) -> Value {
    match ConsentField::from_name(field.name()) {
        Some(consent) => consent.example(),
        None => field.kind().example(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigDocument;
    use crate::ids::VerticalId;
    use crate::intake::{check, ConsentSet};
    use serde_json::json;

    fn vertical(fields: Value, unknown: &str) -> Vertical {
        let doc: ConfigDocument = serde_json::from_value(json!({
            "verticals": [{"id": "v", "unknown_fields": unknown, "fields": fields}]
        }))
        .unwrap();
        doc.validate().unwrap().verticals[&VerticalId::new("v")].clone()
    }

    fn consent(ping: &[ConsentField], post: &[ConsentField]) -> Consent {
        Consent::new(ping.iter().copied().collect::<ConsentSet>(), post.iter().copied().collect())
    }

    /// Both examples pass their stage's check unchanged (already in their kept form), and
    /// the ping carries no personal field.
    fn holds(v: &Vertical, c: &Consent) {
        let ping = ping_lead(v, c);
        assert_eq!(check(v, c, Stage::Ping, ping.clone()), Ok(ping.clone()), "the ping");
        let post = post_lead(v, c);
        assert_eq!(check(v, c, Stage::Post, post.clone()), Ok(post.clone()), "the post");
        for field in v.fields.iter().flat_map(|f| f.iter()) {
            assert!(!(field.is_personal() && ping.contains_key(field.name())), "{} on the ping", field.name());
            if field.is_personal() || field.is_required_on(Stage::Post) {
                assert!(post.contains_key(field.name()), "{} on the post", field.name());
            }
        }
        let certificate = ConsentField::TrustedformCertUrl.name();
        assert!(ping.iter().all(|(k, v)| post.get(k) == Some(v) || k == certificate), "the post repeats the ping");
        if let Some(url) = post.get(certificate) {
            assert_eq!(url, TRUSTEDFORM_CERTIFICATE, "the post carries the certificate");
        }
    }

    #[test]
    fn the_examples_pass_their_own_checks_whatever_the_vertical_and_the_consent() {
        use ConsentField::*;
        let spec = json!([
            {"name": "zip",        "type": "zip",     "required": "ping"},
            {"name": "state",      "type": "state",   "required": "ping"},
            {"name": "age",        "type": "integer", "min": 18, "max": 120},
            {"name": "gender",     "type": "enum",    "values": ["male", "female", "other"]},
            {"name": "first_name", "type": "text",    "required": "post", "pii": true, "max_length": 100},
            {"name": "birth_date", "type": "date",    "pii": true},
            {"name": "tcpa_optin", "type": "boolean", "required": "post"}]);
        let odd = json!([
            {"name": "code",   "type": "text", "required": "ping", "min_length": 9, "max_length": 9},
            {"name": "score",  "type": "number", "min": 40.5, "max": 41},
            {"name": "big",    "type": "integer", "min": 100},
            {"name": "small",  "type": "integer", "max": -3},
            {"name": "site",   "type": "url"},
            {"name": "seen",   "type": "ip"},
            {"name": "alt",    "type": "email"},
            {"name": "home",   "type": "phone", "required": "post"},
            {"name": "born",   "type": "date", "required": "post"},
            {"name": "jornaya_leadid", "type": "text", "required": "ping"}]);
        let none = consent(&[], &[]);
        let all = consent(&ConsentField::ALL, &[]);
        let split = consent(&[JornayaLeadid], &[TrustedformCertUrl, TcpaOptin]);
        for fields in [spec, odd] {
            for unknown in ["keep", "refuse"] {
                let v = vertical(fields.clone(), unknown);
                for c in [none, all, split] {
                    holds(&v, &c);
                }
            }
        }
        let bare: ConfigDocument = serde_json::from_value(json!({"verticals": [{"id": "v"}]})).unwrap();
        let bare = bare.validate().unwrap().verticals[&VerticalId::new("v")].clone();
        holds(&bare, &split);
        assert_eq!(
            Value::Object(post_lead(&bare, &split)),
            json!({"email": "consumer@example.com", "phone": "12025550143",
                   "jornaya_leadid": JornayaLeadid.example(), "trustedform_cert_url": TRUSTEDFORM_CERTIFICATE,
                   "tcpa_optin": true})
        );
    }

    #[test]
    fn the_ping_carries_the_required_fields_and_a_few_optional_ones_in_declaration_order() {
        let fields: Vec<Value> = (0..8).map(|i| json!({"name": format!("f{i}"), "type": "integer"})).collect();
        let mut fields = fields;
        fields.push(json!({"name": "must", "type": "zip", "required": "ping"}));
        let v = vertical(Value::Array(fields), "keep");
        let ping = ping_lead(&v, &Consent::default());
        let mut names: Vec<&str> = ping.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["email", "f0", "f1", "f2", "f3", "f4", "must", "phone"]);
        assert_eq!(ping["f0"], json!(34), "a typical value, not a bound");
    }
}
