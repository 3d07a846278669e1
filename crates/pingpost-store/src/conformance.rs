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
    a_dry_run_admission_answers_like_a_real_one_and_writes_nothing(&*make().await).await;
    concurrent_identical_admissions_admit_exactly_one(make().await).await;
    concurrent_admissions_by_overlapping_identifiers_admit_at_most_one(make().await).await;
    sale_reservation_respects_the_buyer_window(&*make().await).await;
    sale_reservation_respects_limits_and_settles(&*make().await).await;
    concurrent_reservations_never_pass_a_cap(make().await).await;
    concurrent_reservations_of_one_consumer_sell_it_once(make().await).await;
    rollback_marks_the_consumer_as_bought(&*make().await).await;
    a_settlement_in_two_halves_ends_as_one(&*make().await).await;
    dq_records_are_returned_with_history(&*make().await).await;
    claims_are_exclusive_and_remember_answers(&*make().await).await;
    blobs_expire(&*make().await).await;
    sweep_keeps_abandoned_reservations_as_sales(&*make().await).await;
    a_sweep_forgets_nothing_a_longer_window_still_reaches(&*make().await).await;
    erasure_forgets_dedup_state_but_keeps_suppression(&*make().await).await;
    re_sent_calls_recognise_their_own_effects(&*make().await).await;
    an_unconfirmed_admission_lapses_after_its_lease(&*make().await).await;
    a_ping_never_has_more_standing_sales_than_its_slots(&*make().await).await;
    a_release_that_overtakes_its_reservation_fences_it(&*make().await).await;
    a_lapsed_reservation_mark_counts_for_its_window_and_no_longer(&*make().await).await;
    a_sale_is_recorded_under_every_identifier_it_was_reserved_with(&*make().await).await;
    erasure_keeps_reservations_in_flight(&*make().await).await;
    the_ledger_lists_a_pings_sales(&*make().await).await;
    top_ups_raise_the_balance_once_each(&*make().await).await;
    a_top_up_id_is_kept_with_its_buyer_and_amount(&*make().await).await;
    every_charge_and_its_undoing_writes_one_books_entry(&*make().await).await;
    a_sales_lead_id_is_kept_with_it_and_on_its_books_entry(&*make().await).await;
    entries_the_books_refuse_are_parked_and_kept(&*make().await).await;
    reservations_in_flight_page_by_lease_without_gaps_or_repeats(&*make().await).await;
    an_approved_return_refunds_once_and_leaves_dedup(&*make().await).await;
    every_return_refusal_has_its_reason(&*make().await).await;
    pending_returns_wait_for_one_final_decision(&*make().await).await;
    concurrent_returns_of_one_sale_open_one(make().await).await;
    concurrent_returns_never_pass_the_rate_cap(make().await).await;
    a_buyers_sales_page_newest_first_without_gaps_or_repeats(&*make().await).await;
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

