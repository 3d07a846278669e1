//! Properties of the engine on Redis: Redis commands per ping that grow with the offer's
//! buyers by a fixed number each (never with its contracts), keys that expire on their own,
//! and a store outage that fails requests fast (never sells without a dedup check) and heals
//! by itself.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::json;
use std::time::Duration;

/// 30 extra buyers, one per contract, so no contract is an in-auction duplicate (which
/// would add audit writes and blur the count).
fn many_buyers() -> String {
    (1..=30).map(|i| format!("\n[[buyers]]\nid = \"x{i}\"\npost_url = \"{{buyers}}/x{i}/post\"\n")).collect()
}

/// Each buyer's sales live in its own slot (issue 22), so a ping reads, for each buyer of the
/// offer, its counters (one `MGET`) and its marks on the consumer (one `HGETALL` per
/// identifier), all sent at once: one round trip, three commands per buyer for a lead with an
/// email and a phone, whatever the number of contracts.
const COMMANDS_PER_BUYER: u64 = 1 + 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_executes_a_fixed_number_of_redis_commands_per_buyer_of_its_offer() {
    let mut c = base_config();
    c.push_str(&many_buyers());
    c.push_str(&contract("one", "x1", "auto-excl", "10.00", "caps = { daily = 100 }"));
    for i in 1..=30 {
        c.push_str(&contract(&format!("k{i}"), &format!("x{i}"), "auto-2", "10.00", "caps = { daily = 100 }"));
    }
    let mut h = Harness::start_on(Backend::Redis, &c).await;
    let phones = std::sync::atomic::AtomicU32::new(0);
    let lead = |n: &str| {
        let phone = format!("555-400-{:04}", phones.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        lead(Some(&format!("{n}@example.com")), Some(&phone))
    };
    // Warm-up: scripts get loaded (NOSCRIPT, SCRIPT LOAD) on first use.
    h.ping("auto-excl", lead("warm1")).await;
    h.ping("auto-2", lead("warm2")).await;

    let mut executed = Vec::new();
    for (offer, who, bids) in [("auto-excl", "one", 1), ("auto-2", "thirty", 30)] {
        // The confirmation of the ping before is done, and this ping's is counted with it:
        // the answer does not wait for it, so without this the count would race it.
        h.engine.quiesce().await;
        let before = h.redis().unwrap().commands_executed();
        let ping = h.ping(offer, lead(&format!("{who}-{offer}"))).await;
        assert_eq!(bid_contracts(&ping).len(), bids, "{ping}");
        h.engine.quiesce().await;
        executed.push(h.redis().unwrap().commands_executed() - before);
    }
    println!("Redis commands per ping (1 contract of 1 buyer, 30 contracts of 30 buyers): {executed:?}");
    assert_eq!(
        executed[1],
        executed[0] + 29 * COMMANDS_PER_BUYER,
        "commands per ping grow by a fixed number per buyer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_expires_on_its_own_but_suppression_and_bounded_structures() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "caps = { daily = 10, hourly = 5 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", "dq = { url = \"{buyers}/b2/dq\", window_days = 30 }"));
    let mut h = Harness::start_on(Backend::Redis, &c).await;
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let l = lead(Some("ttl@example.com"), Some("555-500-0001"));
    let body = json!({"offer": "auto-excl", "lead": l, "idempotency_key": "k1"});
    let (_, ping) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    h.post(ping["ping_id"].as_str().unwrap(), l.clone()).await; // b1 rolls back, b2 buys
    h.ping("auto-excl", l).await; // a vertical duplicate
    let hash = pingpost_core::identity::Sha256Hex::digest("suppressed@example.com");
    h.engine.store().suppress(vec![hash], h.engine.now()).await.unwrap();
    h.audit().await;

    let url = h.redis().unwrap().url();
    let mut con = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("pp:*").query_async(&mut con).await.unwrap();
    let retention_ms = Duration::from_secs(366 * 86_400).as_millis() as i64;
    let mut kinds = std::collections::BTreeSet::new();
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut con).await.unwrap();
        // Bounded by other means: suppression lives until lifted, a buyer's leases and
        // unconfirmed sets lose members as sales settle or age out and its outbox as the
        // relay delivers (the lead events' outbox as the event relay does), the stream is
        // trimmed on every append, the buyers' set holds one name per buyer.
        let permanent = key.ends_with(":sup")
            || key.ends_with("}:leases")
            || key.ends_with("}:unconfirmed")
            || key.ends_with("}:outbox")
            || key.ends_with("}:outbox_at")
            || key.ends_with("}:events")
            || key.ends_with("}:events_at")
            || key == "pp:{audit}"
            || key == "pp:config"
            || key == "pp:buyers";
        if permanent {
            assert_eq!(ttl, -1, "{key}");
        } else if key.starts_with("pp:stats:") {
            let stats_ms = pingpost_engine::stats::DEFAULT_RETENTION.num_milliseconds();
            assert!(ttl > 0 && ttl <= stats_ms, "{key} has TTL {ttl} ms");
        } else {
            assert!(ttl > 0 && ttl <= retention_ms, "{key} has TTL {ttl} ms");
        }
        // What follows the hash tag (`pp:{b:b1}:sale:…` → `sale`), or the namespace.
        let rest = key.split_once("}:").map_or_else(|| key.trim_start_matches("pp:"), |(_, r)| r);
        kinds.insert(rest.split(':').next().unwrap_or(rest).to_string());
    }
    // The run touched every kind of key: consumer state, suppression, ledger, the buyers'
    // marks, counters, blobs, claims (the leases set is empty, hence absent, once every sale
    // is settled).
    for kind in ["c", "sup", "sale", "bought", "ctr"] {
        assert!(kinds.contains(kind), "no {kind} key in {keys:?}");
    }
    assert!(keys.iter().any(|k| k.starts_with("pp:blob:")) && keys.iter().any(|k| k.starts_with("pp:claim:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_requests_fail_fast_with_503_nothing_is_sold_and_the_engine_recovers() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", ""));
    let mut h = Harness::start_on(Backend::Redis, &c).await;
    // A client that gives up long after the store's own bound: a hanging request fails the
    // test instead of hanging it.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let readyz = format!("{}/readyz", h.base);
    let ready = |http: &reqwest::Client| {
        let (http, url) = (http.clone(), readyz.clone());
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&http).await, 200);
    let waiting = h.ping("auto-excl", email("waiting@example.com")).await;
    assert_eq!(waiting["status"], "accepted");

    h.redis().unwrap().stop();
    let base = h.base.clone();
    let send = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .header("authorization", format!("Bearer {KEY_P1}"))
            .body(body.to_string())
            .send()
    };
    let ping = send("/v1/ping", json!({"offer": "auto-excl", "lead": email("down@example.com")})).await.unwrap();
    assert_eq!(ping.status().as_u16(), 503);
    let body: serde_json::Value = serde_json::from_slice(&ping.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    // Redis' own words (its address, the OS error) are for the log, not for partners or the
    // unauthenticated probe.
    let store_said = |body: &serde_json::Value| {
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        assert_eq!(message, "the store is unavailable; nothing was recorded, retry later", "{body}");
    };
    store_said(&body);
    let post =
        send("/v1/post", json!({"ping_id": waiting["ping_id"], "lead": email("waiting@example.com")})).await.unwrap();
    assert_eq!(post.status().as_u16(), 503);
    store_said(&serde_json::from_slice(&post.bytes().await.unwrap()).unwrap());
    assert_eq!(h.buyers.count("b1", "post"), 0, "no lead is delivered without its dedup check");
    assert_eq!(ready(&http).await, 503);
    let probe = http.get(&readyz).send().await.unwrap();
    store_said(&serde_json::from_slice(&probe.bytes().await.unwrap()).unwrap());

    h.redis().unwrap().restart();
    // The engine reconnects by itself; readiness is the signal to wait for.
    let mut waited = 0;
    while ready(&http).await != 200 {
        waited += 1;
        assert!(waited < 200, "the engine did not recover after Redis came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The restarted Redis knows none of the scripts: this sale also goes through EVALSHA ->
    // NOSCRIPT -> SCRIPT LOAD -> EVALSHA on every script it uses.
    let (_, post) = h.sell("auto-excl", email("back@example.com")).await;
    assert_eq!(sold_to(&post), ["b1"]);
}
