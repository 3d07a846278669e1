//! Reading a buyer's answer: compiled rules and paths, and the [`Reading`] they give.
//!
//! Whatever a call's rules say, a 5xx is an `error` and a 3xx a refusal (the executor does not
//! follow redirects: the lead would go where the buyer's server says). What a buyer's answer
//! puts into pingpost — a token, a lead id, a redirect URL, a reason — is bounded here, since
//! it is stored, logged and shown.

use super::path::{Body, Found, Locator};
use super::spec::{Answer, AnswerRule};
use super::{AdapterError, CallKind};
use crate::config::{ResponseRule, ResponseRules};
use crate::filter::Scalar;
use crate::money::Money;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest token or lead id kept (a longer one is not a reference: it is dropped).
const MAX_REFERENCE: usize = 256;
/// The longest reason kept (a longer one is cut).
const MAX_REASON: usize = 500;
/// The longest redirect URL kept.
const MAX_REDIRECT: usize = 2048;

/// What a post's answer says happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Rejected,
    Duplicate,
    /// A 5xx, as `http_503` (the executor gives its own codes for a timeout or a connection
    /// error, which never reach a reading).
    Error(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Duplicate => "duplicate",
            Outcome::Error(_) => "error",
        }
    }
}

/// A bid's answer: a price (none when missing, zero or unreadable: no bid) and the buyer's
/// reference for the post.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidReading {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A DQ answer: `Some(true)` disqualified, `Some(false)` not, `None` no usable answer (the
/// buyer asked to be consulted, so it does not bid blind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DqReading {
    pub disqualified: Option<bool>,
}

/// A post's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostReading {
    pub outcome: Outcome,
    /// The price the buyer reports paying; `None` on an accepted post means the contract's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// An `http(s)` URL for the partner to send the consumer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How pingpost read an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reading {
    Bid(BidReading),
    Dq(DqReading),
    Post(PostReading),
}

/// What an accepted post whose price cannot be read means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PriceMissing {
    ContractPrice,
    Reject,
}

/// When a rule holds.
#[derive(Clone, Debug)]
pub(super) enum Test {
    /// The value at a path equals this (JSON compares types strictly; XML and text compare text).
    Equals(Locator, Scalar),
    /// The value at a path, or the whole body, matches a regex.
    Matches(Option<Locator>, Regex),
    Status(Vec<u16>),
    /// The body contains this text (never empty).
    Contains(String),
}

impl Test {
    fn holds(&self, status: u16, body: &Body<'_>) -> bool {
        match self {
            Test::Equals(at, expected) => at.find(body).is_some_and(|found| equals(expected, &found)),
            Test::Matches(Some(at), re) => at.find(body).and_then(|f| f.text()).is_some_and(|t| re.is_match(&t)),
            Test::Matches(None, re) => re.is_match(&body.text),
            Test::Status(codes) => codes.contains(&status),
            Test::Contains(text) => body.raw.windows(text.len()).any(|w| w == text.as_bytes()),
        }
    }
}

fn equals(expected: &Scalar, found: &Found<'_>) -> bool {
    match (expected, found) {
        (Scalar::Text(e), Found::Json(Value::String(f))) => e == f,
        (Scalar::Bool(e), Found::Json(Value::Bool(f))) => e == f,
        (Scalar::Int(e), Found::Json(Value::Number(f))) => f.as_i64() == Some(*e),
        (Scalar::Float(e), Found::Json(Value::Number(f))) => f.as_f64() == Some(*e),
        (_, Found::Json(_)) => false,
        (Scalar::Text(e), Found::Text(f)) => e == f,
        (Scalar::Bool(e), Found::Text(f)) => f.eq_ignore_ascii_case(&e.to_string()),
        (Scalar::Int(e), Found::Text(f)) => f.parse::<i64>().is_ok_and(|f| f == *e),
        (Scalar::Float(e), Found::Text(f)) => f.parse::<f64>().is_ok_and(|f| f == *e),
    }
}

/// A compiled answer for one call.
#[derive(Clone, Debug)]
pub(super) enum Reader {
    Bid {
        price: Locator,
        token: Option<Locator>,
        json: bool,
    },
    /// pingpost's own DQ answer: `{"disqualified": true|false}`, anything else no answer.
    PingpostDq,
    Dq {
        disqualified: Test,
        json: bool,
    },
    Post(Box<PostRules>),
}

