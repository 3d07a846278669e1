//! PostgreSQL stopped for a minute under load (issue 23): the events of every ping answered
//! meanwhile wait in the store's outbox, the log's lag (`pingpost_events_lag_seconds`) grows
//! past the minute, and once PostgreSQL is back every event arrives, none lost, none doubled —
//! checked over the whole log (every row, by primary key) against every ping and sale the
//! engine answered. A real PostgreSQL of the test's own (it is stopped and restarted), on
//! either store (`PINGPOST_TEST_STORE`). Its own test binary: the lag gauge is global.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_events::{EventLog, PgEvents};
use pingpost_testkit::PostgresServer;
use std::collections::BTreeSet;
use std::sync::Arc;

const WORKERS: usize = 8;
const PINGS_EACH: usize = 15;

fn market() -> String {
    base_config()
        + &contract("c1", "b1", "auto-excl", "20.00", "")
        + &contract("c2", "b2", "auto-excl", "15.00", "")
        + &contract("c3", "b3", "auto-excl", "12.00", "")
}

/// `WORKERS` clients pinging at once, each `PINGS_EACH` fresh consumers, every third one
/// posted (a sale, so a sale event too); answers the ping ids and how many sold.
async fn load(h: &Arc<Harness>, round: &str) -> (BTreeSet<String>, usize) {
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let h = Arc::clone(h);
        let round = round.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut ids, mut sold) = (Vec::new(), 0);
            for n in 0..PINGS_EACH {
                let lead = email(&format!("{round}-{w}-{n}@example.com"));
                let ping = h.ping("auto-excl", lead.clone()).await;
                ids.push(ping["ping_id"].as_str().unwrap().to_string());
                if n % 3 == 0 {
                    let post = h.post(ping["ping_id"].as_str().unwrap(), lead).await;
                    assert_eq!(post["status"], "sold", "{post}");
                    sold += 1;
                }
            }
            (ids, sold)
        }));
    }
    let mut all = (BTreeSet::new(), 0);
    for t in tasks {
        let (ids, sold) = t.await.unwrap();
        all.0.extend(ids);
        all.1 += sold;
    }
    all
}

async fn lag(h: &Harness) -> f64 {
    let (_, text) = h.scrape_metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("pingpost_events_lag_seconds ").and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no lag gauge in {text}"))
}

async fn logged(log: &PgEvents) -> (Vec<String>, i64) {
    let pings: Vec<String> = sqlx::query_scalar("SELECT ping_id FROM lead_events").fetch_all(log.pool()).await.unwrap();
    let sales: i64 = sqlx::query_scalar("SELECT count(*) FROM sale_events").fetch_one(log.pool()).await.unwrap();
    (pings, sales)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_for_a_minute_under_load_loses_and_doubles_no_event() {
    pingpost_server::metrics::install().unwrap();
    let mut pg = tokio::task::spawn_blocking(PostgresServer::start_own).await.unwrap();
    let url = pg.fresh_database();
    let log = Arc::new(PgEvents::connect(&url).await.unwrap());
    let h = Arc::new(
        Harness::start_with_event_log(Backend::from_env(), &market(), Arc::clone(&log) as Arc<dyn EventLog>).await,
    );
    h.engine.event_upkeep(90).await.unwrap();

    let (mut pings, mut sales) = load(&h, "before").await;
    h.engine.quiesce().await;
    h.engine.relay_events().await.unwrap();
    assert_eq!(lag(&h).await, 0.0);

    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    // Under load while it is down, relay passes running beside the pings as the node's would
    // (each fails once it has an event to write, or finds none yet: either leaves them waiting).
    let relaying = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            for _ in 0..5 {
                let _ = h.engine.relay_events().await;
                tokio::task::yield_now().await;
            }
        })
    };
    let (during, sold) = load(&h, "during").await;
    relaying.await.unwrap();
    pings.extend(during.iter().cloned());
    sales += sold;
    h.engine.quiesce().await;
    // A minute passes; the events still wait, and the lag says how long.
    h.advance_secs(60).await;
    assert!(h.engine.relay_events().await.is_err(), "PostgreSQL is stopped");
    let waiting = h.engine.store().queued_events(100_000).await.unwrap();
    assert!(
        waiting.len() >= during.len() + sold,
        "{} events wait, for {} pings and {sold} sales",
        waiting.len(),
        during.len()
    );
    assert!(lag(&h).await >= 60.0, "lag {}", lag(&h).await);

    let _pg = tokio::task::spawn_blocking(move || {
        pg.restart();
        pg
    })
    .await
    .unwrap();
    // The pool finds its connections to the stopped server broken one by one: each failed pass
    // drops one, as the node's next pass would.
    for _ in 0..20 {
        if h.engine.relay_events().await.is_ok() && h.engine.store().queued_events(1).await.unwrap().is_empty() {
            break;
        }
    }
    assert!(h.engine.store().queued_events(1).await.unwrap().is_empty(), "the outbox drained");
    assert_eq!(lag(&h).await, 0.0);

    let (logged_pings, logged_sales) = logged(&log).await;
    let distinct: BTreeSet<String> = logged_pings.iter().cloned().collect();
    assert_eq!(distinct.len(), logged_pings.len(), "no ping logged twice");
    assert_eq!(distinct, pings, "every ping answered, and only those, logged");
    assert_eq!(logged_sales, i64::try_from(sales).unwrap(), "every sale logged once");
}
