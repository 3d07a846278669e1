//! The console's buyers: a list, and one page per buyer to edit its calls (its own protocol:
//! `calls` and `value_maps`, as JSON), preview a call on a sample lead, and send a test. The
//! page's script does each through the operators' API (`PUT /v1/admin/buyers/{id}`,
//! `/preview`, `/test`), and a refused field's message shows next to the field it belongs to.

use super::{html_response, page, session, signed_in};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use pingpost_core::config::raw::RawBuyer;
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let config = state.engine.config();
    let body = html! {
        h1 { "Buyers" }
        table id="buyers-table" {
            thead { tr { th scope="col" { "Buyer" } th scope="col" { "Name" } th scope="col" { "Its own protocol for" } } }
            tbody {
                @for b in config.buyers.values() {
                    @let own: Vec<&str> = pingpost_core::adapter::CallKind::ALL
                        .iter()
                        .filter(|k| !b.adapter.call(**k).is_pingpost())
                        .map(|k| k.as_str())
                        .collect();
                    tr {
                        th scope="row" { a href=(format!("/console/buyers/{}", b.id)) { (b.id) } }
                        td { (b.name) }
                        td { @if own.is_empty() { "— (pingpost's protocol)" } @else { (own.join(", ")) } }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Buyers", Some((s, &csrf)), body))
}

/// A sample lead for a preview: a ping's fields and a post's.
const SAMPLE_LEAD: &str = r#"{
  "email": "jane.doe@example.com",
  "phone": "(555) 123-4567",
  "first_name": "Jane",
  "last_name": "Doe",
  "birth_date": "1990-04-15",
  "gender": "female",
  "state": "CA",
  "zip": "90210",
  "age": 34
}"#;

pub async fn one(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let doc = match state.engine.config_document().await {
        Ok(doc) => doc,
        Err(e) => {
            tracing::warn!(error = %e, "console configuration not read");
            let body = html! { h1 { "Buyer" } p class="error" role="alert" { "The configuration could not be read: the store is unavailable. Try again shortly." } };
            return html_response(StatusCode::SERVICE_UNAVAILABLE, page("Buyer", Some((s, &csrf)), body));
        }
    };
    let Some(buyer) = doc.get::<RawBuyer>(&id) else {
        let body = html! { h1 { "Buyer" } p class="error" role="alert" { "No buyer " (id) "." } };
        return html_response(StatusCode::NOT_FOUND, page("Buyer", Some((s, &csrf)), body));
    };
    let pretty = |v: serde_json::Result<String>| v.unwrap_or_default();
    let calls = pretty(serde_json::to_string_pretty(&buyer.calls.clone().unwrap_or_default()));
    let maps = pretty(serde_json::to_string_pretty(&buyer.value_maps));
    let offers: Vec<String> = doc.contracts.iter().filter(|c| c.buyer == id).map(|c| c.offer.clone()).collect();
    let body = html! {
        h1 { "Buyer " (buyer.id) @if !buyer.name.is_empty() { " — " (buyer.name) } }
        p { "Its calls in its own protocol (JSON, the same fields as " code { "calls" } " and " code { "value_maps" }
            " in contracts/). A call left out speaks pingpost's own. Saving applies the buyer on every node at once, or refuses it with nothing changed." }
        form id="buyer-calls" data-id=(buyer.id) aria-label=(format!("Edit the calls of buyer {}", buyer.id)) {
            label class="field" for="buyer-calls-json" { "Calls" }
            textarea id="buyer-calls-json" name="calls" rows="24" cols="100" spellcheck="false" { (calls) }
            span class="error" data-for="calls" aria-live="polite" {}
            label class="field" for="buyer-maps-json" { "Value maps" }
            textarea id="buyer-maps-json" name="value_maps" rows="6" cols="100" spellcheck="false" { (maps) }
            span class="error" data-for="value_maps" aria-live="polite" {}
            span class="error" data-for="" aria-live="polite" {}
            p { button type="submit" { "Save the calls" } " " span class="status" role="status" {} }
        }
        h2 { "Try a call" }
        form id="buyer-try" data-id=(buyer.id) aria-label="Preview or test a call" {
            label class="field" for="try-call" { "Call" }
            select id="try-call" name="call" { option value="bid" { "bid" } option value="dq" { "dq" } option value="post" selected { "post" } }
            label class="field" for="try-offer" { "Offer" }
            select id="try-offer" name="offer" { @for o in &offers { option value=(o) { (o) } } }
            label class="field" for="try-lead" { "Sample lead (JSON)" }
            textarea id="try-lead" name="lead" rows="12" cols="60" spellcheck="false" { (SAMPLE_LEAD) }
            label class="field" for="try-live" { input id="try-live" type="checkbox" name="live"; " Test live (the call's url, not its sandbox_url)" }
            span class="error" data-for="" aria-live="polite" {}
            p {
                button type="submit" name="action" value="preview" { "Preview" } " "
                button type="submit" name="action" value="test" { "Send a test" }
            }
        }
        h3 { "Request" }
        pre id="try-request" aria-live="polite" {}
        h3 { "Answer and reading" }
        pre id="try-answer" aria-live="polite" {}
    };
    html_response(StatusCode::OK, page(&format!("Buyer {}", buyer.id), Some((s, &csrf)), body))
}
