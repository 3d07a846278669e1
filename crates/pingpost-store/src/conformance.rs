//! The behaviour every [`Store`] must show. One suite, run unchanged against the embedded
//! store here and against Redis and Redis Cluster by their own crates' tests.

use crate::*;
use chrono::{Duration, TimeZone, Utc};
use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::SaleState;
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::window::WindowDays;
use std::sync::Arc;

/// Runs every check, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    admits_once_per_vertical_window(&*make().await).await;
    suppression_comes_before_vertical_dedup(&*make().await).await;
    suppression_answers_per_hash_and_remembers_since_when(&*make().await).await;
    bulk_suppression_keeps_the_order_of_many_hashes(&*make().await).await;
    email_or_phone_alone_matches(&*make().await).await;
    a_missing_identifier_never_matches(&*make().await).await;
    vertical_window_edge(&*make().await).await;
    released_admission_lets_a_retry_pass(&*make().await).await;
    concurrent_identical_admissions_admit_exactly_one(make().await).await;
    concurrent_admissions_by_overlapping_identifiers_admit_at_most_one(make().await).await;
    sale_reservation_respects_the_buyer_window(&*make().await).await;
    sale_reservation_respects_limits_and_settles(&*make().await).await;
    concurrent_reservations_never_pass_a_cap(make().await).await;
    concurrent_reservations_of_one_consumer_sell_it_once(make().await).await;
    rollback_marks_the_consumer_as_bought(&*make().await).await;
    dq_records_are_returned_with_history(&*make().await).await;
    claims_are_exclusive_and_remember_answers(&*make().await).await;
    blobs_expire(&*make().await).await;
    sweep_keeps_abandoned_reservations_as_sales(&*make().await).await;
    erasure_forgets_dedup_state_but_keeps_suppression(&*make().await).await;
    config_writes_are_compare_and_set(&*make().await).await;
    concurrent_config_writes_apply_exactly_one(make().await).await;
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
}

fn ident(kind: IdentKind, seed: &str) -> Ident {
    Ident { kind, hash: Sha256Hex::digest(seed) }
}

fn email(seed: &str) -> Ident {
    ident(IdentKind::Email, seed)
}

fn phone(seed: &str) -> Ident {
    ident(IdentKind::Phone, seed)
}

fn days(n: i64) -> WindowDays {
    WindowDays::new(n).unwrap_or(WindowDays::MAX)
}

fn admission(idents: Vec<Ident>, vertical: &str, now: Timestamp) -> Admission {
    Admission {
        idents,
        vertical: VerticalId::new(vertical),
        window: days(30),
        ping_id: format!("ping-{}", now.timestamp_nanos_opt().unwrap_or(0)),
        now,
    }
}

async fn admit<S: Store + ?Sized>(s: &S, idents: Vec<Ident>, vertical: &str, now: Timestamp) -> AdmitOutcome {
    s.admit(admission(idents, vertical, now)).await.expect("store answers")
}

fn admitted(o: &AdmitOutcome) -> bool {
    matches!(o, AdmitOutcome::Admitted { .. })
}

fn history(o: AdmitOutcome) -> pingpost_core::checkpoint::ConsumerHistory {
    match o {
        AdmitOutcome::Admitted { history } => history,
        other => panic!("expected admission, got {other:?}"),
    }
}

async fn admits_once_per_vertical_window<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    let again = admit(s, vec![email("a")], "auto", t0() + Duration::hours(1)).await;
    assert_eq!(again, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: t0() });
    assert!(admitted(&admit(s, vec![email("a")], "solar", t0()).await), "another vertical is independent");
}

