//! The store waiting for a replica (`wait_replicas = 1`): the conformance suite unchanged,
//! and the answers the engine acts on refused while the replica acknowledges nothing.

use chrono::{Duration, TimeZone, Utc};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::secret::{SecretName, SecretValue};
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{
    LedgerState, ReserveOutcome, SaleRecord, SaleReservation, Sales, SecretPut, SecretStore, StoreError,
};
use pingpost_testkit::RedisServer;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

fn waiting(namespace: String) -> RedisOptions {
    RedisOptions {
        namespace,
        wait_replicas: 1,
        // Ample for a replica in sync on a loaded test machine; a frozen replica makes each
        // waited write take this long.
        wait_timeout: std::time::Duration::from_millis(1_000),
        ..RedisOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_single_redis_waiting_for_its_replica() {
    let master = RedisServer::start();
    let _replica = master.start_replica();
    let url = master.url();
    let fresh = || async {
        static N: AtomicU32 = AtomicU32::new(0);
        let opts = waiting(format!("t{}", N.fetch_add(1, Ordering::Relaxed)));
        Arc::new(RedisStore::connect(&url, opts).await.expect("connect to the test's Redis"))
    };
    pingpost_store::conformance::run_all(fresh).await;
    assert!(master.calls_of("wait") > 0, "the suite never waited for the replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_conformance_on_a_single_redis_waiting_for_its_replica() {
    let master = RedisServer::start();
    let _replica = master.start_replica();
    let url = master.url();
    let fresh = || async {
        static N: AtomicU32 = AtomicU32::new(0);
        let opts = waiting(format!("s{}", N.fetch_add(1, Ordering::Relaxed)));
        Arc::new(RedisStore::connect(&url, opts).await.expect("connect to the test's Redis"))
    };
    pingpost_store::secrets::conformance::run_all(fresh).await;
    assert!(master.calls_of("wait") > 0, "the suite never waited for the replica");
}

/// A secret's write is an operator write: with a replica to wait for that acknowledges
/// nothing, it fails (503) instead of being answered as done; a refusal, which wrote
/// nothing, needs no replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_write_fails_while_its_replica_acknowledges_nothing() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    let store = RedisStore::connect(&master.url(), waiting("pp".into())).await.expect("connect");
    let name = || SecretName::parse("carrier_key").expect("a name");
    let value = SecretValue::new("v1").expect("a value");
    let put = store.put_secret(name(), value.clone(), at(), "r1".into()).await;
    assert_eq!(put.ok(), Some(SecretPut::Created));

    replica.freeze();
    let put = store.put_secret(name(), value.clone(), at(), "r2".into()).await;
    assert!(matches!(put, Err(StoreError::Unavailable(_))), "{put:?}");
    let delete = store.delete_secret(name(), "r3".into()).await;
    assert!(matches!(delete, Err(StoreError::Unavailable(_))), "{delete:?}");
    let absent = store.delete_secret(SecretName::parse("absent").expect("a name"), "r4".into()).await;
    assert_eq!(absent.ok(), Some(false), "nothing written, nothing to wait for");

    replica.thaw();
    let again = store.delete_secret(name(), "r3".into()).await;
    assert_eq!(again.ok(), Some(true), "the delete, re-sent, recognised as done");
}

fn at() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("a valid time")
}

/// A reservation of one sale with no identifier to mark: only the ledger step runs.
fn reservation(holder: &str) -> SaleReservation {
    SaleReservation {
        idents: Vec::new(),
        window: None,
        debits: Vec::new(),
        slots: 1,
        record: SaleRecord {
            sale_id: "s1".into(),
            ping_id: "ping-1".into(),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::from_minor(1000),
            payout: Money::from_minor(1000),
            reserved_at: at(),
            state: LedgerState::Reserved,
            holder: holder.into(),
            lease_until: at() + Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    }
}

/// The engine delivers on its own reservation answered again to a re-sent call (the first
/// reply lost) as on a fresh one, so that answer waits for the replica too; another
/// holder's answer is only reported (it is never delivered on) and needs no replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_answered_again_to_its_holder_waits_for_the_replica_like_a_fresh_one() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    let store = RedisStore::connect(&master.url(), waiting("pp".into())).await.expect("connect");
    let first = store.reserve_sale(reservation("attempt-1")).await.expect("reserved");
    assert!(matches!(first, ReserveOutcome::Reserved), "{first:?}");

    replica.freeze();
    let again = store.reserve_sale(reservation("attempt-1")).await;
    assert!(matches!(again, Err(StoreError::Unavailable(_))), "{again:?}");
    let other = store.reserve_sale(reservation("attempt-2")).await;
    assert!(
        matches!(&other, Ok(ReserveOutcome::Existing(e)) if e.holder == "attempt-1" && e.state == LedgerState::Reserved),
        "{other:?}"
    );

    replica.thaw();
    let again = store.reserve_sale(reservation("attempt-1")).await;
    assert!(matches!(&again, Ok(ReserveOutcome::Existing(e)) if e.holder == "attempt-1"), "{again:?}");
}
