//! Two sales of one consumer to one buyer (from two pings, say of two verticals) racing
//! through the reservation, on two stores standing in for two engine nodes. A reservation is
//! one script on the buyer's slot, where the buyer's marks on every identifier of the
//! consumer are, so the second to arrive is refused at once, whatever the timing; the whole
//! store's marks are read afterwards.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{Duration, TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{
    Counters, Fault, Faults, LedgerState, ReserveOutcome, ReservedTerms, SaleEnd, SaleRecord, SaleReservation, Sales,
    Settlement,
};
use pingpost_testkit::RedisServer;
use std::sync::Arc;

const FIRST: &str = "0000000000000000000000000000000a-1";
const SECOND: &str = "0000000000000000000000000000000b-1";

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).single().unwrap()
}

fn idents() -> Vec<Ident> {
    vec![
        Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("sold@example.com") },
        Ident { kind: IdentKind::Phone, hash: Sha256Hex::digest("5557000002") },
    ]
}

fn ping_of(sale_id: &str) -> String {
    sale_id.split('-').next().unwrap().to_string()
}

fn reservation(sale_id: &str) -> SaleReservation {
    SaleReservation {
        idents: idents(),
        window: Some(WindowDays::new(30).unwrap()),
        debits: Vec::new(),
        slots: 1,
        record: SaleRecord {
            sale_id: sale_id.into(),
            ping_id: ping_of(sale_id),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::from_minor(1000),
            payout: Money::from_minor(800),
            reserved_at: now(),
            state: LedgerState::Reserved,
            holder: format!("holder-{sale_id}"),
            lease_until: now() + Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    }
}

async fn node(redis: &RedisServer) -> (Arc<RedisStore>, Faults) {
    let faults = Faults::new();
    let opts = RedisOptions { namespace: "sale".into(), faults: faults.clone(), ..RedisOptions::default() };
    (Arc::new(RedisStore::connect(&redis.url(), opts).await.unwrap()), faults)
}

/// Every sale mark of the consumer: (identifier, sale, state).
async fn marks(redis: &RedisServer, store: &RedisStore) -> Vec<(IdentKind, String, Option<String>)> {
    let snap = pingpost_redis::snapshot(&redis.url(), store.keys()).await.unwrap();
    let mut out = Vec::new();
    for i in idents() {
        for m in snap.consumers.get(&i.hash).map(|c| c.marks.clone()).unwrap_or_default() {
            out.push((i.kind, m.sale_id, m.state.map(|s| format!("{s:?}"))));
        }
    }
    out.sort();
    out
}

fn settled(sale_id: &str, end: SaleEnd) -> Settlement {
    reservation(sale_id).settlement(end, now(), chrono::Duration::days(7))
}

/// A sale meeting another sale's reservation in flight, on another node, is refused at once
/// and writes nothing; once the first is released, the consumer is the buyer's to buy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_meeting_another_in_flight_is_refused_at_once_and_writes_nothing() {
    let redis = RedisServer::start();
    let (a, _) = node(&redis).await;
    let (b, _) = node(&redis).await;
    assert_eq!(a.reserve_sale(reservation(FIRST)).await.unwrap(), ReserveOutcome::Reserved);
    let second = b.reserve_sale(reservation(SECOND)).await.unwrap();
    assert!(matches!(second, ReserveOutcome::AlreadyBought { matched: IdentKind::Email, .. }), "{second:?}");
    let own = |state: &str| {
        vec![
            (IdentKind::Email, FIRST.to_string(), Some(state.to_string())),
            (IdentKind::Phone, FIRST.to_string(), Some(state.to_string())),
        ]
    };
    assert_eq!(marks(&redis, &a).await, own("Reserved"), "the refused sale marked nothing");
    let released = SaleEnd::Released { reason: "rejected".into() };
    assert_eq!(a.settle_sale(settled(FIRST, released)).await.unwrap(), Some(LedgerState::Released));
    assert!(marks(&redis, &a).await.is_empty(), "a released sale's marks are gone with it");
    assert_eq!(b.reserve_sale(reservation(SECOND)).await.unwrap(), ReserveOutcome::Reserved);
}

