//! An idempotency key's answer is stored small: what cannot be read again elsewhere (an
//! accepted ping's bids are its record's), so that keys on every ping at 2 000 pings/s do not
//! fill the store. A retry still answers what the first call answered, as the partner sees
//! it, while the ping can be posted; once its record is gone, it is told the ping expired.
//!
//! `-- --nocapture` prints the bytes stored per answer (and on Redis the key's memory), the
//! figures in BENCHMARKS.md.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

const BIDS: usize = 30;

/// `auto-excl` with 30 fixed-price contracts of 30 buyers: a 30-bid answer.
fn thirty_bids() -> String {
    let mut c = base_config();
    for b in 6..=BIDS {
        c.push_str(&format!("\n[[buyers]]\nid = \"b{b}\"\npost_url = \"{{buyers}}/b{b}/post\"\ntimeout_ms = 1000\n"));
    }
    for b in 1..=BIDS {
        c.push_str(&contract(&format!("c{b}"), &format!("b{b}"), "auto-excl", &format!("{}.{b:02}", 10 + b), ""));
    }
    c
}

async fn ping_with_key(h: &Harness, offer: &str, who: &str, key: &str) -> (u16, Value) {
    let body = json!({"offer": offer, "lead": email(who), "idempotency_key": key});
    h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await
}

/// The stored answer of every idempotency key, as the store holds it: a claim's `ans` field
/// on Redis, the last field of a claim's line in the embedded store's dump.
async fn stored_answers(h: &Harness) -> Vec<String> {
    let dump = h.dump_store().await;
    dump.lines()
        .filter(|l| l.contains("idem:"))
        .map(|l| match l.split_once(" ans=") {
            Some((_, rest)) => rest.split(' ').next().unwrap_or_default().to_string(),
            None => l.rsplit(' ').next().unwrap_or_default().to_string(),
        })
        .collect()
}

#[tokio::test]
async fn a_retry_answers_as_the_first_call_did_from_a_small_stored_answer() {
    let mut h = Harness::start(&thirty_bids()).await;
    let first = ping_with_key(&h, "auto-excl", "idem-30@example.com", "k-30").await;
    assert_eq!((first.0, first.1["bids"].as_array().map(Vec::len)), (200, Some(BIDS)), "{}", first.1);
    let retry = ping_with_key(&h, "auto-excl", "idem-30@example.com", "k-30").await;
    assert_eq!(retry, first, "the retry is the first answer");

    let stored = stored_answers(&h).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    println!("stored answer of a {BIDS}-bid ping: {} bytes: {}", stored[0].len(), stored[0]);
    if let Some(server) = h.redis() {
        let mut con = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*claim:idem:*").query_async(&mut con).await.unwrap();
        let used: i64 = redis::cmd("MEMORY").arg("USAGE").arg(&keys[0]).query_async(&mut con).await.unwrap();
        println!("Redis MEMORY USAGE of the key's claim: {used} bytes");
    }
    assert!(stored[0].len() <= 96, "the bids are not stored again: {} bytes", stored[0].len());

    // A rejected ping's answer is all in what is stored.
    let duplicate = ping_with_key(&h, "auto-2", "idem-30@example.com", "k-dup").await;
    assert_eq!(duplicate.1["reason"], "vertical_duplicate", "{}", duplicate.1);
    assert_eq!(ping_with_key(&h, "auto-2", "idem-30@example.com", "k-dup").await, duplicate);
}

/// Past the ping's TTL and grace its bids can no longer be posted and are gone with its
/// record: a retry is told the ping expired (410), as a post of it would be. A rejected
/// answer has no bids and answers the same for the key's whole hour.
#[tokio::test]
async fn a_retry_after_its_ping_record_is_gone_is_told_the_ping_expired() {
    let h = Harness::start(&(base_config() + &contract("c1", "b1", "auto-excl", "20.00", ""))).await;
    let (status, first) = ping_with_key(&h, "auto-excl", "late@example.com", "k-late").await;
    assert_eq!((status, &first["status"]), (200, &json!("accepted")), "{first}");
    let rejected = ping_with_key(&h, "auto-2", "late@example.com", "k-rejected").await;
    assert_eq!(rejected.1["reason"], "vertical_duplicate", "{}", rejected.1);

    // Inside the TTL and grace (5 + 15 minutes) the retry is the first answer.
    h.advance_secs(19 * 60).await;
    assert_eq!(ping_with_key(&h, "auto-excl", "late@example.com", "k-late").await, (status, first.clone()));
    h.advance_secs(2 * 60).await;
    let (status, late) = ping_with_key(&h, "auto-excl", "late@example.com", "k-late").await;
    assert_eq!((status, &late["error"]["code"]), (410, &json!("ping_expired")), "{late}");
    assert!(late["error"]["message"].as_str().unwrap().contains(first["ping_id"].as_str().unwrap()), "{late}");
    assert_eq!(ping_with_key(&h, "auto-2", "late@example.com", "k-rejected").await, rejected);
}
