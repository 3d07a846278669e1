//! Two pings of one consumer racing through the admission, whose identifiers are admitted
//! side by side: each interleaving the race can take is set up step by step with
//! failpoints (no timing), on two stores standing in for two engine nodes, and the whole
//! store is read afterwards.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::VerticalId;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{Admission, Admissions, AdmitOutcome, Fault, Faults};
use pingpost_testkit::RedisServer;
use std::time::Duration;

/// The ping that ranks first (the lesser id) and the one that ranks second.
const FIRST: &str = "00000000000000000000000000000001";
const SECOND: &str = "ffffffffffffffffffffffffffffffff";

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).single().unwrap()
}

fn ident(kind: IdentKind, text: &str) -> Ident {
    Ident { kind, hash: Sha256Hex::digest(text) }
}

fn email() -> Ident {
    ident(IdentKind::Email, "race@example.com")
}

fn phone() -> Ident {
    ident(IdentKind::Phone, "5557000001")
}

fn admission(ping_id: &str, idents: Vec<Ident>) -> Admission {
    Admission {
        idents,
        vertical: VerticalId::new("auto"),
        window: WindowDays::new(30).unwrap(),
        ping_id: ping_id.into(),
        now: now(),
        pending_until: now() + chrono::Duration::seconds(60),
        dry_run: false,
        wait_until: None,
    }
}

/// One engine node: a store on the shared Redis with failpoints of its own.
async fn node(redis: &RedisServer, held_wait: Duration) -> (RedisStore, Faults) {
    let faults = Faults::new();
    let opts = RedisOptions { namespace: "race".into(), held_wait, faults: faults.clone(), ..RedisOptions::default() };
    (RedisStore::connect(&redis.url(), opts).await.unwrap(), faults)
}

/// The second-ranked ping got as far as its phone: its email's script has not run yet (it
/// failed, not applied) and its undo of the phone failed too, so its pending phone mark
/// stands, naming `sibling` as its other identifier.
async fn second_holds_the_phone(store: &RedisStore, faults: &Faults, sibling: Ident) {
    faults.arm("redis.admit.email", Fault::Error, 1, 0);
    faults.arm("redis.release.phone", Fault::Error, 1, 0);
    let stopped = store.admit(admission(SECOND, vec![sibling, phone()])).await;
    assert!(stopped.is_err(), "the second ping stops after its phone: {stopped:?}");
    assert_eq!(faults.fired("redis.release.phone"), 1);
}

