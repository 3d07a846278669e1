//! The behaviour every [`Books`] must show. One suite, run unchanged on [`crate::MemoryBooks`]
//! here and on [`crate::PgBooks`] by this crate's `tests/pg.rs`, against a PostgreSQL the
//! test starts itself.

#![allow(clippy::expect_used, clippy::panic)]

use crate::*;
use chrono::{Duration, TimeZone, Utc};
use pingpost_core::ids::{ContractId, OfferId, PartnerId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use std::sync::Arc;

/// Runs every check, each on fresh (empty) books from `make`.
pub async fn run_all<B, F, Fut>(make: F)
where
    B: Books,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<B>>,
{
    an_entry_appended_again_changes_nothing(&*make().await).await;
    concurrent_overlapping_appends_keep_each_entry_once(make().await).await;
    another_entry_under_a_known_id_is_a_conflict_and_changes_nothing(&*make().await).await;
    a_batch_with_an_entry_breaking_the_conventions_is_refused_whole(&*make().await).await;
    accounts_add_up_to_the_cent_by_partner_buyer_and_offer(&*make().await).await;
    repeat_sales_are_accounted_apart(&*make().await).await;
    time_ranges_are_half_open(&*make().await).await;
    entries_page_newest_first_with_a_cursor(&*make().await).await;
    entries_filter_by_sale_ping_buyer_kind_and_time(&*make().await).await;
    pages_are_bounded(&*make().await).await;
    buyer_money_sums_top_ups_charges_and_refunds(&*make().await).await;
    times_are_kept_to_the_microsecond(&*make().await).await;
    a_sale_entry_keeps_the_buyers_lead_id(&*make().await).await;
    health_answers(&*make().await).await;
}

/// A sale's entry names the buyer's own id for the lead, as the store's outbox gave it; the
/// same id delivered again is the same entry, another one under that id is a conflict.
async fn a_sale_entry_keeps_the_buyers_lead_id<B: Books + ?Sized>(b: &B) {
    let s = sale("lead-1", t0(), 1850, 1500).with_lead_id(Some("CX-42".into()));
    assert_eq!(append(b, vec![s.clone()]).await, appended(1, 0));
    assert_eq!(append(b, vec![s.clone()]).await, appended(0, 1));
    let read = all(b, EntryQuery { sale_id: Some("lead-1".into()), ..EntryQuery::default() }).await;
    assert_eq!(read, vec![s.clone()]);
    assert_eq!(read[0].lead_id.as_deref(), Some("CX-42"));
    let other = s.with_lead_id(Some("CX-43".into()));
    assert_eq!(append(b, vec![other]).await.conflicts.len(), 1, "another id under the same entry");
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("a valid time")
}

fn hours(n: i64) -> Timestamp {
    t0() + Duration::hours(n)
}

fn m(minor: i64) -> Money {
    Money::from_minor(minor)
}

fn sale_ref(sale_id: &str, partner: &str, buyer: &str, offer: &str) -> SaleRef {
    SaleRef {
        sale_id: sale_id.to_string(),
        ping_id: format!("ping-{sale_id}"),
        partner: PartnerId::new(partner),
        buyer: BuyerId::new(buyer),
        offer: OfferId::new(offer),
        contract: ContractId::new(format!("{buyer}-{offer}")),
        repeat: false,
    }
}

fn sale(id: &str, at: Timestamp, price: i64, payout: i64) -> Entry {
    Entry::sale(id, at, sale_ref(id, "acme", "b1", "auto"), m(price), m(payout)).expect("a valid sale")
}

fn top_up(id: &str, at: Timestamp, buyer: &str, amount: i64) -> Entry {
    Entry::top_up(id, at, BuyerId::new(buyer), m(amount)).expect("a valid top-up")
}

async fn append<B: Books + ?Sized>(b: &B, entries: Vec<Entry>) -> Appended {
    b.append(entries).await.expect("the books answer")
}

/// Every entry matching `q` (whatever its limit), page after page.
async fn all<B: Books + ?Sized>(b: &B, q: EntryQuery) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut q = EntryQuery { limit: q.limit.max(1), ..q };
    loop {
        let page = b.entries(q.clone()).await.expect("the books answer");
        out.extend(page.entries);
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
}

fn ids(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.entry_id.as_str()).collect()
}