async fn suppression_comes_before_vertical_dedup<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    assert_eq!(s.suppress(vec![phone("p").hash], t0()).await.ok(), Some(vec![true]));
    assert_eq!(s.suppress(vec![phone("p").hash], t0()).await.ok(), Some(vec![false]), "already suppressed");
    let o = admit(s, vec![email("a"), phone("p")], "auto", t0() + Duration::hours(1)).await;
    assert_eq!(o, AdmitOutcome::Suppressed { matched: IdentKind::Phone, since: t0() });
    assert_eq!(s.unsuppress(vec![phone("p").hash]).await.ok(), Some(1));
    let o = admit(s, vec![email("a"), phone("p")], "auto", t0() + Duration::hours(1)).await;
    assert!(matches!(o, AdmitOutcome::VerticalDuplicate { .. }), "{o:?}");
}

async fn suppression_answers_per_hash_and_remembers_since_when<S: Store + ?Sized>(s: &S) {
    let (a, b, c) = (email("a").hash, phone("b").hash, email("c").hash);
    assert_eq!(s.suppress(vec![a.clone()], t0()).await.ok(), Some(vec![true]));
    let later = t0() + Duration::hours(1);
    let answer = s.suppress(vec![a.clone(), b.clone(), b.clone(), c.clone()], later).await.ok();
    assert_eq!(answer, Some(vec![false, true, false, true]), "a hash repeated in one call is new once");
    let status = s.suppression_status(vec![a.clone(), b.clone(), email("never").hash]).await.ok();
    assert_eq!(status, Some(vec![Some(t0()), Some(later), None]), "re-suppressing keeps the first time");
    assert_eq!(s.unsuppress(vec![a.clone(), email("never").hash]).await.ok(), Some(1));
    assert_eq!(s.suppression_status(vec![a.clone(), c]).await.ok(), Some(vec![None, Some(later)]));
    assert_eq!(s.suppress(Vec::new(), t0()).await.ok(), Some(Vec::new()));
    assert_eq!(s.suppression_status(Vec::new()).await.ok(), Some(Vec::new()));
}

/// More hashes than one pipeline or one round of concurrent calls carries.
async fn bulk_suppression_keeps_the_order_of_many_hashes<S: Store + ?Sized>(s: &S) {
    let hashes: Vec<Sha256Hex> = (0..5_000).map(|i| Sha256Hex::digest(&format!("bulk-{i}"))).collect();
    let odd: Vec<Sha256Hex> = hashes.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(s.suppress(odd, t0()).await.map(|v| v.len()).ok(), Some(2_500));
    let added = s.suppress(hashes.clone(), t0()).await.expect("store answers");
    assert!(added.iter().enumerate().all(|(i, new)| *new == (i % 2 == 0)), "answers are in the order asked");
    let status = s.suppression_status(hashes.clone()).await.expect("store answers");
    assert!(status.iter().all(|t| *t == Some(t0())));
    assert_eq!(s.unsuppress(hashes.clone()).await.ok(), Some(5_000));
    assert!(s.suppression_status(hashes).await.expect("store answers").iter().all(Option::is_none));
}

async fn email_or_phone_alone_matches<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    let by_email = admit(s, vec![email("a"), phone("other")], "auto", t0()).await;
    assert!(matches!(by_email, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, .. }), "{by_email:?}");
    let by_phone = admit(s, vec![email("other"), phone("p")], "auto", t0()).await;
    assert!(matches!(by_phone, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Phone, .. }), "{by_phone:?}");
}

async fn a_missing_identifier_never_matches<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    assert!(admitted(&admit(s, vec![phone("p")], "auto", t0()).await), "no email on either side is no match");
    assert!(admitted(&admit(s, vec![email("b")], "auto", t0()).await));
}

async fn vertical_window_edge<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a")], "auto", t0()).await));
    let inside = t0() + Duration::seconds(30 * 86_400 - 1);
    assert!(matches!(admit(s, vec![email("a")], "auto", inside).await, AdmitOutcome::VerticalDuplicate { .. }));
    let outside = t0() + Duration::seconds(30 * 86_400);
    assert!(admitted(&admit(s, vec![email("a")], "auto", outside).await));
}

