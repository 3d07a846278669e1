//! Reconciliation: the books checked against the store. From the store's own records (its
//! sales, their returns, its balances) it derives the books entries that must exist — with
//! the relay's own mapping, so the rule of what a movement's entry is is stated once — and
//! compares them with what the books hold, naming every difference:
//! - a sale the store charged (sold, unconfirmed, returned) without its `sale` entry, a
//!   returned one without its `return_refund` (and `payout_clawback` when its reason claws
//!   back), a charged sale undone without its `rollback`;
//! - an entry whose sale the store does not hold in a state that explains it;
//! - an entry whose amounts or references differ from the store's;
//! - a buyer whose balance in the store (credit − spent, plus the reservations in flight
//!   that already took their price) differs from the books' top-ups − charges + refunds;
//! - an entry the store's records need that cannot be built, because it would break the
//!   books' conventions (it could never be delivered);
//! - an entry the books refused, parked in the store by the relay.
//!
//! The comparison ([`compare`]) is pure; [`Engine::reconcile`] gathers its inputs. On a
//! live system a movement between the two reads shows as a difference that is gone on the
//! next run: run it when quiet, or twice.

use crate::relay::to_entry;
use crate::{Engine, EngineError};
use pingpost_books::{BuyerMoney as BooksMoney, Entry, EntryKind, EntryQuery, EntryRule};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_store::{
    return_id_of, LedgerQuery, LedgerState, Outbox, OutboxEntry, ParkedEntry, ReturnQuery, ReturnRecord, ReturnStatus,
    SaleRecord,
};
use std::collections::{BTreeMap, BTreeSet};

/// One difference between the books and the store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Difference {
    /// `missing_entry`, `entry_without_sale`, `entry_differs`, `balance_differs`,
    /// `invalid_entry` (needed, but it would break the books' conventions) or `parked_entry`
    /// (refused by the books, kept in the store).
    pub code: &'static str,
    /// The entry id, or the buyer for a balance.
    pub subject: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    /// Sales of the store compared.
    pub sales: usize,
    /// Books entries compared.
    pub entries: usize,
    /// Buyers' balances compared.
    pub balances: usize,
    pub differences: Vec<Difference>,
}

/// A buyer's prepaid money as the store enforces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreBalance {
    pub buyer: BuyerId,
    /// Top-ups and refunds.
    pub credit: Money,
    /// What standing sales took, reservations in flight included.
    pub spent: Money,
    /// What reservations in flight took: not charged in the books yet.
    pub in_flight: Money,
}

/// What the store holds, as reconciliation reads it.
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    /// Sales by id: every charged sale of the period, and every sale a books entry names.
    pub sales: BTreeMap<String, SaleRecord>,
    /// Approved returns by sale id.
    pub returns: BTreeMap<String, ReturnRecord>,
    pub balances: Vec<StoreBalance>,
    /// Entries the books refused, parked out of the outbox.
    pub parked: Vec<ParkedEntry>,
}

/// The entries the store's records say the books hold.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// By entry id.
    pub entries: BTreeMap<String, Entry>,
    /// Entries needed that break the books' conventions, by entry id: no delivery can ever
    /// put them in the books.
    pub invalid: BTreeMap<String, EntryRule>,
}

/// The entries the store's records say the books hold, by entry id. `booked` tells whether
/// the books hold a sale's `sale` entry: a sale released or rolled back from reserved was
/// never charged, one rolled back after it was kept unconfirmed was, and needs its rollback.
pub fn expected_entries(store: &StoreView, booked: impl Fn(&str) -> bool) -> Expected {
    let mut out = Expected::default();
    let mut add = |e: OutboxEntry| match to_entry(&e) {
        Ok(entry) => {
            out.entries.insert(entry.entry_id.clone(), entry);
        }
        Err(rule) => {
            out.invalid.insert(e.entry_id, rule);
        }
    };
    for sale in store.sales.values() {
        let at = sale.sold_at.unwrap_or(sale.reserved_at);
        match sale.state {
            LedgerState::Sold | LedgerState::Unconfirmed => add(OutboxEntry::of_sale(EntryKind::Sale, sale, at)),
            LedgerState::Returned => {
                add(OutboxEntry::of_sale(EntryKind::Sale, sale, at));
                if let Some(r) = store.returns.get(&sale.sale_id) {
                    for e in OutboxEntry::of_return(r, sale, r.decided_at.unwrap_or(at)) {
                        add(e);
                    }
                }
            }
            LedgerState::RolledBack | LedgerState::Released if booked(&format!("sale:{}", sale.sale_id)) => {
                add(OutboxEntry::of_sale(EntryKind::Sale, sale, at));
                add(OutboxEntry::of_sale(EntryKind::Rollback, sale, at));
            }
            LedgerState::RolledBack | LedgerState::Released | LedgerState::Reserved => {}
        }
    }
    out
}

