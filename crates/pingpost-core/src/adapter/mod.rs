//! Buyer adapters: each buyer's own protocol, as pure functions. As Prebid Server's bidder
//! adapters do, an adapter turns (a call's configuration, a context) into a whole request
//! and a whole answer into a [`Reading`]; one executor elsewhere owns HTTP, deadlines,
//! pooling and metrics.
//!
//! **Invariant: no I/O here.** Nothing in this module touches a network, a disk, a clock or
//! the environment: a request is a function of the configuration, the [`Context`] and the
//! [`Secrets`] handed in, and a reading a function of the status and body handed in.
//! Everything a request holds comes from those, each value escaped for where it lands by
//! construction (JSON literals, percent-encoding, XML entities; the scheme, host and port
//! are never templated), so no lead value can change a request's structure; and a secret's
//! value appears only where a template puts it, never in an error.
//!
//! # Layout
//! - [`spec`]: the configuration's shapes, `calls` and `value_maps`.
//! - `compile`: a call's configuration → its compiled request and answer, every error
//!   named by its field's path; [`compile`] (here) does a whole buyer, once per configuration.
//! - `template`: the buyer's MiniJinja environment — variables, `secret()`, fuel, the
//!   checks made before a template is accepted, escaping by destination.
//! - `filters`: the SPEC's filters (`phone`, `date`, `age`, `yes_no`, `map`, …).
//! - [`context`]: what templates read (`lead`, `ping`, `bid`, `sale`, `now`, hashes).
//! - `url`: a URL's literal origin and templated path and query.
//! - `encode`: bodies from fields (JSON, form, XML) and the escaping they use.
//! - `request`: a call's [`OutboundRequest`] per encoding, auth and headers.
//! - `pingpost`: pingpost's own protocol, for a call left undescribed.
//! - `path`, `answer`: reading an answer (JSON pointers, XML paths, regexes) into a
//!   [`Reading`].
//!
//! The same [`CompiledCall::request`] builds what is sent, what a preview shows
//! ([`Mode::preview`]) and what a test sends, so a preview is provably what is sent; the
//! fixtures in `tests/fixtures/buyers/` pin both ends of every call.
//!
//! # What a buyer's calls may do
//! - **Compiled once per configuration version.** Validation compiles every buyer
//!   (`config::validate` → [`compile`], kept as `Buyer::adapter: Arc<CompiledBuyer>`), so the
//!   files, a stored document a node adopts and an edit are compiled when loaded, and a ping
//!   compiles nothing. A template is decided at compile time to be a literal, a constant
//!   (`{{ 4417 }}`, evaluated once), a variable or `secret('name')` through filters with
//!   literal arguments (pingpost's own and MiniJinja's pure ones, run without the renderer:
//!   the common field; it answers what the engine would or hands the template to the engine,
//!   so errors and fuel stay the engine's), one typed expression, or text. Compilation reads
//!   each template's instructions (MiniJinja's `unstable_machinery`, hence the pinned version)
//!   and refuses an unknown filter, test or function, a `secret()` or `map()` whose name is
//!   not a quoted literal, a value map the buyer lacks and a secret that is not set; every
//!   error names its field (`calls.post.fields.contact.dob`).
//! - **Bounded work.** Each render has [`FUEL`] of MiniJinja's fuel; a template that runs out
//!   fails its call (`out_of_fuel`), never the process or the ping.
//! - **Escaping by construction.** Bodies are built from `fields` by the encoder, never by
//!   text substitution; a `template` body escapes each value it renders for JSON or XML by its
//!   content type, whatever the template asks (`|safe`); a header value holding a line break
//!   fails the call. A URL is split at compile time into its literal origin and a templated
//!   path and query (`url`): the scheme, host and port are never templated.
//! - **A preview is provably what is sent.** [`Mode`] only picks the URL (the call's, or its
//!   `sandbox_url`) and writes each secret as [`MASK`]. The fixtures check that the masked
//!   request differs from the sent one only where a secret is, and the workspace's
//!   `tests/strict_buyers.rs` that a preview is byte for byte what a sale then sends.
//! - **Nothing a buyer says is trusted.** A reading is bounded here (a token or lead id of at
//!   most 256 characters, a reason of 500, a redirect only as an `http(s)` URL), and the
//!   engine masks every text of it for secrets (`pingpost_engine::buyer::calls::redacted`)
//!   before it is stored, logged or shown: a buyer may echo its credentials. A render error
//!   names a field and a code, never a lead's value or a secret's.
//!
//! # What an answer carries, and where it goes
//! A bid's `token` is kept in the ping record (a sixth element of the stored bid) and rendered
//! into the post as `{{ bid.token }}`. A post's `lead_id` travels with the settlement
//! (`SaleEnd::Sold { lead_id }`): the store writes it on the sale (on Redis,
//! `settle_sale.lua`, field `lead`) and in its books entry in the outbox, the relay appends
//! that entry with it (`Entry::lead_id`; PostgreSQL's column from `0002_lead_id.sql`), and the
//! ledger (`GET /v1/admin/ledger`) and the buyer's `GET /v1/buyer/sales` show it. A
//! `redirect_url` goes on the post answer's sale; a `reason` on the attempt (`buyer_reason`,
//! shown only on `full` offers by the server's `disclose`) and, for a "duplicate", on the
//! audit log's `post_duplicate` entry.

