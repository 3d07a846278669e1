//! The one executor of outbound HTTP to buyers: pooled connections, TCP_NODELAY, and every
//! call bounded by a deadline fixed by the caller (the auction's, or the post's).
//!
//! What a buyer's server can make the engine do is bounded too, since a buyer's URL is
//! whatever an operator typed and its server is not ours:
//! - **no redirects**: a 3xx is the buyer's answer (a post reads it as a refusal), never a
//!   reason to send the lead, plaintext and all, to another address (internal ones included);
//! - **at most [`MAX_ANSWER_BYTES`] of an answer** are read: a longer one is an error, so an
//!   endless body cannot grow memory until the call's deadline;
//! - **at most [`MAX_CALLS_IN_FLIGHT_PER_BUYER`] calls in flight per buyer**: a buyer that
//!   stops answering holds that many connections and tasks, no more; a call that finds no
//!   room before its deadline is not made.
//!
//! It knows no buyer's protocol: the pure adapter (`pingpost_core::adapter`) builds each
//! request and reads each answer, as prebid-server splits its bidder adapters from its one
//! executor, and `buyer::calls::make` puts the two together for one call. Each call runs
//! within `min(now + timeout, deadline)` by `timeout_at` (the auction's deadline on a ping);
//! with under `MIN_CALL` (2 ms) left it is not made. Metrics are by transport outcome only.
//! pingpost's own bid and DQ bodies are the same for every buyer asked, so the ping writes
//! them once and sends them through [`BuyerClient::post_bytes`], the same measured path.

pub use pingpost_core::adapter::CallKind;
use pingpost_core::adapter::{Method, OutboundRequest};
use pingpost_core::ids::BuyerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Histogram of outbound buyer calls, labelled `buyer`, `call` and `outcome`.
pub const BUYER_CALL_SECONDS: &str = "pingpost_buyer_call_seconds";
/// Calls not made, labelled `buyer`, `call` and `reason`: `no_time` (the deadline left too
/// little time) or `busy` (the buyer had its most calls in flight until the deadline).
pub const BUYER_CALLS_SKIPPED_TOTAL: &str = "pingpost_buyer_calls_skipped_total";

/// The most of a buyer's answer read. Bids, DQ answers and post acknowledgements are a few
/// hundred bytes; a buyer that sends more is broken or hostile.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most calls to one buyer in flight at once, all kinds together. Well above what a
/// healthy buyer is asked at the engine's full rate (bids last a ping's budget, posts a
/// buyer's timeout), far below what would exhaust the engine's connections or memory.
pub const MAX_CALLS_IN_FLIGHT_PER_BUYER: usize = 512;

/// Where a call goes: the buyer (for metrics; never its URL, which may carry a secret) and
/// the URL.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub kind: CallKind,
    pub buyer: &'a BuyerId,
    pub url: &'a str,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("no time left in the budget to call the buyer")]
    NoTime,
    #[error("buyer did not answer in time")]
    Timeout,
    #[error("buyer unreachable: {0}")]
    Connection(String),
    #[error("the buyer had its most calls in flight until the deadline")]
    Busy,
    #[error("the buyer's answer was longer than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    /// The request could not be built (a template that failed, ran out of fuel, or named a
    /// secret not set): `code` says which, never a value.
    #[error("the request could not be built: {0}")]
    Render(&'static str),
}

impl CallError {
    /// A short code safe to show a partner: the error's text may name the buyer's URL.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::NoTime => "no_time",
            CallError::Timeout => "timeout",
            CallError::Connection(_) => "unreachable",
            CallError::Busy => "busy",
            CallError::TooLarge => "answer_too_large",
            CallError::Render(code) => code,
        }
    }
}

/// Below this much remaining time a call is not made at all: it could not be answered.
const MIN_CALL: Duration = Duration::from_millis(2);

#[derive(Clone, Debug)]
pub struct BuyerClient {
    http: reqwest::Client,
    /// Each buyer's room for calls in flight, made on its first call.
    room: Arc<Mutex<HashMap<BuyerId, Arc<Semaphore>>>>,
    calls_per_buyer: usize,
}

