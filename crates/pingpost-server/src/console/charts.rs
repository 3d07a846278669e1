//! The console's statistics: dedup counts as charts drawn on the server (SVG written with
//! maud, so no chart library or CDN reaches the browser). Per group (partner, buyer or
//! vertical) over the chosen range: the share of pings turned away whole (suppressed or
//! vertical duplicates), and the contracts each checkpoint dropped. The figures are the
//! stats API's own (`GET /v1/admin/stats`), read with its parameters and validation.

use super::{html_response, page, session, signed_in};
use crate::admin::stats;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use pingpost_engine::stats::{GroupBy, StatsGroup};
use std::sync::Arc;

/// The checkpoints' drops, in the fixed checkpoint order, with their colours.
const SERIES: [(&str, &str); 5] = [
    ("suppressed", "#8250df"),
    ("vertical_duplicate", "#cf222e"),
    ("in_auction_duplicate", "#bc4c00"),
    ("contract_duplicate", "#9a6700"),
    ("dq_duplicate", "#1f6feb"),
];

fn drops(g: &StatsGroup) -> [u64; 5] {
    [g.suppressed, g.vertical_duplicate, g.in_auction_duplicate, g.contract_duplicate, g.dq_duplicate]
}

/// Pings turned away whole, per thousand pings (integer arithmetic).
fn dedup_rate_permille(g: &StatsGroup) -> u64 {
    (g.suppressed + g.vertical_duplicate).saturating_mul(1_000).checked_div(g.pings).unwrap_or(0)
}

pub async fn stats_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Some(s) = signed_in(&state, &headers).await else { return Redirect::to("/console").into_response() };
    let csrf = session::csrf(&state.admin_token, s);
    let mut params = params;
    if !params.iter().any(|(k, _)| k == "by") {
        params.push(("by".into(), "partner".into()));
    }
    let value = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let form = html! {
        form method="get" action="/console/stats" aria-label="Choose the statistics" {
            label class="field" for="stats-by" { "By" }
            select id="stats-by" name="by" {
                @for by in GroupBy::ALL { option value=(by.as_str()) selected[value("by") == by.as_str()] { (by.as_str()) } }
            }
            label class="field" for="stats-since" { "Since (RFC 3339; 24 hours before until when empty)" }
            input id="stats-since" name="since" type="text" value=(value("since"));
            label class="field" for="stats-until" { "Until (RFC 3339; now when empty)" }
            input id="stats-until" name="until" type="text" value=(value("until"));
            p { button type="submit" { "Show" } }
        }
    };
    let result = match stats::parse(&params, state.engine.now()) {
        Err(e) => html! { p class="error" role="alert" { (e.message) } },
        Ok(q) => {
            let sink = state.engine.stats();
            let groups = match sink.flush().await {
                Ok(()) => sink.query(q.by, q.since, q.until).await,
                Err(e) => Err(e),
            };
            match groups {
                Ok(groups) => charts(q.by, &groups),
                Err(e) => {
                    // The store's own words are for the log (item 17 of issue 19), not the page.
                    tracing::warn!(error = %e, "console statistics not read");
                    html! { p class="error" role="alert" { "The statistics could not be read: the store is unavailable. Try again shortly." } }
                }
            }
        }
    };
    let body = html! { h1 { "Statistics" } (form) (result) };
    html_response(StatusCode::OK, page("Statistics", Some((s, &csrf)), body))
}

fn charts(by: GroupBy, groups: &[StatsGroup]) -> Markup {
    if groups.is_empty() {
        return html! { p { "No pings in this range." } };
    }
    html! {
        h2 { "Dedup rate by " (by.as_str()) }
        p { "Pings turned away whole (suppressed or vertical duplicates), as a share of all pings." }
        (rate_chart(groups))
        h2 { "Drops per checkpoint by " (by.as_str()) }
        p { "Contracts (or whole pings) each checkpoint dropped." }
        (drops_chart(groups))
        table {
            caption { "The figures behind the charts" }
            thead { tr { th scope="col" { (by.as_str()) } th scope="col" { "Pings" } th scope="col" { "Dedup rate" }
                @for (name, _) in SERIES { th scope="col" { (name) } } } }
            tbody { @for g in groups { tr {
                th scope="row" { (g.key) } td { (g.pings) } td { (percent(dedup_rate_permille(g))) }
                @for d in drops(g) { td { (d) } }
            } } }
        }
    }
}

fn percent(permille: u64) -> String {
    format!("{}.{}%", permille / 10, permille % 10)
}

const ROW: u64 = 28;
const LABEL: u64 = 160;
const WIDTH: u64 = 520;

fn rate_chart(groups: &[StatsGroup]) -> Markup {
    let height = ROW * groups.len() as u64 + 10;
    html! {
        svg class="chart" id="chart-rate" role="img" aria-label="Dedup rate per group" width=(LABEL + WIDTH + 80) height=(height)
            viewBox=(format!("0 0 {} {height}", LABEL + WIDTH + 80)) xmlns="http://www.w3.org/2000/svg" {
            @for (i, g) in groups.iter().enumerate() {
                @let y = i as u64 * ROW + 5;
                @let rate = dedup_rate_permille(g);
                text x="0" y=(y + 17) font-size="13" { (g.key) }
                rect x=(LABEL) y=(y) width=(WIDTH) height="20" fill="#eaeef2" {}
                rect class="bar" data-key=(g.key) x=(LABEL) y=(y) width=(WIDTH * rate / 1_000) height="20" fill="#cf222e" {
                    title { (g.key) ": " (percent(rate)) }
                }
                text x=(LABEL + WIDTH + 6) y=(y + 17) font-size="13" { (percent(rate)) }
            }
        }
    }
}

fn drops_chart(groups: &[StatsGroup]) -> Markup {
    let most = groups.iter().map(|g| drops(g).iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let height = ROW * groups.len() as u64 + 40;
    html! {
        svg class="chart" id="chart-drops" role="img" aria-label="Drops per checkpoint per group" width=(LABEL + WIDTH + 80) height=(height)
            viewBox=(format!("0 0 {} {height}", LABEL + WIDTH + 80)) xmlns="http://www.w3.org/2000/svg" {
            @for (i, g) in groups.iter().enumerate() {
                @let y = i as u64 * ROW + 5;
                text x="0" y=(y + 17) font-size="13" { (g.key) }
                @let counts = drops(g);
                @for (s, (name, colour)) in SERIES.iter().enumerate() {
                    @let before: u64 = counts[..s].iter().sum();
                    @if counts[s] > 0 {
                        rect class="bar" data-key=(g.key) data-checkpoint=(name) x=(LABEL + WIDTH * before / most) y=(y)
                            width=((WIDTH * counts[s] / most).max(1)) height="20" fill=(colour) {
                            title { (g.key) ", " (name) ": " (counts[s]) }
                        }
                    }
                }
                text x=(LABEL + WIDTH * counts.iter().sum::<u64>() / most + 6) y=(y + 17) font-size="13" { (counts.iter().sum::<u64>()) }
            }
            @for (s, (name, colour)) in SERIES.iter().enumerate() {
                @let x = (s as u64) * 140;
                rect x=(x) y=(height - 22) width="12" height="12" fill=(colour) {}
                text x=(x + 16) y=(height - 12) font-size="11" { (name) }
            }
        }
    }
}
