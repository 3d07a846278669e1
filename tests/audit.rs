//! The dedup audit log through `GET /v1/admin/audit`: hits at several checkpoints found by
//! buyer, partner, checkpoint and time, paged newest first; and, with the real binary on
//! Redis, a graceful shutdown that loses no entry.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_with, temp_dir, SharedBooks};
use common::*;
use pingpost_core::checkpoint::Checkpoint;
use pingpost_engine::audit::{AuditRetention, AuditSink};
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_testkit::RedisServer;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// b1 has two contracts on auto-excl (c3 always loses to c1 in the auction); b2 one.
fn market() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "10.00", ""));
    c.push_str(&contract("c3", "b1", "auto-excl", "12.00", ""));
    c
}

fn at(secs: i64) -> String {
    (start_time() + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// (checkpoint, contract or partner) of each entry, in the order answered.
fn hits(body: &Value) -> Vec<String> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}@{}", e["checkpoint"].as_str().unwrap(), e["contract"].as_str().unwrap_or("-")))
        .collect()
}

async fn get(h: &Harness, query: &str) -> Value {
    let (status, body) = h.admin("GET", &format!("/audit{query}"), None).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_at_several_checkpoints_are_found_by_buyer_partner_checkpoint_and_time_and_paged() {
    let h = Harness::start(&market()).await;
    hits_are_found_and_paged(&h).await;
}

/// The same API, read from the lead event log in PostgreSQL (SPEC: the audit API reads from it
/// when it is there, over its whole retention): the same answers, filters and pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_are_found_and_paged_from_the_event_log_in_postgresql() {
    let (h, log, _server) = Harness::start_with_postgres_events(Backend::from_env(), &market()).await;
    hits_are_found_and_paged(&h).await;
    let (records, logged): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(cardinality(checkpoints))::int8 FROM hit_events")
            .fetch_one(log.pool())
            .await
            .unwrap();
    assert_eq!(logged, 5, "the hits are the log's");
    assert!(records < logged, "a record's hits share its row ({records} rows)");
    // A test lead's hit stays in the store's audit log only.
    let body = json!({"offer": "auto-excl", "lead": email("b@example.com"), "test": true});
    let (status, test) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!((status, &test["reason"]), (200, &json!("vertical_duplicate")), "{test}");
    h.engine.audit().flush().await.unwrap();
    let stored = h.engine.audit().query(pingpost_engine::audit::AuditQuery::newest(100)).await.unwrap();
    assert_eq!(stored.entries.len(), 6, "the store's log has the test lead's hit");
    assert_eq!(hits(&get(&h, "?limit=100").await).len(), 5, "the event log has not");
}