/// Every test ping is another ping: the same ping's admission is its own, not a duplicate.
fn fresh_ping_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("ping-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// How long a test ping's submission stays pending (the engine's is a minute too).
const PENDING: Duration = Duration::seconds(60);

fn admission(idents: Vec<Ident>, vertical: &str, now: Timestamp) -> Admission {
    Admission {
        idents,
        vertical: VerticalId::new(vertical),
        window: days(30),
        ping_id: fresh_ping_id(),
        now,
        pending_until: now + PENDING,
        dry_run: false,
    }
}

/// Admits and confirms, as a ping that was answered does.
async fn admit<S: Store + ?Sized>(s: &S, idents: Vec<Ident>, vertical: &str, now: Timestamp) -> AdmitOutcome {
    let req = admission(idents, vertical, now);
    let outcome = s.admit(req.clone()).await.expect("store answers");
    if admitted(&outcome) {
        s.confirm_admission(req).await.expect("confirm");
    }
    outcome
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

/// A test ping's admission: the verdict and history a real one would get, and no write that
/// could turn a later ping away or outlive it.
async fn a_dry_run_admission_answers_like_a_real_one_and_writes_nothing<S: Store + ?Sized>(s: &S) {
    let dry = |idents, vertical| Admission { dry_run: true, ..admission(idents, vertical, t0() + Duration::hours(1)) };
    let answer = |req: Admission| async move { s.admit(req).await.expect("store answers") };
    // A consumer with a submission on auto, a sale under its email and a DQ under its phone.
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    let r = reservation("s1", vec![email("a")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    sold(s, &r, 1000, t0()).await;
    s.record_dq(vec![phone("p")], vec![BuyerId::new("b2")], t0()).await.expect("dq");
    s.suppress(vec![email("z").hash], t0()).await.expect("suppress");

    let duplicate = AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: t0() };
    assert_eq!(answer(dry(vec![email("a")], "auto")).await, duplicate, "checkpoint 2 as for a real ping");
    let suppressed = AdmitOutcome::Suppressed { matched: IdentKind::Email, since: t0() };
    assert_eq!(answer(dry(vec![email("z")], "auto")).await, suppressed, "checkpoint 1 as for a real ping");
    // Another ping's pending submission: a dry run holds no identifier for a race to be
    // decided by, so it is the duplicate at once.
    let later = t0() + Duration::hours(1);
    let pending = admission(vec![email("q")], "auto", later);
    assert!(admitted(&answer(pending.clone()).await));
    let held = answer(dry(vec![phone("q2"), email("q")], "auto")).await;
    assert_eq!(held, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: later });
    s.release_admission(pending).await.expect("release");

    // Admitted with the consumer's history, as often as asked: it left no submission behind.
    let first = history(answer(dry(vec![email("a"), phone("p")], "solar")).await);
    assert_eq!((first.sales.len(), first.dq.len()), (1, 1), "{first:?}");
    assert_eq!(history(answer(dry(vec![email("a"), phone("p")], "solar")).await), first, "its retry passes");
    let real = history(admit(s, vec![email("a"), phone("p")], "solar", later).await);
    assert_eq!(real, first, "a real ping after it passes too, with the same history");
    // Nothing at all was written for a consumer only dry runs saw (nor for the phone "q2").
    assert!(admitted(&answer(dry(vec![email("fresh")], "auto")).await));
    let erased = s.erase(vec![email("fresh").hash, phone("q2").hash], t0()).await.expect("erase");
    assert_eq!(erased, Erased::default());
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
        ping_id: format!("ping-of-{sale_id}"),
        partner: PartnerId::new("p1"),
        offer: OfferId::new("o1"),
        vertical: VerticalId::new("auto"),
        buyer: BuyerId::new(buyer),
        contract: ContractId::new("c1"),
        price: Money::from_minor(cents),
        payout: Money::from_minor(cents * 9 / 10),
        reserved_at: at,
        state: LedgerState::Reserved,
        holder: "attempt-1".into(),
        lease_until: at + Duration::minutes(5),
        reason: None,
        sold_at: None,
        lead_id: None,
    }
}

/// A reservation of sale `sale_id` (its own ping, one slot) by buyer b1.
fn reservation(
    sale_id: &str,
    idents: Vec<Ident>,
    window: Option<WindowDays>,
    debits: Vec<Debit>,
    at: Timestamp,
) -> SaleReservation {
    SaleReservation { idents, window, debits, slots: 1, record: record(sale_id, "b1", 1000, at) }
}

fn settlement(r: &SaleReservation, end: SaleEnd, at: Timestamp) -> Settlement {
    Settlement {
        sale_id: r.record.sale_id.clone(),
        ping_id: r.record.ping_id.clone(),
        buyer: r.record.buyer.clone(),
        idents: r.idents.clone(),
        end,
        at,
    }
}

async fn settle<S: Store + ?Sized>(s: &S, r: &SaleReservation, end: SaleEnd, at: Timestamp) -> Option<LedgerState> {
    s.settle_sale(settlement(r, end, at)).await.expect("settle")
}

async fn sold<S: Store + ?Sized>(s: &S, r: &SaleReservation, cents: i64, at: Timestamp) -> Option<LedgerState> {
    let end = SaleEnd::Sold {
        final_price: Money::from_minor(cents),
        final_payout: Money::from_minor(cents * 9 / 10),
        reason: None,
        lead_id: None,
    };
    settle(s, r, end, at).await
}

async fn released<S: Store + ?Sized>(s: &S, r: &SaleReservation) -> Option<LedgerState> {
    settle(s, r, SaleEnd::Released { reason: "rejected".into() }, r.record.reserved_at).await
}

async fn sale<S: Store + ?Sized>(s: &S, sale_id: &str) -> Option<SaleRecord> {
    s.ledger(LedgerQuery::Sale(sale_id.into())).await.expect("ledger").pop()
}

async fn sale_state<S: Store + ?Sized>(s: &S, sale_id: &str) -> Option<LedgerState> {
    sale(s, sale_id).await.map(|r| r.state)
}

fn cap(limit: i64) -> Debit {
    Debit {
        key: "cap:c1:d:2026-11-22".into(),
        amount: 1,
        limit,
        is_money: false,
        expires_at: Some(t0() + Duration::days(2)),
        credit_key: None,
    }
}

fn spend(limit: i64) -> Debit {
    Debit {
        key: "spend:c1:d:2026-11-22".into(),
        amount: 1000,
        limit,
        is_money: true,
        expires_at: Some(t0() + Duration::days(2)),
        credit_key: None,
    }
}

async fn reserve<S: Store + ?Sized>(s: &S, r: SaleReservation) -> ReserveOutcome {
    s.reserve_sale(r).await.expect("reserve")
}

async fn counters<S: Store + ?Sized>(s: &S) -> Vec<i64> {
    s.read_counters(vec![cap(0).key, spend(0).key]).await.expect("counters")
}

async fn sale_reservation_respects_the_buyer_window<S: Store + ?Sized>(s: &S) {
    let s1 = reservation("s1", vec![email("a")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, s1.clone()).await, ReserveOutcome::Reserved);
    // In flight: a second reservation by phone+email is refused whatever its window.
    let again = reserve(s, reservation("s2", vec![phone("p"), email("a")], Some(days(1)), vec![], t0())).await;
    assert_eq!(again, ReserveOutcome::AlreadyBought { matched: IdentKind::Email, prior_at: t0() });
    assert_eq!(sold(s, &s1, 1000, t0()).await, Some(LedgerState::Sold));
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
    let s1 = r("s1", "a");
    assert_eq!(reserve(s, s1.clone()).await, ReserveOutcome::Reserved);
    assert_eq!(counters(s).await, [1, 1000]);
    assert_eq!(
        reserve(s, r("s2", "b")).await,
        ReserveOutcome::LimitReached { key: spend(0).key },
        "spend would pass 15.00"
    );
    assert_eq!(counters(s).await, [1, 1000], "a refused reservation takes nothing");
    assert_eq!(released(s, &s1).await, Some(LedgerState::Released));
    assert_eq!(counters(s).await, [0, 0]);
    let entry = sale(s, "s1").await.expect("recorded");
    assert_eq!((entry.state, entry.reason.as_deref()), (LedgerState::Released, Some("rejected")));
    let s3 = r("s3", "a");
    assert_eq!(reserve(s, s3.clone()).await, ReserveOutcome::Reserved, "released: the buyer never had the consumer");
    assert_eq!(sold(s, &s3, 600, t0()).await, Some(LedgerState::Sold));
    assert_eq!(counters(s).await, [1, 600], "a lower final price gives back the difference");
    assert_eq!(released(s, &s3).await, Some(LedgerState::Sold), "settled sales are final");
    assert_eq!(sold(s, &s3, 100, t0()).await, Some(LedgerState::Sold), "settled sales are final");
    assert_eq!(counters(s).await, [1, 600]);
    let entry = sale(s, "s3").await.expect("recorded");
    assert_eq!((entry.state, entry.price), (LedgerState::Sold, Money::from_minor(600)));
    assert_eq!(entry.payout, Money::from_minor(540), "the partner's payout follows the lower price");
    assert_eq!(entry.reason, None);
    // A reason given with a lower price stays on the sold entry (the engine's flag for a
    // payout taken below the partner's minimum).
    let s4 = reservation("s4", vec![email("c")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, s4.clone()).await, ReserveOutcome::Reserved);
    let flagged = Some("below_min_payout".to_string());
    let end = SaleEnd::Sold {
        final_price: Money::from_minor(300),
        final_payout: Money::ZERO,
        reason: flagged.clone(),
        lead_id: None,
    };
    assert_eq!(settle(s, &s4, end, t0()).await, Some(LedgerState::Sold));
    let entry = sale(s, "s4").await.expect("recorded");
    assert_eq!(
        (entry.state, entry.price, entry.payout, entry.reason),
        (LedgerState::Sold, Money::from_minor(300), Money::ZERO, flagged)
    );
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
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let later = t0() + Duration::minutes(1);
    assert_eq!(settle(s, &r, SaleEnd::RolledBack, later).await, Some(LedgerState::RolledBack));
    assert_eq!(counters(s).await, [0, 0], "cap and spend given back");
    assert_eq!(sale_state(s, "s1").await, Some(LedgerState::RolledBack));
    let h = history(admit(s, vec![phone("p")], "auto", later).await);
    assert_eq!(h.sales.len(), 1);
    assert_eq!((h.sales[0].buyer.as_str(), h.sales[0].state, h.sales[0].at), ("b1", SaleState::Duplicate, later));
    let again = reserve(s, reservation("s2", vec![email("a")], Some(days(30)), vec![], later)).await;
    assert!(matches!(again, ReserveOutcome::AlreadyBought { .. }), "{again:?}");
}

/// `settle_ledger` then `settle_marks` (what a post does; for its last round it stores its
/// answer between the two) leaves what `settle_sale` leaves; and once the ledger half is
/// done the sale is final, whatever the marks say until they follow.
async fn a_settlement_in_two_halves_ends_as_one<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![cap(5), spend(5000)], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let later = t0() + Duration::minutes(1);
    let end = SaleEnd::Sold {
        final_price: Money::from_minor(1000),
        final_payout: Money::from_minor(900),
        reason: None,
        lead_id: None,
    };
    let state = s.settle_ledger(settlement(&r, end.clone(), later)).await.expect("ledger half");
    assert_eq!(state, Some(LedgerState::Sold));
    assert_eq!(sale_state(s, "s1").await, Some(LedgerState::Sold), "final before the marks follow");
    assert_eq!(counters(s).await, [1, 1000]);
    s.settle_marks(settlement(&r, end.clone(), later), state).await.expect("marks half");
    s.settle_marks(settlement(&r, end, later), state).await.expect("repeated");
    let h = history(admit(s, vec![phone("p")], "auto", later).await);
    assert_eq!(h.sales.len(), 1);
    assert_eq!((h.sales[0].buyer.as_str(), h.sales[0].state, h.sales[0].lease_until), ("b1", SaleState::Sold, None));
    let h = history(admit(s, vec![email("a")], "other", later).await);
    assert_eq!((h.sales.len(), h.sales[0].state), (1, SaleState::Sold), "under every identifier");
}