fn appended(new: usize, already: usize) -> Appended {
    Appended { new, already, conflicts: Vec::new() }
}

async fn an_entry_appended_again_changes_nothing<B: Books + ?Sized>(b: &B) {
    let s = sale("s1", t0(), 1850, 1500);
    assert_eq!(append(b, vec![s.clone()]).await, appended(1, 0));
    assert_eq!(append(b, vec![s.clone()]).await, appended(0, 1), "a re-delivery is recognised by its id");
    let t = top_up("t1", t0(), "b1", 100);
    assert_eq!(append(b, vec![t.clone(), s.clone(), t.clone()]).await, appended(1, 2), "repeats within a batch too");
    assert_eq!(append(b, Vec::new()).await, appended(0, 0));
    assert_eq!(all(b, EntryQuery::default()).await, vec![t, s], "each entry once");
}

async fn concurrent_overlapping_appends_keep_each_entry_once<B: Books>(b: Arc<B>) {
    // 100 deliveries of 10 sales, delivery i carrying sales i..i+10: 109 sales, most of them
    // delivered ten times, all at once; every other delivery lists its sales backwards, as
    // two writers locking the same rows in opposite orders would (a deadlock, unless the
    // books take them in one order).
    const SALES: i64 = 109;
    let sales: Vec<Entry> = (0..SALES).map(|i| sale(&format!("s{i:03}"), hours(i), 1000 + i, 800 + i)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (b, mut batch) = (Arc::clone(&b), sales[i..i + 10].to_vec());
        if i % 2 == 1 {
            batch.reverse();
        }
        tasks.spawn(async move { b.append(batch).await.expect("the books answer") });
    }
    let reports = tasks.join_all().await;
    assert_eq!(reports.iter().map(|r| r.new).sum::<usize>(), sales.len(), "each entry written by exactly one delivery");
    assert_eq!(reports.iter().map(|r| r.already).sum::<usize>(), 1_000 - sales.len());
    assert!(reports.iter().all(|r| r.conflicts.is_empty()));
    let listed = all(&*b, EntryQuery { limit: 7, ..EntryQuery::default() }).await;
    let mut expected = sales.clone();
    expected.reverse();
    assert_eq!(listed, expected);
    let q = AccountsQuery { by: GroupBy::Partner, since: None, until: None, only: None };
    let groups = b.accounts(q).await.expect("the books answer");
    let gross: i64 = (0..SALES).map(|i| 1000 + i).sum();
    let payouts: i64 = (0..SALES).map(|i| 800 + i).sum();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].sales, groups[0].gross, groups[0].payouts), (SALES, m(gross), m(payouts)));
}

async fn another_entry_under_a_known_id_is_a_conflict_and_changes_nothing<B: Books + ?Sized>(b: &B) {
    let s = sale("s1", t0(), 1850, 1500);
    append(b, vec![s.clone()]).await;
    let other = sale("s1", t0(), 1900, 1500);
    let fresh = sale("s2", hours(1), 1000, 900);
    let report = append(b, vec![other.clone(), fresh.clone()]).await;
    let conflict = Conflict { kept: s.clone(), refused: other.clone() };
    assert_eq!(report, Appended { new: 1, already: 0, conflicts: vec![conflict] }, "the rest of the batch is written");
    let moved = Entry { at: hours(2), ..s.clone() };
    let report = append(b, vec![moved.clone()]).await;
    assert_eq!(report.conflicts, vec![Conflict { kept: s.clone(), refused: moved }], "another time is another entry");
    let (x, x2) = (top_up("t1", t0(), "b1", 100), top_up("t1", t0(), "b1", 200));
    let report = append(b, vec![x.clone(), x2.clone()]).await;
    assert_eq!(report, Appended { new: 1, already: 0, conflicts: vec![Conflict { kept: x.clone(), refused: x2 }] });
    assert_eq!(all(b, EntryQuery::default()).await, vec![fresh, x, s], "the first entry under each id stands");
}

