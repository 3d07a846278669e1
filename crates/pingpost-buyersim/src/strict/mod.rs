//! Strict simulated buyers. Each is modelled on a kind of published buyer posting spec,
//! speaks only its own protocol, and refuses what that spec would refuse:
//!
//! | buyer | calls | request | credentials | answers |
//! |---|---|---|---|---|
//! | `crestline` | ping `POST /crestline/v2/ping`, post `POST /crestline/v2/post` | JSON, nested `Lead` | `ApiToken` (and `tagId`) in the body | JSON; the ping's `leadAuctionId` must come back on the post |
//! | `ridgeline` | post `POST /ridgeline/api/leads` | form, dotted names (`Lead.Phone`) | HTTP Basic | text: `SUCCESS\|lead_id=…`, `DUPLICATE`, `REJECTED\|…`, `ERROR\|…` |
//! | `pinecrest` | post `POST /pinecrest/api/post` | XML in the form field `xml` | `source.api_key` (and `source.vendor_id`) in the XML | XML: `<response><result>success</result>…` |
//!
//! Every path also answers under [`SANDBOX_PREFIX`] (the buyer's staging host): the same
//! checks, ids starting with `T`, and auctions apart from the live ones.
//!
//! A request goes read → check → decide → encode. What a real buyer would refuse is refused
//! whatever the buyer's [`Behaviour`] says, in the buyer's own error format: 405 for a method
//! other than POST, 415 for another content type, 401 for missing or wrong credentials (and
//! nothing more said), 400 for a missing or malformed field (every one listed) or a ping
//! reference the buyer never issued, 409 for one already posted. The field lists
//! ([`crestline::PING_FIELDS`] and the like) are the specs, as data; the checks live once,
//! in [`check`].
//!
//! [`Behaviour`] decides a good request as for the other buyers: `post` accept / reject /
//! duplicate (a `Raw` or `Redirect` post reply is sent before anything is read, as a buyer
//! that is down or misconfigured would), `bid` the price `crestline` bids (`None`: no bid),
//! `price` and `redirect_url` what an accepting answer states, `delay` and
//! [`crate::Buyers::hold`] when it answers.
//!
//! `contracts/adapters.toml` is the configuration that sells to them (this crate's
//! `tests/examples.rs` keeps the two in step), and the workspace's `tests/strict_buyers.rs`
//! sells through all three on real HTTP, checking each request byte for byte.

pub mod check;
mod credentials;
pub mod crestline;
pub mod pinecrest;
mod registry;
pub mod ridgeline;
mod xml;

pub use credentials::{Credentials, SECRET_NAMES};
pub(crate) use registry::Registry;

use crate::{Behaviour, Buyers, PostReply, Received};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{HeaderName, ALLOW, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use check::Refusal;
use serde_json::Value;
use std::sync::Arc;

pub const CRESTLINE: &str = "crestline";
pub const RIDGELINE: &str = "ridgeline";
pub const PINECREST: &str = "pinecrest";

pub const CRESTLINE_PING_PATH: &str = "/crestline/v2/ping";
pub const CRESTLINE_POST_PATH: &str = "/crestline/v2/post";
pub const RIDGELINE_POST_PATH: &str = "/ridgeline/api/leads";
pub const PINECREST_POST_PATH: &str = "/pinecrest/api/post";
/// Put before a path, the buyer's sandbox (staging) endpoint.
pub const SANDBOX_PREFIX: &str = "/sandbox";

/// One request a strict buyer answered: what arrived, byte for byte, and the answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub buyer: String,
    /// `bid` (`crestline`'s ping) or `post`.
    pub call: String,
    /// Whether it came to the buyer's sandbox path.
    pub sandbox: bool,
    pub method: String,
    /// The path and query string as requested.
    pub target: String,
    /// The headers in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
    pub answer: String,
}

impl Exchange {
    /// The first value of a header, by its name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request as the server read it.
pub(crate) struct Arrival {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An answer in a buyer's own format.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(HeaderName, String)>,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, content_type: &'static str, body: String) -> Self {
        Answer { status, content_type, body, headers: Vec::new() }
    }

    /// The headers a refusal calls for (`Allow` on a 405), added to its answer.
    pub(crate) fn with_headers_for(mut self, refusal: &Refusal) -> Self {
        if refusal.status == StatusCode::METHOD_NOT_ALLOWED {
            self.headers.push((ALLOW, "POST".into()));
        }
        self
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, [(CONTENT_TYPE, self.content_type)], self.body).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// What a buyer does with a good post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Reject,
    Duplicate,
}

/// What a buyer module needs to answer one request.
pub(crate) struct Desk<'a> {
    pub credentials: &'a Credentials,
    pub behaviour: &'a Behaviour,
    pub registry: &'a Registry,
    pub sandbox: bool,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrictBuyer {
    Crestline,
    Ridgeline,
    Pinecrest,
}

