//! The window what-if end to end (SPEC "Repeat leads, the window what-if and the lead event
//! log"): a seeded history of pings and sales replayed through the engine, over 53 days of its
//! clock, then `GET /v1/admin/whatif` for a contract's window and a vertical's, checked against
//! the table below, computed by hand; and erasure reaching the log. With the events in the
//! process and in PostgreSQL (a server the test starts, or `PINGPOST_TEST_POSTGRES`'s), on
//! either store (`PINGPOST_TEST_STORE`).
//!
//! The market: vertical `solar` (window 1 day, so a consumer back a day later passes
//! checkpoint 2 and reaches the contract's window), its offer `solar-excl`, one contract `c1`
//! of b1 at $20 with a 30-day window. The history (day: consumer → what happens):
//!
//! | day | ping | c1's gap (b1 bought it) | vertical gap | answer |
//! |----:|------|------------------:|-------------:|--------|
//! | 0   | A, B, C, D  | none  | none | sold ×4 ($80) |
//! | 10  | A    | 10    | 10   | contract_duplicate: no bids |
//! | 35  | B    | 35    | 35   | sold ($20) |
//! | 45  | C    | 45    | 45   | sold ($20) |
//! | 45  | E    | none  | none | sold ($20) |
//! | 50  | A    | 50    | 40   | sold ($20) |
//! | 52  | B    | 17    | 17   | contract_duplicate: no bids |
//!
//! c1's window 30 → 60: reached 10; blocked then (gap < 30: 10, 17) 2; blocked with (< 60:
//! 10, 17, 35, 45, 50) 5; newly blocked 3 (35, 45, 50), newly allowed 0; their 3 sales,
//! $60.00, stopped. 30 → 7: blocked with 0, newly allowed 2 (10, 17), nothing stopped.
//! solar's window 1 → 60: reached 10, blocked then 0, blocked with 5 (10, 35, 45, 40, 17),
//! newly blocked 5, sales stopped 3 ($60.00: B at 35, C at 45, A at 40). The default range on
//! day 52, its last 7 days (46 to 52), holds A at 50 and B at 52: c1 30 → 60 reached 2,
//! blocked then 1, with 2, newly blocked 1, its sale of $20.00 stopped.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn market() -> String {
    base_config() + &contract("c1", "b1", "solar-excl", "20.00", "dedup = { window_days = 30 }")
}

fn consumer(name: &str) -> Value {
    email(&format!("{name}@example.com"))
}

/// Relays what the engine answered to its log, making the log's days first (the clock has
/// moved since the last upkeep), as the binary's relay task does.
async fn logged(h: &Harness) {
    h.engine.quiesce().await;
    h.engine.event_upkeep(90).await.unwrap();
    h.engine.relay_events().await.unwrap();
}

/// Plays the table's history; answers the first day's date.
async fn history(h: &Harness) -> chrono::NaiveDate {
    let first = h.engine.now().date_naive();
    logged(h).await;
    for who in ["a", "b", "c", "d"] {
        let (_, post) = h.sell("solar-excl", consumer(who)).await;
        assert_eq!(post["status"], "sold", "{post}");
    }
    let steps: [(i64, &str, bool); 6] =
        [(10, "a", false), (25, "b", true), (10, "c", true), (0, "e", true), (5, "a", true), (2, "b", false)];
    for (days, who, sells) in steps {
        h.advance_days(days).await;
        logged(h).await;
        if sells {
            let (ping, post) = h.sell("solar-excl", consumer(who)).await;
            assert_eq!(post["status"], "sold", "{who}: {ping} {post}");
        } else {
            let ping = h.ping("solar-excl", consumer(who)).await;
            assert_eq!(ping["reason"], "no_bids", "{who}: {ping}");
        }
    }
    logged(h).await;
    first
}

