//! The Redis store's operations that are two steps on different slots since sales moved to
//! their buyers' slots, stopped at either by every fault but a crash (the stores' own
//! failpoint runs cover those): a top-up (its id claimed marketplace-wide, then credited in
//! the buyer's slot) and an erasure (the consumer's own
//! slot, then each buyer's marks on it). A retry finishes what the first call began, once.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{Duration, TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::*;
use pingpost_testkit::RedisServer;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().unwrap()
}

async fn store(server: &RedisServer, ns: &str) -> (RedisStore, Faults) {
    let faults = Faults::new();
    let opts = RedisOptions { namespace: ns.into(), faults: faults.clone(), ..RedisOptions::default() };
    (RedisStore::connect(&server.url(), opts).await.unwrap(), faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_stopped_after_its_id_is_claimed_credits_once_when_retried() {
    let server = RedisServer::start();
    let points = ["redis.top_up_id", "redis.top_up"];
    let faults_of = Fault::ALL.into_iter().filter(|f| *f != Fault::Abort);
    let runs = points.into_iter().flat_map(|p| faults_of.clone().map(move |f| (p, f)));
    for (i, (point, fault)) in runs.enumerate() {
        let (s, faults) = store(&server, &format!("t{i}")).await;
        faults.arm(point, fault, 1, 0);
        let t = TopUp { id: "t1".into(), buyer: BuyerId::new("b1"), amount: Money::from_minor(500), at: t0() };
        assert!(s.top_up(t.clone()).await.is_err(), "{point} {fault:?}: the step failed");
        let retried = s.top_up(t.clone()).await.unwrap();
        assert!(
            matches!(retried, TopUpOutcome::Applied(m) if m.credit == Money::from_minor(500)),
            "{fault:?}: {retried:?}"
        );
        let again = s.top_up(t).await.unwrap();
        assert!(matches!(again, TopUpOutcome::Applied(m) if m.credit == Money::from_minor(500)), "{fault:?}: once");
        assert_eq!(s.outbox(10).await.unwrap().len(), 1, "{fault:?}: one books entry");
        let other = TopUp { id: "t1".into(), buyer: BuyerId::new("b2"), amount: Money::from_minor(500), at: t0() };
        assert!(matches!(s.top_up(other).await.unwrap(), TopUpOutcome::IdReused { .. }), "{fault:?}");
    }
}

fn sale(sale_id: &str, buyer: &str, hash: &Sha256Hex) -> SaleReservation {
    SaleReservation {
        idents: vec![Ident { kind: IdentKind::Email, hash: hash.clone() }],
        window: WindowDays::new(30).ok(),
        debits: Vec::new(),
        slots: 1,
        record: SaleRecord {
            sale_id: sale_id.into(),
            ping_id: format!("ping-{sale_id}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new(buyer),
            contract: ContractId::new("c1"),
            price: Money::from_minor(1000),
            payout: Money::from_minor(900),
            reserved_at: t0(),
            state: LedgerState::Reserved,
            holder: "h".into(),
            lease_until: t0() + Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_stopped_between_the_buyers_slots_forgets_everything_when_retried() {
    let server = RedisServer::start();
    let hash = Sha256Hex::digest("erase.me@example.com");
    for (i, fault) in Fault::ALL.into_iter().filter(|f| *f != Fault::Abort).enumerate() {
        let (s, faults) = store(&server, &format!("e{i}")).await;
        for (n, buyer) in ["b1", "b2", "b3"].into_iter().enumerate() {
            let r = sale(&format!("s{n}"), buyer, &hash);
            assert_eq!(s.reserve_sale(r.clone()).await.unwrap(), ReserveOutcome::Reserved);
            let end = SaleEnd::Sold {
                final_price: r.record.price,
                final_payout: r.record.payout,
                reason: None,
                lead_id: None,
            };
            let settled = r.settlement(end, t0(), chrono::Duration::days(7));
            s.settle_sale(settled).await.unwrap();
        }
        // The second buyer's step fails: the first buyer's marks are gone, the rest stay.
        faults.arm("redis.erase_bought", fault, 1, 1);
        assert!(s.erase(vec![hash.clone()], t0() + Duration::hours(1)).await.is_err(), "{fault:?}");
        s.erase(vec![hash.clone()], t0() + Duration::hours(1)).await.unwrap();
        let snap = pingpost_redis::snapshot(&server.url(), s.keys()).await.unwrap();
        let marks = snap.consumers.get(&hash).map(|c| c.marks.len()).unwrap_or(0);
        assert_eq!(marks, 0, "{fault:?}: no buyer keeps a mark of the erased consumer");
        let again = s.reserve_sale(sale("s9", "b2", &hash)).await.unwrap();
        assert_eq!(again, ReserveOutcome::Reserved, "{fault:?}: erased, the consumer is new to every buyer");
    }
}

/// The set of buyers with state is written without waiting for replicas, so a failover may
/// lose it while a reservation it names survives: the next sweep of a node that sold for the
/// buyer writes it again, and the lapsed reservation is kept as unconfirmed, not forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_set_of_buyers_is_written_again_by_the_sweep_and_no_lapsed_reservation_is_left() {
    let server = RedisServer::start();
    let (s, _) = store(&server, "lost").await;
    let hash = Sha256Hex::digest("lapsed@example.com");
    assert_eq!(s.reserve_sale(sale("s1", "b1", &hash)).await.unwrap(), ReserveOutcome::Reserved);
    let mut con = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL").arg(s.keys().buyers()).query_async(&mut con).await.unwrap();
    let report = s.sweep(t0() + Duration::minutes(10)).await.unwrap();
    assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (1, 1), "{report:?}");
    let members: Vec<String> = redis::cmd("SMEMBERS").arg(s.keys().buyers()).query_async(&mut con).await.unwrap();
    assert_eq!(members, ["b1"]);
}