impl StrictBuyer {
    fn name(self) -> &'static str {
        match self {
            StrictBuyer::Crestline => CRESTLINE,
            StrictBuyer::Ridgeline => RIDGELINE,
            StrictBuyer::Pinecrest => PINECREST,
        }
    }

    /// The body as [`Received::body`] shows it: JSON as it is, a form as an object.
    fn view(self, body: &[u8]) -> Value {
        match self {
            StrictBuyer::Crestline => serde_json::from_slice(body).unwrap_or(Value::Null),
            StrictBuyer::Ridgeline | StrictBuyer::Pinecrest => Value::Object(
                form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect(),
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Bid,
    Post,
}

impl Call {
    fn kind(self) -> &'static str {
        match self {
            Call::Bid => "bid",
            Call::Post => "post",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Endpoint {
    buyer: StrictBuyer,
    call: Call,
    sandbox: bool,
}

const ENDPOINTS: [(&str, StrictBuyer, Call); 4] = [
    (CRESTLINE_PING_PATH, StrictBuyer::Crestline, Call::Bid),
    (CRESTLINE_POST_PATH, StrictBuyer::Crestline, Call::Post),
    (RIDGELINE_POST_PATH, StrictBuyer::Ridgeline, Call::Post),
    (PINECREST_POST_PATH, StrictBuyer::Pinecrest, Call::Post),
];

/// Every strict endpoint, live and sandbox, for every method: a wrong method is the buyer's
/// to refuse in its own format.
pub(crate) fn routes() -> Router<Arc<Buyers>> {
    let mut router = Router::new();
    for (path, buyer, call) in ENDPOINTS {
        for sandbox in [false, true] {
            let at = if sandbox { format!("{SANDBOX_PREFIX}{path}") } else { path.to_string() };
            let endpoint = Endpoint { buyer, call, sandbox };
            router = router.route(
                &at,
                any(
                    move |State(buyers): State<Arc<Buyers>>,
                          method: Method,
                          uri: Uri,
                          headers: HeaderMap,
                          body: Bytes| async move {
                        serve(buyers, endpoint, Arrival { method, uri, headers, body }).await
                    },
                ),
            );
        }
    }
    router
}

async fn serve(buyers: Arc<Buyers>, endpoint: Endpoint, arrival: Arrival) -> Response {
    let name = endpoint.buyer.name();
    let behaviour = buyers.behaviour(name);
    buyers.arrive(Received {
        buyer: name.to_string(),
        kind: endpoint.call.kind().to_string(),
        body: endpoint.buyer.view(&arrival.body),
    });
    buyers.answer_when_due(behaviour.delay).await;
    let answer = match verdict(endpoint.call, &behaviour.post) {
        Err(fixed) => fixed,
        Ok(verdict) => {
            let desk = Desk {
                credentials: &buyers.credentials,
                behaviour: &behaviour,
                registry: &buyers.strict,
                sandbox: endpoint.sandbox,
                verdict,
            };
            match endpoint.buyer {
                StrictBuyer::Crestline => crestline::answer(&desk, endpoint.call, &arrival),
                StrictBuyer::Ridgeline => ridgeline::answer(&desk, &arrival),
                StrictBuyer::Pinecrest => pinecrest::answer(&desk, &arrival),
            }
        }
    };
    buyers.exchanges.lock().unwrap_or_else(|p| p.into_inner()).push(exchange(endpoint, &arrival, &answer));
    answer.into_response()
}

/// The verdict on a good post; or, for a `Raw` or `Redirect` reply, the answer sent before
/// anything is read.
fn verdict(call: Call, reply: &PostReply) -> Result<Verdict, Answer> {
    match (call, reply) {
        (Call::Bid, _) | (Call::Post, PostReply::Accept) => Ok(Verdict::Accept),
        (Call::Post, PostReply::Reject) => Ok(Verdict::Reject),
        (Call::Post, PostReply::Duplicate) => Ok(Verdict::Duplicate),
        (Call::Post, PostReply::Raw(status, body)) => Err(Answer::new(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "text/plain; charset=utf-8",
            body.clone(),
        )),
        (Call::Post, PostReply::Redirect(to)) => {
            let mut answer = Answer::new(StatusCode::TEMPORARY_REDIRECT, "text/plain; charset=utf-8", String::new());
            answer.headers.push((LOCATION, to.clone()));
            Err(answer)
        }
    }
}

fn exchange(endpoint: Endpoint, arrival: &Arrival, answer: &Answer) -> Exchange {
    Exchange {
        buyer: endpoint.buyer.name().to_string(),
        call: endpoint.call.kind().to_string(),
        sandbox: endpoint.sandbox,
        method: arrival.method.to_string(),
        target: arrival.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default(),
        headers: arrival
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: arrival.body.to_vec(),
        status: answer.status.as_u16(),
        answer: answer.body.clone(),
    }
}
