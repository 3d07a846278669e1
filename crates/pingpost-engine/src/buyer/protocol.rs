//! Request bodies for buyers and the reading of their answers. No I/O.

use pingpost_core::config::{ResponseRule, ResponseRules};
use pingpost_core::filter::Scalar;
use pingpost_core::identity::Identity;
use pingpost_core::lead::{FieldValue, LeadFields};
use pingpost_core::money::Money;
use serde_json::{json, Map, Value};

/// The ping's fields as buyers may see them: qualifying fields plus the identifier hashes,
/// never a plaintext email or phone.
pub fn public_lead(fields: &LeadFields, identity: &Identity) -> Value {
    let mut lead: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Text(s) => Value::String(s.clone()),
                FieldValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
                FieldValue::Bool(b) => Value::Bool(*b),
            };
            (k.clone(), v)
        })
        .collect();
    if let Some(h) = identity.email() {
        lead.insert("email_sha256".into(), Value::String(h.to_string()));
    }
    if let Some(h) = identity.phone() {
        lead.insert("phone_sha256".into(), Value::String(h.to_string()));
    }
    Value::Object(lead)
}

/// A real-time bid request: `{"ping_id", "offer", "vertical", "lead"}`, written straight from
/// borrowed parts (the lead is not copied into a new `Value`).
#[derive(serde::Serialize)]
pub struct BidRequest<'a> {
    pub ping_id: &'a str,
    pub offer: &'a str,
    pub vertical: &'a str,
    pub lead: &'a Value,
}

/// A DQ question: `{"ping_id", "offer", "vertical", "email_sha256", "phone_sha256"}` (a
/// missing identifier is `null`).
#[derive(serde::Serialize)]
pub struct DqRequest<'a> {
    pub ping_id: &'a str,
    pub offer: &'a str,
    pub vertical: &'a str,
    pub email_sha256: Option<&'a str>,
    pub phone_sha256: Option<&'a str>,
}

impl<'a> DqRequest<'a> {
    pub fn new(ping_id: &'a str, offer: &'a str, vertical: &'a str, identity: &'a Identity) -> Self {
        let (email_sha256, phone_sha256) = (identity.email().map(|h| h.as_str()), identity.phone().map(|h| h.as_str()));
        DqRequest { ping_id, offer, vertical, email_sha256, phone_sha256 }
    }
}

pub fn post_request(ping_id: &str, sale_id: &str, price: Money, lead: &Value) -> Value {
    json!({"ping_id": ping_id, "sale_id": sale_id, "price": price.to_string(), "lead": lead})
}

fn money_of(v: &Value) -> Option<Money> {
    match v {
        Value::String(s) => Money::parse(s).ok(),
        // A JSON number's shortest text form ("12.5") parses exactly; no float arithmetic.
        Value::Number(n) => Money::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// `{"bid": "12.50"}` (or a number) → a price; anything else is no bid.
pub fn read_bid(body: &[u8]) -> Option<Money> {
    let v: Value = serde_json::from_slice(body).ok()?;
    money_of(v.get("bid")?)
}

/// `{"disqualified": true|false}`; anything else is no answer.
pub fn read_dq(body: &[u8]) -> Option<bool> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("disqualified")?.as_bool()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// With the price the buyer reports paying, when its rules name a price field.
    Accepted {
        reported_price: Option<Money>,
    },
    Rejected,
    Duplicate,
    /// Timeout, connection error or 5xx, as a short code (`timeout`, `unreachable`, `http_503`).
    Error(String),
}

impl PostOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            PostOutcome::Accepted { .. } => "accepted",
            PostOutcome::Rejected => "rejected",
            PostOutcome::Duplicate => "duplicate",
            PostOutcome::Error(_) => "error",
        }
    }
}

fn scalar_matches(expected: &Scalar, found: &Value) -> bool {
    match (expected, found) {
        (Scalar::Text(e), Value::String(f)) => e == f,
        (Scalar::Bool(e), Value::Bool(f)) => e == f,
        (Scalar::Int(e), Value::Number(f)) => f.as_i64() == Some(*e),
        (Scalar::Float(e), Value::Number(f)) => f.as_f64() == Some(*e),
        _ => false,
    }
}

fn rule_matches(rule: &ResponseRule, status: u16, body: &[u8], json: Option<&Value>) -> bool {
    match rule {
        ResponseRule::Pointer { pointer, equals } => {
            json.and_then(|j| j.pointer(pointer)).is_some_and(|v| scalar_matches(equals, v))
        }
        ResponseRule::HttpStatus(codes) => codes.contains(&status),
        ResponseRule::Contains(text) => !text.is_empty() && body.windows(text.len()).any(|w| w == text.as_bytes()),
    }
}