async fn dq_records_are_returned_with_history<S: Store + ?Sized>(s: &S) {
    s.record_dq(vec![email("a")], vec![BuyerId::new("b1")], t0()).await.expect("dq");
    let h = history(admit(s, vec![email("a"), phone("p")], "auto", t0()).await);
    assert_eq!(h.dq.len(), 1);
    assert_eq!((h.dq[0].buyer.as_str(), h.dq[0].matched, h.dq[0].at), ("b1", IdentKind::Email, t0()));
}

fn claim(key: &str, fp: &str, holder: &str, now: Timestamp) -> ClaimRequest {
    ClaimRequest {
        key: key.into(),
        fingerprint: fp.into(),
        holder: holder.into(),
        lease_until: now + Duration::seconds(30),
        keep_until: now + Duration::hours(1),
        now,
    }
}

async fn claims_are_exclusive_and_remember_answers<S: Store + ?Sized>(s: &S) {
    let first = Claim::Claimed { resumed: false };
    let resumed = Claim::Claimed { resumed: true };
    assert_eq!(s.claim(claim("post:x", "f", "h1", t0())).await.ok(), Some(first.clone()));
    assert_eq!(s.claim(claim("post:x", "f", "h1", t0())).await.ok(), Some(first.clone()), "a re-sent claim");
    assert_eq!(s.claim(claim("post:x", "f", "h2", t0())).await.ok(), Some(Claim::InFlight));
    assert_eq!(s.claim(claim("post:x", "g", "h2", t0())).await.ok(), Some(Claim::Mismatch));
    let late = t0() + Duration::seconds(31);
    assert_eq!(
        s.claim(claim("post:x", "f", "h2", late)).await.ok(),
        Some(resumed.clone()),
        "a dead holder's lease ran out"
    );
    let keep = late + Duration::hours(1);
    s.complete_claim("post:x".into(), "h1".into(), b"stale".to_vec(), late, keep).await.expect("complete");
    assert_eq!(
        s.claim(claim("post:x", "f", "h3", late)).await.ok(),
        Some(Claim::InFlight),
        "only the holder completes"
    );
    s.complete_claim("post:x".into(), "h2".into(), b"answer".to_vec(), late, keep).await.expect("complete");
    s.complete_claim("post:x".into(), "h2".into(), b"answer".to_vec(), late, keep).await.expect("re-sent");
    assert_eq!(s.claim(claim("post:x", "f", "h3", late)).await.ok(), Some(Claim::Done(b"answer".to_vec())));

    assert_eq!(s.claim(claim("post:y", "f", "h1", t0())).await.ok(), Some(first));
    s.abandon_claim("post:y".into(), "h9".into()).await.expect("abandon");
    assert_eq!(s.claim(claim("post:y", "f", "h2", t0())).await.ok(), Some(Claim::InFlight), "only the holder abandons");
    s.abandon_claim("post:y".into(), "h1".into()).await.expect("abandon");
    let fresh = Claim::Claimed { resumed: false };
    assert_eq!(
        s.claim(claim("post:y", "g", "h2", t0())).await.ok(),
        Some(fresh.clone()),
        "a claim given up by the holder that took it fresh is gone, fingerprint and all"
    );
    // Taken over from h2 once its lease ran out, then given up: the next one must read what
    // h2 and h3 did, so it resumes.
    let late = t0() + Duration::minutes(10);
    assert_eq!(s.claim(claim("post:y", "g", "h3", late)).await.ok(), Some(resumed.clone()));
    s.abandon_claim("post:y".into(), "h3".into()).await.expect("abandon");
    assert_eq!(s.claim(claim("post:y", "g", "h4", late)).await.ok(), Some(resumed), "given up: the next one resumes");
}

async fn blobs_expire<S: Store + ?Sized>(s: &S) {
    s.put_blob("ping:1".into(), b"x".to_vec(), t0(), t0() + Duration::seconds(300)).await.expect("put");
    assert_eq!(s.get_blob("ping:1".into(), t0()).await.expect("get"), Some(b"x".to_vec()));
    assert_eq!(s.get_blob("ping:1".into(), t0() + Duration::seconds(300)).await.expect("get"), None);
}

async fn sweep_keeps_abandoned_reservations_as_sales<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("crash")], Some(days(30)), vec![cap(5)], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let report = s.sweep(t0() + Duration::minutes(1)).await.expect("sweep");
    assert_eq!(report.reservations_unconfirmed, 0, "inside its lease a reservation is left alone");

    // Past the reservation's lease: the engine died mid-delivery. Kept as a sale.
    let swept_at = t0() + Duration::minutes(10);
    let report = s.sweep(swept_at).await.expect("sweep");
    assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (1, 1));
    assert_eq!(sale_state(s, "s1").await, Some(LedgerState::Unconfirmed));
    let listed = s.ledger(LedgerQuery::Unconfirmed { limit: 10 }).await.expect("ledger");
    assert_eq!(listed.iter().map(|r| r.sale_id.as_str()).collect::<Vec<_>>(), ["s1"]);
    assert_eq!(counters(s).await[0], 1, "its cap stays taken");
    let again =
        reserve(s, reservation("s2", vec![email("crash")], Some(days(30)), vec![], t0() + Duration::minutes(11))).await;
    assert!(matches!(again, ReserveOutcome::AlreadyBought { .. }), "{again:?}");

    // The unconfirmed sale counts from when it was reserved, for the buyer's window.
    let after_window = t0() + Duration::days(30);
    let fresh = reserve(s, reservation("s3", vec![email("crash")], Some(days(30)), vec![], after_window)).await;
    assert_eq!(fresh, ReserveOutcome::Reserved);

    // A settlement that arrives late still says what happened.
    assert_eq!(released(s, &r).await, Some(LedgerState::Released));
    assert_eq!(counters(s).await[0], 0, "given back once the buyer's answer is known");
    let report = s.sweep(swept_at).await.expect("sweep");
    assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (0, 0));
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
    // A reservation carries every identifier of its ping (never only those its post
    // repeated), so an email-only reservation here stands for a ping that had no phone: an
    // email-only and a phone-only ping are two consumers as far as dedup can tell. What must
    // hold is that no identifier is sold twice; a post that repeats fewer identifiers than its
    // ping is `a_sale_is_recorded_under_every_identifier_it_was_reserved_with` and
    // tests/guarantees.rs.
    let sold: Vec<&Vec<Ident>> =
        outcomes.iter().filter(|(_, o)| *o == ReserveOutcome::Reserved).map(|(idents, _)| idents).collect();
    for id in [email("one"), phone("one")] {
        assert!(sold.iter().filter(|s| s.contains(&id)).count() <= 1, "{:?} sold twice: {sold:?}", id.kind);
    }
    assert!(!sold.is_empty());
    assert_eq!(counters(&*s).await[0], sold.len() as i64, "refused reservations took nothing");
}

