//! A partner's posting instructions: `GET /v1/partner/docs` with its key (JSON, or with
//! `Accept: text/html` a page its developers read), and the same page for operators at
//! `/console/partners/{id}/docs`. [`build`] makes the one description both answers show and
//! [`body`] renders it, so the JSON, the partner's page and the console's page cannot drift.
//!
//! What it shows, for each offer the partner may ping: the vertical's fields (type, when
//! required, allowed values and bounds, whether personal), the identifiers' rules, the consent
//! fields the offer requires, what becomes of a field not declared, and an example ping and
//! post built by [`pingpost_core::intake::example`] (each passes the checks a real ping and
//! post go through); then the partner's aliases, the content types and the errors.
//!
//! **What it never shows**: anything of buyers, contracts, prices, margins, payouts or other
//! partners — it is built from the partner, its offers and their verticals only, never from
//! a contract or a buyer — and never a key: the examples carry the placeholder
//! [`KEY_PLACEHOLDER`].
//!
//! **Test partners** (a partner whose `mode` is `"test"`, planned in the SPEC): their leads
//! are checked by exactly the same rules, so their instructions are the same; when test mode
//! comes, the page gains one sentence saying that the partner's pings run as tests.

use maud::{html, Markup, DOCTYPE};
use pingpost_core::config::{Config, Offer};
use pingpost_core::ids::PartnerId;
use pingpost_core::intake::{example, ConsentField, Field, FieldType, Stage, UnknownFields};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What the examples carry instead of the partner's key.
pub const KEY_PLACEHOLDER: &str = "YOUR_API_KEY";
/// What the example post carries instead of the ping's `ping_id`.
pub const PING_ID_PLACEHOLDER: &str = "PING_ID_FROM_THE_PING";
/// What the curl commands start with when the request did not say which host it reached.
const URL_PLACEHOLDER: &str = "https://YOUR_PINGPOST_HOST";

