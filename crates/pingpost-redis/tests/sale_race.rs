//! Two sales of one consumer to one buyer (from two pings, say of two verticals) racing
//! through the reservation, whose identifiers are marked side by side. Each interleaving is
//! set up with failpoints rather than timing, on two stores standing in for two engine
//! nodes; the whole store's marks are read afterwards.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{Duration, TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{
    Fault, Faults, LedgerState, ReserveOutcome, SaleEnd, SaleRecord, SaleReservation, Sales, Settlement,
};
use pingpost_testkit::RedisServer;
use std::sync::Arc;

/// The sale that ranks first (the lesser id) and the one that ranks second.
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
        },
    }
}

async fn node(redis: &RedisServer, held_wait: std::time::Duration) -> (Arc<RedisStore>, Faults) {
    let faults = Faults::new();
    let opts = RedisOptions { namespace: "sale".into(), held_wait, faults: faults.clone(), ..RedisOptions::default() };
    (Arc::new(RedisStore::connect(&redis.url(), opts).await.unwrap()), faults)
}

/// The second-ranked sale got as far as the phone's mark: its email's script failed (not
/// applied), and nothing undoes a mark after an error.
async fn second_marks_the_phone(store: &RedisStore, faults: &Faults) {
    faults.arm("redis.reserve_mark.email", Fault::Error, 1, 0);
    assert!(store.reserve_sale(reservation(SECOND)).await.is_err(), "stopped after the phone");
}

/// Every sale mark of the consumer: (identifier, sale, state), `None` for a tombstone.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sale_that_ranks_first_waits_while_the_other_is_in_flight_and_is_reserved_once_it_ends() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, std::time::Duration::from_secs(30)).await;
    let (second, second_faults) = node(&redis, std::time::Duration::from_secs(30)).await;
    second_marks_the_phone(&second, &second_faults).await;

    let racing = {
        let first = Arc::clone(&first);
        tokio::spawn(async move { first.reserve_sale(reservation(FIRST)).await })
    };
    let asked_again = first_faults.reached_times("redis.reserve_mark.phone", 2);
    tokio::time::timeout(std::time::Duration::from_secs(20), asked_again).await.expect("the first sale waits");
    // The second sale's node gives it up, as the engine does after a reservation error.
    let give_up = Settlement {
        sale_id: SECOND.into(),
        ping_id: ping_of(SECOND),
        buyer: BuyerId::new("b1"),
        idents: idents(),
        end: SaleEnd::Released { reason: "store_unavailable".into() },
        at: now(),
    };
    second.settle_sale(give_up).await.unwrap();
    let won = racing.await.unwrap().unwrap();
    assert_eq!(won, ReserveOutcome::Reserved);

    let reserved = Some("Reserved".to_string());
    let expected = vec![
        (IdentKind::Email, FIRST.to_string(), reserved.clone()),
        (IdentKind::Email, SECOND.to_string(), None),
        (IdentKind::Phone, FIRST.to_string(), reserved),
        (IdentKind::Phone, SECOND.to_string(), None),
    ];
    assert_eq!(marks(&redis, &first).await, expected, "the first sale's marks, the second's tombstones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sale_that_ranks_second_gives_up_at_once_on_meeting_the_other_in_flight() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, std::time::Duration::from_secs(30)).await;
    let (second, second_faults) = node(&redis, std::time::Duration::from_secs(30)).await;
    // The first-ranked sale marked the phone and stopped there.
    first_faults.arm("redis.reserve_mark.email", Fault::Error, 1, 0);
    assert!(first.reserve_sale(reservation(FIRST)).await.is_err());

    let answer = second.reserve_sale(reservation(SECOND)).await.unwrap();
    assert!(matches!(answer, ReserveOutcome::AlreadyBought { matched: IdentKind::Phone, .. }), "{answer:?}");
    assert_eq!(second_faults.reached("redis.reserve_mark.phone"), 1, "asked once, without waiting");
    // Its own email mark is undone.
    let reserved = Some("Reserved".to_string());
    assert_eq!(marks(&redis, &second).await, vec![(IdentKind::Phone, FIRST.to_string(), reserved)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_that_ranks_first_gives_up_once_the_wait_is_over_when_the_other_won_without_it() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, std::time::Duration::from_millis(50)).await;
    let (second, _) = node(&redis, std::time::Duration::from_secs(30)).await;
    // The second-ranked sale is reserved whole and being delivered; the first had marked
    // the email before it, then stopped (its email mark stands, as its own).
    first_faults.arm("redis.reserve_mark.phone", Fault::Error, 1, 0);
    assert!(first.reserve_sale(reservation(FIRST)).await.is_err());
    let mut other = reservation(SECOND);
    other.idents.remove(0); // the second sale's ping had only the phone
    assert_eq!(second.reserve_sale(other).await.unwrap(), ReserveOutcome::Reserved);

    let answer = first.reserve_sale(reservation(FIRST)).await.unwrap();
    assert!(matches!(answer, ReserveOutcome::AlreadyBought { matched: IdentKind::Phone, .. }), "{answer:?}");
    assert!(first_faults.reached("redis.reserve_mark.phone") >= 3, "it waited");
    // Its email mark was written by an earlier call (an error undoes nothing): it stands,
    // reserved, and lapses with its lease, a lost sale for the window, never a double one.
    let reserved = Some("Reserved".to_string());
    let expected =
        vec![(IdentKind::Email, FIRST.to_string(), reserved.clone()), (IdentKind::Phone, SECOND.to_string(), reserved)];
    assert_eq!(marks(&redis, &first).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_that_holds_none_of_its_identifiers_gives_up_at_once() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, std::time::Duration::from_secs(30)).await;
    let (second, _) = node(&redis, std::time::Duration::from_secs(30)).await;
    // The second-ranked sale is reserved whole: it needs nothing from the first.
    assert_eq!(second.reserve_sale(reservation(SECOND)).await.unwrap(), ReserveOutcome::Reserved);

    let answer = first.reserve_sale(reservation(FIRST)).await.unwrap();
    assert!(matches!(answer, ReserveOutcome::AlreadyBought { matched: IdentKind::Email, .. }), "{answer:?}");
    assert_eq!(first_faults.reached("redis.reserve_mark.email"), 1, "asked once, without waiting");
    let reserved = Some("Reserved".to_string());
    let expected = vec![
        (IdentKind::Email, SECOND.to_string(), reserved.clone()),
        (IdentKind::Phone, SECOND.to_string(), reserved),
    ];
    assert_eq!(marks(&redis, &first).await, expected, "nothing of the first sale is left");
}

/// Many races without any setup: every time exactly one sale is reserved and the marks are
/// exactly its own (marked one identifier at a time, both could never lose; side by side,
/// without the rank, they could).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_sales_racing_to_one_buyer_exactly_one_is_reserved_every_time() {
    let redis = RedisServer::start();
    let (a, _) = node(&redis, std::time::Duration::from_secs(30)).await;
    let (b, _) = node(&redis, std::time::Duration::from_secs(30)).await;
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