async fn released_admission_lets_a_retry_pass<S: Store + ?Sized>(s: &S) {
    let req = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")));
    s.release_admission(req).await.expect("release");
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
}

async fn concurrent_identical_admissions_admit_exactly_one<S: Store>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s = Arc::clone(&s);
        tasks.spawn(async move {
            let mut req = admission(vec![email("same"), phone("same")], "auto", t0());
            req.ping_id = format!("ping-{i}");
            s.admit(req).await.expect("admit")
        });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.iter().filter(|o| admitted(o)).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, AdmitOutcome::VerticalDuplicate { .. })).count(), 49);
}

fn record(sale_id: &str, buyer: &str, cents: i64, at: Timestamp) -> SaleRecord {
    SaleRecord {
        sale_id: sale_id.into(),
        ping_id: "ping".into(),
        partner: PartnerId::new("p1"),
        offer: OfferId::new("o1"),
        vertical: VerticalId::new("auto"),
        buyer: BuyerId::new(buyer),
        contract: ContractId::new("c1"),
        price: Money::from_minor(cents),
        reserved_at: at,
        state: LedgerState::Reserved,
    }
}

fn reservation(
    sale_id: &str,
    idents: Vec<Ident>,
    window: Option<WindowDays>,
    debits: Vec<Debit>,
    at: Timestamp,
) -> SaleReservation {
    SaleReservation {
        idents,
        window,
        debits,
        lease_until: at + Duration::minutes(5),
        record: record(sale_id, "b1", 1000, at),
    }
}

fn cap(limit: i64) -> Debit {
    Debit {
        key: "cap:c1:d:2026-11-22".into(),
        amount: 1,
        limit,
        is_money: false,
        expires_at: Some(t0() + Duration::days(2)),
    }
}

fn spend(limit: i64) -> Debit {
    Debit {
        key: "spend:c1:d:2026-11-22".into(),
        amount: 1000,
        limit,
        is_money: true,
        expires_at: Some(t0() + Duration::days(2)),
    }
}

async fn reserve<S: Store + ?Sized>(s: &S, r: SaleReservation) -> ReserveOutcome {
    s.reserve_sale(r).await.expect("reserve")
}

async fn counters<S: Store + ?Sized>(s: &S) -> Vec<i64> {
    s.read_counters(vec![cap(0).key, spend(0).key]).await.expect("counters")
}

async fn sale_reservation_respects_the_buyer_window<S: Store + ?Sized>(s: &S) {
    assert_eq!(
        reserve(s, reservation("s1", vec![email("a")], Some(days(30)), vec![], t0())).await,
        ReserveOutcome::Reserved
    );
    // In flight: a second reservation by phone+email is refused whatever its window.
    let again = reserve(s, reservation("s2", vec![phone("p"), email("a")], Some(days(1)), vec![], t0())).await;
    assert_eq!(again, ReserveOutcome::AlreadyBought { matched: IdentKind::Email, prior_at: t0() });
    s.commit_sale("s1".into(), Money::from_minor(1000), t0()).await.expect("commit");
    let later = t0() + Duration::days(2);
    assert!(matches!(
        reserve(s, reservation("s3", vec![email("a")], Some(days(30)), vec![], later)).await,
        ReserveOutcome::AlreadyBought { .. }
    ));
    assert_eq!(
        reserve(s, reservation("s4", vec![email("a")], Some(days(1)), vec![], later)).await,
        ReserveOutcome::Reserved,
        "outside a shorter window"
    );
    assert_eq!(reserve(s, reservation("s5", vec![email("b")], None, vec![], later)).await, ReserveOutcome::Reserved);
    assert_eq!(
        reserve(s, reservation("s6", vec![email("b")], None, vec![], later)).await,
        ReserveOutcome::Reserved,
        "dedup disabled"
    );
}

