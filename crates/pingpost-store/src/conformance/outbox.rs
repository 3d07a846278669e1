//! What every [`Outbox`] must do: one books entry per movement of money, kept until delivered or parked.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    every_charge_and_its_undoing_writes_one_books_entry(&*make().await).await;
    entries_the_books_refuse_are_parked_and_kept(&*make().await).await;
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
    s.outbox_done(of_b1(&["sale:o1", "never-written"])).await.expect("done");
    s.outbox_done(of_b1(&["sale:o1"])).await.expect("done twice");
    assert_eq!(s.outbox(1).await.expect("outbox").iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>(), ["sale:o3"]);
}

/// An entry the books refuse leaves the outbox for the parked entries in one step, with why,
/// and stays there whatever is re-sent; the parked entries page in outbox order (time, then
/// id), entries of one time included.
async fn entries_the_books_refuse_are_parked_and_kept<S: Store + ?Sized>(s: &S) {
    let sales = sell_many(s, "k", 3, t0()).await;
    let ids = |entries: Vec<OutboxEntry>| entries.into_iter().map(|e| e.entry_id).collect::<Vec<_>>();
    let parked_ids = |parked: &[ParkedEntry]| parked.iter().map(|p| p.entry.entry_id.clone()).collect::<Vec<_>>();
    let refusal =
        |id: &str| Refusal { buyer: BuyerId::new("b1"), entry_id: id.into(), reason: format!("refused {id}") };
    let at = t0() + Duration::minutes(1);
    s.outbox_park(vec![refusal("sale:k1")], at).await.expect("park");
    assert_eq!(ids(s.outbox(10).await.expect("outbox")), ["sale:k0", "sale:k2"]);
    let parked = s.outbox_parked(None, 10).await.expect("parked");
    assert_eq!(parked_ids(&parked), ["sale:k1"]);
    assert_eq!((parked[0].reason.as_str(), parked[0].parked_at), ("refused sale:k1", at));
    assert_eq!((parked[0].entry.kind, parked[0].entry.price), (EntryKind::Sale, Money::from_minor(1000)));

    // Parked again, removed as delivered, its sale settled again, never written: nothing moves.
    s.outbox_park(vec![refusal("sale:k1"), refusal("never-written")], at + Duration::minutes(1)).await.expect("again");
    s.outbox_done(of_b1(&["sale:k1"])).await.expect("done");
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
