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

pub mod check;
pub mod crestline;
pub mod pinecrest;
pub mod ridgeline;
mod xml;

use crate::{Behaviour, Buyers, PostReply, Received};
use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::http::header::{HeaderName, ALLOW, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use check::Refusal;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const CRESTLINE: &str = "crestline";
pub const RIDGELINE: &str = "ridgeline";
pub const PINECREST: &str = "pinecrest";

pub const CRESTLINE_PING_PATH: &str = "/crestline/v2/ping";
pub const CRESTLINE_POST_PATH: &str = "/crestline/v2/post";
pub const RIDGELINE_POST_PATH: &str = "/ridgeline/api/leads";
pub const PINECREST_POST_PATH: &str = "/pinecrest/api/post";
/// Put before a path, the buyer's sandbox (staging) endpoint.
pub const SANDBOX_PREFIX: &str = "/sandbox";

/// The names of the secrets the strict buyers check, as the engine's configuration names
/// them (`secret('crestline_api_token')`, or the variable `PINGPOST_SECRET_CRESTLINE_API_TOKEN`).
pub const SECRET_NAMES: [&str; 3] = ["crestline_api_token", "ridgeline_password", "pinecrest_api_key"];

/// What the strict buyers expect in place of a key or a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `ApiToken` in `crestline`'s bodies; the secret `crestline_api_token`.
    pub crestline_api_token: String,
    /// `ridgeline`'s Basic auth user name: it names the marketplace, it is no secret.
    pub ridgeline_username: String,
    /// `ridgeline`'s Basic auth password; the secret `ridgeline_password`.
    pub ridgeline_password: String,
    /// `source.api_key` in `pinecrest`'s XML; the secret `pinecrest_api_key`.
    pub pinecrest_api_key: String,
}

impl Credentials {
    /// The demo values, used where nothing else is configured. They are made to look like
    /// what they are, so that no one mistakes them for a real buyer's key.
    pub fn demo() -> Self {
        Credentials {
            crestline_api_token: "demo-crestline-api-token".into(),
            ridgeline_username: "pingpost".into(),
            ridgeline_password: "demo-ridgeline-password".into(),
            pinecrest_api_key: "demo-pinecrest-api-key".into(),
        }
    }

    /// Each secret from `PINGPOST_SECRET_<NAME>` — the variable the engine reads the same
    /// secret from, so one `export` serves both — else its demo value.
    pub fn from_env() -> Self {
        Credentials::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`Credentials::from_env`], with `lookup` in place of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut credentials = Credentials::demo();
        for name in SECRET_NAMES {
            if let Some(value) = lookup(&Credentials::env_var(name)).filter(|v| !v.is_empty()) {
                *credentials.secret_mut(name) = value;
            }
        }
        credentials
    }

    /// The environment variable a secret is read from: `PINGPOST_SECRET_<NAME>`.
    pub fn env_var(secret: &str) -> String {
        format!("PINGPOST_SECRET_{}", secret.to_ascii_uppercase())
    }

    /// A secret's expected value by its name; `None` for a name not in [`SECRET_NAMES`].
    pub fn secret(&self, name: &str) -> Option<&str> {
        match name {
            "crestline_api_token" => Some(&self.crestline_api_token),
            "ridgeline_password" => Some(&self.ridgeline_password),
            "pinecrest_api_key" => Some(&self.pinecrest_api_key),
            _ => None,
        }
    }

    fn secret_mut(&mut self, name: &str) -> &mut String {
        match name {
            "crestline_api_token" => &mut self.crestline_api_token,
            "ridgeline_password" => &mut self.ridgeline_password,
            _ => &mut self.pinecrest_api_key,
        }
    }
}

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

/// The strict buyers' own records, kept as a buyer's database would.
#[derive(Default)]
pub(crate) struct State {
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    /// The last number issued per id prefix: ids are `PREFIX-000001`, in order, so a test
    /// knows them in advance.
    issued: HashMap<&'static str, u64>,
    auctions: HashMap<String, Auction>,
    /// Auction ids oldest first, so a long-running demo forgets the oldest.
    opened: VecDeque<String>,
}

struct Auction {
    price: String,
    sandbox: bool,
    posted: bool,
}

/// Auctions a buyer remembers; a post for an older one is refused as unknown, as a real
/// buyer's expired auction would be.
const AUCTIONS_KEPT: usize = 100_000;

impl State {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next id of a series (`CL` → `CL-000001`), `T` in front for the sandbox.
    pub(crate) fn issue(&self, prefix: &'static str, sandbox: bool) -> String {
        let mut records = self.records();
        issue(&mut records, prefix, sandbox)
    }

    /// Opens an auction at `price` and answers its id. A sandbox auction is never known to
    /// the live endpoint, nor the reverse.
    pub(crate) fn open_auction(&self, prefix: &'static str, sandbox: bool, price: &str) -> String {
        let mut records = self.records();
        let id = issue(&mut records, prefix, sandbox);
        records.auctions.insert(id.clone(), Auction { price: price.to_string(), sandbox, posted: false });
        records.opened.push_back(id.clone());
        if records.opened.len() > AUCTIONS_KEPT {
            if let Some(oldest) = records.opened.pop_front() {
                records.auctions.remove(&oldest);
            }
        }
        id
    }

    /// Marks an auction posted and answers the price bid in it: once only, and only an
    /// auction opened on the same (live or sandbox) endpoint.
    pub(crate) fn post_auction(&self, field: &str, id: &str, sandbox: bool) -> Result<String, Refusal> {
        let mut records = self.records();
        match records.auctions.get_mut(id).filter(|a| a.sandbox == sandbox) {
            None => Err(Refusal::invalid(field, "is not an auction this buyer opened")),
            Some(auction) if auction.posted => Err(Refusal::conflict(field, "was already posted")),
            Some(auction) => {
                auction.posted = true;
                Ok(auction.price.clone())
            }
        }
    }
}

fn issue(records: &mut Records, prefix: &'static str, sandbox: bool) -> String {
    let n = records.issued.entry(prefix).or_insert(0);
    *n += 1;
    format!("{}{prefix}-{n:06}", if sandbox { "T" } else { "" })
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
    pub state: &'a State,
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
                    move |Shared(buyers): Shared<Arc<Buyers>>,
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
                state: &buyers.strict,
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

/// A price as a JSON number, written from its decimal text: money never passes through a
/// float, even in a simulator. Anything but a plain decimal is written as a JSON string.
pub(crate) fn json_number(price: &str) -> String {
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let decimal = match price.split_once('.') {
        Some((units, cents)) => plain(units) && plain(cents),
        None => plain(price),
    };
    if decimal {
        price.to_string()
    } else {
        Value::String(price.to_string()).to_string()
    }
}
