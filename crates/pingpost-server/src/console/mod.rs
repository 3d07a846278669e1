//! The operators' console, `/console`: server-rendered pages (maud) with their assets built
//! into the binary. It signs an operator in with the operator token and then works through
//! the operators' API itself — its scripts call `/v1/admin/…` with the session cookie and
//! the session's CSRF token (see [`session`]) — so every change goes through the same
//! handlers and validation as any other client, never its own.

pub mod access;
mod buyers;
mod charts;
mod partners;
mod secrets;
pub mod session;
mod tools;

pub use access::{signed_in, ConsoleState};

use crate::AppState;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use pingpost_core::config::raw::RawContract;
use std::sync::Arc;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/sign-in", post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/sign-out-everywhere", post(sign_out_everywhere))
        .route("/console/contracts", get(contracts))
        .route("/console/audit", get(tools::audit))
        .route("/console/ping", get(tools::ping_tester))
        .route("/console/suppression", get(tools::suppression))
        .route("/console/stats", get(charts::stats_page))
        .route("/console/money", get(tools::money))
        .route("/console/secrets", get(secrets::secrets))
        .route("/console/buyers", get(buyers::list))
        .route("/console/buyers/{id}", get(buyers::one))
        .route("/console/partners", get(partners::list))
        .route("/console/partners/{id}/docs", get(partners::docs))
        .route("/console/assets/console.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }))
        .route("/console/assets/console.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }))
        .layer(axum::middleware::map_response(protective_headers))
}

/// What every console answer carries: its pages may be framed by no other page (the
/// one-click approve and edit buttons must not be clickjacked), run only the console's own
/// script and styles, send forms and requests only to the console's own origin, and are
/// never kept in a cache (they show the operator's data).
async fn protective_headers(mut response: Response) -> Response {
    protect(response.headers_mut());
    response
}

/// [`protective_headers`]' headers, for a page served outside `/console` (a partner's
/// instructions).
pub(crate) fn protect(headers: &mut HeaderMap) {
    const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
        connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
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
                            a href="/console/money" { "Returns and accounts" } " "
                            a href="/console/buyers" { "Buyers" } " "
                            a href="/console/partners" { "Partners" } " "
                            a href="/console/secrets" { "Secrets" }
                        }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                        form method="post" action="/console/sign-out-everywhere" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" title="Ends every console session, on every node and browser" { "Sign out everywhere" }
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
    match signed_in(&state, &headers).await {
        Some(_) => Redirect::to("/console/contracts").into_response(),
        None => sign_in_page(StatusCode::OK, None),
    }
}

#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(form): Form<SignIn>,
) -> Response {
    let now = state.engine.now().timestamp();
    if let Some(wait) = state.console.sign_in_blocked(peer.ip(), now) {
        let message = format!("Too many failed sign-ins from your address. Try again in {wait} s.");
        let mut response = sign_in_page(StatusCode::TOO_MANY_REQUESTS, Some(&message));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    if !state.admin_token.accepts(form.token.trim()) {
        state.console.sign_in_failed(peer.ip(), now);
        return sign_in_page(StatusCode::UNAUTHORIZED, Some("That is not the operator token. Check it and try again."));
    }
    state.console.sign_in_succeeded(peer.ip());
    let epoch = match access::current_epoch(&state).await {
        Ok(epoch) => epoch,
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in: the store is unavailable");
            return sign_in_page(StatusCode::SERVICE_UNAVAILABLE, Some("The store is unavailable. Try again shortly."));
        }
    };
    let value = session::issue(&state.admin_token, now, &epoch);
    let mut response = Redirect::to("/console/contracts").into_response();
    if let Ok(cookie) = session::set_cookie(&value, state.console.secure_cookie).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(serde::Deserialize)]
struct SignOut {
    #[serde(default)]
    csrf: String,
}

/// Signs this session out on every node: its id is revoked in the store, so a copy of its
/// cookie is refused too.
async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(form): Form<SignOut>) -> Response {
    sign_out_with(&state, &headers, &form, false).await
}

/// Signs every console session out, on every node and browser: a new epoch in the store.
async fn sign_out_everywhere(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    sign_out_with(&state, &headers, &form, true).await
}

