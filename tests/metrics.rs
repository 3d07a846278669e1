//! `/metrics` moves the right series: one ping with a known drop and bids, posts that sell
//! and roll back, an error answer. The recorder is global to the process, so the test of the
//! series compares deltas of the series it touches (the other test here moves none of them);
//! and `/metrics` is served on its own address only.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::{base_config, contract, Harness, KEY_P1};
use pingpost_buyersim::PostReply;
use serde_json::json;
use std::collections::BTreeMap;

/// The value of the series `name{labels}` (exactly those labels) in Prometheus text; 0 when
/// absent, as a counter that never moved is.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let got: BTreeMap<&str, &str> = series_labels
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if got == want {
            return value.parse().unwrap();
        }
    }
    0.0
}

struct Scrape(String);

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sample(&self.0, name, labels)
    }
}

async fn scrape(h: &Harness) -> Scrape {
    let (status, text) = h.scrape_metrics().await;
    assert_eq!(status, 200, "{text}");
    Scrape(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_and_its_posts_move_the_right_counters_and_histograms() {
    pingpost_server::metrics::install().unwrap();
    // c2 is b1's second contract on the offer: dropped at checkpoint 3 (in-auction).
    let config = base_config()
        + &contract("c1", "b1", "auto-excl", "20.00", "")
        + &contract("c2", "b1", "auto-excl", "10.00", "")
        + &contract("c3", "b2", "auto-excl", "15.00", "");
    let h = Harness::start(&config).await;
    let offer = ("offer", "auto-excl");
    let before = scrape(&h).await;

    // Sold to b1.
    let (ping, post) = h.sell("auto-excl", json!({"email": "m1@example.com", "state": "CA"})).await;
    assert_eq!(ping["status"], "accepted", "{ping}");
    assert_eq!(post["status"], "sold", "{post}");
    // b1 answers "duplicate": rolled back, sold to b2 by the waterfall.
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let (_, post) = h.sell("auto-excl", json!({"email": "m2@example.com", "state": "CA"})).await;
    assert_eq!(post["sales"][0]["buyer"], "b2", "{post}");
    // An error answer, counted by its code.
    let (status, _) = h.ping_as("not-a-key", "auto-excl", json!({"email": "m3@example.com"})).await;
    assert_eq!(status, 401);
    let (status, _) = h.get_text("/readyz").await;
    assert_eq!(status, 200);
    let _ = KEY_P1;

    let after = scrape(&h).await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);

    assert_eq!(delta("pingpost_pings_total", &[offer, ("outcome", "accepted")]), 2.0);
    assert_eq!(delta("pingpost_drops_total", &[("checkpoint", "in_auction_duplicate"), offer]), 2.0);
    assert_eq!(delta("pingpost_drops_total", &[("checkpoint", "post_duplicate"), offer]), 1.0);
    assert_eq!(delta("pingpost_drops_total", &[("checkpoint", "contract_duplicate"), offer]), 0.0);
    assert_eq!(delta("pingpost_bids_total", &[offer, ("buyer", "b1")]), 2.0);
    assert_eq!(delta("pingpost_bids_total", &[offer, ("buyer", "b2")]), 2.0);
    assert_eq!(delta("pingpost_posts_total", &[offer, ("status", "sold")]), 2.0);
    assert_eq!(delta("pingpost_sales_total", &[offer, ("buyer", "b1")]), 1.0);
    assert_eq!(delta("pingpost_sales_total", &[offer, ("buyer", "b2")]), 1.0);
    assert_eq!(delta("pingpost_rollbacks_total", &[offer, ("buyer", "b1")]), 1.0);
    assert_eq!(delta("pingpost_post_attempts_total", &[offer, ("buyer", "b1"), ("outcome", "accepted")]), 1.0);
    assert_eq!(delta("pingpost_post_attempts_total", &[offer, ("buyer", "b1"), ("outcome", "duplicate")]), 1.0);
    assert_eq!(delta("pingpost_errors_total", &[("code", "unauthorized"), ("status", "401")]), 1.0);
    assert_eq!(after.get("pingpost_store_up", &[]), 1.0);

    // Histograms have buckets (not quantiles) and grew by one sample per event.
    assert!(!after.0.contains("quantile="), "histograms must be rendered with buckets");
    let decision = [offer];
    assert_eq!(delta("pingpost_ping_decision_seconds_count", &decision), 2.0);
    assert_eq!(delta("pingpost_ping_decision_seconds_bucket", &[offer, ("le", "+Inf")]), 2.0);
    assert!(after.get("pingpost_ping_decision_seconds_bucket", &[offer, ("le", "0.000025")]).is_finite());
    assert!(delta("pingpost_ping_decision_seconds_sum", &decision) > 0.0);
    // Every ping admits once; every post reserves once per bid it tries.
    assert!(delta("pingpost_store_op_seconds_count", &[("op", "admit")]) >= 2.0);
    assert!(delta("pingpost_store_op_seconds_count", &[("op", "reserve_sale")]) >= 3.0);
    assert!(delta("pingpost_store_op_seconds_bucket", &[("op", "reserve_sale"), ("le", "+Inf")]) >= 3.0);
    assert!(delta("pingpost_store_op_seconds_count", &[("op", "health")]) >= 1.0);
    let post_calls =
        |buyer| delta("pingpost_buyer_call_seconds_count", &[("buyer", buyer), ("call", "post"), ("outcome", "ok")]);
    assert_eq!(post_calls("b1"), 2.0);
    assert_eq!(post_calls("b2"), 1.0);

    // No consumer data in any label.
    for needle in ["m1@example.com", "example.com", "@"] {
        assert!(!after.0.contains(needle), "{needle:?} in /metrics");
    }
}

/// `pingpost_bids_total{buyer}` and `pingpost_sales_total{buyer}` move when a partner's own
/// lead sells: served where partners connect, they would tell a partner who bought its lead,
/// which `disclosure = "payout"` hides. The API's address has no `/metrics`.
#[tokio::test]
async fn metrics_are_not_served_on_the_partners_address() {
    pingpost_server::metrics::install().unwrap();
    let h = Harness::start(&(base_config() + &contract("c1", "b1", "auto-excl", "20.00", ""))).await;
    let (status, body) = h.get_text("/metrics").await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("pingpost_"), "{body}");
    let (status, _) = h.scrape_metrics().await;
    assert_eq!(status, 200, "the metrics address serves them");
}
