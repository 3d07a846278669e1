//! What competitors get wrong: dedup and caps under concurrency. Every request here goes
//! through the real HTTP server at the same time as the others.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_pings_accept_exactly_one() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", ""));
    let h = Arc::new(Harness::start(&c).await);
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let h = Arc::clone(&h);
        // Half through each partner: cross-partner dedup races too.
        let key = if i % 2 == 0 { KEY_P1 } else { KEY_P2 };
        tasks.spawn(
            async move { h.ping_as(key, "auto-excl", lead(Some("race@example.com"), Some("555-000-9999"))).await },
        );
    }
    let answers: Vec<(u16, Value)> = tasks.join_all().await;
    assert!(answers.iter().all(|(s, _)| *s == 200));
    let accepted = answers.iter().filter(|(_, b)| b["status"] == "accepted").count();
    let duplicates = answers.iter().filter(|(_, b)| b["reason"] == "vertical_duplicate").count();
    assert_eq!((accepted, duplicates), (1, 49));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_posts_of_one_ping_make_exactly_one_sale() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", ""));
    let h = Arc::new(Harness::start(&c).await);
    let ping = h.ping("auto-excl", email("once@example.com")).await;
    let ping_id = ping["ping_id"].as_str().unwrap().to_string();
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (h, id) = (Arc::clone(&h), ping_id.clone());
        tasks.spawn(async move { h.post_as(KEY_P1, &id, email("once@example.com")).await });
    }
    let answers = tasks.join_all().await;
    assert_eq!(h.buyers.count("b1", "post"), 1, "delivered once");
    let sale_ids: std::collections::HashSet<String> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .filter_map(|(_, b)| b["sales"][0]["sale_id"].as_str().map(String::from))
        .collect();
    assert_eq!(sale_ids.len(), 1, "every successful answer is the one sale");
    assert!(answers.iter().all(|(s, b)| *s == 200 || (*s == 409 && b["error"]["code"] == "in_flight")), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cap_of_three_under_twenty_concurrent_posts_sells_exactly_three() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", "caps = { daily = 3 }"));
    let h = Arc::new(Harness::start(&c).await);
    let mut pings = Vec::new();
    for i in 0..20 {
        let ping = h.ping("auto-excl", email(&format!("consumer{i}@example.com"))).await;
        assert_eq!(bid_contracts(&ping), ["c1"], "the cap is not reached before the posts");
        pings.push((ping["ping_id"].as_str().unwrap().to_string(), i));
    }
    let mut tasks = JoinSet::new();
    for (id, i) in pings {
        let h = Arc::clone(&h);
        tasks.spawn(async move { h.post(&id, email(&format!("consumer{i}@example.com"))).await });
    }
    let answers = tasks.join_all().await;
    let sold = answers.iter().filter(|b| b["status"] == "sold").count();
    assert_eq!(sold, 3);
    assert_eq!(h.buyers.count("b1", "post"), 3);
    let capped = answers.iter().filter(|b| b["attempts"][0]["reason"] == "cap_reached").count();
    assert_eq!(capped, 17);
    assert_eq!(h.counter("b1/cap:c1:d:2026-11-23").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_consumer_on_two_verticals_posted_at_once_sells_to_a_buyer_once() {
    let mut c = base_config();
    c.push_str(&contract("auto-c", "b1", "auto-excl", "10.00", "dedup = { window_days = 60 }"));
    c.push_str(&contract("solar-c", "b1", "solar-excl", "10.00", "dedup = { window_days = 60 }"));
    let h = Arc::new(Harness::start(&c).await);
    let consumer = lead(Some("both@example.com"), Some("555-246-8000"));
    let a = h.ping("auto-excl", consumer.clone()).await;
    let b = h.ping("solar-excl", consumer.clone()).await;
    assert_eq!((bid_contracts(&a), bid_contracts(&b)), (vec!["auto-c".to_string()], vec!["solar-c".to_string()]));
    let mut tasks = JoinSet::new();
    for ping in [a, b] {
        let (h, consumer) = (Arc::clone(&h), consumer.clone());
        tasks.spawn(async move { h.post(ping["ping_id"].as_str().unwrap(), consumer).await });
    }
    let answers = tasks.join_all().await;
    assert_eq!(answers.iter().filter(|p| p["status"] == "sold").count(), 1, "{answers:?}");
    assert_eq!(h.buyers.count("b1", "post"), 1);
    let skipped: Vec<&Value> = answers.iter().filter(|p| p["status"] == "unsold").collect();
    assert_eq!(
        skipped[0]["attempts"][0],
        json!({"buyer": "b1", "contract": skipped[0]["attempts"][0]["contract"], "outcome": "skipped", "reason": "contract_duplicate"})
    );
}