/// A store keeps what a window may look back on for [`RETENTION`], whatever the windows in
/// force when it was written or swept: once every window of the day (3 days) has passed, a
/// sweep still leaves what a window raised again, or a return window, reaches.
async fn a_sweep_forgets_nothing_a_longer_window_still_reaches<S: Store + ?Sized>(s: &S) {
    let seen = Admission { window: days(3), ..admission(vec![email("kept-a")], "auto", t0()) };
    assert!(admitted(&s.admit(seen.clone()).await.expect("admit")));
    s.confirm_admission(seen).await.expect("confirm");
    let r = reservation("kept-s", vec![email("kept-b")], Some(days(3)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    assert_eq!(sold(s, &r, 1000, t0()).await, Some(LedgerState::Sold));
    s.record_dq(vec![email("kept-c")], vec![BuyerId::new("b1")], t0()).await.expect("dq");

    let later = t0() + Duration::days(4);
    s.sweep(later).await.expect("sweep");
    let again = admit(s, vec![email("kept-a")], "auto", later).await;
    assert_eq!(again, AdmitOutcome::VerticalDuplicate { matched: IdentKind::Email, prior_at: t0() });
    let rebuy = reservation("kept-s2", vec![email("kept-b")], Some(days(30)), vec![], later);
    assert!(matches!(reserve(s, rebuy).await, ReserveOutcome::AlreadyBought { .. }));
    let dq = history(admit(s, vec![email("kept-c")], "auto", later).await).dq;
    assert_eq!(dq.iter().map(|d| (d.buyer.as_str(), d.at)).collect::<Vec<_>>(), [("b1", t0())]);
    let page = LedgerQuery::Buyer { buyer: BuyerId::new("b1"), since: None, until: None, after: None, limit: 10 };
    let listed: Vec<String> = s.ledger(page).await.expect("ledger").into_iter().map(|r| r.sale_id).collect();
    assert_eq!(listed, ["kept-s"]);
    let ret = opened(open(s, return_of("kept-s", "b1", later, "kept")).await);
    assert_eq!(ret.status, ReturnStatus::Approved, "returned on day 4 of its 7");
}

async fn erasure_forgets_dedup_state_but_keeps_suppression<S: Store + ?Sized>(s: &S) {
    assert!(admitted(&admit(s, vec![email("a"), phone("p")], "auto", t0()).await));
    assert!(admitted(&admit(s, vec![email("a")], "solar", t0()).await));
    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    sold(s, &r, 1000, t0()).await;
    s.record_dq(vec![email("a")], vec![BuyerId::new("b2")], t0()).await.expect("dq");
    s.suppress(vec![email("z").hash], t0()).await.expect("suppress");
    assert!(admitted(&admit(s, vec![email("z2")], "auto", t0()).await));

    let erased = s.erase(vec![email("a").hash, email("z").hash], t0()).await.expect("erase");
    assert_eq!(erased, Erased { vertical_submissions: 2, sales: 1, dq: 1, kept_in_flight: 0 });
    let later = t0() + Duration::minutes(1);
    let h = history(admit(s, vec![email("a")], "auto", later).await);
    assert!(h.sales.is_empty() && h.dq.is_empty(), "nothing of the email is left: {h:?}");
    let by_phone = admit(s, vec![phone("p")], "auto", later).await;
    assert!(matches!(by_phone, AdmitOutcome::VerticalDuplicate { .. }), "only the erased hash is forgotten");
    assert!(
        matches!(admit(s, vec![email("z")], "auto", later).await, AdmitOutcome::Suppressed { .. }),
        "erasure keeps suppression"
    );
    assert_eq!(s.erase(vec![email("nobody").hash], later).await.expect("erase"), Erased::default());
}

async fn config_writes_are_compare_and_set<S: Store + ?Sized>(s: &S) {
    let stamp = |version: u64, rev: &str| ConfigStamp { version, rev: rev.into() };
    let save = |expected: Option<ConfigStamp>, rev: &str, body: &str| {
        let (rev, body) = (rev.to_string(), body.as_bytes().to_vec());
        async move { s.save_config(expected, rev, body).await.expect("save") }
    };
    assert_eq!(s.config().await.expect("config"), None);
    assert_eq!(s.config_stamp().await.expect("stamp"), None);
    assert_eq!(save(Some(stamp(1, "lost")), "r0", "edit").await, None, "an edit of a document that is gone");
    assert_eq!(s.config().await.expect("config"), None, "is no document");

    let one = save(None, "r1", "one").await;
    assert_eq!(one, Some(stamp(1, "r1")));
    assert_eq!(save(None, "r1", "one").await, one, "a re-sent first write is its own");
    assert_eq!(save(None, "r2", "seed").await, None, "a document is stored already");
    let two = save(one.clone(), "r2", "two").await;
    assert_eq!(two, Some(stamp(2, "r2")));
    assert_eq!(save(one.clone(), "r2", "two").await, two, "a re-sent write is its own");
    assert_eq!(save(one, "r3", "other").await, None, "a stale write is refused");
    assert_eq!(save(Some(stamp(2, "lost")), "r3", "other").await, None, "another write of the same version");
    assert_eq!(s.config().await.expect("config"), Some(ConfigDoc { stamp: stamp(2, "r2"), body: b"two".to_vec() }));
    assert_eq!(s.config_stamp().await.expect("stamp"), two);
}

async fn concurrent_config_writes_apply_exactly_one<S: Store>(s: Arc<S>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { s.save_config(None, format!("r{i}"), format!("doc {i}").into_bytes()).await });
    }
    let won: Vec<ConfigStamp> = tasks.join_all().await.into_iter().filter_map(|r| r.expect("save")).collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(s.config_stamp().await.expect("stamp").as_ref(), won.first());
}

/// Every call answers its own earlier effect again instead of refusing or doubling it: the
/// client, the cluster client or the engine may re-send any of them after a lost reply.
async fn re_sent_calls_recognise_their_own_effects<S: Store + ?Sized>(s: &S) {
    let req = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")));
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")), "a re-sent admission is its own, not a duplicate");
    s.confirm_admission(req.clone()).await.expect("confirm");
    assert!(admitted(&s.admit(req.clone()).await.expect("admit")), "even once confirmed");
    s.confirm_admission(req).await.expect("a re-sent confirmation");

    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![cap(5), spend(5000)], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let again = reserve(s, r.clone()).await;
    let ReserveOutcome::Existing(entry) = again else { panic!("a re-sent reservation answered {again:?}") };
    assert_eq!((entry.state, entry.holder.as_str()), (LedgerState::Reserved, "attempt-1"));
    assert_eq!(counters(s).await, [1, 1000], "debits taken once");
    assert_eq!(sold(s, &r, 1000, t0()).await, Some(LedgerState::Sold));
    assert_eq!(sold(s, &r, 1000, t0()).await, Some(LedgerState::Sold));
    assert_eq!(counters(s).await, [1, 1000]);
    let again = reserve(s, r).await;
    assert!(matches!(&again, ReserveOutcome::Existing(e) if e.state == LedgerState::Sold), "{again:?}");
    assert_eq!(counters(s).await, [1, 1000], "a reservation re-sent after its settlement takes nothing");
}

/// A ping that was never answered (it failed, or its engine died) leaves a pending
/// submission that turns the consumer away only while its lease runs.
async fn an_unconfirmed_admission_lapses_after_its_lease<S: Store + ?Sized>(s: &S) {
    let failed = admission(vec![email("a"), phone("p")], "auto", t0());
    assert!(admitted(&s.admit(failed).await.expect("admit")));
    let retry_soon = admit(s, vec![email("a"), phone("p")], "auto", t0() + PENDING - Duration::seconds(1)).await;
    assert!(matches!(retry_soon, AdmitOutcome::VerticalDuplicate { .. }), "the ping may still be running");
    let retry = admit(s, vec![email("a"), phone("p")], "auto", t0() + PENDING).await;
    assert!(admitted(&retry), "the lease ran out: {retry:?}");
    let confirmed_dup = admit(s, vec![phone("p")], "auto", t0() + Duration::days(29)).await;
    assert!(matches!(confirmed_dup, AdmitOutcome::VerticalDuplicate { .. }), "a confirmed one counts for the window");
}

