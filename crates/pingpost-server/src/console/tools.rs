//! The console's read-and-try pages: the audit log (filters and cursor paging over
//! `GET /v1/admin/audit`) and the ping tester (`POST /v1/admin/test-ping`). The pages are
//! forms and empty tables; the console's script fills them from the operators' API.

use super::{html_response, page, session, signed_in};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use pingpost_core::checkpoint::Checkpoint;
use std::sync::Arc;

pub async fn audit(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let text = |name: &str, label: &str| {
        html! { label class="field" for=(format!("audit-{name}")) { (label) } input id=(format!("audit-{name}")) name=(name) type="text"; }
    };
    let body = html! {
        h1 { "Audit log" }
        form id="audit-filters" aria-label="Filter the audit log" {
            (text("partner", "Partner")) (text("buyer", "Buyer")) (text("vertical", "Vertical")) (text("offer", "Offer"))
            label class="field" for="audit-checkpoint" { "Checkpoint" }
            select id="audit-checkpoint" name="checkpoint" {
                option value="" { "any" }
                @for c in Checkpoint::ALL { option value=(c.as_str()) { (c.as_str()) } }
            }
            label class="field" for="audit-since" { "Since (UTC)" } input id="audit-since" name="since" type="datetime-local";
            label class="field" for="audit-until" { "Until (UTC)" } input id="audit-until" name="until" type="datetime-local";
            p { button type="submit" { "Show" } }
        }
        p class="error" id="audit-error" role="alert" {}
        table id="audit-table" {
            caption { "Newest first" }
            thead { tr {
                th scope="col" { "At" } th scope="col" { "Checkpoint" } th scope="col" { "Partner" } th scope="col" { "Offer" }
                th scope="col" { "Buyer" } th scope="col" { "Contract" } th scope="col" { "Matched" } th scope="col" { "Prior at" }
            } }
            tbody {}
        }
        p { button type="button" id="audit-next" hidden { "Next page" } }
    };
    html_response(StatusCode::OK, page("Audit log", Some((s, &csrf)), body))
}

pub async fn ping_tester(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let config = state.engine.config();
    let body = html! {
        h1 { "Ping tester" }
        p { "Pings a lead as the partner you pick: a real ping, through every checkpoint, recorded like any other. \
             You see the whole answer and, for each contract of the offer, what dropped it or its bid." }
        form id="ping-form" aria-label="Ping a lead" {
            label class="field" for="ping-partner" { "Partner" }
            select id="ping-partner" name="partner" {
                @for p in config.partners.values() { option value=(p.id) { (p.id) } }
            }
            label class="field" for="ping-offer" { "Offer" }
            select id="ping-offer" name="offer" {
                @for o in config.offers.values() {
                    option value=(o.id) data-contracts=(config.contracts.values().filter(|c| c.offer == o.id).map(|c| c.id.as_str()).collect::<Vec<_>>().join(",")) { (o.id) }
                }
            }
            label class="field" for="ping-email" { "Email" } input id="ping-email" name="email" type="email";
            label class="field" for="ping-phone" { "Phone" } input id="ping-phone" name="phone" type="tel";
            label class="field" for="ping-state" { "State" } input id="ping-state" name="state" type="text";
            label class="field" for="ping-zip" { "ZIP" } input id="ping-zip" name="zip" type="text";
            p { button type="submit" { "Send ping" } }
        }
        p class="error" id="ping-error" role="alert" {}
        section aria-live="polite" {
            p id="ping-result" {}
            table id="ping-contracts" {
                caption { "Each contract of the offer" }
                thead { tr { th scope="col" { "Contract" } th scope="col" { "Outcome" } } }
                tbody {}
            }
        }
    };
    html_response(StatusCode::OK, page("Ping tester", Some((s, &csrf)), body))
}

