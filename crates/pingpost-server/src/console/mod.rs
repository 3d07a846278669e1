//! The operators' console, `/console`: server-rendered pages (maud) with their assets built
//! into the binary. It signs an operator in with the operator token and then works through
//! the operators' API itself — its scripts call `/v1/admin/…` with the session cookie and
//! the session's CSRF token (see [`session`]) — so every change goes through the same
//! handlers and validation as any other client, never its own.

mod charts;
pub mod session;
mod tools;

use crate::AppState;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use pingpost_core::config::raw::{RawContract, RawOffer};
use std::sync::Arc;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/sign-in", post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/contracts", get(contracts))
        .route("/console/audit", get(tools::audit))
        .route("/console/ping", get(tools::ping_tester))
        .route("/console/suppression", get(tools::suppression))
        .route("/console/stats", get(charts::stats_page))
        .route("/console/money", get(tools::money))
        .route("/console/assets/console.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }))
        .route("/console/assets/console.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }))
}

/// The signed-in session's cookie value, if the request carries a valid one.
pub(crate) fn signed_in<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    session::from_headers(headers).filter(|s| session::valid(&state.admin_token, s, state.engine.now().timestamp()))
}

pub(crate) fn page(title: &str, session: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some((_, csrf)) = session { meta name="csrf-token" content=(csrf); }
                title { (title) " — pingpost console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                @if let Some((_, csrf)) = session {
                    header {
                        strong { "pingpost" }
                        nav aria-label="Console" {
                            a href="/console/contracts" { "Offers and contracts" } " "
                            a href="/console/audit" { "Audit log" } " "
                            a href="/console/ping" { "Ping tester" } " "
                            a href="/console/suppression" { "Suppression and erasure" } " "
                            a href="/console/stats" { "Statistics" } " "
                            a href="/console/money" { "Returns and accounts" }
                        }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
                script src="/console/assets/console.js" defer {}
            }
        }
    }
}

pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

fn sign_in_page(status: StatusCode, message: Option<&str>) -> Response {
    let body = html! {
        div class="signin" {
            h1 { "Sign in to the pingpost console" }
            form method="post" action="/console/sign-in" {
                label for="token" { "Operator token" }
                input id="token" name="token" type="password" autocomplete="current-password" required autofocus
                    aria-describedby=[message.map(|_| "signin-error")];
                @if let Some(m) = message { p id="signin-error" class="error" role="alert" { (m) } }
                p { button type="submit" { "Sign in" } }
            }
        }
    };
    html_response(status, page("Sign in", None, body))
}

async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers) {
        Some(_) => Redirect::to("/console/contracts").into_response(),
        None => sign_in_page(StatusCode::OK, None),
    }
}

#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(State(state): State<Arc<AppState>>, Form(form): Form<SignIn>) -> Response {
    if !state.admin_token.accepts(form.token.trim()) {
        return sign_in_page(StatusCode::UNAUTHORIZED, Some("That is not the operator token. Check it and try again."));
    }
    let value = session::issue(&state.admin_token, state.engine.now().timestamp());
    let mut response = Redirect::to("/console/contracts").into_response();
    if let Ok(cookie) = session::set_cookie(&value).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize)]
struct SignOut {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(form): Form<SignOut>) -> Response {
    if let Some(s) = signed_in(&state, &headers) {
        if !session::csrf_matches(&state.admin_token, s, &form.csrf) {
            return (StatusCode::FORBIDDEN, "sign-out needs the session's CSRF token").into_response();
        }
    }
    let mut response = Redirect::to("/console").into_response();
    if let Ok(cookie) = session::clear_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn contracts(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers) else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let doc = match state.engine.config_document().await {
        Ok(doc) => doc,
        Err(e) => {
            let body = html! { h1 { "Offers and contracts" } p class="error" role="alert" { "The store could not be read: " (e.to_string()) } };
            return html_response(
                StatusCode::SERVICE_UNAVAILABLE,
                page("Offers and contracts", Some((s, &csrf)), body),
            );
        }
    };
    let body = html! {
        h1 { "Offers and contracts" }
        p { "Edits are applied to every node at once, or refused with nothing changed." }
        @for offer in &doc.offers {
            (offer_section(offer, doc.contracts.iter().filter(|c| c.offer == offer.id)))
        }
    };
    html_response(StatusCode::OK, page("Offers and contracts", Some((s, &csrf)), body))
}

fn offer_section<'a>(offer: &RawOffer, contracts: impl Iterator<Item = &'a RawContract>) -> Markup {
    html! {
        section aria-labelledby=(format!("offer-{}", offer.id)) {
            h2 id=(format!("offer-{}", offer.id)) { "Offer " (offer.id) @if !offer.name.is_empty() { " — " (offer.name) } }
            table {
                thead { tr { th scope="col" { "Contract" } th scope="col" { "Buyer" } th scope="col" { "Price" } th scope="col" { "Edit" } } }
                tbody {
                    @for c in contracts { (contract_row(c)) }
                }
            }
        }
    }
}

fn contract_row(c: &RawContract) -> Markup {
    let id = |field: &str| format!("{}-{field}", c.id);
    let status = c.status.clone().unwrap_or_else(|| "active".into());
    let dedup_on = c.dedup.as_ref().and_then(|d| d.enabled).unwrap_or(true);
    let window = c.dedup.as_ref().and_then(|d| d.window_days).map(|w| w.to_string()).unwrap_or_default();
    let cap = |pick: fn(&pingpost_core::config::raw::RawCaps) -> Option<i64>| {
        c.caps.as_ref().and_then(pick).map(|d| d.to_string()).unwrap_or_default()
    };
    let caps = [
        ("hourly", "Hourly cap", cap(|k| k.hourly)),
        ("daily", "Daily cap", cap(|k| k.daily)),
        ("weekly", "Weekly cap", cap(|k| k.weekly)),
        ("monthly", "Monthly cap", cap(|k| k.monthly)),
    ];
    html! {
        tr {
            th scope="row" { (c.id) }
            td { (c.buyer) }
            td { (c.price.clone().unwrap_or_else(|| "real-time bid".into())) }
            td {
                form class="contract" data-id=(c.id) aria-label=(format!("Edit contract {}", c.id)) {
                    label class="field" for=(id("status")) { "Status" }
                    select id=(id("status")) name="status" {
                        @for s in ["active", "paused"] { option value=(s) selected[s == status] { (s) } }
                    }
                    span class="error" data-for="status" aria-live="polite" {}
                    label class="field" for=(id("dedup-enabled")) {
                        input id=(id("dedup-enabled")) type="checkbox" name="dedup.enabled" checked[dedup_on];
                        " Dedup on"
                    }
                    span class="error" data-for="dedup.enabled" aria-live="polite" {}
                    label class="field" for=(id("window")) { "Dedup window (days)" }
                    input id=(id("window")) type="number" name="dedup.window_days" value=(window) placeholder="vertical's";
                    span class="error" data-for="dedup.window_days" aria-live="polite" {}
                    @for (name, label, value) in &caps {
                        label class="field" for=(id(name)) { (label) }
                        input id=(id(name)) type="number" name=(format!("caps.{name}")) value=(value) placeholder="none";
                        span class="error" data-for=(format!("caps.{name}")) aria-live="polite" {}
                    }
                    span class="error" data-for="" aria-live="polite" {}
                    p { button type="submit" { "Save " (c.id) } " " span class="status" role="status" {} }
                }
            }
        }
    }
}
