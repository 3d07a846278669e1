//! What every [`Erasure`] must do: dedup state forgotten, suppression and reservations in flight kept.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    erasure_forgets_dedup_state_but_keeps_suppression(&*make().await).await;
    erasure_keeps_reservations_in_flight(&*make().await).await;
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