#[derive(Clone, Debug)]
pub(super) struct PostRules {
    pub json: bool,
    pub accepted: Test,
    pub duplicate: Option<Test>,
    pub price: Option<Locator>,
    pub lead_id: Option<Locator>,
    pub redirect_url: Option<Locator>,
    pub reason: Option<Locator>,
    pub price_missing: PriceMissing,
}

impl Reader {
    /// pingpost's own answer to a call: `{"bid": "12.50"}`, `{"disqualified": …}`, or for a
    /// post the buyer's `response` rules.
    pub fn pingpost(kind: CallKind, response: &ResponseRules) -> Reader {
        match kind {
            CallKind::Bid => Reader::Bid { price: Locator::Json("/bid".into()), token: None, json: true },
            CallKind::Dq => Reader::PingpostDq,
            CallKind::Post => {
                let rule = |r: &ResponseRule| match r {
                    ResponseRule::Pointer { pointer, equals } => {
                        Test::Equals(Locator::Json(pointer.clone()), equals.clone())
                    }
                    ResponseRule::HttpStatus(codes) => Test::Status(codes.clone()),
                    ResponseRule::Contains(text) => Test::Contains(text.clone()),
                };
                Reader::Post(Box::new(PostRules {
                    json: true,
                    accepted: rule(&response.accepted),
                    duplicate: Some(rule(&response.duplicate)),
                    price: response.price.clone().map(Locator::Json),
                    lead_id: None,
                    redirect_url: None,
                    reason: None,
                    price_missing: PriceMissing::ContractPrice,
                }))
            }
        }
    }

    pub fn read(&self, status: u16, raw: &[u8]) -> Reading {
        let json = match self {
            Reader::Bid { json, .. } | Reader::Dq { json, .. } => *json,
            Reader::Post(rules) => rules.json,
            Reader::PingpostDq => true,
        };
        let body = Body::new(raw, json);
        let success = (200..300).contains(&status);
        match self {
            Reader::Bid { price, token, .. } => {
                if !success {
                    return Reading::Bid(BidReading::default());
                }
                let price = price.find(&body).as_ref().and_then(money).filter(|p| !p.is_zero());
                let token = token.as_ref().and_then(|t| reference(t.find(&body)));
                Reading::Bid(BidReading { price, token })
            }
            Reader::PingpostDq => {
                let answer = body.json.as_ref().and_then(|j| j.get("disqualified")).and_then(Value::as_bool);
                Reading::Dq(DqReading { disqualified: answer.filter(|_| success) })
            }
            Reader::Dq { disqualified, .. } => {
                // A 5xx or a 3xx says nothing; a rule that holds says disqualified (whatever the
                // status, for `{"status": [409]}`); otherwise only a 2xx says "not".
                let disqualified = if status >= 500 || (300..400).contains(&status) {
                    None
                } else if disqualified.holds(status, &body) {
                    Some(true)
                } else {
                    success.then_some(false)
                };
                Reading::Dq(DqReading { disqualified })
            }
            Reader::Post(rules) => Reading::Post(rules.read(status, &body)),
        }
    }
}

impl PostRules {
    fn read(&self, status: u16, body: &Body<'_>) -> PostReading {
        let reason = self.reason.as_ref().and_then(|r| r.find(body)).and_then(|f| f.text()).map(bounded_reason);
        let lead_id = self.lead_id.as_ref().and_then(|l| reference(l.find(body)));
        let redirect_url =
            self.redirect_url.as_ref().and_then(|r| r.find(body)).and_then(|f| f.text()).and_then(redirect);
        let reading = |outcome, price| PostReading {
            outcome,
            price,
            lead_id: lead_id.clone(),
            redirect_url: redirect_url.clone(),
            reason: reason.clone(),
        };
        if status >= 500 {
            return reading(Outcome::Error(format!("http_{status}")), None);
        }
        if (300..400).contains(&status) {
            return reading(Outcome::Rejected, None);
        }
        if self.duplicate.as_ref().is_some_and(|d| d.holds(status, body)) {
            return reading(Outcome::Duplicate, None);
        }
        if !self.accepted.holds(status, body) {
            return reading(Outcome::Rejected, None);
        }
        let Some(at) = &self.price else { return reading(Outcome::Accepted, None) };
        match (at.find(body).as_ref().and_then(money), self.price_missing) {
            (Some(price), _) => reading(Outcome::Accepted, Some(price)),
            (None, PriceMissing::ContractPrice) => reading(Outcome::Accepted, None),
            (None, PriceMissing::Reject) => {
                let mut r = reading(Outcome::Rejected, None);
                r.reason.get_or_insert_with(|| "accepted without a readable price".to_string());
                r
            }
        }
    }
}

