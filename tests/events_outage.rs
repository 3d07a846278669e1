//! PostgreSQL stopped for a minute under load (issue 23): the events of every ping answered
//! meanwhile wait in the store's outbox, the log's lag (`pingpost_events_lag_seconds`) grows
//! past the minute, and once PostgreSQL is back every event arrives, none lost, none doubled —
//! checked over the whole log (every row, by primary key) against every ping and sale the
//! engine answered. A real PostgreSQL of the test's own (it is stopped and restarted), on
//! either store (`PINGPOST_TEST_STORE`). Its own test binary: the lag gauge is global. And the
//! real binary on Redis, a relay pass hung in PostgreSQL while pings go on: their events still
//! reach the store.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::wait::eventually;
use common::*;
use pingpost_events::{EventLog, PgEvents};
use pingpost_testkit::PostgresServer;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

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

/// The pings' events (ids with no kind prefix, as `sale:`, `hits:` and `counts:` have) waiting
/// in a Redis store's outbox, every shard of it.
async fn waiting_pings(redis: &mut redis::aio::MultiplexedConnection) -> Result<usize, String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:events").query_async(redis).await.map_err(|e| e.to_string())?;
    let mut n = 0;
    for key in keys {
        let ids: Vec<String> = redis::cmd("HKEYS").arg(&key).query_async(redis).await.map_err(|e| e.to_string())?;
        n += ids.iter().filter(|id| !id.contains(':')).count();
    }
    Ok(n)
}

/// The real binary, its events going to a PostgreSQL where their table is locked, so a relay
/// pass hangs in its write (as one does on a stalled database; a paused server's idle
/// connections instead fail the pass at the pool's health check): the node must still hand
/// every ping's event to the store, where it waits safely, instead of holding them in the
/// process until its cap drops them (what the binary did while one task did both). Once the
/// lock goes, each arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_hands_its_events_to_the_store_while_a_relay_pass_hangs() {
    use common::process::{start_engine_with, temp_dir};
    const DURING: usize = 20;
    let redis = pingpost_testkit::RedisServer::start();
    let pg = tokio::task::spawn_blocking(PostgresServer::start).await.unwrap();
    let url = pg.fresh_database();
    let dir = temp_dir("events-hang");
    let key = "events-partner-key-0001";
    common::process::write_one_contract_market(&dir, key);
    let (_engine, base) = start_engine_with(&dir, &redis.url(), &[("PINGPOST_BOOKS", url.as_str())]);
    let http = reqwest::Client::new();
    let ping = |n: usize| {
        let request = http
            .post(format!("{base}/v1/ping"))
            .header("authorization", format!("Bearer {key}"))
            .body(json!({"offer": "auto-excl", "lead": {"email": format!("hang-{n}@example.com")}}).to_string());
        async move {
            let resp = request.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap()["ping_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let log = sqlx::PgPool::connect(&url).await.unwrap();
    let logged = async || {
        sqlx::query_scalar::<_, String>("SELECT ping_id FROM pingpost_events.lead_events")
            .fetch_all(&log)
            .await
            .map_err(|e| e.to_string())
    };
    let mut pings = BTreeSet::new();
    pings.insert(ping(0).await);
    eventually(Duration::from_secs(10), "the first ping's event in the log", async || {
        let rows = logged().await?;
        if rows.len() == 1 {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;

    let mut lock = log.begin().await.unwrap();
    sqlx::query("LOCK TABLE pingpost_events.lead_events IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let mut con = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // The next ping's event reaches the store either way; once a relay pass has taken it
    // there, that pass waits on the lock, and only a flush of its own moves the rest.
    pings.insert(ping(1).await);
    eventually(Duration::from_secs(10), "the first ping's event waiting in the store", async || {
        match waiting_pings(&mut con).await? {
            1 => Ok(()),
            n => Err(format!("{n} waiting")),
        }
    })
    .await;
    for n in 2..=DURING {
        pings.insert(ping(n).await);
    }
    eventually(Duration::from_secs(10), "every ping's event waiting in the store", async || {
        match waiting_pings(&mut con).await? {
            n if n == DURING => Ok(()),
            n => Err(format!("{n} of {DURING} waiting")),
        }
    })
    .await;

    lock.rollback().await.unwrap();
    let rows = eventually(Duration::from_secs(30), "every ping's event in the log", async || {
        let rows = logged().await?;
        if rows.len() >= pings.len() {
            Ok(rows)
        } else {
            Err(format!("{} of {} rows", rows.len(), pings.len()))
        }
    })
    .await;
    let distinct: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(distinct.len(), rows.len(), "no ping logged twice");
    assert_eq!(distinct, pings, "every ping answered, and only those, logged");
    eventually(Duration::from_secs(10), "the outbox drained", async || match waiting_pings(&mut con).await? {
        0 => Ok(()),
        n => Err(format!("{n} waiting")),
    })
    .await;
}