async fn a_batch_with_an_entry_breaking_the_conventions_is_refused_whole<B: Books + ?Sized>(b: &B) {
    let good = sale("s1", t0(), 1850, 1500);
    let cases = [
        (Entry { margin: m(1), ..sale("bad", t0(), 1850, 1500) }, EntryRule::Margin),
        (
            Entry { amount: m(0), ..top_up("bad", t0(), "b1", 100) },
            EntryRule::Sign { kind: EntryKind::TopUp, field: "amount" },
        ),
        (Entry { partner: None, ..sale("bad", t0(), 1850, 1500) }, EntryRule::MissingSale(EntryKind::Sale)),
        (Entry { entry_id: String::new(), ..sale("bad", t0(), 1, 1) }, EntryRule::EmptyId),
    ];
    for (bad, rule) in cases {
        let expected_id = bad.entry_id.clone();
        match b.append(vec![good.clone(), bad]).await {
            Err(BooksError::Invalid { entry_id, rule: got }) => assert_eq!((entry_id, got), (expected_id, rule)),
            other => panic!("expected {rule:?}, got {other:?}"),
        }
    }
    assert_eq!(all(b, EntryQuery::default()).await, Vec::new(), "nothing of a refused batch is written");
}

/// The marketplace of the accounts checks: two partners, two buyers, two offers; a sale
/// rolled back, a return with its clawback, a return without one, top-ups.
fn ledger() -> Vec<Entry> {
    let s1 = sale_ref("s1", "acme", "b1", "auto");
    // s2 and s4 are repeat sales (s2 rolled back).
    let s2 = SaleRef { repeat: true, ..sale_ref("s2", "acme", "b2", "auto") };
    let s3 = sale_ref("s3", "zeta", "b1", "solar");
    let s4 = SaleRef { repeat: true, ..sale_ref("s4", "zeta", "b2", "solar") };
    let e = |r: Result<Entry, EntryRule>| r.expect("a valid entry");
    vec![
        top_up("top-b1", hours(-1), "b1", 50_000),
        e(Entry::sale("sale-s1", hours(0), s1.clone(), m(1850), m(1500))),
        e(Entry::sale("sale-s2", hours(1), s2.clone(), m(2000), m(1700))),
        e(Entry::sale("sale-s3", hours(2), s3.clone(), m(3333), m(3000))),
        e(Entry::sale("sale-s4", hours(3), s4, m(1001), m(999))),
        e(Entry::rollback("rollback-s2", hours(4), s2, m(2000), m(1700))),
        e(Entry::return_refund("refund-s1", hours(5), s1.clone(), m(1850))),
        e(Entry::payout_clawback("clawback-s1", hours(5), s1, m(1500))),
        e(Entry::return_refund("refund-s3", hours(6), s3, m(3333))),
        top_up("top-b2", hours(7), "b2", 10_000),
    ]
}

