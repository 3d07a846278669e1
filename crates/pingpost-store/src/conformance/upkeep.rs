//! What every [`Upkeep`] must do: lapsed reservations kept as sales, nothing a window may reach forgotten.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    sweep_keeps_abandoned_reservations_as_sales(&*make().await).await;
    a_sweep_forgets_nothing_a_longer_window_still_reaches(&*make().await).await;
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