/// A reservation whose reply was lost after Redis applied it is answered as the holder's own
/// when re-sent (the engine then delivers), and took its debits and marks once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_re_sent_after_its_reply_was_lost_is_its_own() {
    let redis = RedisServer::start();
    let (a, faults) = node(&redis).await;
    faults.arm("redis.reserve_sale", Fault::DropReply, 1, 0);
    assert!(a.reserve_sale(reservation(FIRST)).await.is_err(), "the reply was lost");
    let again = a.reserve_sale(reservation(FIRST)).await.unwrap();
    assert!(
        matches!(&again, ReserveOutcome::Existing(e) if e.state == LedgerState::Reserved && e.holder == reservation(FIRST).record.holder),
        "{again:?}"
    );
    let sold = SaleEnd::Sold {
        final_price: Money::from_minor(1000),
        final_payout: Money::from_minor(800),
        reason: None,
        lead_id: None,
    };
    assert_eq!(a.settle_sale(settled(FIRST, sold.clone())).await.unwrap(), Some(LedgerState::Sold));
    assert_eq!(a.settle_sale(settled(FIRST, sold)).await.unwrap(), Some(LedgerState::Sold), "settled once");
    let sold_marks = vec![
        (IdentKind::Email, FIRST.to_string(), Some("Sold".to_string())),
        (IdentKind::Phone, FIRST.to_string(), Some("Sold".to_string())),
    ];
    assert_eq!(marks(&redis, &a).await, sold_marks);
}

/// Many races without any setup: every time exactly one sale is reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_sales_racing_to_one_buyer_exactly_one_is_reserved_every_time() {
    let redis = RedisServer::start();
    let (a, _) = node(&redis).await;
    let (b, _) = node(&redis).await;
    for round in 0..50 {
        let (x, y) = (format!("{round:032x}-1"), format!("{round:032x}-2"));
        let mut rx = reservation(&x);
        let mut ry = reservation(&y);
        // A consumer of its own per round.
        for r in [&mut rx, &mut ry] {
            r.idents = vec![
                Ident { kind: IdentKind::Email, hash: Sha256Hex::digest(&format!("r{round}@example.com")) },
                Ident { kind: IdentKind::Phone, hash: Sha256Hex::digest(&format!("555{round:07}")) },
            ];
            r.record.ping_id = format!("{round:032x}");
        }
        // Two pings of one vertical never both post, but two verticals' may: distinct pings.
        ry.record.ping_id.push('y');
        let (ax, by) = tokio::join!(a.reserve_sale(rx), b.reserve_sale(ry));
        let reserved = [ax.unwrap(), by.unwrap()].iter().filter(|o| **o == ReserveOutcome::Reserved).count();
        assert_eq!(reserved, 1, "round {round}");
    }
}

/// A settlement names the counters it may refund in `KEYS`, as every script names its keys,
/// with what each debit took; naming others than its entry's debits (another version's, or a
/// bug's) is refused before anything is written, and the right ones then give back what the
/// reservation took.
#[tokio::test]
async fn a_settlement_naming_other_counters_than_its_entrys_debits_is_refused_and_writes_nothing() {
    let redis = RedisServer::start();
    let (store, _) = node(&redis).await;
    let cap = pingpost_core::caps::Debit {
        key: "b1/cap:c1:d:2026-12-03".into(),
        amount: 1,
        limit: 10,
        is_money: false,
        expires_at: Some(now() + Duration::days(1)),
        credit_key: None,
    };
    let r = SaleReservation { debits: vec![cap.clone()], ..reservation(FIRST) };
    assert_eq!(store.reserve_sale(r.clone()).await.unwrap(), ReserveOutcome::Reserved);
    let counter = || store.read_counters(vec![cap.key.clone()]);
    assert_eq!(counter().await.unwrap(), [1]);
    let before = pingpost_testkit::dump(&redis.url(), "sale:*").await;

    let release = |debits: Vec<pingpost_core::caps::Debit>| Settlement {
        reserved: ReservedTerms { debits, ..r.terms() },
        ..settled(FIRST, SaleEnd::Released { reason: "rejected".into() })
    };
    let other_day = pingpost_core::caps::Debit { key: "b1/cap:c1:d:2026-12-04".into(), ..cap.clone() };
    let more = pingpost_core::caps::Debit { amount: 2, ..cap.clone() };
    for wrong in [vec![], vec![other_day], vec![more], vec![cap.clone(), cap.clone()]] {
        let refused = store.settle_sale(release(wrong.clone())).await;
        assert!(refused.is_err(), "{wrong:?}: {refused:?}");
        assert_eq!(pingpost_testkit::dump(&redis.url(), "sale:*").await, before, "{wrong:?}: nothing written");
    }
    assert_eq!(store.settle_sale(release(vec![cap.clone()])).await.unwrap(), Some(LedgerState::Released));
    assert_eq!(counter().await.unwrap(), [0], "given back through the counter named");
}