/// `(key, sales, gross, refunds, net_revenue, payouts, clawbacks, net_payout, margin)`,
/// amounts in cents.
type Row = (&'static str, i64, i64, i64, i64, i64, i64, i64, i64);

async fn check<B: Books + ?Sized>(
    b: &B,
    by: GroupBy,
    (since, until): (Option<Timestamp>, Option<Timestamp>),
    only: Option<&str>,
    expected: &[Row],
) {
    let q = AccountsQuery { by, since, until, only: only.map(str::to_string) };
    // The repeat figures are checked on their own (`repeat_sales_are_accounted_apart`).
    let got: Vec<AccountGroup> = b
        .accounts(q.clone())
        .await
        .expect("the books answer")
        .into_iter()
        .map(|g| AccountGroup { repeat_sales: 0, repeat_gross: Money::ZERO, ..g })
        .collect();
    let expected: Vec<AccountGroup> = expected
        .iter()
        .map(|&(key, sales, gross, refunds, net_revenue, payouts, clawbacks, net_payout, margin)| AccountGroup {
            key: key.to_string(),
            sales,
            repeat_sales: 0,
            gross: m(gross),
            repeat_gross: Money::ZERO,
            refunds: m(refunds),
            net_revenue: m(net_revenue),
            payouts: m(payouts),
            clawbacks: m(clawbacks),
            net_payout: m(net_payout),
            margin: m(margin),
        })
        .collect();
    assert_eq!(got, expected, "{q:?}");
}

/// Repeat sales are counted in `sales` and `gross` and apart in `repeat_sales` and
/// `repeat_gross`: a repeat rolled back adds up to nothing there too.
async fn repeat_sales_are_accounted_apart<B: Books + ?Sized>(b: &B) {
    assert_eq!(append(b, ledger()).await.new, 10);
    let figures = |by| async move {
        let q = AccountsQuery { by, since: None, until: None, only: None };
        let groups = b.accounts(q).await.expect("the books answer");
        groups.into_iter().map(|g| (g.key, g.sales, g.repeat_sales, g.repeat_gross.minor())).collect::<Vec<_>>()
    };
    let row = |k: &str, sales, repeats, gross| (k.to_string(), sales, repeats, gross);
    assert_eq!(figures(GroupBy::Partner).await, [row("acme", 1, 0, 0), row("zeta", 2, 1, 1001)]);
    assert_eq!(figures(GroupBy::Buyer).await, [row("b1", 2, 0, 0), row("b2", 1, 1, 1001)]);
    let entries = all(b, EntryQuery { sale_id: Some("s4".into()), ..EntryQuery::default() }).await;
    assert!(entries.len() == 1 && entries[0].repeat, "the entry keeps its flag: {entries:?}");
}

async fn accounts_add_up_to_the_cent_by_partner_buyer_and_offer<B: Books + ?Sized>(b: &B) {
    assert_eq!(append(b, ledger()).await.new, 10);
    let ever = (None, None);
    #[rustfmt::skip]
    check(b, GroupBy::Partner, ever, None, &[
        //       sales  gross  refunds  net_rev  payouts  clawbacks  net_pay  margin
        ("acme",   1,   1850,   1850,      0,    1500,    1500,        0,       0),
        ("zeta",   2,   4334,   3333,   1001,    3999,       0,     3999,   -2998),
    ]).await;
    #[rustfmt::skip]
    check(b, GroupBy::Buyer, ever, None, &[
        ("b1",     2,   5183,   5183,      0,    4500,    1500,     3000,   -3000),
        ("b2",     1,   1001,      0,   1001,     999,       0,      999,       2),
    ]).await;
    #[rustfmt::skip]
    check(b, GroupBy::Offer, ever, None, &[
        ("auto",   1,   1850,   1850,      0,    1500,    1500,        0,       0),
        ("solar",  2,   4334,   3333,   1001,    3999,       0,     3999,   -2998),
    ]).await;
    // From the second sale up to (not including) the returns: a sale and its rollback add
    // up to nothing, and still make a group.
    #[rustfmt::skip]
    check(b, GroupBy::Partner, (Some(hours(1)), Some(hours(5))), None, &[
        ("acme",   0,      0,      0,      0,       0,       0,        0,       0),
        ("zeta",   2,   4334,      0,   4334,    3999,       0,     3999,     335),
    ]).await;
    #[rustfmt::skip]
    check(b, GroupBy::Partner, (Some(hours(5)), None), None, &[
        ("acme",   0,      0,   1850,  -1850,       0,    1500,    -1500,    -350),
        ("zeta",   0,      0,   3333,  -3333,       0,       0,        0,   -3333),
    ]).await;
    #[rustfmt::skip]
    check(b, GroupBy::Buyer, ever, Some("b2"), &[
        ("b2",     1,   1001,      0,   1001,     999,       0,      999,       2),
    ]).await;
    check(b, GroupBy::Buyer, ever, Some("nobody"), &[]).await;
    check(b, GroupBy::Buyer, (Some(hours(7)), None), None, &[]).await; // a top-up alone is in no account
    check(b, GroupBy::Partner, (Some(hours(5)), Some(hours(1))), None, &[]).await;
    // a range that ends before it starts
}

async fn time_ranges_are_half_open<B: Books + ?Sized>(b: &B) {
    let us = Duration::microseconds(1);
    let (first, second) = (sale("s1", t0(), 100, 90), sale("s2", t0() + us, 200, 150));
    append(b, vec![first.clone(), second.clone()]).await;
    let range = |since, until| (Some(since), Some(until));
    check(b, GroupBy::Buyer, range(t0(), t0() + us), None, &[("b1", 1, 100, 0, 100, 90, 0, 90, 10)]).await;
    check(b, GroupBy::Buyer, range(t0() + us, t0() + us * 2), None, &[("b1", 1, 200, 0, 200, 150, 0, 150, 50)]).await;
    check(b, GroupBy::Buyer, range(t0(), t0()), None, &[]).await;
    let listed = |since, until| all(b, EntryQuery { since: Some(since), until: Some(until), ..EntryQuery::default() });
    assert_eq!(listed(t0(), t0() + us).await, vec![first.clone()]);
    assert_eq!(listed(t0() + us, t0() + us * 2).await, vec![second.clone()]);
    assert_eq!(listed(t0() - us, t0() + us * 2).await, vec![second, first]);
}

async fn entries_page_newest_first_with_a_cursor<B: Books + ?Sized>(b: &B) {
    // Three entries per second, so one instant holds several: they follow by id, descending.
    let entries: Vec<Entry> =
        (0..25).map(|i| top_up(&format!("t{i:02}"), t0() + Duration::seconds(i / 3), "b1", 100)).collect();
    append(b, entries.clone()).await;
    let mut expected = entries.clone();
    expected.sort_by(|x, y| (y.at, &y.entry_id).cmp(&(x.at, &x.entry_id)));
    for size in [1, 4, 5, 24, 25, 26] {
        let mut pages = Vec::new();
        let mut q = EntryQuery { limit: size, ..EntryQuery::default() };
        loop {
            let page = b.entries(q.clone()).await.expect("the books answer");
            assert!(page.entries.len() <= size);
            pages.push(page.entries.len());
            match page.next {
                Some(next) => {
                    assert_eq!(next, Cursor::after(page.entries.last().expect("a full page")));
                    let text = next.to_string();
                    q.after = Some(text.parse().expect("a cursor reads back"));
                }
                None => break,
            }
        }
        let got = all(b, EntryQuery { limit: size, ..EntryQuery::default() }).await;
        assert_eq!(ids(&got), ids(&expected), "pages of {size}");
        // Every page but the last is full, and a full page may be followed by more: a full
        // last page is followed by an empty one.
        assert_eq!(
            pages.len(),
            25 / size + 1,
            "pages of {size}: {pages:?}; a full last page is followed by an empty one"
        );
    }
    // A cursor in the middle of an instant continues with that instant's older ids.
    let q = EntryQuery {
        limit: 2,
        after: Some(Cursor { at: t0() + Duration::seconds(1), entry_id: "t04".into() }),
        ..EntryQuery::default()
    };
    assert_eq!(ids(&b.entries(q).await.expect("the books answer").entries), ["t03", "t02"]);
}

async fn entries_filter_by_sale_ping_buyer_kind_and_time<B: Books + ?Sized>(b: &B) {
    append(b, ledger()).await;
    let q = |f: fn(&mut EntryQuery)| {
        let mut q = EntryQuery { limit: 2, ..EntryQuery::default() };
        f(&mut q);
        async move { ids(&all(b, q).await).join(" ") }
    };
    assert_eq!(q(|q| q.sale_id = Some("s1".into())).await, "refund-s1 clawback-s1 sale-s1");
    assert_eq!(q(|q| q.ping_id = Some("ping-s2".into())).await, "rollback-s2 sale-s2");
    assert_eq!(q(|q| q.buyer = Some(BuyerId::new("b2"))).await, "top-b2 rollback-s2 sale-s4 sale-s2");
    assert_eq!(q(|q| q.kind = Some(EntryKind::TopUp)).await, "top-b2 top-b1");
    assert_eq!(q(|q| q.kind = Some(EntryKind::ReturnRefund)).await, "refund-s3 refund-s1");
    assert_eq!(q(|q| (q.since, q.until) = (Some(hours(3)), Some(hours(5)))).await, "rollback-s2 sale-s4");
    let combined = |q: &mut EntryQuery| {
        q.buyer = Some(BuyerId::new("b1"));
        q.kind = Some(EntryKind::Sale);
        q.since = Some(hours(0));
    };
    assert_eq!(q(combined).await, "sale-s3 sale-s1");
    assert_eq!(q(|q| q.sale_id = Some("none".into())).await, "");
}

async fn pages_are_bounded<B: Books + ?Sized>(b: &B) {
    let entries: Vec<Entry> = (0..MAX_PAGE + 1).map(|i| top_up(&format!("t{i:04}"), t0(), "b1", 1)).collect();
    assert_eq!(append(b, entries).await.new, MAX_PAGE + 1);
    let page = b.entries(EntryQuery { limit: 10 * MAX_PAGE, ..EntryQuery::default() }).await.expect("the books answer");
    assert_eq!(page.entries.len(), MAX_PAGE);
    assert!(page.next.is_some());
    let page = b.entries(EntryQuery { limit: 0, ..EntryQuery::default() }).await.expect("the books answer");
    assert_eq!(ids(&page.entries), [format!("t{MAX_PAGE:04}")], "a limit of 0 is a page of one");
}

async fn buyer_money_sums_top_ups_charges_and_refunds<B: Books + ?Sized>(b: &B) {
    assert_eq!(b.buyer_money(None).await.expect("the books answer"), Vec::new());
    append(b, ledger()).await;
    let money = |buyer: &str, top_ups, charges, refunds| BuyerMoney {
        buyer: BuyerId::new(buyer),
        top_ups: m(top_ups),
        charges: m(charges),
        refunds: m(refunds),
    };
    let (b1, b2) = (money("b1", 50_000, 5183, 5183), money("b2", 10_000, 1001, 0));
    assert_eq!(b.buyer_money(None).await.expect("the books answer"), vec![b1.clone(), b2.clone()]);
    assert_eq!(b.buyer_money(Some(BuyerId::new("b2"))).await.expect("the books answer"), vec![b2.clone()]);
    assert_eq!(b.buyer_money(Some(BuyerId::new("nobody"))).await.expect("the books answer"), Vec::new());
    assert_eq!((b1.balance(), b2.balance()), (Some(m(50_000)), Some(m(8_999))));
}

async fn times_are_kept_to_the_microsecond<B: Books + ?Sized>(b: &B) {
    let precise = top_up("t1", t0() + Duration::nanoseconds(1_234_567), "b1", 100);
    assert_eq!(append(b, vec![precise.clone()]).await, appended(1, 0));
    let listed = all(b, EntryQuery::default()).await;
    assert_eq!(listed.iter().map(|e| e.at).collect::<Vec<_>>(), [t0() + Duration::microseconds(1_234)]);
    assert_eq!(append(b, vec![precise]).await, appended(0, 1), "the same entry from a nanosecond clock is no conflict");
}

async fn health_answers<B: Books + ?Sized>(b: &B) {
    b.health().await.expect("healthy");
}