mod answer;
mod compile;
pub mod context;
mod encode;
mod filters;
mod path;
mod pingpost;
mod request;
pub mod spec;
mod template;
mod url;

pub use answer::{BidReading, DqReading, Outcome, PostReading, Reading};
pub use context::{BidInfo, Context, ContextParts, PingInfo, SaleInfo};
pub use request::{Method, Mode, OutboundRequest, RenderError, RenderErrorKind, Secrets};
pub use spec::{Answer, AnswerRule, Auth, BasicAuth, Call, Calls, Fields, ValueMap, ValueMaps};
pub use template::{FUEL, MASK};

use crate::config::ResponseRules;
use answer::Reader;
use request::Plan;
use std::fmt;
use template::{Builder, Templates};

/// One of a buyer's three calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    Bid,
    Dq,
    Post,
}

impl CallKind {
    pub const ALL: [CallKind; 3] = [CallKind::Bid, CallKind::Dq, CallKind::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Bid => "bid",
            CallKind::Dq => "dq",
            CallKind::Post => "post",
        }
    }
}

/// A refused part of a buyer's calls: the field's path from the buyer
/// (`calls.post.fields.contact.dob`, `calls.bid.url`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AdapterError {
    pub field: String,
    pub message: String,
}

impl AdapterError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        AdapterError { field: field.into(), message: message.into() }
    }
}

/// What [`compile`] reads of a buyer.
#[derive(Clone, Copy, Debug)]
pub struct BuyerCalls<'a> {
    pub calls: Option<&'a Calls>,
    pub value_maps: &'a ValueMaps,
    /// The buyer's `response` (validated): a post call without an answer reads it, and a
    /// JSON post answer keeps its rules for those it leaves out.
    pub response: &'a ResponseRules,
}