/// A price: a decimal string or a JSON number, written exactly (`12.5`, never a float).
fn money(found: &Found<'_>) -> Option<Money> {
    match found {
        Found::Json(Value::String(s)) => Money::parse(s).ok(),
        // A JSON number's shortest text form ("12.5") parses exactly; no float arithmetic.
        Found::Json(Value::Number(n)) => Money::parse(&n.to_string()).ok(),
        Found::Json(_) => None,
        Found::Text(t) => Money::parse(t.trim()).ok(),
    }
}

fn reference(found: Option<Found<'_>>) -> Option<String> {
    let text = found?.text()?;
    let text = text.trim();
    let fits = !text.is_empty() && text.chars().count() <= MAX_REFERENCE && !text.chars().any(char::is_control);
    fits.then(|| text.to_string())
}

fn bounded_reason(text: String) -> String {
    let cleaned: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned.chars().take(MAX_REASON).collect()
}

fn redirect(text: String) -> Option<String> {
    let text = text.trim();
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let web = lower.starts_with("https://") || lower.starts_with("http://");
    let clean = !text.chars().any(|c| c.is_whitespace() || c.is_control());
    (web && clean && text.len() <= MAX_REDIRECT).then(|| text.to_string())
}

/// An answer's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
    Text,
}

/// Compiles a described answer for `kind`, naming each bad key under `at`
/// (`calls.post.answer`). `response` is the buyer's old post rules, whose defaults a JSON
/// post answer keeps for the rules it leaves out.
pub(super) fn compile(
    kind: CallKind,
    answer: &Answer,
    response: &ResponseRules,
    at: &str,
    errors: &mut Vec<AdapterError>,
) -> Option<Reader> {
    let before = errors.len();
    let mut refuse = |key: &str, message: String| errors.push(AdapterError::new(format!("{at}.{key}"), message));
    let format = match answer.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "xml" => Format::Xml,
        "text" => Format::Text,
        _ => {
            refuse("format", "is one of json, xml, text".into());
            return None;
        }
    };
    let allowed: &[&str] = match kind {
        CallKind::Bid => &["price", "token"],
        CallKind::Dq => &["disqualified"],
        CallKind::Post => &["accepted", "duplicate", "price", "lead_id", "redirect_url", "reason", "price_missing"],
    };
    let given = [
        ("accepted", answer.accepted.is_some()),
        ("duplicate", answer.duplicate.is_some()),
        ("disqualified", answer.disqualified.is_some()),
        ("price", answer.price.is_some()),
        ("token", answer.token.is_some()),
        ("lead_id", answer.lead_id.is_some()),
        ("redirect_url", answer.redirect_url.is_some()),
        ("reason", answer.reason.is_some()),
        ("price_missing", answer.price_missing.is_some()),
    ];
    for (key, _) in given.iter().filter(|(key, present)| *present && !allowed.contains(key)) {
        refuse(key, format!("a {} call's answer has no {key}", kind.as_str()));
    }
    let mut locate = |key: &str, path: &Option<String>| -> Option<Locator> {
        let path = path.as_deref()?;
        locator(format, path).map_err(|m| refuse(key, m)).ok()
    };
    let price = locate("price", &answer.price);
    let token = locate("token", &answer.token);
    let lead_id = locate("lead_id", &answer.lead_id);
    let redirect_url = locate("redirect_url", &answer.redirect_url);
    let reason = locate("reason", &answer.reason);
    let mut rule = |key: &str, r: &Option<AnswerRule>| -> Option<Test> {
        let r = r.as_ref()?;
        test(format, r).map_err(|(sub, m)| errors.push(AdapterError::new(join(&format!("{at}.{key}"), sub), m))).ok()
    };
    let accepted = rule("accepted", &answer.accepted);
    let duplicate = rule("duplicate", &answer.duplicate);
    let disqualified = rule("disqualified", &answer.disqualified);
    let mut refuse = |key: &str, message: &str| errors.push(AdapterError::new(format!("{at}.{key}"), message));
    let price_missing = match answer.price_missing.as_deref() {
        None | Some("contract_price") => PriceMissing::ContractPrice,
        Some("reject") if answer.price.is_none() => {
            refuse("price_missing", "\"reject\" needs a price to read: give the answer's price");
            PriceMissing::Reject
        }
        Some("reject") => PriceMissing::Reject,
        Some(_) => {
            refuse("price_missing", "is contract_price or reject");
            PriceMissing::ContractPrice
        }
    };
    let json = format == Format::Json;
    let defaults = Reader::pingpost(CallKind::Post, response);
    let reader = match kind {
        CallKind::Bid => match (price, &answer.price) {
            (Some(price), _) => Reader::Bid { price, token, json },
            (None, None) => {
                refuse("price", "a bid's answer says where its price is");
                return None;
            }
            (None, Some(_)) => return None,
        },
        CallKind::Dq => match (disqualified, &answer.disqualified) {
            (Some(disqualified), _) => Reader::Dq { disqualified, json },
            (None, None) => {
                refuse("disqualified", "a DQ answer says when the lead is disqualified");
                return None;
            }
            (None, Some(_)) => return None,
        },
        CallKind::Post => {
            let Reader::Post(old) = defaults else { return None };
            // A JSON answer keeps the buyer's `response` for a rule it leaves out; an XML or
            // text one has no such default to fall back on.
            let accepted = match (accepted, json, &answer.accepted) {
                (Some(a), _, _) => a,
                (None, true, None) => old.accepted,
                (None, false, None) => {
                    refuse("accepted", "an XML or text answer says when a post is accepted");
                    return None;
                }
                (None, _, Some(_)) => return None,
            };
            let duplicate = duplicate.or(if json && answer.duplicate.is_none() { old.duplicate } else { None });
            let price = price.or(if json && answer.price.is_none() { old.price } else { None });
            Reader::Post(Box::new(PostRules {
                json,
                accepted,
                duplicate,
                price,
                lead_id,
                redirect_url,
                reason,
                price_missing,
            }))
        }
    };
    (errors.len() == before).then_some(reader)
}

