//! What every [`Suppression`] must do: answers per hash and in order, and suppression before every other checkpoint.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    suppression_comes_before_vertical_dedup(&*make().await).await;
    suppression_answers_per_hash_and_remembers_since_when(&*make().await).await;
    bulk_suppression_keeps_the_order_of_many_hashes(&*make().await).await;
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

async fn suppression_answers_per_hash_and_remembers_since_when<S: Suppression + ?Sized>(s: &S) {
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
async fn bulk_suppression_keeps_the_order_of_many_hashes<S: Suppression + ?Sized>(s: &S) {
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