impl BuyerClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_calls_per_buyer(MAX_CALLS_IN_FLIGHT_PER_BUYER)
    }

    /// A client allowing `calls` in flight per buyer (tests use a small number).
    pub fn with_calls_per_buyer(calls: usize) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(BuyerClient { http, room: Arc::default(), calls_per_buyer: calls.max(1) })
    }

    fn room_of(&self, buyer: &BuyerId) -> Arc<Semaphore> {
        let mut room = self.room.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(room.entry(buyer.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.calls_per_buyer))))
    }

    /// Sends `req` (an adapter's whole request: method, URL, headers, body) and answers
    /// (status, body), within `min(now + timeout, deadline)`. Measures the call by transport
    /// outcome (`ok` for 2xx, `http_error`, `timeout`, `unreachable`, `answer_too_large`);
    /// what the buyer's body said is the adapter's business.
    pub async fn send(
        &self,
        kind: CallKind,
        buyer: &BuyerId,
        req: &OutboundRequest,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let method = match req.method {
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Get => reqwest::Method::GET,
        };
        let request = || {
            let mut r = self.http.request(method.clone(), &req.url);
            for (name, value) in &req.headers {
                r = r.header(name.as_str(), value.as_str());
            }
            if let Some(content_type) = &req.content_type {
                r = r.header("content-type", content_type.as_str()).body(req.body.clone());
            }
            r
        };
        self.measured(Target { kind, buyer, url: &req.url }, timeout, deadline, request).await
    }

    /// POSTs `body` as JSON (pingpost's own protocol, written once per ping for every buyer
    /// asked) and answers (status, body), as [`BuyerClient::send`] does.
    pub async fn post_bytes(
        &self,
        to: Target<'_>,
        body: Vec<u8>,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let request = || self.http.post(to.url).header("content-type", "application/json").body(body.clone());
        self.measured(to, timeout, deadline, request).await
    }

    /// Makes the call `request` builds, within `min(now + timeout, deadline)` and the buyer's
    /// room for calls in flight, and measures it.
    async fn measured(
        &self,
        to: Target<'_>,
        timeout: Duration,
        deadline: Instant,
        request: impl FnOnce() -> reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let started = Instant::now();
        let call_deadline = deadline.min(started + timeout);
        let skipped = |reason: &'static str| {
            metrics::counter!(BUYER_CALLS_SKIPPED_TOTAL, "buyer" => to.buyer.to_string(), "call" => to.kind.as_str(), "reason" => reason)
                .increment(1);
        };
        if call_deadline.saturating_duration_since(started) < MIN_CALL {
            skipped("no_time");
            return Err(CallError::NoTime);
        }
        let Ok(Ok(_in_flight)) = tokio::time::timeout_at(call_deadline, self.room_of(to.buyer).acquire_owned()).await
        else {
            skipped("busy");
            return Err(CallError::Busy);
        };
        let call = async {
            // `without_url`: a buyer's URL may carry its credentials, and this text is logged.
            let resp = request().send().await.map_err(|e| CallError::Connection(e.without_url().to_string()))?;
            let status = resp.status().as_u16();
            Ok((status, bounded_answer(resp).await?))
        };
        let result = tokio::time::timeout_at(call_deadline, call).await.map_err(|_| CallError::Timeout).and_then(|r| r);
        let outcome = match &result {
            Ok((status, _)) if (200..300).contains(status) => "ok",
            Ok(_) => "http_error",
            Err(e) => e.code(),
        };
        metrics::histogram!(
            BUYER_CALL_SECONDS,
            "buyer" => to.buyer.to_string(),
            "call" => to.kind.as_str(),
            "outcome" => outcome
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}

/// The answer's body, read chunk by chunk and refused past [`MAX_ANSWER_BYTES`].
async fn bounded_answer(mut resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    let declared = resp.content_length().unwrap_or(0);
    if declared > MAX_ANSWER_BYTES as u64 {
        return Err(CallError::TooLarge);
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(|e| CallError::Connection(e.without_url().to_string()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
