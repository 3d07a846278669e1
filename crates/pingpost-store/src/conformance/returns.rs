//! What every [`Returns`] must do: refunds once, refusals with reasons, one final decision, races under the rate cap.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    an_approved_return_refunds_once_and_leaves_dedup(&*make().await).await;
    every_return_refusal_has_its_reason(&*make().await).await;
    pending_returns_wait_for_one_final_decision(&*make().await).await;
    concurrent_returns_of_one_sale_open_one(make().await).await;
    concurrent_returns_never_pass_the_rate_cap(make().await).await;
}

/// An approved return gives the sale's (final) price back to the buyer's credit and claws
/// the payout back, with one books entry each however often it is re-sent; the sale reads
/// returned and still counts for dedup.
async fn an_approved_return_refunds_once_and_leaves_dedup<S: Store + ?Sized>(s: &S) {
    let r = reservation("r1", vec![email("ret-a"), phone("ret-a")], Some(days(30)), vec![balance(5000)], t0());
    assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
    sold(s, &r, 700, t0()).await;
    s.outbox_done(of_b1(&["sale:r1"])).await.expect("relayed");
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
    s.outbox_done(of_b1(&["sale:pd0", "sale:pd1"])).await.expect("relayed");
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
