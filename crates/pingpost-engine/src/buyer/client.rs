//! The one executor of outbound HTTP to buyers: pooled connections, TCP_NODELAY, and every
//! call bounded by a deadline fixed by the caller (the auction's, or the post's).

use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

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
    pub async fn post_json(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let call_deadline = deadline.min(Instant::now() + timeout);
        if call_deadline.saturating_duration_since(Instant::now()) < MIN_CALL {
            return Err(CallError::NoTime);
        }
        let bytes = serde_json::to_vec(body).map_err(|e| CallError::Connection(e.to_string()))?;
        let call = async {
            let resp = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .map_err(|e| CallError::Connection(e.to_string()))?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(|e| CallError::Connection(e.to_string()))?;
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout_at(call_deadline, call).await.map_err(|_| CallError::Timeout)?
    }
}
