//! The one executor of outbound HTTP to buyers: pooled connections, TCP_NODELAY, and every
//! call bounded by a deadline fixed by the caller (the auction's, or the post's).

use pingpost_core::ids::BuyerId;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// Histogram of outbound buyer calls, labelled `buyer`, `call` and `outcome`.
pub const BUYER_CALL_SECONDS: &str = "pingpost_buyer_call_seconds";
/// Calls not made because the deadline left too little time, labelled `buyer` and `call`.
pub const BUYER_CALLS_SKIPPED_TOTAL: &str = "pingpost_buyer_calls_skipped_total";

/// Which of the three buyer endpoints a call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Bid,
    Dq,
    Post,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Bid => "bid",
            CallKind::Dq => "dq",
            CallKind::Post => "post",
        }
    }
}

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
}

impl CallError {
    /// A short code safe to show a partner: the error's text may name the buyer's URL.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::NoTime => "no_time",
            CallError::Timeout => "timeout",
            CallError::Connection(_) => "unreachable",
        }
    }
}

/// Below this much remaining time a call is not made at all: it could not be answered.
const MIN_CALL: Duration = Duration::from_millis(2);

#[derive(Clone, Debug)]
pub struct BuyerClient {
    http: reqwest::Client,
}

impl BuyerClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(BuyerClient { http })
    }

    /// POSTs `body` as JSON and answers (status, body), within `min(now + timeout, deadline)`.
    /// Measures the call by transport outcome (`ok` for 2xx, `http_error`, `timeout`,
    /// `unreachable`); what the buyer's body said is the caller's business and metric.
    pub async fn post_json(
        &self,
        to: Target<'_>,
        body: &Value,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let bytes = serde_json::to_vec(body).map_err(|e| CallError::Connection(e.to_string()))?;
        self.post_bytes(to, bytes, timeout, deadline).await
    }

    /// [`BuyerClient::post_json`] for a body serialized already: a ping's bid request (or DQ
    /// question) is the same for every buyer asked, so it is written once per ping.
    pub async fn post_bytes(
        &self,
        to: Target<'_>,
        body: Vec<u8>,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let started = Instant::now();
        let call_deadline = deadline.min(started + timeout);
        if call_deadline.saturating_duration_since(started) < MIN_CALL {
            metrics::counter!(BUYER_CALLS_SKIPPED_TOTAL, "buyer" => to.buyer.to_string(), "call" => to.kind.as_str())
                .increment(1);
            return Err(CallError::NoTime);
        }
        let result = self.call(to.url, body, call_deadline).await;
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

    async fn call(&self, url: &str, bytes: Vec<u8>, call_deadline: Instant) -> Result<(u16, Vec<u8>), CallError> {
        let call = async {
            // `without_url`: a buyer's URL may carry its credentials, and this text is logged.
            let resp = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .map_err(|e| CallError::Connection(e.without_url().to_string()))?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| CallError::Connection(e.without_url().to_string()))?;
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout_at(call_deadline, call).await.map_err(|_| CallError::Timeout)?
    }
}