/// Every difference between the store's view and the books' entries and balances.
pub fn compare(store: &StoreView, entries: &[Entry], books_money: &[BooksMoney]) -> Vec<Difference> {
    let held: BTreeMap<&str, &Entry> =
        entries.iter().filter(|e| e.kind != EntryKind::TopUp).map(|e| (e.entry_id.as_str(), e)).collect();
    let Expected { entries: expected, invalid } = expected_entries(store, |id| held.contains_key(id));
    let mut out = Vec::new();
    for (id, rule) in &invalid {
        out.push(Difference {
            code: "invalid_entry",
            subject: id.clone(),
            detail: format!("the store's records need it, but it breaks the books' conventions: {rule}"),
        });
    }
    for p in &store.parked {
        out.push(Difference {
            code: "parked_entry",
            subject: p.entry.entry_id.clone(),
            detail: format!(
                "the books refused it at {} ({}); it is kept in the store, out of the outbox",
                p.parked_at.to_rfc3339(),
                p.reason
            ),
        });
    }
    for (id, want) in &expected {
        match held.get(id.as_str()) {
            None => out.push(Difference {
                code: "missing_entry",
                subject: id.clone(),
                detail: format!("the store's records need it; the books do not have it ({})", describe(want)),
            }),
            Some(got) if !same_movement(want, got) => out.push(Difference {
                code: "entry_differs",
                subject: id.clone(),
                detail: format!("the store says {}; the books hold {}", describe(want), describe(got)),
            }),
            Some(_) => {}
        }
    }
    for (id, got) in &held {
        if !expected.contains_key(*id) {
            let sale = got.sale_id.as_deref().unwrap_or("");
            let why = match store.sales.get(sale) {
                None => format!("the store has no sale {sale:?}"),
                Some(s) => format!("the store holds sale {sale:?} as {}", s.state.as_str()),
            };
            out.push(Difference { code: "entry_without_sale", subject: id.to_string(), detail: why });
        }
    }
    let books: BTreeMap<&BuyerId, &BooksMoney> = books_money.iter().map(|m| (&m.buyer, m)).collect();
    for b in &store.balances {
        let store_net = b.credit.minor() - b.spent.minor() + b.in_flight.minor();
        let books_net = books.get(&b.buyer).and_then(|m| m.balance()).map_or(0, Money::minor);
        if store_net != books_net {
            out.push(Difference {
                code: "balance_differs",
                subject: b.buyer.to_string(),
                detail: format!(
                    "the store's credit {} − spent {} + in flight {} is {}; the books' top-ups − charges + refunds are {}",
                    b.credit,
                    b.spent,
                    b.in_flight,
                    Money::from_minor(store_net),
                    Money::from_minor(books_net)
                ),
            });
        }
    }
    out
}

/// The same movement: everything but when the books recorded it.
fn same_movement(a: &Entry, b: &Entry) -> bool {
    (&a.kind, &a.sale_id, &a.ping_id, &a.partner, &a.buyer, &a.offer, &a.contract)
        == (&b.kind, &b.sale_id, &b.ping_id, &b.partner, &b.buyer, &b.offer, &b.contract)
        && (a.price, a.payout, a.margin, a.amount) == (b.price, b.payout, b.margin, b.amount)
}

fn describe(e: &Entry) -> String {
    format!("{} of buyer {}: price {}, payout {}, margin {}", e.kind, e.buyer, e.price, e.payout, e.margin)
}

/// Entries read per page of the books, sales per page of the store.
const PAGE: usize = 1_000;

/// Every entry the books refused, parked in the store, page by page.
async fn parked_entries(outbox: &dyn Outbox) -> Result<Vec<ParkedEntry>, EngineError> {
    let mut parked = Vec::new();
    loop {
        let after = parked.last().map(|p: &ParkedEntry| (p.entry.at, p.entry.entry_id.clone()));
        let page = outbox.outbox_parked(after, PAGE).await?;
        let last = page.len() < PAGE;
        parked.extend(page);
        if last {
            return Ok(parked);
        }
    }
}