async fn hits_are_found_and_paged(h: &Harness) {
    h.engine.event_upkeep(90).await.unwrap();
    // t+0: A accepted; c3 loses to c1 (in-auction duplicate).
    assert_eq!(h.ping("auto-excl", email("a@example.com")).await["status"], "accepted");
    // t+60: A again, from p2: a vertical duplicate.
    h.advance_secs(60).await;
    let (_, dup) = h.ping_as(KEY_P2, "auto-excl", email("a@example.com")).await;
    assert_eq!(dup["reason"], "vertical_duplicate");
    // t+120: B sold to b1 (c3 dropped in the auction again).
    h.advance_secs(60).await;
    assert_eq!(sold_to(&h.sell("auto-excl", email("b@example.com")).await.1), ["b1"]);
    // 31 days later, past the vertical window: c3 loses in the auction, c1 bought B already.
    h.advance_days(31).await;
    h.engine.event_upkeep(90).await.unwrap();
    assert_eq!(bid_contracts(&h.ping("auto-excl", email("b@example.com")).await), ["c2"]);
    h.engine.audit().flush().await.unwrap();

    let all = get(h, "").await;
    assert_eq!(
        hits(&all),
        [
            "contract_duplicate@c1",
            "in_auction_duplicate@c3",
            "in_auction_duplicate@c3",
            "vertical_duplicate@-",
            "in_auction_duplicate@c3"
        ],
        "newest first: {all}"
    );
    assert_eq!(all["next_cursor"], Value::Null);
    let last = &all["entries"][0];
    assert_eq!(last["at"], at(120 + 31 * DAY));
    assert_eq!(last["prior_at"], at(120));
    assert_eq!((last["buyer"].as_str(), last["matched"].as_str()), (Some("b1"), Some("email")));
    assert_eq!((last["partner"].as_str(), last["vertical"].as_str()), (Some("p1"), Some("auto")));
    assert_eq!(last["offer"], "auto-excl");
    assert!(last["ping_id"].as_str().is_some_and(|p| !p.is_empty()));
    let vertical = &all["entries"][3];
    assert_eq!((vertical["ping_id"].as_str(), vertical["buyer"].as_str()), (dup["ping_id"].as_str(), None));
    assert!(!all.to_string().contains("example.com"), "no plaintext identifier in the log");

    assert_eq!(hits(&get(h, "?buyer=b1").await).len(), 4);
    assert_eq!(hits(&get(h, "?buyer=b2").await), Vec::<String>::new());
    assert_eq!(hits(&get(h, "?partner=p2").await), ["vertical_duplicate@-"]);
    assert_eq!(hits(&get(h, "?checkpoint=contract_duplicate&vertical=auto&offer=auto-excl").await).len(), 1);
    let range = get(h, &format!("?since={}&until={}", at(60), at(121))).await;
    assert_eq!(hits(&range), ["in_auction_duplicate@c3", "vertical_duplicate@-"], "since inclusive: {range}");
    let before = get(h, &format!("?until={}", at(120))).await;
    assert_eq!(hits(&before), ["vertical_duplicate@-", "in_auction_duplicate@c3"], "until exclusive");

    // Pages of two, newest first, end with a null cursor and add up to the whole log.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let page = get(h, &query).await;
        assert!(hits(&page).len() <= 2);
        paged.extend(hits(&page));
        cursor = page["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(cursor, None);
    assert_eq!(paged, hits(&all));
    let by_checkpoint = get(h, "?checkpoint=in_auction_duplicate&limit=2").await;
    let rest = get(
        h,
        &format!("?checkpoint=in_auction_duplicate&limit=2&cursor={}", by_checkpoint["next_cursor"].as_str().unwrap()),
    )
    .await;
    assert_eq!((hits(&by_checkpoint).len(), hits(&rest).len(), &rest["next_cursor"]), (2, 1, &Value::Null));
}

#[tokio::test]
async fn the_audit_log_needs_the_operator_token_and_names_bad_parameters() {
    let h = Harness::start(&market()).await;
    assert_eq!(h.admin_with(None, "GET", "/audit", None).await.0, 401);
    assert_eq!(h.admin_with(Some(KEY_P1), "GET", "/audit", None).await.0, 401, "a partner key is no operator");
    for (query, field) in [
        ("?checkpoint=duplicate", "checkpoint"),
        ("?since=2026-11-23", "since"),
        ("?until=tomorrow", "until"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?cursor=%2B", "cursor"),
        ("?parter=p1", "parter"),
    ] {
        let (status, body) = h.admin("GET", &format!("/audit{query}"), None).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    let (_, body) = h.admin("GET", "/audit?checkpoint=nope", None).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(Checkpoint::ALL.iter().all(|c| message.contains(c.as_str())), "{message}");
}

const SHUTDOWN_KEY: &str = "shutdown-partner-key-0001";
const DUPLICATES: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_duplicates_are_answered_loses_no_audit_entry() {
    let redis = RedisServer::start();
    let dir = temp_dir("audit-shutdown");
    common::process::write_one_contract_market(&dir, SHUTDOWN_KEY);
    let books = tokio::task::block_in_place(SharedBooks::start);
    let (mut engine, base) = start_engine_with(&dir, &redis.url(), &books.env());
    let http = reqwest::Client::new();
    let ping = |http: reqwest::Client, base: String| async move {
        let resp = http
            .post(format!("{base}/v1/ping"))
            .header("authorization", format!("Bearer {SHUTDOWN_KEY}"))
            .body(json!({"offer": "auto-excl", "lead": {"email": "again@example.com"}}).to_string())
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, serde_json::from_slice::<Value>(&resp.bytes().await.ok()?).ok()?))
    };
    let (_, first) = ping(http.clone(), base.clone()).await.unwrap();
    assert_eq!(first["status"], "accepted", "{first}");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..DUPLICATES {
        let (tx, http, base) = (tx.clone(), http.clone(), base.clone());
        tokio::spawn(async move {
            let _ = tx.send(ping(http, base).await);
        });
    }
    drop(tx);
    // SIGTERM as soon as a quarter of the duplicates are answered: the rest are in flight, queued
    // in the audit writer, or refused.
    let mut answers = Vec::new();
    while answers.len() < DUPLICATES / 4 {
        answers.push(rx.recv().await.expect("an answer"));
    }
    let pid = engine.0.id();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    while let Some(answer) = rx.recv().await {
        answers.push(answer);
    }
    let exit = tokio::task::block_in_place(|| engine.0.wait()).unwrap();
    assert!(exit.success(), "pingpost exits cleanly on SIGTERM: {exit}");

    let answered: BTreeSet<String> = answers
        .iter()
        .flatten()
        .filter(|(status, body)| *status == 200 && body["reason"] == "vertical_duplicate")
        .map(|(_, body)| body["ping_id"].as_str().unwrap().to_string())
        .collect();
    assert!(answered.len() >= DUPLICATES / 4, "{} duplicates answered", answered.len());

    let store = RedisStore::connect(&redis.url(), RedisOptions::default()).await.unwrap();
    let log = store.audit_log(AuditRetention::default());
    let stored: Vec<String> =
        log.recent(usize::MAX).await.unwrap().into_iter().map(|e| e.ping_id.to_string()).collect();
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    let missing: Vec<&String> = answered.difference(&stored_set).collect();
    assert!(missing.is_empty(), "{} answered duplicates missing from the audit log: {missing:?}", missing.len());
    assert_eq!(stored.len(), answered.len(), "one entry per answered duplicate, none twice");
}
