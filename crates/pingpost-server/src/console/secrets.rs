//! The console's secrets page: the names (never a value), when each was written and where
//! it comes from, a form to set one and a button to delete each — all through
//! `/v1/admin/secrets`, which the console's script calls. The page itself holds no secret:
//! the list is fetched and the form's value field is write-only (a password field, emptied
//! once sent).

use super::{html_response, page, session, signed_in};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::sync::Arc;

pub async fn secrets(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let body = html! {
        h1 { "Secrets" }
        p { "Credentials buyers' calls carry: a template names one as " code { "{{ secret('name') }}" } ". \
             A value is write-only — shown nowhere, here or in any answer — so to change one, set it again. \
             A name set in a node's environment (" code { "PINGPOST_SECRET_<NAME>" } ") overrides the stored one on that node." }
        section aria-labelledby="set-heading" {
            h2 id="set-heading" { "Set a secret" }
            form id="secret-form" aria-label="Set a secret" {
                label class="field" for="secret-name" { "Name (letters, digits and _)" }
                input id="secret-name" name="name" type="text" required autocomplete="off" spellcheck="false" maxlength="64";
                span class="error" data-for="name" aria-live="polite" {}
                label class="field" for="secret-value" { "Value" }
                input id="secret-value" name="value" type="password" required autocomplete="new-password";
                span class="error" data-for="value" aria-live="polite" {}
                span class="error" data-for="" aria-live="polite" {}
                p { button type="submit" { "Save secret" } " " span class="status" role="status" {} }
            }
        }
        section aria-labelledby="list-heading" {
            h2 id="list-heading" { "Secrets in force" }
            p class="error" id="secrets-error" role="alert" {}
            table id="secrets-table" {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Updated" } th scope="col" { "Source" } th scope="col" { "Delete" } } }
                tbody {}
            }
        }
    };
    html_response(StatusCode::OK, page("Secrets", Some((s, &csrf)), body))
}