/// Compiles a buyer's calls, once per configuration (never per ping). `secret_exists` says
/// whether a secret of that name is set: a template naming one that is not is refused.
/// Every error is reported, each naming its field.
pub fn compile(
    buyer: BuyerCalls<'_>,
    secret_exists: &dyn Fn(&str) -> bool,
) -> Result<CompiledBuyer, Vec<AdapterError>> {
    let mut errors = Vec::new();
    for name in buyer.value_maps.keys().filter(|n| n.is_empty()) {
        errors.push(AdapterError::new(format!("value_maps.{name}"), "a value map has a name"));
    }
    let mut builder = Builder::new(buyer.value_maps, secret_exists);
    let mut planned: Vec<(CallKind, compile::Compiled)> = Vec::new();
    for kind in CallKind::ALL {
        let spec = buyer.calls.and_then(|c| match kind {
            CallKind::Bid => c.bid.as_ref(),
            CallKind::Dq => c.dq.as_ref(),
            CallKind::Post => c.post.as_ref(),
        });
        if let Some(spec) = spec {
            if let Some(compiled) = compile::call(kind, spec, buyer.response, &mut builder, &mut errors) {
                planned.push((kind, compiled));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let templates = builder.finish();
    let mut compiled = CompiledBuyer::pingpost(buyer.response);
    for (kind, c) in planned {
        let protocol = Protocol::Described { templates: templates.clone(), plan: Box::new(c.plan) };
        *compiled.slot(kind) = CompiledCall { kind, protocol, reader: c.reader, timeout_ms: c.timeout_ms };
    }
    compiled.source =
        Source { calls: buyer.calls.cloned(), value_maps: buyer.value_maps.clone(), response: buyer.response.clone() };
    Ok(compiled)
}

/// What a buyer was compiled from: two compiled buyers are equal when their sources are.
#[derive(Clone, Debug, Default, PartialEq)]
struct Source {
    calls: Option<Calls>,
    value_maps: ValueMaps,
    response: ResponseRules,
}

/// A buyer's three calls, compiled; a call it did not describe speaks pingpost's protocol.
#[derive(Clone)]
pub struct CompiledBuyer {
    bid: CompiledCall,
    dq: CompiledCall,
    post: CompiledCall,
    source: Source,
}

impl CompiledBuyer {
    /// A buyer that describes no call: pingpost's own protocol throughout, its post answers
    /// read by `response`.
    pub fn pingpost(response: &ResponseRules) -> Self {
        let call = |kind| CompiledCall::pingpost(kind, response);
        CompiledBuyer {
            bid: call(CallKind::Bid),
            dq: call(CallKind::Dq),
            post: call(CallKind::Post),
            source: Source { response: response.clone(), ..Source::default() },
        }
    }

    pub fn call(&self, kind: CallKind) -> &CompiledCall {
        match kind {
            CallKind::Bid => &self.bid,
            CallKind::Dq => &self.dq,
            CallKind::Post => &self.post,
        }
    }

    pub fn bid(&self) -> &CompiledCall {
        &self.bid
    }

    pub fn dq(&self) -> &CompiledCall {
        &self.dq
    }

    pub fn post(&self) -> &CompiledCall {
        &self.post
    }

    fn slot(&mut self, kind: CallKind) -> &mut CompiledCall {
        match kind {
            CallKind::Bid => &mut self.bid,
            CallKind::Dq => &mut self.dq,
            CallKind::Post => &mut self.post,
        }
    }
}

impl PartialEq for CompiledBuyer {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for CompiledBuyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledBuyer").field("source", &self.source).finish()
    }
}

#[derive(Clone, Debug)]
enum Protocol {
    Pingpost,
    Described { templates: Templates, plan: Box<Plan> },
}

/// One call, compiled: it builds requests and reads answers, and does nothing else.
#[derive(Clone, Debug)]
pub struct CompiledCall {
    kind: CallKind,
    protocol: Protocol,
    reader: Reader,
    timeout_ms: Option<u32>,
}

impl CompiledCall {
    /// pingpost's own protocol for `kind`.
    pub fn pingpost(kind: CallKind, response: &ResponseRules) -> Self {
        CompiledCall { kind, protocol: Protocol::Pingpost, reader: Reader::pingpost(kind, response), timeout_ms: None }
    }

    pub fn kind(&self) -> CallKind {
        self.kind
    }

    /// Whether the call speaks pingpost's own protocol (the buyer did not describe it).
    pub fn is_pingpost(&self) -> bool {
        matches!(self.protocol, Protocol::Pingpost)
    }

    /// The call's own `timeout_ms`, when it gives one (else the buyer's or the contract's).
    pub fn timeout_ms(&self) -> Option<u32> {
        self.timeout_ms
    }

    /// Whether the call names its own URL (else [`Mode::url`] is needed).
    pub fn has_url(&self) -> bool {
        matches!(&self.protocol, Protocol::Described { plan, .. } if plan.url.is_some())
    }

    /// Whether the call has a `sandbox_url` (a test that is not live needs one).
    pub fn has_sandbox_url(&self) -> bool {
        matches!(&self.protocol, Protocol::Described { plan, .. } if plan.sandbox_url.is_some())
    }

    /// The whole request this call sends with `ctx`: what is sent, what a preview shows
    /// (`mode.masked`) and what a test sends (`mode.sandbox`).
    pub fn request(
        &self,
        ctx: &Context,
        secrets: &dyn Secrets,
        mode: Mode<'_>,
    ) -> Result<OutboundRequest, RenderError> {
        match &self.protocol {
            Protocol::Described { templates, plan } => plan.request(templates, ctx, secrets, mode),
            Protocol::Pingpost => {
                let field = |key: &str| format!("calls.{}.{key}", self.kind.as_str());
                if mode.sandbox {
                    let message = "the call speaks pingpost's protocol and has no sandbox_url: test it live";
                    return Err(RenderError::new(field("sandbox_url"), RenderErrorKind::NoSandboxUrl, message));
                }
                let url = mode
                    .url
                    .ok_or_else(|| RenderError::new(field("url"), RenderErrorKind::NoUrl, "the call has no URL"))?;
                Ok(OutboundRequest {
                    method: Method::Post,
                    url: url.to_string(),
                    headers: Vec::new(),
                    content_type: Some(pingpost::CONTENT_TYPE.to_string()),
                    body: pingpost::body(self.kind, ctx.parts())?,
                })
            }
        }
    }

    /// How pingpost reads the buyer's answer `(status, body)` to this call.
    pub fn read(&self, status: u16, body: &[u8]) -> Reading {
        self.reader.read(status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRETS: [&str; 2] = ["carrier_key", "carrier_password"];

    fn compiled(calls: serde_json::Value, maps: serde_json::Value) -> Result<CompiledBuyer, Vec<AdapterError>> {
        let calls: Calls = serde_json::from_value(calls).expect("calls");
        let maps: ValueMaps = serde_json::from_value(maps).expect("value maps");
        let response = ResponseRules::default();
        compile(BuyerCalls { calls: Some(&calls), value_maps: &maps, response: &response }, &|n| SECRETS.contains(&n))
    }

    /// Compiles `calls` and expects it refused with an error at `field` whose message holds
    /// `fragment`.
    fn refused(calls: serde_json::Value, field: &str, fragment: &str) {
        let errors = compiled(calls.clone(), json!({"gender": {"male": "1"}})).expect_err(field);
        assert!(
            errors.iter().any(|e| e.field == field && e.message.contains(fragment)),
            "{calls}\nwanted {field}: …{fragment}…, got {errors:?}"
        );
    }

    fn post(extra: serde_json::Value) -> serde_json::Value {
        let mut call = json!({"url": "https://b.example/post", "fields": {"id": "{{ sale.id }}"}});
        call.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
        json!({"post": call})
    }

    #[test]
    fn templates_that_cannot_run_are_refused_at_their_field() {
        let field = |name: &str, template: &str| post(json!({"fields": {name: template}}));
        refused(
            field("contact.dob", "{{ lead.birth_date | date('%m/%d/%Y') "),
            "calls.post.fields.contact.dob",
            "syntax error",
        );
        refused(field("x", "{% for %}"), "calls.post.fields.x", "syntax error");
        refused(field("x", "{{ lead.x | nope }}"), "calls.post.fields.x", "unknown filter \"nope\"");
        refused(
            field("x", "a {{ lead.x | upper | frobnicate('y') }}"),
            "calls.post.fields.x",
            "unknown filter \"frobnicate\"",
        );
        refused(field("x", "{% if lead.x is shiny %}y{% endif %}"), "calls.post.fields.x", "unknown test \"shiny\"");
        refused(field("x", "{{ fetch('http://x') }}"), "calls.post.fields.x", "unknown function \"fetch\"");
        refused(field("x", "{% include 'calls.post.fields.id' %}"), "calls.post.fields.x", "syntax error");
    }

    #[test]
    fn secrets_and_value_maps_are_named_by_literals_that_exist() {
        let field = |template: &str| post(json!({"fields": {"k": template}}));
        refused(field("{{ secret('nope') }}"), "calls.post.fields.k", "secret('nope') is not set");
        refused(field("{{ secret(lead.which) }}"), "calls.post.fields.k", "in quotes");
        refused(field("{{ secret(lead.a if lead.b else 'carrier_key') }}"), "calls.post.fields.k", "in quotes");
        refused(field("{{ secret('carrier_key', 'x') }}"), "calls.post.fields.k", "in quotes");
        refused(field("{{ lead.gender | map('sex') }}"), "calls.post.fields.k", "no value map named \"sex\"");
        refused(field("{{ lead.gender | map(lead.kind) }}"), "calls.post.fields.k", "in quotes");
        refused(field("{{ [1] | map(attribute='x') }}"), "calls.post.fields.k", "in quotes");
        refused(post(json!({"headers": {"X-Key": "{{ secret('gone') }}"}})), "calls.post.headers.X-Key", "is not set");
        refused(post(json!({"auth": {"bearer": "{{ secret('gone') }}"}})), "calls.post.auth.bearer", "is not set");
        assert!(compiled(field("{{ secret('carrier_key') }}{{ lead.gender | map('gender') }}"), json!({"gender": {}}))
            .is_ok());
    }

    #[test]
    fn urls_are_templated_only_after_their_host() {
        let url = |key: &str, u: &str| post(json!({key: u}));
        refused(url("url", "https://{{ lead.host }}/x"), "calls.post.url", "cannot be templated");
        refused(url("url", "https://api.example:{{ lead.port }}/x"), "calls.post.url", "cannot be templated");
        refused(url("sandbox_url", "{{ lead.scheme }}://api.example/x"), "calls.post.sandbox_url", "absolute");
        refused(url("url", "https://api.example/{{ lead.x | nope }}"), "calls.post.url", "unknown filter");
        refused(url("url", "https://user:pw@api.example/"), "calls.post.url", "credentials");
        assert!(
            compiled(url("url", "https://api.example/{{ ping.id }}?k={{ secret('carrier_key') }}"), json!({})).is_ok()
        );
    }

    #[test]
    fn answers_that_cannot_be_read_are_refused_at_their_rule() {
        let answer = |kind: &str, a: serde_json::Value| json!({kind: {"url": "https://b.example/", "answer": a}});
        refused(
            answer("dq", json!({"format": "text", "disqualified": {"matches": "(^DUP"}})),
            "calls.dq.answer.disqualified.matches",
            "regex",
        );
        refused(
            answer("post", json!({"accepted": {"path": "status", "equals": "ok"}})),
            "calls.post.answer.accepted.path",
            "JSON pointer",
        );
        refused(
            answer("post", json!({"accepted": {"pointer": "/a~2", "equals": "ok"}})),
            "calls.post.answer.accepted.pointer",
            "~0 or ~1",
        );
        refused(
            answer(
                "post",
                json!({"format": "xml", "accepted": {"path": "/r", "equals": "ok"}, "lead_id": "response/id"}),
            ),
            "calls.post.answer.lead_id",
            "XML path",
        );
        refused(
            answer("bid", json!({"format": "text", "price": "price=[0-9.]+"})),
            "calls.bid.answer.price",
            "capture group",
        );
        refused(
            answer("bid", json!({"price": "/bid", "accepted": {"status": [200]}})),
            "calls.bid.answer.accepted",
            "has no accepted",
        );
        refused(answer("bid", json!({"token": "/t"})), "calls.bid.answer.price", "where its price is");
        refused(answer("dq", json!({})), "calls.dq.answer.disqualified", "when the lead is disqualified");
        refused(answer("post", json!({"format": "xml"})), "calls.post.answer.accepted", "says when a post is accepted");
        refused(answer("post", json!({"price_missing": "reject"})), "calls.post.answer.price_missing", "needs a price");
        refused(
            answer("post", json!({"price_missing": "maybe", "price": "/p"})),
            "calls.post.answer.price_missing",
            "contract_price or reject",
        );
        refused(
            answer("post", json!({"accepted": {"status": [200, 700]}})),
            "calls.post.answer.accepted.status",
            "100..=599",
        );
        refused(
            answer("post", json!({"accepted": {"http_status": []}})),
            "calls.post.answer.accepted.http_status",
            "100..=599",
        );
        refused(answer("post", json!({"accepted": {"path": "/a"}})), "calls.post.answer.accepted", "give one of");
        refused(answer("post", json!({"accepted": {"contains": ""}})), "calls.post.answer.accepted.contains", "empty");
        refused(answer("post", json!({"format": "yaml"})), "calls.post.answer.format", "json, xml, text");
    }

    #[test]
    fn call_shapes_that_contradict_themselves_are_refused() {
        refused(post(json!({"method": "PATCH"})), "calls.post.method", "POST, PUT, GET");
        refused(post(json!({"encoding": "csv"})), "calls.post.encoding", "json, form, xml, template");
        refused(post(json!({"encoding": "xml"})), "calls.post.xml_root", "names its root");
        refused(post(json!({"encoding": "xml", "xml_root": "1lead"})), "calls.post.xml_root", "element name");
        refused(
            post(json!({"encoding": "xml", "xml_root": "lead", "fields": {"a b": "x"}})),
            "calls.post.fields.a b",
            "XML element name",
        );
        refused(post(json!({"xml_root": "lead"})), "calls.post.xml_root", "only an xml body");
        refused(
            post(json!({"fields": {"contact": "x", "contact.zip": "y"}})),
            "calls.post.fields.contact.zip",
            "clashes",
        );
        refused(post(json!({"fields": {"a..b": "x"}})), "calls.post.fields.a..b", "empty part");
        refused(
            post(json!({"headers": {"Content-Type": "text/plain"}})),
            "calls.post.headers.Content-Type",
            "content_type",
        );
        refused(post(json!({"headers": {"Bad Header": "x"}})), "calls.post.headers.Bad Header", "header name");
        refused(
            post(json!({"headers": {"Authorization": "x"}, "auth": {"bearer": "t"}})),
            "calls.post.headers.Authorization",
            "auth writes",
        );
        refused(post(json!({"auth": {}})), "calls.post.auth", "exactly one");
        refused(post(json!({"timeout_ms": 0})), "calls.post.timeout_ms", "1..=60000");
        refused(post(json!({"encoding": "form", "form_field": "xml"})), "calls.post.form_field", "json or xml");
        refused(post(json!({"encoding": "form", "content_type": "text/plain"})), "calls.post.content_type", "form");
        refused(post(json!({"method": "GET", "content_type": "application/json"})), "calls.post.content_type", "GET");
        refused(post(json!({"content_type": "text/xml"})), "calls.post.content_type", "names JSON");
        let template = |extra: serde_json::Value| {
            let mut call = json!({"url": "https://b.example/", "encoding": "template"});
            call.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
            json!({"post": call})
        };
        refused(template(json!({"content_type": "application/json"})), "calls.post.body", "needs a body");
        refused(template(json!({"body": "{}"})), "calls.post.content_type", "says its content type");
        refused(template(json!({"body": "a,b", "content_type": "text/csv"})), "calls.post.content_type", "JSON or XML");
        refused(
            template(json!({"body": "{\"n\": \"{{ lead.name }}\"}", "content_type": "application/json"})),
            "calls.post.body",
            "brings its own quotes",
        );
        refused(
            template(json!({"body": "{}", "content_type": "application/json", "fields": {"a": "b"}})),
            "calls.post.fields",
            "whole body",
        );
    }

    #[test]
    fn every_error_of_a_buyer_is_reported_at_once() {
        let calls = json!({
            "bid": {"url": "https://{{ x }}/", "answer": {"price": "nope"}},
            "dq": {"url": "https://b.example/", "fields": {"h": "{{ secret('missing') }}"}},
            "post": {"method": "FETCH", "fields": {"a": "{{ lead.a | zzz }}"}},
        });
        let errors = compiled(calls, json!({})).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in
            ["calls.bid.url", "calls.bid.answer.price", "calls.dq.fields.h", "calls.post.method", "calls.post.fields.a"]
        {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
    }

    #[test]
    fn a_failed_render_quotes_neither_the_lead_nor_a_secret() {
        let calls = json!({"post": {"url": "https://b.example/", "fields": {
            "x": "{{ lead.email - 1 }}", "y": "{{ secret('carrier_key') - 1 }}"}}});
        let buyer = compiled(calls, json!({})).expect("compiles");
        let ctx = Context::new(ContextParts {
            lead: json!({"email": "ana@example.com"}),
            email_sha256: None,
            phone_sha256: None,
            ping: PingInfo::default(),
            bid: None,
            sale: None,
            now: chrono::DateTime::UNIX_EPOCH,
        });
        let secrets: std::collections::BTreeMap<String, String> =
            [("carrier_key".to_string(), "sk_live_do_not_show".to_string())].into();
        let err = buyer.post().request(&ctx, &secrets, Mode::live(None)).expect_err("fails");
        assert_eq!((err.field.as_str(), err.kind), ("calls.post.fields.x", RenderErrorKind::Template));
        assert!(!format!("{err} {err:?}").contains("ana@example.com"), "{err:?}");
        let calls = json!({"post": {"url": "https://b.example/", "fields": {"y": "{{ secret('carrier_key') - 1 }}"}}});
        let err = compiled(calls, json!({}))
            .expect("compiles")
            .post()
            .request(&ctx, &secrets, Mode::live(None))
            .expect_err("fails");
        assert!(!format!("{err} {err:?}").contains("sk_live"), "{err:?}");
        // A preview (secrets masked, a sample lead) says everything the template engine says.
        let calls =
            json!({"post": {"url": "https://b.example/", "fields": {"y": "{{ secret('carrier_key') - lead.email }}"}}});
        let previewed =
            compiled(calls, json!({})).expect("compiles").post().request(&ctx, &secrets, Mode::preview(None));
        let err = previewed.expect_err("fails");
        assert!(err.message.contains("tried to use - operator") && !err.message.contains("sk_live"), "{err:?}");
        let missing =
            buyer.post().request(&ctx, &std::collections::BTreeMap::new(), Mode::preview(None)).expect_err("fails");
        assert_eq!(missing.kind, RenderErrorKind::MissingSecret);
    }

    #[test]
    fn calls_left_out_speak_pingpost_and_need_a_url() {
        let response = ResponseRules::default();
        let none = compile(BuyerCalls { calls: None, value_maps: &ValueMaps::new(), response: &response }, &|_| false);
        let buyer = none.expect("compiles");
        assert_eq!(buyer, CompiledBuyer::pingpost(&response));
        let ctx = Context::new(ContextParts {
            lead: json!({}),
            email_sha256: None,
            phone_sha256: None,
            ping: PingInfo::default(),
            bid: None,
            sale: None,
            now: chrono::DateTime::UNIX_EPOCH,
        });
        let no_secrets = std::collections::BTreeMap::new();
        for kind in CallKind::ALL {
            let call = buyer.call(kind);
            assert!(call.is_pingpost() && !call.has_url() && !call.has_sandbox_url(), "{kind:?}");
            let err = call.request(&ctx, &no_secrets, Mode::live(None)).expect_err("no URL");
            assert_eq!(err.kind, RenderErrorKind::NoUrl, "{kind:?}");
            let err = call.request(&ctx, &no_secrets, Mode { sandbox: true, ..Mode::live(Some("http://h/")) });
            assert_eq!(err.map_err(|e| e.kind), Err(RenderErrorKind::NoSandboxUrl), "{kind:?}");
        }
        let post = buyer.post().request(&ctx, &no_secrets, Mode::live(Some("http://h/")));
        assert_eq!(post.map_err(|e| e.kind), Err(RenderErrorKind::MissingContext), "a post needs its sale");
    }

    #[test]
    fn what_the_engine_shares_crosses_threads() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<CompiledBuyer>();
        shared::<Context>();
        shared::<OutboundRequest>();
        shared::<RenderError>();
        shared::<Reading>();
        shared::<AdapterError>();
    }
}