async fn what_if(h: &Harness, query: &str) -> Value {
    let (status, body) = h.admin("GET", &format!("/whatif?{query}"), None).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn figures(v: &Value) -> Value {
    json!([
        v["reached"],
        v["blocked_then"],
        v["blocked_with"],
        v["newly_blocked"],
        v["newly_allowed"],
        v["sales_stopped"],
        v["revenue_stopped"]
    ])
}

async fn the_table_holds(h: &Harness) {
    let first = history(h).await;
    let since = first.to_string();
    let until = (first + chrono::Days::new(53)).to_string();
    let range = format!("since={since}&until={until}");

    let longer = what_if(h, &format!("contract=c1&window_days=60&{range}")).await;
    assert_eq!(figures(&longer), json!([10, 2, 5, 3, 0, 3, "60.00"]), "{longer}");
    assert_eq!(
        (&longer["scope"], &longer["id"], &longer["setting"], &longer["now"], &longer["asked"]),
        (&json!("contract"), &json!("c1"), &json!("window_days"), &json!(30), &json!(60))
    );
    assert_eq!((&longer["since"], &longer["until"]), (&json!(since), &json!(until)));
    assert!(longer["note"].as_str().unwrap().starts_with("First-order"), "{longer}");

    let shorter = what_if(h, &format!("contract=c1&window_days=7&{range}")).await;
    assert_eq!(figures(&shorter), json!([10, 2, 0, 0, 2, 0, "0.00"]), "{shorter}");

    let vertical = what_if(h, &format!("vertical=solar&window_days=60&{range}")).await;
    assert_eq!(figures(&vertical), json!([10, 0, 5, 5, 0, 3, "60.00"]), "{vertical}");

    // The default range: the last 7 days, today's included (46 to 52).
    let week = what_if(h, "contract=c1&window_days=60").await;
    assert_eq!(figures(&week), json!([2, 1, 2, 1, 0, 1, "20.00"]), "{week}");
    assert_eq!(week["since"], json!((first + chrono::Days::new(46)).to_string()), "{week}");

    // Nothing live was touched: a day on, b1's 30-day window still blocks B.
    h.advance_days(1).await;
    let b_again = h.ping("solar-excl", consumer("b")).await;
    assert_eq!(b_again["reason"], "no_bids", "{b_again}");

    for (query, status, field) in [
        ("contract=nope&window_days=60", 404, None),
        ("vertical=solar&repeat_after_days=3", 422, Some("repeat_after_days")),
        ("contract=c1", 422, Some("window_days")),
    ] {
        let (got, body) = h.admin("GET", &format!("/whatif?{query}"), None).await;
        assert_eq!(got, status, "{query}: {body}");
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{query}: {body}");
        }
    }
}

#[tokio::test]
async fn a_seeded_history_answers_the_hand_computed_whatif_with_the_events_in_the_process() {
    let h = Harness::start(&market()).await;
    the_table_holds(&h).await;
}

#[tokio::test]
async fn a_seeded_history_answers_the_hand_computed_whatif_with_the_events_in_postgresql() {
    let (h, _log, _server) = Harness::start_with_postgres_events(Backend::from_env(), &market()).await;
    the_table_holds(&h).await;
}

/// Erases A after the history and one more ping of A not relayed yet: the erasure moves that
/// event to the log first and answers A's four events; none keeps the hash, B's keep theirs.
/// (Events written after an erasure, still on their way then, come without its hashes:
/// `crates/pingpost-events` tests that, on both logs.)
async fn erasure_reaches_the_log(h: &Harness, hashes_held: impl AsyncFn(&str) -> usize) {
    history(h).await;
    assert_eq!(hashes_held(&sha_hex("a@example.com")).await, 3);
    h.advance_days(1).await;
    h.engine.event_upkeep(90).await.unwrap();
    h.ping("solar-excl", consumer("a")).await;
    h.engine.quiesce().await;
    let (status, erased) = h.admin("POST", "/erasure", Some(json!({"email": "a@example.com"}))).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["erased"]["events"], 4, "{erased}");
    logged(h).await;
    assert_eq!(hashes_held(&sha_hex("a@example.com")).await, 0);
    assert_eq!(hashes_held(&sha_hex("b@example.com")).await, 3);
}