fn join(at: &str, sub: &str) -> String {
    if sub.is_empty() {
        at.to_string()
    } else {
        format!("{at}.{sub}")
    }
}

fn locator(format: Format, path: &str) -> Result<Locator, String> {
    match format {
        Format::Json => super::path::json_pointer(path).map(Locator::Json),
        Format::Xml => super::path::XmlPath::parse(path).map(Locator::Xml),
        Format::Text => {
            let re = super::path::regex(path)?;
            if re.captures_len() < 2 {
                return Err("a text answer's value is the regex's first capture group: give the regex one".into());
            }
            Ok(Locator::Text(re))
        }
    }
}

/// Compiles one rule; an error names the rule's key that is wrong (empty: the rule itself).
fn test(format: Format, r: &AnswerRule) -> Result<Test, (&'static str, String)> {
    let (path_key, path) = match (&r.path, &r.pointer) {
        (Some(p), None) => ("path", Some(p)),
        (None, Some(p)) => ("pointer", Some(p)),
        (None, None) => ("path", None),
        (Some(_), Some(_)) => return Err(("", "give path or pointer, not both".into())),
    };
    let status = match (&r.status, &r.http_status) {
        (Some(s), None) => Some(("status", s)),
        (None, Some(s)) => Some(("http_status", s)),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(("", "give status or http_status, not both".into())),
    };
    let at = |p: &String| locator(format, p).map_err(|m| (path_key, m));
    let pattern = |p: &String| super::path::regex(p).map_err(|m| ("matches", m));
    match (path, &r.equals, &r.matches, status, &r.contains) {
        (Some(p), Some(v), None, None, None) => Ok(Test::Equals(at(p)?, v.clone())),
        (Some(p), None, Some(m), None, None) => Ok(Test::Matches(Some(at(p)?), pattern(m)?)),
        (None, None, Some(m), None, None) => Ok(Test::Matches(None, pattern(m)?)),
        (None, None, None, Some((key, codes)), None) => {
            let valid: Vec<u16> =
                codes.iter().filter_map(|c| u16::try_from(*c).ok()).filter(|c| (100..=599).contains(c)).collect();
            if valid.is_empty() || valid.len() != codes.len() {
                return Err((key, "lists HTTP status codes in 100..=599".into()));
            }
            Ok(Test::Status(valid))
        }
        (None, None, None, None, Some(text)) if !text.is_empty() => Ok(Test::Contains(text.clone())),
        (None, None, None, None, Some(_)) => Err(("contains", "must not be empty".into())),
        _ => Err(("", "give one of {path, equals}, {path, matches}, {matches}, {status} or {contains}".into())),
    }
}