/// A partner's posting instructions.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerDocs {
    pub partner: PartnerName,
    /// Where the API answers, as the request reached it (its `Host`, and `https` when the
    /// request came through a proxy that says so in `X-Forwarded-Proto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The header every request carries.
    pub authentication: String,
    /// The offers the partner may ping, in id order.
    pub offers: Vec<OfferDocs>,
    /// The partner's own field names → the vertical's: applied before anything else, so the
    /// partner may send either. The examples use the vertical's names.
    pub aliases: BTreeMap<String, String>,
    /// What a ping's or a post's body may be.
    pub content_types: Vec<String>,
    /// Every error answer's shape.
    pub error_format: String,
    /// The errors a partner meets most.
    pub errors: Vec<ErrorDoc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerName {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferDocs {
    pub id: String,
    pub name: String,
    /// The vertical's id: a consumer submitted twice on it inside its window is turned away,
    /// whichever offer it came through.
    pub vertical: String,
    /// How long a ping's bids may be posted, in seconds.
    pub post_within_s: u32,
    /// The fields the vertical declares, in its order. A vertical that declares none takes
    /// any field, passed on as it came.
    pub fields: Vec<FieldDoc>,
    /// The consumer's email and phone (a lead needs one or both), each as plaintext or as its
    /// SHA-256: always personal, hashed on arrival.
    pub identifiers: Vec<IdentifierDoc>,
    pub consent: ConsentDocs,
    /// What becomes of a field the vertical does not declare: `keep` (passed on as text) or
    /// `refuse` (a 422 naming it).
    pub unknown_fields: String,
    /// A ping body that passes every check (`POST /v1/ping`).
    #[schema(value_type = Object)]
    pub example_ping: Value,
    /// A post body that passes every check (`POST /v1/post`), its `ping_id` a placeholder.
    #[schema(value_type = Object)]
    pub example_post: Value,
}

/// When a field is required: `ping` (on the ping and the post) or `post` (on the post only).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequiredOn {
    Ping,
    Post,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldDoc {
    pub name: String,
    /// `text`, `integer`, `number`, `boolean`, `date`, `enum`, `zip`, `state`, `url`, `ip`,
    /// `email` or `phone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `null` when optional.
    pub required: Option<RequiredOn>,
    /// An enum's values, matched in any case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Inclusive bounds of a number (an integer's written as one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub min: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub max: Option<serde_json::Number>,
    /// Bounds of a text's length, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Personal data: refused on the ping, sent on the post only (to the buyer that bought).
    pub personal: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifierDoc {
    pub name: String,
    /// How it is read and normalized.
    pub rule: String,
    pub personal: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentDocs {
    /// Required on the ping (and so on the post).
    pub ping: Vec<ConsentDoc>,
    /// Required on the post: the ping's and the post's own.
    pub post: Vec<ConsentDoc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentDoc {
    pub name: String,
    /// What it holds and in which format.
    pub format: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDoc {
    pub status: u16,
    pub code: String,
    pub when: String,
}

const IDENTIFIERS: [(&str, &str); 4] = [
    ("email", "The consumer's email: invisible characters removed, trimmed, lower-cased; hashed (SHA-256) on arrival, only the hash is kept."),
    ("phone", "The consumer's phone: digits only, a 10-digit number gets a leading 1 (North America); 11-15 digits; hashed on arrival."),
    ("email_sha256", "Instead of email: SHA-256 (lower-case hex) of the email normalized as above."),
    ("phone_sha256", "Instead of phone: SHA-256 (lower-case hex) of the phone's normalized digits."),
];

const ERRORS: [(u16, &str, &str); 10] = [
    (401, "unauthorized", "No key, or an unknown one."),
    (403, "offer_not_allowed", "The offer is not one of yours."),
    (404, "unknown_offer", "No such offer."),
    (404, "unknown_ping", "No such ping of yours with bids to post."),
    (409, "in_flight", "A post of this ping (or a ping with this idempotency key) is in flight: retry shortly."),
    (410, "ping_expired", "The ping's bids can no longer be posted."),
    (413, "body_too_large", "The body is over 64 KiB."),
    (415, "unsupported_media_type", "The body is neither JSON nor a form."),
    (422, "invalid_field", "A field is missing or invalid: `field` names it (a lead's as lead.<name>), the message says what was expected."),
    (503, "store_unavailable", "Nothing was recorded or sold: retry."),
];

/// The instructions of `partner` (`None`: no such partner), its curl commands aimed at
/// `base_url` when known.
pub fn build(config: &Config, partner: &PartnerId, base_url: Option<String>) -> Option<PartnerDocs> {
    let p = config.partners.get(partner)?;
    let mut offer_ids: Vec<_> = p.offers.iter().collect();
    offer_ids.sort();
    offer_ids.dedup();
    let offers = offer_ids.into_iter().filter_map(|id| offer_docs(config, config.offers.get(id)?)).collect();
    Some(PartnerDocs {
        partner: PartnerName { id: p.id.to_string(), name: p.name.clone() },
        base_url,
        authentication: format!("Authorization: Bearer {KEY_PLACEHOLDER}"),
        offers,
        aliases: p.field_aliases.clone(),
        content_types: vec!["application/json".into(), "application/x-www-form-urlencoded".into()],
        error_format: r#"{"error": {"code": "…", "message": "…", "field": "…"}} (field only when one is at fault)"#
            .into(),
        errors: ERRORS
            .iter()
            .map(|(status, code, when)| ErrorDoc { status: *status, code: (*code).into(), when: (*when).into() })
            .collect(),
    })
}

fn offer_docs(config: &Config, offer: &Offer) -> Option<OfferDocs> {
    let (vertical, consent) = config.lead_rules(&offer.id)?;
    let consent_docs = |stage| {
        consent
            .required_on(stage)
            .iter()
            .map(|f: ConsentField| ConsentDoc { name: f.name().into(), format: f.description().into() })
            .collect()
    };
    let ping = json!({"offer": offer.id.to_string(), "lead": example::ping_lead(vertical, consent)});
    let post = json!({"ping_id": PING_ID_PLACEHOLDER, "lead": example::post_lead(vertical, consent)});
    Some(OfferDocs {
        id: offer.id.to_string(),
        name: offer.name.clone(),
        vertical: vertical.id.to_string(),
        post_within_s: offer.ping_ttl_s,
        fields: vertical.fields.iter().flat_map(|f| f.iter()).map(field_doc).collect(),
        identifiers: IDENTIFIERS
            .iter()
            .map(|(name, rule)| IdentifierDoc { name: (*name).into(), rule: (*rule).into(), personal: true })
            .collect(),
        consent: ConsentDocs { ping: consent_docs(Stage::Ping), post: consent_docs(Stage::Post) },
        unknown_fields: match vertical.unknown {
            UnknownFields::Keep => "keep",
            UnknownFields::Refuse => "refuse",
        }
        .into(),
        example_ping: ping,
        example_post: post,
    })
}

fn field_doc(field: &Field) -> FieldDoc {
    let (min, max, min_length, max_length) = match field.kind() {
        FieldType::Integer { min, max } | FieldType::Number { min, max } => (bound(*min), bound(*max), None, None),
        FieldType::Text { min_length, max_length } => (None, None, *min_length, *max_length),
        _ => (None, None, None, None),
    };
    FieldDoc {
        name: field.name().into(),
        kind: field.kind().name().into(),
        required: field.required().map(|s| match s {
            Stage::Ping => RequiredOn::Ping,
            Stage::Post => RequiredOn::Post,
        }),
        values: field.kind().values().map(<[String]>::to_vec),
        min,
        max,
        min_length,
        max_length,
        personal: field.is_personal(),
    }
}

/// A bound as JSON: a whole number as an integer (`18`, not `18.0`).
fn bound(n: Option<f64>) -> Option<serde_json::Number> {
    let n = n?;
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Some((n as i64).into())
    } else {
        serde_json::Number::from_f64(n)
    }
}

/// Where the request reached the API: `Host` (only a host name or address and a port), with
/// `https` when `X-Forwarded-Proto` says so.
pub fn base_url(headers: &axum::http::HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !plain {
        return None;
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    Some(format!("{}://{host}", if https { "https" } else { "http" }))
}

/// The page a partner's developer reads, on its own: the console's stylesheet, no script.
pub fn standalone(docs: &PartnerDocs) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title(docs)) " — pingpost" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body { main { (body(docs)) } }
        }
    }
}

pub fn title(docs: &PartnerDocs) -> String {
    format!("Posting instructions for {}", display_name(&docs.partner))
}

fn display_name(p: &PartnerName) -> String {
    if p.name.is_empty() {
        p.id.clone()
    } else {
        format!("{} ({})", p.name, p.id)
    }
}

/// The instructions as HTML (every value escaped by maud), inside whichever page shell.
pub fn body(docs: &PartnerDocs) -> Markup {
    let base = docs.base_url.as_deref().unwrap_or(URL_PLACEHOLDER);
    html! {
        div class="partner-docs" {
            h1 { (title(docs)) }
            p {
                "Sell a lead in two requests. " strong { "Ping" } " " code { "POST " (base) "/v1/ping" }
                " with what qualifies the lead (never personal data): buyers bid. Then "
                strong { "post" } " " code { "POST " (base) "/v1/post" }
                " the full lead with the ping's " code { "ping_id" } ": it is delivered to the best bids."
            }
            p {
                "Every request carries " code { (docs.authentication) } ": " code { (KEY_PLACEHOLDER) }
                " stands for your API key, which this page never shows. Bodies are "
                @for (i, t) in docs.content_types.iter().enumerate() { @if i > 0 { " or " } code { (t) } }
                " (a form's fields are the lead's, beside " code { "offer" } ", " code { "ping_id" } ", "
                code { "bid_ids" } " and " code { "idempotency_key" } "); answers are JSON."
            }
            @if !docs.aliases.is_empty() {
                section aria-labelledby="aliases" {
                    h2 id="aliases" { "Your field names" }
                    p { "You may send these names: each is renamed to the field's before anything else. The examples use the fields' names; yours are accepted too (not both for one field)." }
                    table {
                        thead { tr { th scope="col" { "You send" } th scope="col" { "Field" } } }
                        tbody { @for (yours, field) in &docs.aliases { tr { td { code { (yours) } } td { code { (field) } } } } }
                    }
                }
            }
            @for offer in &docs.offers { (offer_section(offer, base)) }
            @if docs.offers.is_empty() { p { "You may ping no offer yet." } }
            section aria-labelledby="errors" {
                h2 id="errors" { "Errors" }
                p { "Every error is " code { (docs.error_format) } "." }
                table {
                    thead { tr { th scope="col" { "Status" } th scope="col" { "Code" } th scope="col" { "When" } } }
                    tbody { @for e in &docs.errors { tr { td { (e.status) } td { code { (e.code) } } td { (e.when) } } } }
                }
            }
        }
    }
}

fn offer_section(offer: &OfferDocs, base: &str) -> Markup {
    let heading = format!("offer-{}", offer.id);
    html! {
        section aria-labelledby=(heading) {
            h2 id=(heading) { "Offer " code { (offer.id) } @if !offer.name.is_empty() { " — " (offer.name) } }
            p {
                "Vertical " code { (offer.vertical) } ". A ping's bids may be posted for " (offer.post_within_s) " s. "
                @if offer.unknown_fields == "refuse" { "A field not listed below is refused (422)." }
                @else if offer.fields.is_empty() { "Any field is passed on to buyers as it came." }
                @else { "A field not listed below is passed on to buyers as it came." }
            }
            @if !offer.fields.is_empty() {
                table class="fields" {
                    caption { "Fields" }
                    thead { tr {
                        th scope="col" { "Field" } th scope="col" { "Type" } th scope="col" { "Required" }
                        th scope="col" { "Allowed values" } th scope="col" { "Personal" }
                    } }
                    tbody { @for f in &offer.fields { tr {
                        th scope="row" { code { (f.name) } }
                        td { (f.kind) }
                        td { @match f.required { Some(RequiredOn::Ping) => "on the ping and the post", Some(RequiredOn::Post) => "on the post", None => "no" } }
                        td { (allowed(f)) }
                        td { @if f.personal { "yes: on the post only" } @else { "no" } }
                    } } }
                }
            }
            table class="identifiers" {
                caption { "Identifiers: an email or a phone, or both (personal: hashed on arrival; the post carries the ping's)" }
                tbody { @for i in &offer.identifiers { tr { th scope="row" { code { (i.name) } } td { (i.rule) } } } }
            }
            @if offer.consent.post.is_empty() {
                p { "This offer requires no consent field." }
            } @else {
                table class="consent" {
                    caption { "Consent this offer requires" }
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Required on" } th scope="col" { "Format" } } }
                    tbody { @for c in &offer.consent.post { tr {
                        th scope="row" { code { (c.name) } }
                        td { @if offer.consent.ping.iter().any(|p| p.name == c.name) { "the ping and the post" } @else { "the post" } }
                        td { (c.format) }
                    } } }
                }
            }
            h3 { "Example ping" }
            pre { code { (curl_json(base, "/v1/ping", &offer.example_ping)) } }
            h3 { "Example post" }
            p { "Put the ping's " code { "ping_id" } " in place of " code { (PING_ID_PLACEHOLDER) } "; " code { "bid_ids" } " (optional) picks which bids to post." }
            pre { code { (curl_json(base, "/v1/post", &offer.example_post)) } }
            h3 { "The same ping as a form" }
            pre { code { (curl_form(base, "/v1/ping", &offer.example_ping)) } }
        }
    }
}

fn allowed(f: &FieldDoc) -> String {
    let number = |n: &serde_json::Number| n.to_string();
    match (&f.values, &f.min, &f.max, f.min_length, f.max_length) {
        (Some(values), ..) => values.join(", "),
        (None, Some(min), Some(max), ..) => format!("{} to {}", number(min), number(max)),
        (None, Some(min), None, ..) => format!("at least {}", number(min)),
        (None, None, Some(max), ..) => format!("at most {}", number(max)),
        (None, None, None, Some(min), Some(max)) => format!("{min} to {max} characters"),
        (None, None, None, Some(min), None) => format!("at least {min} characters"),
        (None, None, None, None, Some(max)) => format!("up to {max} characters"),
        _ => String::new(),
    }
}

/// `text` as one shell word: in single quotes, each `'` written `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn curl_json(base: &str, path: &str, body: &Value) -> String {
    let pretty = serde_json::to_string_pretty(body).unwrap_or_default();
    format!(
        "curl -s {} \\\n  -H {} \\\n  -H 'Content-Type: application/json' \\\n  -d {}",
        shell_quote(&format!("{base}{path}")),
        shell_quote(&format!("Authorization: Bearer {KEY_PLACEHOLDER}")),
        shell_quote(&pretty)
    )
}

