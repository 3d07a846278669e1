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

/// How a simulated buyer answers posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostReply {
    /// `{"status": "accepted"}`.
    Accept,
    Reject,
    Duplicate,
    /// Any status with a fixed body.
    Raw(u16, String),
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

#[derive(Default)]
pub struct Buyers {
    behaviours: DashMap<String, Behaviour>,
    received: std::sync::Mutex<Vec<Received>>,
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