async fn a_ping_never_has_more_standing_sales_than_its_slots<S: Store + ?Sized>(s: &S) {
    let of_ping = |sale: &str, buyer: &str, who: &str, slots: u16| SaleReservation {
        idents: vec![email(who)],
        window: Some(days(30)),
        debits: vec![],
        slots,
        record: SaleRecord { ping_id: "one-ping".into(), ..record(sale, buyer, 1000, t0()) },
    };
    let first = of_ping("x1", "b1", "a", 1);
    assert_eq!(reserve(s, first.clone()).await, ReserveOutcome::Reserved);
    assert_eq!(reserve(s, of_ping("x2", "b2", "a", 1)).await, ReserveOutcome::SlotsTaken, "exclusive: one slot");
    assert_eq!(released(s, &first).await, Some(LedgerState::Released));
    let second = of_ping("x2", "b2", "a", 1);
    assert_eq!(reserve(s, second.clone()).await, ReserveOutcome::Reserved, "the released sale gave its slot back");
    assert_eq!(sold(s, &second, 1000, t0()).await, Some(LedgerState::Sold));
    assert_eq!(reserve(s, of_ping("x3", "b3", "a", 1)).await, ReserveOutcome::SlotsTaken, "a sale keeps its slot");
    assert_eq!(reserve(s, of_ping("x3", "b3", "b", 2)).await, ReserveOutcome::Reserved, "multisell: two slots");
    assert_eq!(reserve(s, of_ping("x4", "b3", "c", 3)).await, ReserveOutcome::SlotsTaken, "distinct buyers");
}

/// A release of a sale whose reservation has not arrived yet (its reply was lost, or it is
/// still on the wire behind a stalled store) leaves tombstones: the reservation, when it
/// comes, takes nothing and marks nobody.
async fn a_release_that_overtakes_its_reservation_fences_it<S: Store + ?Sized>(s: &S) {
    let r = reservation("late", vec![email("a"), phone("p")], Some(days(30)), vec![cap(5)], t0());
    assert_eq!(released(s, &r).await, None, "no entry yet");
    let outcome = reserve(s, r).await;
    assert!(matches!(&outcome, ReserveOutcome::Existing(e) if e.state == LedgerState::Released), "{outcome:?}");
    assert_eq!(counters(s).await[0], 0);
    let h = history(admit(s, vec![email("a"), phone("p")], "auto", t0()).await);
    assert!(h.sales.is_empty(), "no mark: {h:?}");
    let other = reservation("other", vec![phone("p")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, other).await, ReserveOutcome::Reserved, "the buyer is free to buy the consumer");
}

/// A reservation nobody settled (its engine died) holds the consumer while its lease runs,
/// then counts as an unconfirmed sale for the window from when it was reserved, then not at
/// all: no mark outlives its window plus its lease, with or without a sweep.
async fn a_lapsed_reservation_mark_counts_for_its_window_and_no_longer<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("a")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r).await, ReserveOutcome::Reserved);
    let lapsed_inside = t0() + Duration::days(29);
    let h = history(admit(s, vec![email("a")], "auto", lapsed_inside).await);
    assert_eq!(h.sales.len(), 1, "still in the consumer's history");
    let inside = reserve(s, reservation("s3", vec![email("a")], Some(days(30)), vec![], lapsed_inside)).await;
    assert!(matches!(inside, ReserveOutcome::AlreadyBought { .. }), "{inside:?}");
    let after =
        reserve(s, reservation("s4", vec![email("a")], Some(days(30)), vec![], t0() + Duration::days(30))).await;
    assert_eq!(after, ReserveOutcome::Reserved, "window and lease both over");
}

/// Settlements carry the ping's identifiers: a rollback reaches the phone even though the
/// sale was posted with the email only.
async fn a_sale_is_recorded_under_every_identifier_it_was_reserved_with<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("a"), phone("p")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    assert_eq!(sold(s, &r, 1000, t0()).await, Some(LedgerState::Sold));
    let h = history(admit(s, vec![phone("p")], "solar", t0()).await);
    assert_eq!(h.sales.iter().map(|m| (m.buyer.as_str(), m.state)).collect::<Vec<_>>(), [("b1", SaleState::Sold)]);
    let by_phone = reserve(s, reservation("s2", vec![phone("p")], Some(days(30)), vec![], t0())).await;
    assert!(matches!(by_phone, ReserveOutcome::AlreadyBought { matched: IdentKind::Phone, .. }), "{by_phone:?}");
}