/// A form: the request's own fields and the lead's at the top level, each value as text
/// (`--data-urlencode` encodes whatever follows the first `=`).
fn curl_form(base: &str, path: &str, body: &Value) -> String {
    let mut fields: Vec<(String, String)> = Vec::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let empty = Map::new();
    let object = body.as_object().unwrap_or(&empty);
    for (name, value) in object.iter().filter(|(k, _)| *k != "lead") {
        fields.push((name.clone(), text(value)));
    }
    for (name, value) in object.get("lead").and_then(Value::as_object).unwrap_or(&empty) {
        fields.push((name.clone(), text(value)));
    }
    let mut out = format!(
        "curl -s {} \\\n  -H {}",
        shell_quote(&format!("{base}{path}")),
        shell_quote(&format!("Authorization: Bearer {KEY_PLACEHOLDER}"))
    );
    for (name, value) in fields {
        out.push_str(&format!(" \\\n  --data-urlencode {}", shell_quote(&format!("{name}={value}"))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        let form = curl_form("http://h", "/v1/ping", &json!({"offer": "o", "lead": {"n": 3, "t": "O'Neil & co"}}));
        assert!(form.contains(r"--data-urlencode 'offer=o'"), "{form}");
        assert!(form.contains(r"--data-urlencode 'n=3'"), "{form}");
        assert!(form.contains(r"--data-urlencode 't=O'\''Neil & co'"), "{form}");
    }

    #[test]
    fn the_base_url_is_a_plain_host_or_nothing() {
        let with = |host: &str, proto: Option<&str>| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::HOST, host.parse().unwrap());
            if let Some(p) = proto {
                h.insert("x-forwarded-proto", p.parse().unwrap());
            }
            base_url(&h)
        };
        assert_eq!(with("127.0.0.1:8080", None).as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(with("api.example.com", Some("https")).as_deref(), Some("https://api.example.com"));
        assert_eq!(with("evil.com/<x>", None), None);
        assert_eq!(with("a b", None), None);
    }
}