/// Each identifier's vertical marks: (ping id, pending).
async fn marks(redis: &RedisServer, store: &RedisStore) -> Vec<(IdentKind, String, bool)> {
    let snap = pingpost_redis::snapshot(&redis.url(), store.keys()).await.unwrap();
    let mut out = Vec::new();
    for i in [email(), phone()] {
        for v in snap.consumers.get(&i.hash).map(|c| c.vertical.clone()).unwrap_or_default() {
            out.push((i.kind, v.ping_id, v.pending_until.is_some()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_that_ranks_first_waits_for_the_other_to_give_up_the_phone_and_is_admitted() {
    let redis = RedisServer::start();
    // Waiting is bounded far beyond this test's steps, so its outcome does not hang on speed.
    let (first, first_faults) = node(&redis, Duration::from_secs(30)).await;
    let (second, second_faults) = node(&redis, Duration::from_secs(30)).await;
    second_holds_the_phone(&second, &second_faults, email()).await;

    // The first ping wins the email and finds the phone held by a ping that needs the email.
    let racing = tokio::spawn(async move { (first.admit(admission(FIRST, vec![email(), phone()])).await, first) });
    // It asked about the phone a second time: it waited.
    let asked_again = first_faults.reached_times("redis.admit.phone", 2);
    tokio::time::timeout(Duration::from_secs(20), asked_again).await.expect("the first ping waits for the phone");
    // The second ping's email script runs now, finds the first ping's pending mark, which
    // outranks it, and gives the phone up.
    let lost = second.admit(admission(SECOND, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(lost, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, .. }),
        "the second ping is the duplicate: {lost:?}"
    );
    let (won, _first) = racing.await.unwrap();
    assert!(matches!(won.unwrap(), AdmitOutcome::Admitted { .. }), "the first ping is admitted");

    // The whole store: each identifier holds exactly one submission, the first ping's.
    let expected = vec![(IdentKind::Email, FIRST.to_string(), true), (IdentKind::Phone, FIRST.to_string(), true)];
    assert_eq!(marks(&redis, &second).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_does_not_need_what_the_ping_holds_makes_it_a_duplicate_at_once() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, Duration::from_secs(30)).await;
    let (second, second_faults) = node(&redis, Duration::from_secs(30)).await;
    // The phone is held by a ping of another email: nothing forces it to let go.
    second_holds_the_phone(&second, &second_faults, ident(IdentKind::Email, "other@example.com")).await;

    let answer = first.admit(admission(FIRST, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }),
        "a duplicate on the phone: {answer:?}"
    );
    assert_eq!(first_faults.reached("redis.admit.phone"), 1, "asked once, without waiting");
    // Its own email mark is undone; the holder's phone mark stands.
    assert_eq!(marks(&redis, &first).await, vec![(IdentKind::Phone, SECOND.to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_that_ranks_second_is_a_duplicate_at_once() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, Duration::from_secs(30)).await;
    let (second, _) = node(&redis, Duration::from_secs(30)).await;
    // The first-ranked ping holds the phone (its email step still to come).
    first_faults.arm("redis.admit.email", Fault::Error, 1, 0);
    first_faults.arm("redis.release.phone", Fault::Error, 1, 0);
    assert!(first.admit(admission(FIRST, vec![email(), phone()])).await.is_err());

    let answer = second.admit(admission(SECOND, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }),
        "it does not wait for a ping that outranks it: {answer:?}"
    );
    assert_eq!(marks(&redis, &second).await, vec![(IdentKind::Phone, FIRST.to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_stopped_between_its_steps_makes_the_waiting_ping_a_duplicate_after_the_wait() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis, Duration::from_millis(50)).await;
    let (second, second_faults) = node(&redis, Duration::from_secs(30)).await;
    // The holder needs the email but never comes back for it (its node died).
    second_holds_the_phone(&second, &second_faults, email()).await;

    let answer = first.admit(admission(FIRST, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }),
        "a duplicate once the wait is over: {answer:?}"
    );
    assert!(first_faults.reached("redis.admit.phone") >= 2, "it waited");
    // Its email mark is undone: the consumer is free once the holder's mark lapses.
    assert_eq!(marks(&redis, &first).await, vec![(IdentKind::Phone, SECOND.to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_waits_for_a_racing_ping_no_longer_than_its_own_budget_allows() {
    let redis = RedisServer::start();
    // The store's own bound is an hour: only the ping's deadline can end this wait.
    let (first, first_faults) = node(&redis, Duration::from_secs(3600)).await;
    let (second, second_faults) = node(&redis, Duration::from_secs(30)).await;
    // The holder needs the email but never comes back for it.
    second_holds_the_phone(&second, &second_faults, email()).await;

    let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
    let ask = Admission { wait_until: Some(deadline), ..admission(FIRST, vec![email(), phone()]) };
    let answer = tokio::time::timeout(Duration::from_secs(60), first.admit(ask))
        .await
        .expect("the wait ends with the ping's deadline, not the store's hour")
        .unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }),
        "a duplicate once its own deadline passed: {answer:?}"
    );
    assert!(first_faults.reached("redis.admit.phone") >= 2, "it waited before giving up");
    assert!(tokio::time::Instant::now() >= deadline, "it waited until its deadline");
    assert_eq!(marks(&redis, &first).await, vec![(IdentKind::Phone, SECOND.to_string(), true)]);
}