/// Reads a buyer's answer to a post. 5xx is an error whatever the body says; then the
/// duplicate rule (the most specific), then the accepted rule; anything else is a rejection.
pub fn classify_post(rules: &ResponseRules, status: u16, body: &[u8]) -> PostOutcome {
    if status >= 500 {
        return PostOutcome::Error(format!("http_{status}"));
    }
    // Redirects are not followed (the lead would go where the buyer's server says): a buyer
    // that answers one has not taken the lead, whatever its body says.
    if (300..400).contains(&status) {
        return PostOutcome::Rejected;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if rule_matches(&rules.duplicate, status, body, json.as_ref()) {
        return PostOutcome::Duplicate;
    }
    if rule_matches(&rules.accepted, status, body, json.as_ref()) {
        let reported_price = rules.price.as_ref().and_then(|p| json.as_ref()?.pointer(p)).and_then(money_of);
        return PostOutcome::Accepted { reported_price };
    }
    PostOutcome::Rejected
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingpost_core::identity::Sha256Hex;

    #[test]
    fn a_bid_request_and_a_dq_question_have_the_documented_fields() {
        let lead = json!({"state": "CA", "email_sha256": "e"});
        let bid = serde_json::to_value(BidRequest { ping_id: "p1", offer: "o1", vertical: "auto", lead: &lead });
        let expected =
            json!({"ping_id": "p1", "offer": "o1", "vertical": "auto", "lead": {"state": "CA", "email_sha256": "e"}});
        assert_eq!(bid.ok(), Some(expected));
        let email = Sha256Hex::digest("a@example.com");
        let identity = Identity::new(Some(email.clone()), None).expect("an identity");
        let dq = serde_json::to_value(DqRequest::new("p1", "o1", "auto", &identity));
        let expected = json!({
            "ping_id": "p1", "offer": "o1", "vertical": "auto",
            "email_sha256": email.as_str(), "phone_sha256": null,
        });
        assert_eq!(dq.ok(), Some(expected), "a missing identifier is null");
    }

    fn check(rules: &ResponseRules, status: u16, body: &str, expected: &str) {
        assert_eq!(classify_post(rules, status, body.as_bytes()).as_str(), expected, "{status} {body}");
    }

    #[test]
    fn default_rules_read_the_status_field() {
        let r = ResponseRules::default();
        check(&r, 200, r#"{"status":"accepted"}"#, "accepted");
        check(&r, 200, r#"{"status":"duplicate"}"#, "duplicate");
        check(&r, 200, r#"{"status":"rejected"}"#, "rejected");
        check(&r, 200, "not json", "rejected");
        check(&r, 400, r#"{"status":"accepted"}"#, "accepted");
        check(&r, 503, r#"{"status":"accepted"}"#, "error");
        check(&r, 307, r#"{"status":"accepted"}"#, "rejected");
        check(&r, 302, r#"{"status":"duplicate"}"#, "rejected");
    }

    #[test]
    fn configured_rules_http_status_substring_pointer_and_price() {
        let r = ResponseRules {
            accepted: ResponseRule::HttpStatus(vec![201]),
            duplicate: ResponseRule::Contains("DUPLICATE".into()),
            price: Some("/result/paid".into()),
        };
        check(&r, 201, "{}", "accepted");
        check(&r, 200, "{}", "rejected");
        check(&r, 201, "lead is a DUPLICATE", "duplicate");
        assert_eq!(
            classify_post(&r, 201, br#"{"result":{"paid":"12.5"}}"#),
            PostOutcome::Accepted { reported_price: Some(Money::from_minor(1250)) }
        );
        let p = ResponseRules {
            accepted: ResponseRule::Pointer { pointer: "/ok".into(), equals: Scalar::Bool(true) },
            ..ResponseRules::default()
        };
        check(&p, 200, r#"{"ok":true}"#, "accepted");
        check(&p, 200, r#"{"ok":"true"}"#, "rejected");
    }

    #[test]
    fn bids_and_dq_answers() {
        assert_eq!(read_bid(br#"{"bid":"12.50"}"#), Some(Money::from_minor(1250)));
        assert_eq!(read_bid(br#"{"bid":12.5}"#), Some(Money::from_minor(1250)));
        assert_eq!(read_bid(br#"{"bid":null}"#), None);
        assert_eq!(read_bid(br#"{"bid":"-1"}"#), None);
        assert_eq!(read_bid(b"garbage"), None);
        assert_eq!(read_dq(br#"{"disqualified":true}"#), Some(true));
        assert_eq!(read_dq(br#"{"disqualified":"yes"}"#), None);
    }

    #[test]
    fn public_lead_carries_hashes_never_plaintext() {
        let id =
            Identity::from_raw(&pingpost_core::identity::RawIdentity { email: Some("a@b.co"), ..Default::default() })
                .unwrap();
        let mut fields = LeadFields::new();
        fields.insert("state".into(), FieldValue::Text("CA".into()));
        let lead = public_lead(&fields, &id);
        assert_eq!(lead["state"], "CA");
        assert_eq!(lead["email_sha256"].as_str().map(str::len), Some(64));
        assert!(!lead.to_string().contains("a@b.co"));
    }
}
