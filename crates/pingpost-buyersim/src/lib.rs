//! Simulated buyers on one HTTP server: `POST /{buyer}/post`, `/{buyer}/bid`, `/{buyer}/dq`.
//! Each buyer's behaviour can be changed while the server runs, and every request received
//! is counted and kept, so tests can assert what a buyer was (or was not) asked.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dashmap::DashMap;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How a simulated buyer answers posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostReply {
    /// `{"status": "accepted"}`.
    Accept,
    Reject,
    Duplicate,
    /// Any status with a fixed body.
    Raw(u16, String),
    /// `307 Temporary Redirect` to this URL (a buyer that would send the lead elsewhere).
    Redirect(String),
}

#[derive(Clone, Debug)]
pub struct Behaviour {
    pub post: PostReply,
    /// What `/bid` answers: `Some("12.50")` → `{"bid": "12.50"}`, `None` → `{"bid": null}`.
    pub bid: Option<String>,
    pub disqualify: bool,
    /// Delay before every answer (a slow buyer).
    pub delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { post: PostReply::Accept, bid: Some("10.00".into()), disqualify: false, delay: Duration::ZERO }
    }
}

/// One request a buyer received.
#[derive(Clone, Debug)]
pub struct Received {
    pub buyer: String,
    /// `post`, `bid` or `dq`.
    pub kind: String,
    pub body: Value,
}

pub struct Buyers {
    behaviours: DashMap<String, Behaviour>,
    received: std::sync::Mutex<Vec<Received>>,
    /// Bumped on every request received, so tests can await one instead of sleeping.
    arrivals: watch::Sender<usize>,
    /// While false, every request is held after being counted, before it is answered.
    open: watch::Sender<bool>,
}

impl Default for Buyers {
    fn default() -> Self {
        Buyers {
            behaviours: DashMap::new(),
            received: std::sync::Mutex::default(),
            arrivals: watch::Sender::new(0),
            open: watch::Sender::new(true),
        }
    }
}

impl Buyers {
    pub fn new() -> Arc<Self> {
        Arc::new(Buyers::default())
    }

    pub fn set(&self, buyer: &str, behaviour: Behaviour) {
        self.behaviours.insert(buyer.to_string(), behaviour);
    }

    /// Changes part of a buyer's behaviour.
    pub fn update(&self, buyer: &str, change: impl FnOnce(&mut Behaviour)) {
        let mut b = self.behaviour(buyer);
        change(&mut b);
        self.set(buyer, b);
    }

    pub fn behaviour(&self, buyer: &str) -> Behaviour {
        self.behaviours.get(buyer).map(|b| b.clone()).unwrap_or_default()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many requests of `kind` this buyer received.
    pub fn count(&self, buyer: &str, kind: &str) -> usize {
        self.received().iter().filter(|r| r.buyer == buyer && r.kind == kind).count()
    }

    /// Resolves once this buyer has received `n` requests of `kind` (held ones included).
    pub async fn received_at_least(&self, buyer: &str, kind: &str, n: usize) {
        let mut arrivals = self.arrivals.subscribe();
        // The sender lives as long as `self`, so the channel cannot close under us.
        let _ = arrivals.wait_for(|_| self.count(buyer, kind) >= n).await;
    }

    /// Holds every request from now on, after counting it, until [`Buyers::release`]: a
    /// buyer that is "still thinking" for exactly as long as a test needs.
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Answers the held requests and stops holding.
    pub fn release(&self) {
        self.open.send_replace(true);
    }
}

async fn handle(
    State(buyers): State<Arc<Buyers>>,
    Path((buyer, kind)): Path<(String, String)>,
    body: Json<Value>,
) -> Response {
    let b = buyers.behaviour(&buyer);
    buyers.received.lock().unwrap_or_else(|p| p.into_inner()).push(Received {
        buyer: buyer.clone(),
        kind: kind.clone(),
        body: body.0,
    });
    buyers.arrivals.send_modify(|n| *n += 1);
    let mut open = buyers.open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    match kind.as_str() {
        "bid" => Json(json!({"bid": b.bid})).into_response(),
        "dq" => Json(json!({"disqualified": b.disqualify})).into_response(),
        "post" => match b.post {
            PostReply::Accept => Json(json!({"status": "accepted"})).into_response(),
            PostReply::Reject => Json(json!({"status": "rejected"})).into_response(),
            PostReply::Duplicate => Json(json!({"status": "duplicate"})).into_response(),
            PostReply::Raw(status, body) => {
                (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body).into_response()
            }
            PostReply::Redirect(to) => (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, to)],
                Json(json!({"status": "accepted"})),
            )
                .into_response(),
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

pub fn router(buyers: Arc<Buyers>) -> Router {
    Router::new().route("/{buyer}/{kind}", post(handle)).with_state(buyers)
}

/// Serves the simulated buyers on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    buyers: Arc<Buyers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(buyers)).with_graceful_shutdown(shutdown).await
}
