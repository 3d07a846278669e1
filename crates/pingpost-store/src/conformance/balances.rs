//! What every [`Balances`] must do: top-ups apply once per id.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    top_ups_raise_the_balance_once_each(&*make().await).await;
    a_top_up_id_is_kept_with_its_buyer_and_amount(&*make().await).await;
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
async fn a_top_up_id_is_kept_with_its_buyer_and_amount<S: Balances + Outbox + ?Sized>(s: &S) {
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
