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
