//! The one retention rule (`pingpost_store::kept_after_settling`) as Redis keeps it, by key
//! expiry: what dedup reaches (the buyer's marks) for the retention, a settled sale's entry
//! until its return window and `SETTLED_KEPT` have passed, a sale with a pending return until
//! the return is decided, then `SETTLED_KEPT`. The embedded store's sweep keeps the same rule
//! (`memory::sweep`'s tests), and `tests/retention.rs` shows what an engine on either store
//! answers once the entries have left.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{Duration, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::*;
use pingpost_testkit::RedisServer;
use redis::AsyncCommands;

const WEEK: Duration = Duration::days(7);

fn reservation(sale_id: &str, at: Timestamp) -> SaleReservation {
    SaleReservation {
        idents: vec![Ident { kind: IdentKind::Email, hash: Sha256Hex::digest(sale_id) }],
        window: WindowDays::new(90).ok(),
        debits: Vec::new(),
        slots: 1,
        record: pingpost_store::conformance::record(sale_id, "b1", 1000, at),
    }
}

async fn settle(s: &RedisStore, r: &SaleReservation, end: SaleEnd, at: Timestamp) -> Option<LedgerState> {
    s.settle_sale(r.settlement(end, at, WEEK)).await.unwrap()
}

fn sold() -> SaleEnd {
    SaleEnd::Sold {
        final_price: Money::from_minor(1000),
        final_payout: Money::from_minor(900),
        reason: None,
        lead_id: None,
    }
}

fn return_of(sale_id: &str, approve: bool, at: Timestamp) -> ReturnRequest {
    ReturnRequest {
        sale_id: sale_id.into(),
        buyer: BuyerId::new("b1"),
        reason: "fraud".into(),
        claw_back: true,
        note: None,
        window: WindowDays::new(7).unwrap(),
        max_rate: 10_000,
        approve,
        at,
        token: format!("token-{sale_id}"),
    }
}

/// A key's time to live, to the nearest day (the test runs in moments, not hours).
async fn ttl_days(server: &RedisServer, key: &str) -> i64 {
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let ms: i64 = con.pttl(key).await.unwrap();
    assert!(ms > 0, "{key} has a time to live ({ms})");
    let day = Duration::days(1).num_milliseconds();
    (ms + day / 2) / day
}

fn days(d: Duration) -> i64 {
    d.num_days()
}

#[tokio::test]
async fn a_settled_sale_expires_as_the_one_retention_rule_says_and_its_marks_stay_for_dedup() {
    let server = RedisServer::start();
    let opts = RedisOptions { namespace: "ret".into(), ..RedisOptions::default() };
    let s = RedisStore::connect(&server.url(), opts).await.unwrap();
    let k = s.keys().clone();
    let now = Utc::now();

    let plain = reservation("plain", now);
    assert_eq!(s.reserve_sale(plain.clone()).await.unwrap(), ReserveOutcome::Reserved);
    assert_eq!(ttl_days(&server, &k.sale("b1", "plain")).await, days(RETENTION), "reserved: outcome open");
    assert_eq!(settle(&s, &plain, sold(), now).await, Some(LedgerState::Sold));
    let hash = &plain.idents[0].hash;
    assert_eq!(ttl_days(&server, &k.sale("b1", "plain")).await, days(WEEK + SETTLED_KEPT), "7 + 31 days");
    assert_eq!(ttl_days(&server, &k.bought("b1", hash)).await, days(RETENTION), "dedup reaches a year");
    assert_eq!(ttl_days(&server, &k.buyer_sales("b1")).await, days(SETTLED_KEPT));
    assert_eq!(ttl_days(&server, &k.ping_sales("ping-of-plain")).await, days(SETTLED_KEPT));

    let given_back = reservation("given-back", now);
    assert_eq!(s.reserve_sale(given_back.clone()).await.unwrap(), ReserveOutcome::Reserved);
    let end = SaleEnd::Released { reason: "rejected".into() };
    assert_eq!(settle(&s, &given_back, end, now).await, Some(LedgerState::Released));
    assert_eq!(ttl_days(&server, &k.sale("b1", "given-back")).await, days(SETTLED_KEPT));

    let pending = reservation("pending", now);
    assert_eq!(s.reserve_sale(pending.clone()).await.unwrap(), ReserveOutcome::Reserved);
    settle(&s, &pending, sold(), now).await;
    let opened = s.open_return(return_of("pending", false, now)).await.unwrap();
    let ReturnOutcome::Opened(opened) = opened else { panic!("opened: {opened:?}") };
    assert_eq!(ttl_days(&server, &k.sale("b1", "pending")).await, days(RETENTION), "kept until decided");
    assert_eq!(ttl_days(&server, &k.return_("b1", &opened.return_id)).await, days(RETENTION));
    s.decide_return(opened.return_id.clone(), true, None, now).await.unwrap();
    assert_eq!(ttl_days(&server, &k.sale("b1", "pending")).await, days(SETTLED_KEPT), "decided: final");
    assert_eq!(ttl_days(&server, &k.return_("b1", &opened.return_id)).await, days(SETTLED_KEPT));

    let at_once = reservation("at-once", now);
    assert_eq!(s.reserve_sale(at_once.clone()).await.unwrap(), ReserveOutcome::Reserved);
    settle(&s, &at_once, sold(), now).await;
    let approved = s.open_return(return_of("at-once", true, now)).await.unwrap();
    let ReturnOutcome::Opened(approved) = approved else { panic!("opened: {approved:?}") };
    assert_eq!(approved.status, ReturnStatus::Approved);
    assert_eq!(ttl_days(&server, &k.sale("b1", "at-once")).await, days(SETTLED_KEPT));
    assert_eq!(ttl_days(&server, &k.return_("b1", &approved.return_id)).await, days(SETTLED_KEPT));
}
