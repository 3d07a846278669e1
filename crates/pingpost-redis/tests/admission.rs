//! Two pings of one consumer racing through the admission, whose identifiers are admitted
//! one after the other, email before phone: the interleavings the race can take are set up
//! step by step with failpoints (no timing), on two stores standing in for two engine nodes,
//! and the whole store is read afterwards.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::VerticalId;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{Admission, Admissions, AdmitOutcome, Fault, Faults, Suppression};
use pingpost_testkit::RedisServer;

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
        repeat_after: None,
        ping_id: ping_id.into(),
        now: now(),
        pending_until: now() + chrono::Duration::seconds(60),
        dry_run: false,
        buyers: (0..10).map(|i| pingpost_core::ids::BuyerId::new(format!("b{i}"))).collect(),
    }
}

/// One engine node: a store on the shared Redis with failpoints of its own.
async fn node(redis: &RedisServer) -> (RedisStore, Faults) {
    let faults = Faults::new();
    let opts = RedisOptions { namespace: "race".into(), faults: faults.clone(), ..RedisOptions::default() };
    (RedisStore::connect(&redis.url(), opts).await.unwrap(), faults)
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
async fn a_ping_that_holds_the_email_turns_a_ping_of_that_email_away_at_once() {
    let redis = RedisServer::start();
    let (first, first_faults) = node(&redis).await;
    let (second, second_faults) = node(&redis).await;
    // The first ping took the email and stopped before its phone (its undo failed too).
    first_faults.arm("redis.admit.phone", Fault::Error, 1, 0);
    first_faults.arm("redis.release.email", Fault::Error, 1, 0);
    assert!(first.admit(admission(FIRST, vec![email(), phone()])).await.is_err());

    let answer = second.admit(admission(SECOND, vec![phone(), email()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, .. }),
        "a duplicate on the email, whatever order its caller gave: {answer:?}"
    );
    assert_eq!(second_faults.reached("redis.admit.phone"), 0, "it never took the phone");
    assert_eq!(marks(&redis, &second).await, vec![(IdentKind::Email, FIRST.to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_met_at_its_phone_is_the_duplicate_and_gives_its_email_back() {
    let redis = RedisServer::start();
    let (first, _) = node(&redis).await;
    let (second, _) = node(&redis).await;
    // A ping of the phone alone holds it, pending.
    let held = first.admit(admission(FIRST, vec![phone()])).await.unwrap();
    assert!(matches!(held, AdmitOutcome::Admitted { .. }));

    let answer = second.admit(admission(SECOND, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }),
        "a duplicate on the phone, at once: {answer:?}"
    );
    // Its email mark is undone: only the holder's phone mark is left.
    assert_eq!(marks(&redis, &second).await, vec![(IdentKind::Phone, FIRST.to_string(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppression_of_an_identifier_not_asked_yet_outranks_a_duplicate() {
    let redis = RedisServer::start();
    let (first, _) = node(&redis).await;
    let (second, _) = node(&redis).await;
    assert!(matches!(first.admit(admission(FIRST, vec![email()])).await.unwrap(), AdmitOutcome::Admitted { .. }));
    second.suppress(vec![phone().hash], now()).await.unwrap();

    let answer = second.admit(admission(SECOND, vec![email(), phone()])).await.unwrap();
    assert!(
        matches!(answer, AdmitOutcome::Suppressed { matched: IdentKind::Phone, .. }),
        "the phone's suppression, not the email's duplicate: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_pings_racing_over_a_shared_identifier_exactly_one_is_admitted_every_time() {
    let redis = RedisServer::start();
    let (a, _) = node(&redis).await;
    let (b, _) = node(&redis).await;
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    for round in 0..50 {
        // Both identifiers shared, or only the phone: either way one ping is the consumer's.
        let other_email = ident(IdentKind::Email, &format!("other-{round}@example.com"));
        let shared =
            |k: &str| ident(if k == "e" { IdentKind::Email } else { IdentKind::Phone }, &format!("{k}-{round}"));
        let (ids_a, ids_b) = if round % 2 == 0 {
            (vec![shared("e"), shared("p")], vec![shared("e"), shared("p")])
        } else {
            (vec![shared("e"), shared("p")], vec![other_email, shared("p")])
        };
        let (pa, pb) = (format!("{round:032x}"), format!("{:032x}", 1000 + round));
        let (ra, rb) = tokio::join!(
            {
                let a = a.clone();
                async move { a.admit(admission(&pa, ids_a)).await.unwrap() }
            },
            {
                let b = b.clone();
                async move { b.admit(admission(&pb, ids_b)).await.unwrap() }
            }
        );
        let admitted = [&ra, &rb].iter().filter(|r| matches!(r, AdmitOutcome::Admitted { .. })).count();
        assert_eq!(admitted, 1, "round {round}: exactly one of two racing pings passes: {ra:?} / {rb:?}");
    }
}