async fn sign_out_with(state: &AppState, headers: &HeaderMap, form: &SignOut, everywhere: bool) -> Response {
    if let Some(value) = signed_in(state, headers).await {
        if !session::csrf_matches(&state.admin_token, value, &form.csrf) {
            return (StatusCode::FORBIDDEN, "sign-out needs the session's CSRF token").into_response();
        }
        let ended = match session::verify(&state.admin_token, value, state.engine.now().timestamp()) {
            Some(_) if everywhere => access::new_epoch(state).await,
            Some(s) => access::revoke(state, &s).await,
            None => Ok(()),
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, "console sign-out not recorded: the store is unavailable");
            let body = html! { h1 { "Not signed out" } p class="error" role="alert" { "The store is unavailable, so the session could not be ended on every node. Try again shortly." } };
            return html_response(StatusCode::SERVICE_UNAVAILABLE, page("Not signed out", None, body));
        }
    }
    let mut response = Redirect::to("/console").into_response();
    if let Ok(cookie) = session::clear_cookie(state.console.secure_cookie).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn contracts(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let doc = match state.engine.config_document().await {
        Ok(doc) => doc,
        Err(e) => {
            tracing::warn!(error = %e, "console configuration not read");
            let body = html! { h1 { "Offers and contracts" } p class="error" role="alert" { "The configuration could not be read: the store is unavailable. Try again shortly." } };
            return html_response(
                StatusCode::SERVICE_UNAVAILABLE,
                page("Offers and contracts", Some((s, &csrf)), body),
            );
        }
    };
    let body = html! {
        h1 { "Offers and contracts" }
        p { "Edits are applied to every node at once, or refused with nothing changed. While you edit a window, "
            "what it would have done to the last 7 days' pings shows beside it, before you save." }
        label class="field" for="contract-search" { "Search contracts (id, offer or buyer)" }
        input id="contract-search" type="search" autocomplete="off" placeholder="e.g. c-12 or b3";
        p id="contract-count" class="status" role="status" aria-live="polite" { (doc.contracts.len()) @if doc.contracts.len() == 1 { " contract" } @else { " contracts" } }
        table id="contracts" class="compact" {
            thead { tr {
                th scope="col" { "Contract" } th scope="col" { "Offer" } th scope="col" { "Buyer" } th scope="col" { "Price" }
                th scope="col" { "Status" } th scope="col" { "Window" } th scope="col" { "Repeats" } th scope="col" { "Edit" }
            } }
            tbody {
                // Offers in their configured order, each one's contracts in theirs.
                @for offer in &doc.offers {
                    @for c in doc.contracts.iter().filter(|c| c.offer == offer.id) { (contract_row(c)) }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Offers and contracts", Some((s, &csrf)), body))
}

fn contract_row(c: &RawContract) -> Markup {
    let id = |field: &str| format!("{}-{field}", c.id);
    let status = c.status.clone().unwrap_or_else(|| "active".into());
    let dedup_on = c.dedup.as_ref().and_then(|d| d.enabled).unwrap_or(true);
    let window = c.dedup.as_ref().and_then(|d| d.window_days).map(|w| w.to_string()).unwrap_or_default();
    let repeat_after = c.repeat.as_ref().and_then(|r| r.after_days).map(|d| d.to_string()).unwrap_or_default();
    let repeat_price = c.repeat.as_ref().and_then(|r| r.price.as_ref());
    let repeat_fixed = repeat_price.is_some_and(|p| p.fixed.is_some());
    let repeat_amount = repeat_price.and_then(|p| p.fixed.clone().or_else(|| p.percent.clone())).unwrap_or_default();
    let cap = |pick: fn(&pingpost_core::config::raw::RawCaps) -> Option<i64>| {
        c.caps.as_ref().and_then(pick).map(|d| d.to_string()).unwrap_or_default()
    };
    let caps = [
        ("hourly", "Hourly cap", cap(|k| k.hourly)),
        ("daily", "Daily cap", cap(|k| k.daily)),
        ("weekly", "Weekly cap", cap(|k| k.weekly)),
        ("monthly", "Monthly cap", cap(|k| k.monthly)),
    ];
    let search = format!("{} {} {}", c.id, c.offer, c.buyer).to_lowercase();
    let window_text = match (dedup_on, window.is_empty()) {
        (false, _) => "off".to_string(),
        (true, true) => "vertical's".to_string(),
        (true, false) => format!("{window} d"),
    };
    let repeat_text = if repeat_after.is_empty() { "no".to_string() } else { format!("after {repeat_after} d") };
    html! {
        tr data-search=(search) data-contract=(c.id) {
            th scope="row" { (c.id) }
            td { (c.offer) }
            td { (c.buyer) }
            td { (c.price.clone().unwrap_or_else(|| "real-time bid".into())) }
            td { (status) }
            td { (window_text) }
            td { (repeat_text) }
            td {
                details id=(id("edit")) {
                summary { "Edit" span class="visually-hidden" { " " (c.id) } }
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
                    output class="whatif" for=(id("window")) aria-live="polite" {}
                    label class="field" for=(id("repeat-after")) { "Buy again after (days)" }
                    input id=(id("repeat-after")) type="number" name="repeat.after_days" value=(repeat_after) placeholder="never";
                    span class="error" data-for="repeat.after_days" aria-live="polite" {}
                    label class="field" for=(id("repeat-price")) { "Repeat price" }
                    input id=(id("repeat-price")) type="text" inputmode="decimal" name="repeat.price.amount" value=(repeat_amount) placeholder="40.00";
                    select id=(id("repeat-kind")) name="repeat.price.kind" aria-label="Repeat price is" {
                        option value="percent" selected[!repeat_fixed] { "% of the price" }
                        option value="fixed" selected[repeat_fixed] { "fixed" }
                    }
                    span class="error" data-for="repeat.price" aria-live="polite" {}
                    span class="error" data-for="repeat.price.percent" aria-live="polite" {}
                    span class="error" data-for="repeat.price.fixed" aria-live="polite" {}
                    span class="error" data-for="repeat" aria-live="polite" {}
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
}
