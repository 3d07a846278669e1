//! The console's statistics: dedup counts as charts drawn on the server (SVG written with
//! maud, so no chart library or CDN reaches the browser). Over the chosen range, as time
//! series per hour or per day: the dedup rate of each group (partner, buyer or vertical) and
//! the drops per checkpoint of all groups or of the one chosen; then per group over the whole
//! range: the share of pings turned away whole (suppressed or vertical duplicates), and the
//! contracts each checkpoint dropped. The figures are the stats API's own
//! (`GET /v1/admin/stats`), read with its parameters and validation, one query per bucket.
//! The range is picked with date-and-time pickers, read as UTC.

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
    let mut params: Vec<(String, String)> = params.into_iter().map(|(k, v)| (k, picked_time(v))).collect();
    if !params.iter().any(|(k, _)| k == "by") {
        params.push(("by".into(), "partner".into()));
    }
    let value = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let step_asked = value("step");
    let form = html! {
        form method="get" action="/console/stats" aria-label="Choose the statistics" {
            label class="field" for="stats-by" { "By" }
            select id="stats-by" name="by" {
                @for by in GroupBy::ALL { option value=(by.as_str()) selected[value("by") == by.as_str()] { (by.as_str()) } }
            }
            label class="field" for="stats-key" { "Only this partner, buyer or vertical (all when empty)" }
            input id="stats-key" name="key" type="text" value=(value("key"));
            label class="field" for="stats-since" { "Since (UTC; 24 hours before until when empty)" }
            input id="stats-since" name="since" type="datetime-local" step="3600" value=(picker_value(&value("since")));
            label class="field" for="stats-until" { "Until (UTC; now when empty)" }
            input id="stats-until" name="until" type="datetime-local" step="3600" value=(picker_value(&value("until")));
            label class="field" for="stats-step" { "Series per" }
            select id="stats-step" name="step" {
                option value="" selected[step_asked.is_empty()] { "hour up to 2 days, else day" }
                @for step in ["hour", "day"] { option value=(step) selected[step_asked == step] { (step) } }
            }
            p { button type="submit" { "Show" } }
        }
    };
    let result = match stats::parse(&params, state.engine.now()).and_then(|q| Ok((Step::parse(&step_asked, &q)?, q))) {
        Err(e) => html! { p class="error" role="alert" { (e.message) } },
        Ok((step, q)) => {
            let engine = &state.engine;
            let read = async {
                let whole = engine.stats_query(q.by, q.since, q.until).await?;
                let mut series = Vec::new();
                for (start, end) in step.buckets(q.since, q.until) {
                    series.push((start, engine.stats_query(q.by, start, end).await?));
                }
                Ok::<_, pingpost_engine::EngineError>((whole, series))
            };
            match read.await {
                Ok((groups, series)) => {
                    let key = value("key");
                    html! { (time_series(q.by, step, &series, (!key.is_empty()).then_some(key.as_str()))) (charts(q.by, &groups)) }
                }
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

/// A date-and-time picker's value (`2026-12-07T15:00`, no zone) as the RFC 3339 UTC time the
/// API reads; anything else as it came (the API names what is wrong with it).
fn picked_time(v: String) -> String {
    let shape = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").is_ok()
            || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
    };
    if shape(&v) {
        let seconds = if v.len() == 16 { ":00" } else { "" };
        format!("{v}{seconds}Z")
    } else {
        v
    }
}

/// An RFC 3339 time as a picker shows it (UTC, to the minute); empty when it is none.
fn picker_value(v: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// The series' bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Hour,
    Day,
}

/// The most buckets a series draws (a week of hours, or most of a year of days).
const MAX_BUCKETS: i64 = 400;

impl Step {
    /// `hour` or `day`; when not given, hours for ranges up to two days, else days.
    fn parse(asked: &str, q: &stats::StatsQuery) -> Result<Step, crate::error::ApiError> {
        let step = match asked {
            "hour" => Step::Hour,
            "day" => Step::Day,
            "" if q.until - q.since <= chrono::Duration::hours(48) => Step::Hour,
            "" => Step::Day,
            _ => return Err(crate::error::ApiError::invalid("step", "must be hour or day")),
        };
        if (q.until - q.since).num_seconds() / step.length().num_seconds() > MAX_BUCKETS {
            return Err(crate::error::ApiError::invalid("step", "too many buckets: use days, or a shorter range"));
        }
        Ok(step)
    }

    fn length(self) -> chrono::Duration {
        match self {
            Step::Hour => chrono::Duration::hours(1),
            Step::Day => chrono::Duration::days(1),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }

    /// `[since, until)` cut at whole UTC hours or days.
    fn buckets(
        self,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> Vec<(pingpost_core::Timestamp, pingpost_core::Timestamp)> {
        let len = self.length().num_seconds();
        let floor = |t: pingpost_core::Timestamp| {
            chrono::DateTime::from_timestamp(t.timestamp().div_euclid(len) * len, 0).unwrap_or(t)
        };
        let mut out = Vec::new();
        let mut start = floor(since);
        while start < until {
            let end = start + self.length();
            out.push((start.max(since), end.min(until)));
            start = end;
        }
        out
    }
}

/// Counts summed over the groups kept (`only`: one key; else all).
fn total(groups: &[StatsGroup], only: Option<&str>) -> StatsGroup {
    let mut t = StatsGroup::new("all");
    for g in groups.iter().filter(|g| only.is_none_or(|k| g.key == k)) {
        t.pings += g.pings;
        t.suppressed += g.suppressed;
        t.vertical_duplicate += g.vertical_duplicate;
        t.in_auction_duplicate += g.in_auction_duplicate;
        t.contract_duplicate += g.contract_duplicate;
        t.dq_duplicate += g.dq_duplicate;
    }
    t
}

/// Lines drawn in the rate series (the groups with the most pings).
const MOST_LINES: usize = 6;
const LINE_COLOURS: [&str; MOST_LINES] = ["#1f6feb", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#57606a"];
const SERIES_HEIGHT: u64 = 160;

fn time_series(
    by: GroupBy,
    step: Step,
    series: &[(pingpost_core::Timestamp, Vec<StatsGroup>)],
    only: Option<&str>,
) -> Markup {
    let n = series.len().max(1) as u64;
    let column = (WIDTH / n).max(2);
    let x = |i: usize| LABEL + i as u64 * column + column / 2;
    // The groups with the most pings over the range, each a line.
    let mut keys: Vec<(String, u64)> = Vec::new();
    for (_, groups) in series {
        for g in groups.iter().filter(|g| only.is_none_or(|k| g.key == k)) {
            match keys.iter_mut().find(|(k, _)| *k == g.key) {
                Some((_, p)) => *p += g.pings,
                None => keys.push((g.key.clone(), g.pings)),
            }
        }
    }
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    keys.truncate(MOST_LINES);
    let rate_at = |groups: &[StatsGroup], key: &str| groups.iter().find(|g| g.key == key).map(dedup_rate_permille);
    let y_rate = |permille: u64| 10 + SERIES_HEIGHT - SERIES_HEIGHT * permille / 1_000;
    let totals: Vec<StatsGroup> = series.iter().map(|(_, groups)| total(groups, only)).collect();
    let most = totals.iter().map(|t| drops(t).iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let width = LABEL + WIDTH + 80;
    let height = SERIES_HEIGHT + 60;
    let when = |t: &pingpost_core::Timestamp| match step {
        Step::Hour => t.format("%m-%d %H:00").to_string(),
        Step::Day => t.format("%Y-%m-%d").to_string(),
    };
    let whose = only.map_or_else(|| format!("every {}", by.as_str()), |k| format!("{} {k}", by.as_str()));
    html! {
        h2 { "Dedup rate per " (step.label()) " by " (by.as_str()) }
        p { "Pings turned away whole, as a share of the pings of each " (step.label()) "; a line per " (by.as_str())
            " (the " (MOST_LINES) " with the most pings)." }
        svg class="chart" id="series-rate" role="img" aria-label=(format!("Dedup rate per {} by {}", step.label(), by.as_str()))
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) xmlns="http://www.w3.org/2000/svg" {
            text x="0" y="16" font-size="11" { "100%" }
            text x="0" y=(SERIES_HEIGHT + 10) font-size="11" { "0%" }
            rect x=(LABEL) y="10" width=(WIDTH) height=(SERIES_HEIGHT) fill="#f6f8fa" {}
            @for (li, (key, _)) in keys.iter().enumerate() {
                @let points: Vec<String> = series.iter().enumerate()
                    .filter_map(|(i, (_, groups))| rate_at(groups, key).map(|r| format!("{},{}", x(i), y_rate(r))))
                    .collect();
                polyline class="line" data-key=(key) points=(points.join(" ")) fill="none" stroke=(LINE_COLOURS[li]) stroke-width="2" {}
                @for (i, (at, groups)) in series.iter().enumerate() {
                    @if let Some(r) = rate_at(groups, key) {
                        circle class="point" data-key=(key) data-at=(at.to_rfc3339()) data-rate=(percent(r))
                            cx=(x(i)) cy=(y_rate(r)) r="3" fill=(LINE_COLOURS[li]) { title { (key) ", " (when(at)) ": " (percent(r)) } }
                    }
                }
                rect x=(LABEL + li as u64 * 90) y=(SERIES_HEIGHT + 30) width="12" height="12" fill=(LINE_COLOURS[li]) {}
                text x=(LABEL + li as u64 * 90 + 16) y=(SERIES_HEIGHT + 40) font-size="11" { (key) }
            }
            @if let (Some((first, _)), Some((last, _))) = (series.first(), series.last()) {
                text x=(LABEL) y=(SERIES_HEIGHT + 24) font-size="11" { (when(first)) }
                text x=(LABEL + WIDTH - 70) y=(SERIES_HEIGHT + 24) font-size="11" { (when(last)) }
            }
        }
        h2 { "Drops per checkpoint per " (step.label()) ", " (whose) }
        svg class="chart" id="series-drops" role="img" aria-label=(format!("Drops per checkpoint per {}", step.label()))
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) xmlns="http://www.w3.org/2000/svg" {
            text x="0" y="16" font-size="11" { (most) }
            text x="0" y=(SERIES_HEIGHT + 10) font-size="11" { "0" }
            @for (i, ((at, _), t)) in series.iter().zip(&totals).enumerate() {
                @let counts = drops(t);
                @for (s, (name, colour)) in SERIES.iter().enumerate() {
                    @let below: u64 = counts[..s].iter().sum();
                    @if counts[s] > 0 {
                        @let h = (SERIES_HEIGHT * counts[s] / most).max(1);
                        rect class="bar" data-at=(at.to_rfc3339()) data-checkpoint=(name) data-count=(counts[s])
                            x=(LABEL + i as u64 * column) y=(10 + SERIES_HEIGHT - SERIES_HEIGHT * below / most - h)
                            width=((column - 1).max(1)) height=(h) fill=(colour) { title { (when(at)) ", " (name) ": " (counts[s]) } }
                    }
                }
            }
            @for (s, (name, colour)) in SERIES.iter().enumerate() {
                rect x=((s as u64) * 140) y=(height - 22) width="12" height="12" fill=(colour) {}
                text x=((s as u64) * 140 + 16) y=(height - 12) font-size="11" { (name) }
            }
        }
    }
}

fn charts(by: GroupBy, groups: &[StatsGroup]) -> Markup {
    if groups.is_empty() {
        return html! { p { "No pings in this range." } };
    }
    html! {
        h2 { "Dedup rate by " (by.as_str()) ", the whole range" }
        p { "Pings turned away whole (suppressed or vertical duplicates), as a share of all pings." }
        (rate_chart(groups))
        h2 { "Drops per checkpoint by " (by.as_str()) ", the whole range" }
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