async fn sale_reservation_respects_limits_and_settles<S: Store + ?Sized>(s: &S) {
    let r = |id: &str, who: &str| reservation(id, vec![email(who)], Some(days(30)), vec![cap(2), spend(1500)], t0());
    assert_eq!(reserve(s, r("s1", "a")).await, ReserveOutcome::Reserved);
    assert_eq!(counters(s).await, [1, 1000]);
    assert_eq!(
        reserve(s, r("s2", "b")).await,
        ReserveOutcome::LimitReached { key: spend(0).key },
        "spend would pass 15.00"
    );
    assert_eq!(counters(s).await, [1, 1000], "a refused reservation takes nothing");
    s.release_sale("s1".into()).await.expect("release");
    assert_eq!(counters(s).await, [0, 0]);
    assert_eq!(s.sale("s1".into()).await.expect("sale").map(|r| r.state), Some(LedgerState::Released));
    assert_eq!(reserve(s, r("s3", "a")).await, ReserveOutcome::Reserved, "released: the buyer never had the consumer");
    s.commit_sale("s3".into(), Money::from_minor(600), t0()).await.expect("commit");
    assert_eq!(counters(s).await, [1, 600], "a lower final price gives back the difference");
    s.release_sale("s3".into()).await.expect("settled sales are final");
    s.commit_sale("s3".into(), Money::from_minor(100), t0()).await.expect("settled sales are final");
    assert_eq!(counters(s).await, [1, 600]);
    let sold = s.sale("s3".into()).await.expect("sale").expect("recorded");
    assert_eq!((sold.state, sold.price), (LedgerState::Sold, Money::from_minor(600)));
}

async fn concurrent_reservations_never_pass_a_cap<S: Store>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = Arc::clone(&s);
        tasks.spawn(async move {
            let r = reservation(&format!("s{i}"), vec![email(&format!("c{i}"))], Some(days(30)), vec![cap(3)], t0());
            s.reserve_sale(r).await.expect("reserve")
        });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.iter().filter(|o| **o == ReserveOutcome::Reserved).count(), 3);
    assert_eq!(counters(&*s).await[0], 3);
}

async fn rollback_marks_the_consumer_as_bought<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![cap(5), spend(5000)], t0());
    assert_eq!(reserve(s, r).await, ReserveOutcome::Reserved);
    let later = t0() + Duration::minutes(1);
    s.rollback_sale("s1".into(), later).await.expect("rollback");
    assert_eq!(counters(s).await, [0, 0], "cap and spend given back");
    assert_eq!(s.sale("s1".into()).await.expect("sale").map(|r| r.state), Some(LedgerState::RolledBack));
    let h = history(admit(s, vec![phone("p")], "auto", later).await);
    assert_eq!(h.sales.len(), 1);
    assert_eq!((h.sales[0].buyer.as_str(), h.sales[0].state, h.sales[0].at), ("b1", SaleState::Duplicate, later));
    let again = reserve(s, reservation("s2", vec![email("a")], Some(days(30)), vec![], later)).await;
    assert!(matches!(again, ReserveOutcome::AlreadyBought { .. }), "{again:?}");
}

async fn dq_records_are_returned_with_history<S: Store + ?Sized>(s: &S) {
    s.record_dq(vec![email("a")], vec![BuyerId::new("b1")], t0()).await.expect("dq");
    let h = history(admit(s, vec![email("a"), phone("p")], "auto", t0()).await);
    assert_eq!(h.dq.len(), 1);
    assert_eq!((h.dq[0].buyer.as_str(), h.dq[0].matched, h.dq[0].at), ("b1", IdentKind::Email, t0()));
}

