//! What every [`Sales`] must do: the buyer's window, caps and slots, races between posts, settlements, take-overs' fences, release tombstones, the ledger's listings.

use super::*;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    sale_reservation_respects_the_buyer_window(&*make().await).await;
    sale_reservation_respects_limits_and_settles(&*make().await).await;
    concurrent_reservations_never_pass_a_cap(make().await).await;
    concurrent_reservations_of_one_consumer_sell_it_once(make().await).await;
    rollback_marks_the_consumer_as_bought(&*make().await).await;
    a_post_taken_over_fences_its_earlier_holder(&*make().await).await;
    a_release_that_overtakes_its_reservation_fences_it(&*make().await).await;
    a_lapsed_reservation_mark_counts_for_its_window_and_no_longer(&*make().await).await;
    a_sale_is_recorded_under_every_identifier_it_was_reserved_with(&*make().await).await;
    the_ledger_lists_a_pings_sales(&*make().await).await;
    reservations_in_flight_page_by_lease_without_gaps_or_repeats(&*make().await).await;
    a_buyers_sales_page_newest_first_without_gaps_or_repeats(&*make().await).await;
    a_sales_lead_id_is_kept_with_it_and_on_its_books_entry(&*make().await).await;
    re_sent_sale_calls_recognise_their_own_effects(&*make().await).await;
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

/// A holder taking a post over learns what the earlier holders reserved and fences the
/// rest: an earlier holder, stalled past its claim, can no longer reserve any of the ping's
/// sales, while the new holder can (the ping's slots are then the new holder's to count).
async fn a_post_taken_over_fences_its_earlier_holder<S: Store + ?Sized>(s: &S) {
    let of_ping = |sale: &str, buyer: &str, who: &str, holder: &str| SaleReservation {
        idents: vec![email(who)],
        window: Some(days(30)),
        debits: vec![],
        slots: 2,
        record: SaleRecord { ping_id: "one-ping".into(), holder: holder.into(), ..record(sale, buyer, 1000, t0()) },
    };
    assert_eq!(reserve(s, of_ping("x1", "b1", "a", "first")).await, ReserveOutcome::Reserved);
    let take_over = |holder: &str| TakeOver {
        sales: vec![(BuyerId::new("b1"), "x1".into()), (BuyerId::new("b2"), "x2".into())],
        holder: holder.into(),
        keep_until: t0() + Duration::minutes(20),
        now: t0() + Duration::minutes(1),
    };
    let found = s.take_over(take_over("second")).await.expect("take over");
    let found: Vec<(&str, &str, LedgerState)> =
        found.iter().map(|r| (r.sale_id.as_str(), r.holder.as_str(), r.state)).collect();
    assert_eq!(found, [("x1", "first", LedgerState::Reserved)], "the journal: what the first holder reserved");
    assert_eq!(
        reserve(s, of_ping("x2", "b2", "a", "first")).await,
        ReserveOutcome::SlotsTaken,
        "the earlier holder is fenced out"
    );
    assert_eq!(reserve(s, of_ping("x2", "b2", "a", "second")).await, ReserveOutcome::Reserved, "the new one is not");
    let again = s.take_over(take_over("second")).await.expect("re-sent");
    assert_eq!(again.iter().map(|r| r.sale_id.as_str()).collect::<Vec<_>>(), ["x1", "x2"], "re-sent: both found");
    assert!(s.take_over(take_over("third")).await.expect("a later take-over").len() == 2);
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

/// A reservation and its settlement re-sent after a lost reply (the client, the cluster
/// client or the engine may re-send any of them) answer their own earlier effect again
/// instead of refusing or doubling it.
async fn re_sent_sale_calls_recognise_their_own_effects<S: Store + ?Sized>(s: &S) {
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