fn sha_hex(text: &str) -> String {
    pingpost_core::identity::Sha256Hex::digest(text).as_str().to_string()
}

#[tokio::test]
async fn erasure_reaches_the_events_in_the_process() {
    let h = Harness::start(&market()).await;
    let events = Arc::clone(&h.events);
    erasure_reaches_the_log(&h, async |hash: &str| {
        events.all().iter().filter(|e| e.email.as_ref().is_some_and(|h| h.as_str() == hash)).count()
    })
    .await;
}

#[tokio::test]
async fn erasure_reaches_the_events_in_postgresql() {
    let (h, log, _server) = Harness::start_with_postgres_events(Backend::from_env(), &market()).await;
    let pool = log.pool().clone();
    erasure_reaches_the_log(&h, async |hash: &str| {
        let raw = hex::decode(hash).unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE email = $1")
            .bind(raw)
            .fetch_one(&pool)
            .await
            .unwrap();
        usize::try_from(n).unwrap()
    })
    .await;
}

/// The real binary on Redis with its books in PostgreSQL and no `--events`: the log falls back
/// to the books' database (its own schema), its days are made at start, and the what-if, the
/// audit API and the statistics answer from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_keeps_its_events_in_the_books_database_and_reads_them_back() {
    use common::process::{start_engine_with, temp_dir, SharedBooks};
    let redis = pingpost_testkit::RedisServer::start();
    let dir = temp_dir("events-binary");
    let key = "events-partner-key-0001";
    common::process::write_one_contract_market(&dir, key);
    let books = tokio::task::block_in_place(SharedBooks::start);
    let token = common::process::E2E_ADMIN_TOKEN;
    let (_engine, base) = start_engine_with(&dir, &redis.url(), &books.env());
    let http = reqwest::Client::new();
    let call = |path: String, body: Option<Value>| {
        let http = http.clone();
        async move {
            let request = match body {
                Some(b) => http.post(&path).header("authorization", format!("Bearer {key}")).body(b.to_string()),
                None => http.get(&path).header("authorization", format!("Bearer {token}")),
            };
            let resp = request.send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap()
        }
    };
    let ping = |email: &str| json!({"offer": "auto-excl", "lead": {"email": email}});
    assert_eq!(call(format!("{base}/v1/ping"), Some(ping("a@example.com"))).await["status"], "accepted");
    let again = call(format!("{base}/v1/ping"), Some(ping("a@example.com"))).await;
    assert_eq!(again["reason"], "vertical_duplicate");
    assert_eq!(call(format!("{base}/v1/ping"), Some(ping("b@example.com"))).await["status"], "accepted");

    // Two pings reached c1's window, both from consumers b1 never bought.
    let what_if = call(format!("{base}/v1/admin/whatif?contract=c1&window_days=60"), None).await;
    assert_eq!(figures(&what_if), json!([2, 0, 0, 0, 0, 0, "0.00"]), "{what_if}");
    let audit = call(format!("{base}/v1/admin/audit"), None).await;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit["entries"][0]["checkpoint"], "vertical_duplicate");
    let stats = call(format!("{base}/v1/admin/stats?by=partner"), None).await;
    assert_eq!(
        (&stats["groups"][0]["pings"], &stats["groups"][0]["vertical_duplicate"]),
        (&json!(3), &json!(1)),
        "{stats}"
    );

    // All of it is in the books' database, in the log's own schema.
    let pool = sqlx::PgPool::connect(&books.url).await.unwrap();
    let count = |table: &str| {
        let pool = pool.clone();
        let sql = format!("SELECT count(*) FROM pingpost_events.{table}");
        async move { sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!((count("lead_events").await, count("hit_events").await), (3, 1));
    assert!(count("stat_counts").await > 0);
    let today = chrono::Utc::now().date_naive().format("%Y%m%d").to_string();
    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'pingpost_events' AND tablename LIKE 'lead_events_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(partitions >= 8, "today and 7 days ahead, made at start: {partitions}");
    let of_today: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = $1")
        .bind(format!("lead_events_{today}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(of_today, 1);
}