async fn claims_are_exclusive_and_remember_answers<S: Store + ?Sized>(s: &S) {
    let claim = |fp: &str, now: Timestamp| ClaimRequest {
        key: "post:x".into(),
        fingerprint: fp.into(),
        lease_until: now + Duration::seconds(30),
        now,
    };
    assert_eq!(s.claim(claim("f", t0())).await.ok(), Some(Claim::Claimed));
    assert_eq!(s.claim(claim("f", t0())).await.ok(), Some(Claim::InFlight));
    assert_eq!(s.claim(claim("g", t0())).await.ok(), Some(Claim::Mismatch));
    let late = t0() + Duration::seconds(31);
    assert_eq!(s.claim(claim("f", late)).await.ok(), Some(Claim::Claimed), "a dead holder's lease runs out");
    s.complete_claim("post:x".into(), b"answer".to_vec(), late, late + Duration::hours(1)).await.expect("complete");
    assert_eq!(s.claim(claim("f", late)).await.ok(), Some(Claim::Done(b"answer".to_vec())));
    assert_eq!(s.claim(ClaimRequest { key: "post:y".into(), ..claim("f", t0()) }).await.ok(), Some(Claim::Claimed));
    s.abandon_claim("post:y".into()).await.expect("abandon");
    assert_eq!(s.claim(ClaimRequest { key: "post:y".into(), ..claim("f", t0()) }).await.ok(), Some(Claim::Claimed));
}

async fn blobs_expire<S: Store + ?Sized>(s: &S) {
    s.put_blob("ping:1".into(), b"x".to_vec(), t0(), t0() + Duration::seconds(300)).await.expect("put");
    assert_eq!(s.get_blob("ping:1".into(), t0()).await.expect("get"), Some(b"x".to_vec()));
    assert_eq!(s.get_blob("ping:1".into(), t0() + Duration::seconds(300)).await.expect("get"), None);
}

async fn sweep_keeps_abandoned_reservations_as_sales<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("crash")], Some(days(30)), vec![cap(5)], t0());
    assert_eq!(reserve(s, r).await, ReserveOutcome::Reserved);
    let report = s.sweep(t0() + Duration::minutes(1), Duration::days(30)).await.expect("sweep");
    assert_eq!(report.reservations_unconfirmed, 0, "inside its lease a reservation is left alone");

    // Past the reservation's lease: the engine died mid-delivery. Kept as a sale.
    let swept_at = t0() + Duration::minutes(10);
    let report = s.sweep(swept_at, Duration::days(30)).await.expect("sweep");
    assert_eq!(report.reservations_unconfirmed, 1);
    assert_eq!(s.sale("s1".into()).await.expect("sale").map(|r| r.state), Some(LedgerState::Unconfirmed));
    assert_eq!(counters(s).await[0], 1, "its cap stays taken");
    let again =
        reserve(s, reservation("s2", vec![email("crash")], Some(days(30)), vec![], t0() + Duration::minutes(11))).await;
    assert!(matches!(again, ReserveOutcome::AlreadyBought { .. }), "{again:?}");
    s.commit_sale("s1".into(), Money::from_minor(1), swept_at).await.expect("a late settlement");
    assert_eq!(
        s.sale("s1".into()).await.expect("sale").map(|r| r.state),
        Some(LedgerState::Unconfirmed),
        "an unconfirmed sale is final"
    );

    // The unconfirmed sale counts from when it was swept, for the buyer's window.
    let after_window = swept_at + Duration::days(30);
    let fresh = reserve(s, reservation("s3", vec![email("crash")], Some(days(30)), vec![], after_window)).await;
    assert_eq!(fresh, ReserveOutcome::Reserved);
}

/// Two pings of one consumer, one by email+phone and one by phone alone, racing: the
/// identifiers overlap in one slot only, and still at most one is admitted.
async fn concurrent_admissions_by_overlapping_identifiers_admit_at_most_one<S: Store>(s: Arc<S>) {
    for round in 0..20 {
        let both = admission(vec![email(&format!("e{round}")), phone(&format!("p{round}"))], "auto", t0());
        let mut phone_only = admission(vec![phone(&format!("p{round}"))], "auto", t0());
        phone_only.ping_id = format!("other-{round}");
        let (a, b) = tokio::join!(s.admit(both), s.admit(phone_only));
        let admitted_count = [a.expect("admit"), b.expect("admit")].iter().filter(|o| admitted(o)).count();
        assert_eq!(admitted_count, 1, "round {round}");
    }
}