pub async fn suppression(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let body = html! {
        h1 { "Suppression and erasure" }
        section aria-labelledby="one-heading" {
            h2 id="one-heading" { "One identifier" }
            form id="suppress-one" aria-label="Check, suppress or lift one identifier" {
                label class="field" for="suppress-identifier" { "Email or phone" }
                input id="suppress-identifier" name="identifier" type="text" required;
                p {
                    button type="submit" name="action" value="check" { "Check" } " "
                    button type="submit" name="action" value="add" { "Suppress" } " "
                    button type="submit" name="action" value="remove" { "Lift suppression" }
                }
            }
            p id="suppress-result" role="status" {}
        }
        section aria-labelledby="import-heading" {
            h2 id="import-heading" { "Import a CSV file" }
            p { "A header naming email, phone, email_sha256 or phone_sha256 columns, or none (a cell with @ is an email).                  Rows are hashed by the engine; nothing is applied for an invalid row." }
            form id="suppress-import" aria-label="Import a CSV file of identifiers to suppress" {
                label class="field" for="import-file" { "CSV file" }
                input id="import-file" name="file" type="file" accept=".csv,text/csv" required;
                p { button type="submit" { "Import" } }
            }
            label class="field" for="import-progress" { "Upload" }
            progress id="import-progress" max="100" value="0" {}
            p id="import-result" role="status" {}
        }
        section aria-labelledby="erase-heading" {
            h2 id="erase-heading" { "Erase a consumer" }
            p { "Forgets the consumer's dedup state (vertical submissions, sales, DQ records). Its suppression stays unless you tick the box." }
            form id="erase" aria-label="Erase a consumer's dedup state" {
                label class="field" for="erase-email" { "Email" } input id="erase-email" name="email" type="text";
                label class="field" for="erase-phone" { "Phone" } input id="erase-phone" name="phone" type="text";
                label class="field" for="erase-suppression" {
                    input id="erase-suppression" name="suppression" type="checkbox"; " Also lift its suppression"
                }
                p { button type="submit" { "Erase" } }
            }
            p id="erase-result" role="status" {}
        }
    };
    html_response(StatusCode::OK, page("Suppression and erasure", Some((s, &csrf)), body))
}

pub async fn money(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let config = state.engine.config();
    let mut prepaid: Vec<&str> =
        config.buyers.values().filter(|b| b.balance.is_some()).map(|b| b.id.as_str()).collect();
    prepaid.sort_unstable();
    let body = html! {
        h1 { "Returns and accounts" }
        section aria-labelledby="balances-heading" {
            h2 id="balances-heading" { "Buyers' balances" }
            @if prepaid.is_empty() {
                p { "No buyer has a prepaid balance." }
            } @else {
                p { "What each prepaid buyer's next sales may take: its configured balance, plus top-ups and refunds, less what its sales were charged and what its posts in flight hold." }
                table id="balances-table" {
                    thead { tr { @for name in ["Buyer", "Balance", "Credit", "Spent", "Reserved"] { th scope="col" { (name) } } } }
                    tbody {
                        @for buyer in &prepaid {
                            tr data-buyer=(buyer) {
                                th scope="row" { (buyer) }
                                @for field in ["balance", "credit", "spent", "reserved"] { td data-field=(field) { "…" } }
                            }
                        }
                    }
                }
                p class="error" id="balances-error" role="alert" {}
            }
        }
        section aria-labelledby="returns-heading" {
            h2 id="returns-heading" { "Returns awaiting a decision" }
            p id="returns-result" role="status" {}
            table id="returns-table" {
                thead { tr {
                    th scope="col" { "Return" } th scope="col" { "Buyer" } th scope="col" { "Reason" } th scope="col" { "Note" }
                    th scope="col" { "Refund" } th scope="col" { "Clawback" } th scope="col" { "Opened" } th scope="col" { "Decision" }
                } }
                tbody {}
            }
        }
        section aria-labelledby="accounts-heading" {
            h2 id="accounts-heading" { "Accounts" }
            form id="accounts-form" aria-label="Choose the accounts" {
                label class="field" for="accounts-by" { "By" }
                select id="accounts-by" name="by" { @for by in ["partner", "buyer", "offer"] { option value=(by) { (by) } } }
                label class="field" for="accounts-since" { "Since (UTC)" } input id="accounts-since" name="since" type="datetime-local";
                label class="field" for="accounts-until" { "Until (UTC)" } input id="accounts-until" name="until" type="datetime-local";
                p { button type="submit" { "Show" } }
            }
            p class="error" id="accounts-error" role="alert" {}
            table id="accounts-table" {
                thead { tr { @for name in ["key", "sales", "gross", "refunds", "net_revenue", "payouts", "clawbacks", "net_payout", "margin"] {
                    th scope="col" { (name) }
                } } }
                tbody {}
            }
        }
    };
    html_response(StatusCode::OK, page("Returns and accounts", Some((s, &csrf)), body))
}