impl Engine {
    /// Reconciles the books with the store over the sales the store is sure to keep
    /// ([`pingpost_store::store_lists_sales_since`]: older settled sales leave the store while
    /// the books keep them) and over all time for balances. Relays the outbox first, so
    /// entries merely waiting are not reported.
    pub async fn reconcile(&self) -> Result<Reconciliation, EngineError> {
        self.relay_books().await?;
        let config = self.config();
        let since = pingpost_store::store_lists_sales_since(self.now());
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let q = EntryQuery { since: Some(since), limit: PAGE, after, ..EntryQuery::default() };
            let page = self.books.entries(q).await?;
            entries.extend(page.entries);
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let mut buyers: BTreeSet<BuyerId> = config.buyers.keys().cloned().collect();
        buyers.extend(entries.iter().map(|e| e.buyer.clone()));
        let mut store = StoreView::default();
        for buyer in &buyers {
            let mut after = None;
            loop {
                let q =
                    LedgerQuery::Buyer { buyer: buyer.clone(), since: Some(since), until: None, after, limit: PAGE };
                let page = self.store.ledger(q).await?;
                let full = page.len() == PAGE;
                after = page.last().map(|r| (r.sold_at.unwrap_or(r.reserved_at), r.sale_id.clone()));
                store.sales.extend(page.into_iter().map(|r| (r.sale_id.clone(), r)));
                if !full {
                    break;
                }
            }
        }
        let named: BTreeSet<String> = entries.iter().filter_map(|e| e.sale_id.clone()).collect();
        let unlisted: Vec<String> = named.into_iter().filter(|id| !store.sales.contains_key(id)).collect();
        for sale_id in unlisted {
            if let Some(r) = self.store.ledger(LedgerQuery::Sale(sale_id.clone())).await?.pop() {
                store.sales.insert(sale_id, r);
            }
        }
        // A sale of the period whose earlier entries the books hold from before it.
        let held: BTreeSet<String> = entries.iter().map(|e| e.entry_id.clone()).collect();
        let lacking: Vec<String> = expected_entries(&store, |id| held.contains(id))
            .entries
            .into_values()
            .filter(|e| !held.contains(&e.entry_id))
            .filter_map(|e| e.sale_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for sale_id in lacking {
            let q = EntryQuery { sale_id: Some(sale_id), limit: PAGE, ..EntryQuery::default() };
            entries.extend(self.books.entries(q).await?.entries.into_iter().filter(|e| !held.contains(&e.entry_id)));
        }
        for sale in store.sales.values().filter(|s| s.state == LedgerState::Returned) {
            let found = self.store.returns(ReturnQuery::Id(return_id_of(&sale.sale_id))).await?;
            if let Some(r) = found.into_iter().find(|r| r.status == ReturnStatus::Approved) {
                store.returns.insert(sale.sale_id.clone(), r);
            }
        }
        let in_flight = self.in_flight().await?;
        for (id, buyer) in config.buyers.iter().filter(|(_, b)| b.balance.is_some()) {
            let money = self.store.buyer_money(id.clone()).await?;
            store.balances.push(StoreBalance {
                buyer: buyer.id.clone(),
                credit: money.credit,
                spent: money.spent,
                in_flight: in_flight.get(id).copied().unwrap_or(Money::ZERO),
            });
        }
        store.parked = parked_entries(&*self.store).await?;
        let books_money = self.books.buyer_money(None).await?;
        let differences = compare(&store, &entries, &books_money);
        for d in &differences {
            tracing::warn!(code = d.code, subject = %d.subject, detail = %d.detail, "books and store differ");
        }
        Ok(Reconciliation {
            sales: store.sales.len(),
            entries: entries.len(),
            balances: store.balances.len(),
            differences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};

    fn t0() -> pingpost_core::Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).single().unwrap_or_default()
    }

    fn sale(id: &str, state: LedgerState) -> SaleRecord {
        SaleRecord {
            sale_id: id.into(),
            ping_id: format!("ping-{id}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::from_minor(2000),
            payout: Money::from_minor(1800),
            reserved_at: t0(),
            state,
            holder: "h".into(),
            lease_until: t0(),
            reason: None,
            sold_at: Some(t0()),
            lead_id: None,
            repeat_after: None,
        }
    }

    fn view(sales: &[SaleRecord]) -> StoreView {
        StoreView { sales: sales.iter().map(|s| (s.sale_id.clone(), s.clone())).collect(), ..StoreView::default() }
    }

    fn entry(kind: EntryKind, s: &SaleRecord) -> Entry {
        let e = OutboxEntry::of_sale(kind, s, t0() + chrono::Duration::seconds(5));
        to_entry(&e).unwrap_or_else(|rule| panic!("{rule}"))
    }

    fn codes(d: &[Difference]) -> Vec<(&str, &str)> {
        d.iter().map(|d| (d.code, d.subject.as_str())).collect()
    }

    #[test]
    fn books_that_follow_the_store_show_no_difference() {
        let sold = sale("s1", LedgerState::Sold);
        let undone = sale("s2", LedgerState::RolledBack);
        let never_charged = sale("s3", LedgerState::Released);
        let books =
            [entry(EntryKind::Sale, &sold), entry(EntryKind::Sale, &undone), entry(EntryKind::Rollback, &undone)];
        assert_eq!(compare(&view(&[sold, undone, never_charged]), &books, &[]), []);
    }

    #[test]
    fn a_charged_sale_without_its_entry_and_an_entry_without_its_sale_are_named() {
        let sold = sale("s1", LedgerState::Sold);
        let stray = sale("gone", LedgerState::Sold);
        let got = compare(&view(std::slice::from_ref(&sold)), &[entry(EntryKind::Sale, &stray)], &[]);
        assert_eq!(codes(&got), [("missing_entry", "sale:s1"), ("entry_without_sale", "sale:gone")]);
        let reserved = sale("s4", LedgerState::Reserved);
        let got = compare(&view(std::slice::from_ref(&reserved)), &[entry(EntryKind::Sale, &reserved)], &[]);
        assert_eq!(codes(&got), [("entry_without_sale", "sale:s4")]);
        assert!(got[0].detail.contains("reserved"), "{}", got[0].detail);
    }

    #[test]
    fn an_entry_with_other_amounts_differs_and_an_undone_charge_needs_its_rollback() {
        let sold = sale("s1", LedgerState::Sold);
        let cheaper = SaleRecord { price: Money::from_minor(1999), ..sold.clone() };
        let undone = sale("s2", LedgerState::RolledBack);
        let books = [entry(EntryKind::Sale, &cheaper), entry(EntryKind::Sale, &undone)];
        let got = compare(&view(&[sold, undone]), &books, &[]);
        assert_eq!(codes(&got), [("missing_entry", "rollback:s2"), ("entry_differs", "sale:s1")]);
    }

    #[test]
    fn a_returned_sale_needs_its_refund_and_the_clawback_its_reason_asks_for() {
        let returned = sale("s1", LedgerState::Returned);
        let mut store = view(std::slice::from_ref(&returned));
        let ret = ReturnRecord {
            return_id: "ret-s1".into(),
            sale_id: "s1".into(),
            buyer: BuyerId::new("b1"),
            reason: "fraud".into(),
            claw_back: true,
            note: None,
            status: ReturnStatus::Approved,
            decision_note: None,
            opened_at: t0(),
            decided_at: Some(t0()),
            refund: Money::from_minor(2000),
            clawback: Money::from_minor(1800),
            token: "t".into(),
        };
        store.returns.insert("s1".into(), ret.clone());
        let refund = OutboxEntry::of_return(&ret, &returned, t0()).into_iter().next().and_then(|e| to_entry(&e).ok());
        let books: Vec<Entry> = [Some(entry(EntryKind::Sale, &returned)), refund].into_iter().flatten().collect();
        assert_eq!(codes(&compare(&store, &books, &[])), [("missing_entry", "payout_clawback:s1")]);
    }

    #[test]
    fn an_entry_that_cannot_be_built_and_one_the_books_refused_are_named() {
        // A sale recorded with a negative payout (as an engine before payouts were held to
        // [0, price] recorded a buyer's low price): its entry breaks the books' conventions.
        let broken = SaleRecord { payout: Money::from_minor(-100), ..sale("s1", LedgerState::Sold) };
        let mut store = view(std::slice::from_ref(&broken));
        let entry = OutboxEntry::of_sale(EntryKind::Sale, &broken, t0());
        store.parked.push(ParkedEntry { entry, reason: "payout has the wrong sign".into(), parked_at: t0() });
        let got = compare(&store, &[], &[]);
        assert_eq!(codes(&got), [("invalid_entry", "sale:s1"), ("parked_entry", "sale:s1")]);
        assert!(got[0].detail.contains("wrong sign"), "{}", got[0].detail);
    }

    #[test]
    fn a_balance_is_compared_with_the_reservations_in_flight_counted() {
        let store = StoreView {
            balances: vec![StoreBalance {
                buyer: BuyerId::new("b1"),
                credit: Money::from_minor(5000),
                spent: Money::from_minor(3000),
                in_flight: Money::from_minor(1000),
            }],
            ..StoreView::default()
        };
        let books = |charges| BooksMoney {
            buyer: BuyerId::new("b1"),
            top_ups: Money::from_minor(5000),
            charges: Money::from_minor(charges),
            refunds: Money::ZERO,
        };
        assert_eq!(compare(&store, &[], &[books(2000)]), []);
        assert_eq!(codes(&compare(&store, &[], &[books(3000)])), [("balance_differs", "b1")]);
    }
}