/// Erasing a consumer while one of its sales is in flight keeps that reservation: without
/// it a concurrent post could sell the consumer to the same buyer again.
async fn erasure_keeps_reservations_in_flight<S: Store + ?Sized>(s: &S) {
    let r = reservation("s1", vec![email("a")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let erased = s.erase(vec![email("a").hash], t0()).await.expect("erase");
    assert_eq!(erased.kept_in_flight, 1);
    let again = reserve(s, reservation("s2", vec![email("a")], Some(days(30)), vec![], t0())).await;
    assert!(matches!(again, ReserveOutcome::AlreadyBought { .. }), "{again:?}");
    assert_eq!(sold(s, &r, 1000, t0()).await, Some(LedgerState::Sold));
    let erased = s.erase(vec![email("a").hash], t0()).await.expect("erase once settled");
    assert_eq!((erased.sales, erased.kept_in_flight), (1, 0));
}

async fn the_ledger_lists_a_pings_sales<S: Store + ?Sized>(s: &S) {
    for (i, sale) in ["y1", "y2"].into_iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        let r = SaleReservation {
            idents: vec![email(sale)],
            window: Some(days(30)),
            debits: vec![],
            slots: 1,
            record: SaleRecord { ping_id: "ping-y".into(), ..record(sale, &format!("b{i}"), 1000, at) },
        };
        assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
        if i == 0 {
            released(s, &r).await;
        }
    }
    let journal = s.ledger(LedgerQuery::Ping("ping-y".into())).await.expect("ledger");
    let states: Vec<(&str, LedgerState)> = journal.iter().map(|r| (r.sale_id.as_str(), r.state)).collect();
    assert_eq!(states, [("y1", LedgerState::Released), ("y2", LedgerState::Reserved)]);
    assert!(s.ledger(LedgerQuery::Ping("nothing".into())).await.expect("ledger").is_empty());
    assert!(s.ledger(LedgerQuery::Sale("nothing".into())).await.expect("ledger").is_empty());
}

fn balance(limit: i64) -> Debit {
    let b1 = BuyerId::new("b1");
    Debit {
        key: pingpost_core::caps::balance_key(&b1),
        amount: 1000,
        limit,
        is_money: true,
        expires_at: None,
        credit_key: Some(pingpost_core::caps::credit_key(&b1)),
    }
}

async fn top_ups_raise_the_balance_once_each<S: Store + ?Sized>(s: &S) {
    let r = |id: &str, who: &str| reservation(id, vec![email(who)], Some(days(30)), vec![balance(1500)], t0());
    assert_eq!(reserve(s, r("t1", "a")).await, ReserveOutcome::Reserved);
    assert!(
        matches!(reserve(s, r("t2", "b")).await, ReserveOutcome::LimitReached { .. }),
        "15.00 of balance, 10.00 spent"
    );
    let top_up = TopUp { id: "top-1".into(), buyer: BuyerId::new("b1"), amount: Money::from_minor(500), at: t0() };
    let after = s.top_up(top_up.clone()).await.expect("top-up");
    let money = BuyerMoney { spent: Money::from_minor(1000), credit: Money::from_minor(500) };
    assert_eq!(after, TopUpOutcome::Applied(money));
    assert_eq!(s.top_up(top_up).await.expect("re-sent"), after, "a re-sent top-up applies once");
    assert_eq!(reserve(s, r("t2", "b")).await, ReserveOutcome::Reserved, "20.00 of balance now");
    assert_eq!(s.buyer_money(BuyerId::new("b1")).await.expect("money").spent, Money::from_minor(2000));
    let entries = s.outbox(10).await.expect("outbox");
    assert_eq!(entries.iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>(), ["top_up:top-1"]);
    assert_eq!((entries[0].kind, entries[0].amount), (EntryKind::TopUp, Money::from_minor(500)));
}

/// The books keep a top-up's id for good: a retry however late (the `now` given moves on, as
/// long as a retry can come) applies nothing again, and the id sent with another buyer or
/// amount is refused with what it was used for, nothing moved.
async fn a_top_up_id_is_kept_with_its_buyer_and_amount<S: Store + ?Sized>(s: &S) {
    let (b1, b2) = (BuyerId::new("b1"), BuyerId::new("b2"));
    let first = TopUp { id: "top-1".into(), buyer: b1.clone(), amount: Money::from_minor(500), at: t0() };
    let applied = s.top_up(first.clone()).await.expect("top-up");
    let money = BuyerMoney { spent: Money::ZERO, credit: Money::from_minor(500) };
    assert_eq!(applied, TopUpOutcome::Applied(money));
    for late in [Duration::days(2), Duration::days(365)] {
        let retry = TopUp { at: t0() + late, ..first.clone() };
        assert_eq!(s.top_up(retry).await.expect("retry"), applied, "a retry {late} later applies once");
    }
    let reused = TopUpOutcome::IdReused { buyer: b1.clone(), amount: Money::from_minor(500) };
    let other_amount = TopUp { amount: Money::from_minor(600), at: t0() + Duration::days(2), ..first.clone() };
    let other_buyer = TopUp { buyer: b2.clone(), at: t0() + Duration::days(2), ..first };
    for other in [other_amount, other_buyer] {
        assert_eq!(s.top_up(other.clone()).await.expect("top-up"), reused, "{other:?}");
    }
    assert_eq!(s.buyer_money(b1).await.expect("money"), money);
    assert_eq!(s.buyer_money(b2).await.expect("money"), BuyerMoney::default(), "a refused top-up moves nothing");
    let entries = s.outbox(10).await.expect("outbox");
    assert_eq!(entries.iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>(), ["top_up:top-1"]);
}

/// A sale is charged when it stands (sold) or is kept as unconfirmed; undoing a charged sale
/// writes its rollback; nothing else moves money. Each movement is one entry, however often
/// its step is re-sent, and stays in the outbox until the relay says the books have it.
async fn every_charge_and_its_undoing_writes_one_books_entry<S: Store + ?Sized>(s: &S) {
    let r = |id: &str, who: &str| reservation(id, vec![email(who)], Some(days(30)), vec![], t0());
    let (to_sell, to_release, to_lapse) = (r("o1", "a"), r("o2", "b"), r("o3", "c"));
    for x in [&to_sell, &to_release, &to_lapse] {
        assert_eq!(reserve(s, x.clone()).await, ReserveOutcome::Reserved);
    }
    assert!(s.outbox(10).await.expect("outbox").is_empty(), "a reservation moves no money yet");
    sold(s, &to_sell, 700, t0()).await;
    sold(s, &to_sell, 700, t0()).await;
    released(s, &to_release).await;
    s.sweep(t0() + Duration::minutes(10)).await.expect("sweep");
    settle(s, &to_lapse, SaleEnd::RolledBack, t0() + Duration::minutes(11)).await;
    let entries = s.outbox(10).await.expect("outbox");
    let got: Vec<(&str, EntryKind, i64)> =
        entries.iter().map(|e| (e.entry_id.as_str(), e.kind, e.price.minor())).collect();
    assert_eq!(
        got,
        [
            ("sale:o1", EntryKind::Sale, 700),
            ("sale:o3", EntryKind::Sale, 1000),
            ("rollback:o3", EntryKind::Rollback, 1000)
        ]
    );
    let first = &entries[0];
    let sale = first.sale.as_ref().expect("a sale's entry names it");
    assert_eq!((sale.ping_id.as_str(), first.payout), ("ping-of-o1", Money::from_minor(630)));
    s.outbox_done(vec!["sale:o1".into(), "never-written".into()]).await.expect("done");
    s.outbox_done(vec!["sale:o1".into()]).await.expect("done twice");
    assert_eq!(s.outbox(1).await.expect("outbox").iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>(), ["sale:o3"]);
}

/// An entry the books refuse leaves the outbox for the parked entries in one step, with why,
/// and stays there whatever is re-sent; the parked entries page in outbox order (time, then
/// id), entries of one time included.
async fn entries_the_books_refuse_are_parked_and_kept<S: Store + ?Sized>(s: &S) {
    let sales = sell_many(s, "k", 3, t0()).await;
    let ids = |entries: Vec<OutboxEntry>| entries.into_iter().map(|e| e.entry_id).collect::<Vec<_>>();
    let parked_ids = |parked: &[ParkedEntry]| parked.iter().map(|p| p.entry.entry_id.clone()).collect::<Vec<_>>();
    let refusal = |id: &str| Refusal { entry_id: id.into(), reason: format!("refused {id}") };
    let at = t0() + Duration::minutes(1);
    s.outbox_park(vec![refusal("sale:k1")], at).await.expect("park");
    assert_eq!(ids(s.outbox(10).await.expect("outbox")), ["sale:k0", "sale:k2"]);
    let parked = s.outbox_parked(None, 10).await.expect("parked");
    assert_eq!(parked_ids(&parked), ["sale:k1"]);
    assert_eq!((parked[0].reason.as_str(), parked[0].parked_at), ("refused sale:k1", at));
    assert_eq!((parked[0].entry.kind, parked[0].entry.price), (EntryKind::Sale, Money::from_minor(1000)));

    // Parked again, removed as delivered, its sale settled again, never written: nothing moves.
    s.outbox_park(vec![refusal("sale:k1"), refusal("never-written")], at + Duration::minutes(1)).await.expect("again");
    s.outbox_done(vec!["sale:k1".into()]).await.expect("done");
    sold(s, &sales[1], 1000, at).await;
    assert_eq!(s.outbox_parked(None, 10).await.expect("parked"), parked, "parked once, as it was");
    assert_eq!(ids(s.outbox(10).await.expect("outbox")), ["sale:k0", "sale:k2"]);

    s.outbox_park(vec![refusal("sale:k2"), refusal("sale:k0")], at).await.expect("park the rest");
    assert!(s.outbox(10).await.expect("outbox").is_empty());
    let first = s.outbox_parked(None, 2).await.expect("page 1");
    assert_eq!(parked_ids(&first), ["sale:k0", "sale:k1"]);
    let after = first.last().map(|p| (p.entry.at, p.entry.entry_id.clone()));
    assert_eq!(parked_ids(&s.outbox_parked(after, 2).await.expect("page 2")), ["sale:k2"]);
    let gone = Some((t0(), "sale:k05".to_string()));
    assert_eq!(parked_ids(&s.outbox_parked(gone, 5).await.expect("between")), ["sale:k1", "sale:k2"]);
}

/// Reservations in flight page by (lease, sale id) without a gap or a repeat, however many
/// share a lease and whatever settles between pages (the cursor's own sale included).
async fn reservations_in_flight_page_by_lease_without_gaps_or_repeats<S: Store + ?Sized>(s: &S) {
    let mut all = Vec::new();
    for (i, lease_min) in [3, 1, 2, 2, 2, 1, 4, 2].into_iter().enumerate() {
        let id = format!("f{i}");
        let mut r = reservation(&id, vec![email(&id)], Some(days(30)), vec![], t0());
        r.record.lease_until = t0() + Duration::minutes(lease_min);
        assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
        all.push(r);
    }
    let settled = reservation("f-sold", vec![email("f-sold")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, settled.clone()).await, ReserveOutcome::Reserved);
    sold(s, &settled, 1000, t0()).await;
    let page = |after| async move { s.ledger(LedgerQuery::Reserved { after, limit: 3 }).await.expect("ledger") };
    let cursor = |p: &[SaleRecord]| p.last().map(|r| (r.lease_until, r.sale_id.clone()));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let got = page(after.clone()).await;
        seen.extend(got.iter().map(|r| r.sale_id.clone()));
        if got.len() < 3 {
            break;
        }
        // The cursor's own reservation settles before the next page is read.
        let last = all.iter().find(|r| Some(&r.record.sale_id) == got.last().map(|g| &g.sale_id));
        if let Some(r) = last.filter(|r| r.record.sale_id == "f2") {
            released(s, r).await;
        }
        after = cursor(&got);
    }
    assert_eq!(seen, ["f1", "f5", "f2", "f3", "f4", "f7", "f0", "f6"], "by lease, then sale id; no settled sale");
}

