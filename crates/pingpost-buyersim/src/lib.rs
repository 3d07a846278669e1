//! Simulated buyers on one HTTP server: `POST /{buyer}/post`, `/{buyer}/bid`, `/{buyer}/dq`
//! speak pingpost's own protocol and take anything; the strict buyers of [`strict`]
//! (`crestline`, `ridgeline`, `pinecrest`) each speak their own, modelled on published buyer
//! posting specs, and refuse what their spec would refuse. Each buyer's behaviour can be
//! changed while the server runs, and every request received is counted and kept, so tests
//! can assert what a buyer was (or was not) asked.
//!
//! # Layout
//! - this file: [`Buyers`] (behaviours, what was received, hold/release) and the server;
//! - [`strict`]: the strict buyers, one module each, with the field checks they share.

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

pub mod strict;
pub use strict::{Credentials, Exchange};

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
    /// Strict buyers only: the price an accepting post answer states (a decimal such as
    /// `"12.00"`). `None`: `crestline` states the price it bid for that auction, the others
    /// state none (so the contract's price applies).
    pub price: Option<String>,
    /// Strict buyers only: a URL an accepting post answer carries for the consumer.
    pub redirect_url: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            post: PostReply::Accept,
            bid: Some("10.00".into()),
            disqualify: false,
            delay: Duration::ZERO,
            price: None,
            redirect_url: None,
        }
    }
}

/// One request a buyer received.
#[derive(Clone, Debug)]
pub struct Received {
    pub buyer: String,
    /// `post`, `bid` or `dq`.
    pub kind: String,
    /// The JSON body; for a strict buyer's form post, its fields as a JSON object of strings;
    /// `null` when the body could not be read. The bytes as they arrived are in
    /// [`Buyers::exchanges`].
    pub body: Value,
}

pub struct Buyers {
    behaviours: DashMap<String, Behaviour>,
    received: std::sync::Mutex<Vec<Received>>,
    /// Bumped on every request received, so tests can await one instead of sleeping.
    arrivals: watch::Sender<usize>,
    /// While false, every request is held after being counted, before it is answered.
    open: watch::Sender<bool>,
    /// What the strict buyers expect in place of a key or password.
    credentials: Credentials,
    /// The strict buyers' requests as they arrived, with what they answered.
    exchanges: std::sync::Mutex<Vec<Exchange>>,
    /// The strict buyers' own records: the auctions `crestline` opened, the ids they issued.
    strict: strict::Registry,
}

impl Default for Buyers {
    fn default() -> Self {
        Buyers {
            behaviours: DashMap::new(),
            received: std::sync::Mutex::default(),
            arrivals: watch::Sender::new(0),
            open: watch::Sender::new(true),
            credentials: Credentials::demo(),
            exchanges: std::sync::Mutex::default(),
            strict: strict::Registry::default(),
        }
    }
}

impl Buyers {
    /// Simulated buyers whose strict ones expect the demo credentials ([`Credentials::demo`]).
    pub fn new() -> Arc<Self> {
        Arc::new(Buyers::default())
    }

    /// Simulated buyers whose strict ones expect these credentials.
    pub fn with_credentials(credentials: Credentials) -> Arc<Self> {
        Arc::new(Buyers { credentials, ..Buyers::default() })
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Every request a strict buyer answered, in the order answered, byte for byte.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

    /// Counts a request as received (waking [`Buyers::received_at_least`]).
    fn arrive(&self, received: Received) {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).push(received);
        self.arrivals.send_modify(|n| *n += 1);
    }

    /// Waits while requests are held, then for the buyer's delay.
    async fn answer_when_due(&self, delay: Duration) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

async fn handle(
    State(buyers): State<Arc<Buyers>>,
    Path((buyer, kind)): Path<(String, String)>,
    body: Json<Value>,
) -> Response {
    let b = buyers.behaviour(&buyer);
    buyers.arrive(Received { buyer: buyer.clone(), kind: kind.clone(), body: body.0 });
    buyers.answer_when_due(b.delay).await;
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
    // The strict buyers' paths have more segments than `/{buyer}/{kind}`, so never meet it.
    Router::new().route("/{buyer}/{kind}", post(handle)).merge(strict::routes()).with_state(buyers)
}

/// Serves the simulated buyers on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    buyers: Arc<Buyers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(buyers)).with_graceful_shutdown(shutdown).await
}