/// Sales of one consumer to one buyer from many pings at once (by email, by phone, by
/// both): exactly one reservation stands.
async fn concurrent_reservations_of_one_consumer_sell_it_once<S: Store>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let s = Arc::clone(&s);
        let idents = match i % 3 {
            0 => vec![email("one")],
            1 => vec![phone("one")],
            _ => vec![email("one"), phone("one")],
        };
        tasks.spawn(async move {
            let r = reservation(&format!("s{i}"), idents.clone(), Some(days(30)), vec![cap(100)], t0());
            (idents, s.reserve_sale(r).await.expect("reserve"))
        });
    }
    let outcomes = tasks.join_all().await;
    // An email-only and a phone-only ping are two consumers as far as dedup can tell; what
    // must hold is that no identifier is sold twice.
    let sold: Vec<&Vec<Ident>> =
        outcomes.iter().filter(|(_, o)| *o == ReserveOutcome::Reserved).map(|(idents, _)| idents).collect();
    for id in [email("one"), phone("one")] {
        assert!(sold.iter().filter(|s| s.contains(&id)).count() <= 1, "{:?} sold twice: {sold:?}", id.kind);
    }
    assert!(!sold.is_empty());
    assert_eq!(counters(&*s).await[0], sold.len() as i64, "refused reservations took nothing");
}

async fn erasure_forgets_dedup_state_but_keeps_suppression<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    assert!(admitted(&admit(s, vec![email("a")], "solar", t0()).await));
    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r).await, ReserveOutcome::Reserved);
    s.commit_sale("s1".into(), Money::from_minor(1000), t0()).await.expect("commit");
    s.record_dq(vec![email("a")], vec![BuyerId::new("b2")], t0()).await.expect("dq");
    s.suppress(vec![email("z").hash], t0()).await.expect("suppress");
    assert!(admitted(&admit(s, vec![email("z2")], "auto", t0()).await));

    let erased = s.erase(vec![email("a").hash, email("z").hash]).await.expect("erase");
    assert_eq!(erased, Erased { vertical_submissions: 2, sales: 1, dq: 1 });
    let later = t0() + Duration::minutes(1);
    let h = history(admit(s, vec![email("a")], "auto", later).await);
    assert!(h.sales.is_empty() && h.dq.is_empty(), "nothing of the email is left: {h:?}");
    let by_phone = admit(s, vec![phone("p")], "auto", later).await;
    assert!(matches!(by_phone, AdmitOutcome::VerticalDuplicate { .. }), "only the erased hash is forgotten");
    assert!(
        matches!(admit(s, vec![email("z")], "auto", later).await, AdmitOutcome::Suppressed { .. }),
        "erasure keeps suppression"
    );
    assert_eq!(s.erase(vec![email("nobody").hash]).await.expect("erase"), Erased::default());
}

async fn config_writes_are_compare_and_set<S: Store + ?Sized>(s: &S) {
    assert_eq!(s.config().await.expect("config"), None);
    assert_eq!(s.config_version().await.expect("version"), 0);
    assert_eq!(s.save_config(0, b"one".to_vec()).await.expect("save"), Some(1));
    assert_eq!(s.save_config(0, b"stale".to_vec()).await.expect("save"), None, "a stale write is refused");
    assert_eq!(s.save_config(1, b"two".to_vec()).await.expect("save"), Some(2));
    assert_eq!(s.config().await.expect("config"), Some(ConfigDoc { version: 2, body: b"two".to_vec() }));
    assert_eq!(s.config_version().await.expect("version"), 2);
}

async fn concurrent_config_writes_apply_exactly_one<S: Store>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { s.save_config(0, format!("doc {i}").into_bytes()).await.expect("save") });
    }
    let won = tasks.join_all().await.into_iter().flatten().count();
    assert_eq!(won, 1);
    assert_eq!(s.config_version().await.expect("version"), 1);
}