/// A return of `sale_id` by `buyer` at `at`: 7-day window, 100 % rate, approved at once,
/// clawing the payout back.
fn return_of(sale_id: &str, buyer: &str, at: Timestamp, token: &str) -> ReturnRequest {
    ReturnRequest {
        sale_id: sale_id.into(),
        buyer: BuyerId::new(buyer),
        reason: "invalid_contact".into(),
        claw_back: true,
        note: Some("bounced".into()),
        window: days(7),
        max_rate: 10_000,
        approve: true,
        at,
        token: token.into(),
    }
}

async fn open<S: Store + ?Sized>(s: &S, r: ReturnRequest) -> ReturnOutcome {
    s.open_return(r).await.expect("open return")
}

fn opened(o: ReturnOutcome) -> ReturnRecord {
    match o {
        ReturnOutcome::Opened(r) => *r,
        other => panic!("expected an opened return, got {other:?}"),
    }
}

/// Sells `n` sales of b1's (`<prefix>0`..), each to its own consumer, at `at` for 10.00,
/// taking the balance.
async fn sell_many<S: Store + ?Sized>(s: &S, prefix: &str, n: usize, at: Timestamp) -> Vec<SaleReservation> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i}");
        let r = reservation(&id, vec![email(&id)], Some(days(30)), vec![balance(1_000_000)], at);
        assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
        sold(s, &r, 1000, at).await;
        out.push(r);
    }
    out
}

/// An approved return gives the sale's (final) price back to the buyer's credit and claws
/// the payout back, with one books entry each however often it is re-sent; the sale reads
/// returned and still counts for dedup.
async fn an_approved_return_refunds_once_and_leaves_dedup<S: Store + ?Sized>(s: &S) {
    let r = reservation("r1", vec![email("ret-a"), phone("ret-a")], Some(days(30)), vec![balance(5000)], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    sold(s, &r, 700, t0()).await;
    s.outbox_done(vec!["sale:r1".into()]).await.expect("relayed");
    let at = t0() + Duration::hours(1);
    let ret = opened(open(s, return_of("r1", "b1", at, "req-1")).await);
    assert_eq!(
        (ret.return_id.as_str(), ret.status, ret.refund, ret.clawback, ret.decided_at),
        ("ret-r1", ReturnStatus::Approved, Money::from_minor(700), Money::from_minor(630), Some(at))
    );
    assert_eq!(opened(open(s, return_of("r1", "b1", at, "req-1")).await), ret, "a re-sent request answers its return");
    assert!(matches!(open(s, return_of("r1", "b1", at, "req-2")).await, ReturnOutcome::AlreadyReturned(_)));
    let money = s.buyer_money(BuyerId::new("b1")).await.expect("money");
    assert_eq!(money, BuyerMoney { spent: Money::from_minor(700), credit: Money::from_minor(700) });
    assert_eq!(sale_state(s, "r1").await, Some(LedgerState::Returned));
    let entries: Vec<(String, EntryKind, i64)> =
        s.outbox(10).await.expect("outbox").into_iter().map(|e| (e.entry_id, e.kind, e.amount.minor())).collect();
    assert_eq!(
        entries,
        [
            ("payout_clawback:r1".to_string(), EntryKind::PayoutClawback, 630),
            ("return_refund:r1".to_string(), EntryKind::ReturnRefund, 700)
        ]
    );
    // A late settlement changes nothing; the buyer still has the consumer.
    assert_eq!(sold(s, &r, 700, t0()).await, Some(LedgerState::Returned));
    let again = reservation("r1-again", vec![email("ret-a")], Some(days(30)), vec![], at);
    assert!(matches!(reserve(s, again).await, ReserveOutcome::AlreadyBought { .. }), "dedup left as it was");
    assert_eq!(s.returns(ReturnQuery::Id("ret-r1".into())).await.expect("returns"), [ret]);
}

async fn every_return_refusal_has_its_reason<S: Store + ?Sized>(s: &S) {
    sell_many(s, "rf", 1, t0()).await;
    let unsold = reservation("rf-unsold", vec![email("rf-unsold")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, unsold).await, ReserveOutcome::Reserved);
    let at = t0() + Duration::days(1);
    assert_eq!(open(s, return_of("rf0", "b2", at, "x")).await, ReturnOutcome::NoSuchSale, "another buyer's sale");
    assert_eq!(open(s, return_of("nope", "b1", at, "x")).await, ReturnOutcome::NoSuchSale);
    assert_eq!(
        open(s, return_of("rf-unsold", "b1", at, "x")).await,
        ReturnOutcome::NotReturnable(LedgerState::Reserved)
    );
    let late = t0() + Duration::days(7) + Duration::milliseconds(1);
    assert_eq!(open(s, return_of("rf0", "b1", late, "x")).await, ReturnOutcome::WindowPassed);
    let capped = ReturnRequest { max_rate: 9_999, ..return_of("rf0", "b1", at, "x") };
    assert_eq!(open(s, capped).await, ReturnOutcome::RateExceeded, "one return of one sale is 100 %");
    let edge = t0() + Duration::days(7);
    assert_eq!(opened(open(s, return_of("rf0", "b1", edge, "x")).await).status, ReturnStatus::Approved);
    assert!(s
        .returns(ReturnQuery::Status { status: ReturnStatus::Pending, limit: 10 })
        .await
        .expect("list")
        .is_empty());
    let other = BuyerMoney { spent: Money::ZERO, credit: Money::ZERO };
    assert_eq!(s.buyer_money(BuyerId::new("b2")).await.expect("money"), other, "refusals move no money");
}

/// A pending return moves nothing until decided; denying frees its place under the cap;
/// a decision is final; approving without clawback writes only the refund.
async fn pending_returns_wait_for_one_final_decision<S: Store + ?Sized>(s: &S) {
    sell_many(s, "pd", 2, t0()).await;
    s.outbox_done(vec!["sale:pd0".into(), "sale:pd1".into()]).await.expect("relayed");
    let at = t0() + Duration::hours(2);
    let pending = |sale: &str| ReturnRequest {
        approve: false,
        claw_back: false,
        max_rate: 5_000,
        ..return_of(sale, "b1", at, &format!("req-{sale}"))
    };
    let first = opened(open(s, pending("pd0")).await);
    assert_eq!((first.status, first.decided_at, first.clawback), (ReturnStatus::Pending, None, Money::ZERO));
    assert_eq!(open(s, pending("pd1")).await, ReturnOutcome::RateExceeded, "a pending return counts: 2 of 2 > 50 %");
    assert_eq!(s.buyer_money(BuyerId::new("b1")).await.expect("money").credit, Money::ZERO);
    let listed = s.returns(ReturnQuery::Status { status: ReturnStatus::Pending, limit: 10 }).await.expect("list");
    assert_eq!(listed, std::slice::from_ref(&first));
    let later = at + Duration::minutes(5);
    let decide = |id: &str, approve: bool| s.decide_return(id.into(), approve, Some("checked".into()), later);
    let denied = match decide("ret-pd0", false).await.expect("decide") {
        DecideOutcome::Decided(r) => *r,
        other => panic!("expected a decision, got {other:?}"),
    };
    assert_eq!((denied.status, denied.decided_at), (ReturnStatus::Denied, Some(later)));
    assert_eq!(denied.decision_note.as_deref(), Some("checked"));
    assert!(matches!(decide("ret-pd0", true).await.expect("decide"), DecideOutcome::AlreadyDecided(_)));
    assert_eq!(decide("ret-none", true).await.expect("decide"), DecideOutcome::NoSuchReturn);
    assert_eq!(sale_state(s, "pd0").await, Some(LedgerState::Sold), "a denied return leaves the sale");
    assert!(s.outbox(10).await.expect("outbox").is_empty(), "a denial moves no money");
    // The denial freed its place: the other sale may be returned now, and approved.
    assert_eq!(opened(open(s, pending("pd1")).await).status, ReturnStatus::Pending);
    let approved = match decide("ret-pd1", true).await.expect("decide") {
        DecideOutcome::Decided(r) => *r,
        other => panic!("expected a decision, got {other:?}"),
    };
    assert_eq!(approved.status, ReturnStatus::Approved);
    assert_eq!(s.buyer_money(BuyerId::new("b1")).await.expect("money").credit, Money::from_minor(1000));
    let kinds: Vec<EntryKind> = s.outbox(10).await.expect("outbox").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EntryKind::ReturnRefund], "no clawback without the reason's claw_back");
    let by_status = |status| s.returns(ReturnQuery::Status { status, limit: 10 });
    assert_eq!(by_status(ReturnStatus::Denied).await.expect("list"), [denied]);
    assert_eq!(by_status(ReturnStatus::Approved).await.expect("list"), [approved]);
    assert!(by_status(ReturnStatus::Pending).await.expect("list").is_empty());
}

