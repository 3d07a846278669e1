//! The console's partners: a list, each linking to the partner's posting instructions — the
//! page the partner reads at `GET /v1/partner/docs` with `Accept: text/html`, rendered by the
//! same code ([`crate::partner_docs`]). A browser cannot send a partner's Bearer key, so this
//! is how an operator (or a partner's developer the operator sends it to) reads the page.

use super::{html_response, page, session, signed_in};
use crate::partner_docs;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use pingpost_core::ids::PartnerId;
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let config = state.engine.config();
    let body = html! {
        h1 { "Partners" }
        p { "Each partner reads its posting instructions at " code { "GET /v1/partner/docs" } " with its key (JSON, or a page with "
            code { "Accept: text/html" } "); the same page is linked here." }
        table id="partners-table" {
            thead { tr { th scope="col" { "Partner" } th scope="col" { "Name" } th scope="col" { "Offers" } th scope="col" { "Instructions" } } }
            tbody {
                @for p in config.partners.values() {
                    tr {
                        th scope="row" { (p.id) }
                        td { (p.name) }
                        td { (p.offers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                        td { a href=(format!("/console/partners/{}/docs", p.id)) { "Posting instructions" } }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Partners", Some((s, &csrf)), body))
}

pub async fn docs(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let config = state.engine.config();
    let Some(docs) = partner_docs::build(&config, &PartnerId::new(id.as_str()), partner_docs::base_url(&headers))
    else {
        let body = html! { h1 { "Partner" } p class="error" role="alert" { "No partner " (id) "." } };
        return html_response(StatusCode::NOT_FOUND, page("Partner", Some((s, &csrf)), body));
    };
    html_response(StatusCode::OK, page(&partner_docs::title(&docs), Some((s, &csrf)), partner_docs::body(&docs)))
}