async fn concurrent_returns_of_one_sale_open_one<S: Store>(s: Arc<S>) {
    sell_many(&*s, "cc", 1, t0()).await;
    let at = t0() + Duration::hours(1);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.open_return(return_of("cc0", "b1", at, &format!("req-{i}"))).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").expect("open"));
    }
    assert_eq!(outcomes.iter().filter(|o| matches!(o, ReturnOutcome::Opened(_))).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, ReturnOutcome::AlreadyReturned(_))).count(), 19);
    assert_eq!(s.buyer_money(BuyerId::new("b1")).await.expect("money").credit, Money::from_minor(1000));
}

async fn concurrent_returns_never_pass_the_rate_cap<S: Store>(s: Arc<S>) {
    sell_many(&*s, "rc", 10, t0()).await;
    let at = t0() + Duration::hours(1);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = s.clone();
            let r = ReturnRequest { max_rate: 3_000, ..return_of(&format!("rc{i}"), "b1", at, "t") };
            tokio::spawn(async move { s.open_return(r).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").expect("open"));
    }
    assert_eq!(outcomes.iter().filter(|o| matches!(o, ReturnOutcome::Opened(_))).count(), 3, "30 % of 10 sales");
    assert_eq!(outcomes.iter().filter(|o| **o == ReturnOutcome::RateExceeded).count(), 7);
}

/// Charged sales only (not a released one, not an unconfirmed one rolled back), newest
/// first, sold times kept to the millisecond; sales of one millisecond split across pages
/// neither repeat nor go missing.
async fn a_buyers_sales_page_newest_first_without_gaps_or_repeats<S: Store + ?Sized>(s: &S) {
    let mut expected = Vec::new();
    for (i, minutes) in [0, 1, 1, 1, 2, 3].into_iter().enumerate() {
        let id = format!("pg{i}");
        let r = reservation(&id, vec![email(&id)], Some(days(30)), vec![], t0());
        assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
        // Sales of one millisecond apart by microseconds: times are kept to the millisecond,
        // and the cursor names a place among them by id.
        let at = t0() + Duration::minutes(minutes) + Duration::microseconds(10 * (6 - i as i64));
        sold(s, &r, 1000, at).await;
        expected.push((t0() + Duration::minutes(minutes), id));
    }
    let dropped = reservation("pg-released", vec![email("pg-released")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, dropped.clone()).await, ReserveOutcome::Reserved);
    released(s, &dropped).await;
    let lapsed = reservation("pg-lapsed", vec![email("pg-lapsed")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, lapsed.clone()).await, ReserveOutcome::Reserved);
    s.sweep(t0() + Duration::minutes(10)).await.expect("sweep");
    settle(s, &lapsed, SaleEnd::RolledBack, t0() + Duration::minutes(11)).await;
    expected.sort();
    expected.reverse();
    let page = |after: Option<(Timestamp, String)>| {
        s.ledger(LedgerQuery::Buyer { buyer: BuyerId::new("b1"), since: None, until: None, after, limit: 2 })
    };
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let sales = page(after.clone()).await.expect("page");
        assert!(sales.len() <= 2);
        for r in &sales {
            assert_eq!(r.state, LedgerState::Sold);
            got.push((r.sold_at.expect("a charged sale has its time"), r.sale_id.clone()));
        }
        match got.last() {
            Some(last) if sales.len() == 2 => after = Some(last.clone()),
            _ => break,
        }
    }
    assert_eq!(got, expected);
    let window = s
        .ledger(LedgerQuery::Buyer {
            buyer: BuyerId::new("b1"),
            since: Some(t0() + Duration::minutes(1)),
            until: Some(t0() + Duration::minutes(2)),
            after: None,
            limit: 10,
        })
        .await
        .expect("range");
    assert_eq!(window.iter().map(|r| r.sale_id.as_str()).collect::<Vec<_>>(), ["pg3", "pg2", "pg1"]);
    let none = LedgerQuery::Buyer { buyer: BuyerId::new("b2"), since: None, until: None, after: None, limit: 10 };
    assert!(s.ledger(none).await.expect("other buyer").is_empty());
}

/// The buyer's own id for a lead, as its answer gave it, is what an operator quotes when
/// settling with the buyer: it stays with the sale in the ledger and goes on its books entry.
async fn a_sales_lead_id_is_kept_with_it_and_on_its_books_entry<S: Store + ?Sized>(s: &S) {
    let r = reservation("with-lead", vec![email("lead-id")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    let end = SaleEnd::Sold {
        final_price: r.record.price,
        final_payout: r.record.payout,
        reason: None,
        lead_id: Some("CX-000123".into()),
    };
    assert_eq!(settle(s, &r, end.clone(), t0()).await, Some(LedgerState::Sold));
    assert_eq!(settle(s, &r, end, t0()).await, Some(LedgerState::Sold), "re-sent: unchanged");
    let entry = sale(s, "with-lead").await.expect("recorded");
    assert_eq!(entry.lead_id.as_deref(), Some("CX-000123"));
    let waiting = s.outbox(100).await.expect("outbox");
    let books = waiting.iter().find(|e| e.entry_id == "sale:with-lead").expect("its sale entry");
    assert_eq!(books.sale.as_ref().and_then(|x| x.lead_id.as_deref()), Some("CX-000123"));
    // A sale whose buyer gave no id has none.
    let bare = reservation("without-lead", vec![email("no-lead-id")], Some(days(30)), vec![], t0());
    assert_eq!(reserve(s, bare.clone()).await, ReserveOutcome::Reserved);
    assert_eq!(sold(s, &bare, 1000, t0()).await, Some(LedgerState::Sold));
    assert_eq!(sale(s, "without-lead").await.expect("recorded").lead_id, None);
}
