//! A buyer's sales, newest first, over any period: the store answers for the sales it still
//! keeps ([`pingpost_store::store_lists_sales_since`]: the last month at least), the books for
//! older ones. The store lets a settled sale go once no return, window or resumed post can need
//! it, so the books are the record of every sale older than that.
//!
//! Both parts follow one order (sold time, then sale id, descending) and meet at the horizon:
//! the store is asked for sales sold at or after it, the books for those sold before it, so a
//! sale is listed once whichever part holds it, and a cursor from either continues in order.
//! From the books a sale is `returned` when they hold its refund, and left out when they hold
//! its rollback (a charged sale given back, which the store no longer lists either); an
//! unconfirmed sale that old reads as `sold`, the books telling the two apart no more.

use crate::{Engine, EngineError};
use pingpost_books::{Cursor, Entry, EntryKind, EntryQuery, MAX_PAGE};
use pingpost_core::ids::{BuyerId, ContractId, OfferId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::{store_lists_sales_since, LedgerQuery, LedgerState, SaleRecord};
use std::collections::BTreeSet;

/// Which of a buyer's sales to list: sold in `[since, until)`, strictly after the page
/// cursor `after` (the last sale of the previous page: its sold time and id), `limit` of them.
#[derive(Clone, Debug)]
pub struct SalesQuery {
    pub buyer: BuyerId,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub after: Option<(Timestamp, String)>,
    pub limit: usize,
}

/// One of a buyer's sales, as the store or the books know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedSale {
    pub sale_id: String,
    pub ping_id: String,
    pub offer: OfferId,
    pub contract: ContractId,
    /// What the buyer was charged.
    pub price: Money,
    pub sold_at: Timestamp,
    pub state: LedgerState,
    pub lead_id: Option<String>,
    /// A repeat sale (a returning consumer bought again at the contract's repeat price).
    pub repeat: bool,
}

impl ListedSale {
    fn of_record(r: SaleRecord) -> ListedSale {
        ListedSale {
            sold_at: r.sold_at.unwrap_or(r.reserved_at),
            sale_id: r.sale_id,
            ping_id: r.ping_id,
            offer: r.offer,
            contract: r.contract,
            price: r.price,
            state: r.state,
            lead_id: r.lead_id,
            repeat: r.repeat_after.is_some(),
        }
    }

    /// A sale entry of the books (one that names its sale, ping, offer and contract).
    fn of_entry(e: Entry, state: LedgerState) -> Option<ListedSale> {
        Some(ListedSale {
            sale_id: e.sale_id?,
            ping_id: e.ping_id?,
            offer: e.offer?,
            contract: e.contract?,
            price: e.price,
            sold_at: e.at,
            state,
            lead_id: e.lead_id,
            repeat: e.repeat,
        })
    }
}

impl Engine {
    /// A page of a buyer's charged sales (sold, unconfirmed, returned), newest sold first.
    pub async fn buyer_sales(&self, q: SalesQuery) -> Result<Vec<ListedSale>, EngineError> {
        let horizon = whole_millis(store_lists_sales_since(self.now()));
        let limit = q.limit.clamp(1, MAX_PAGE);
        let mut out = Vec::with_capacity(limit);
        let cursor_in_store = q.after.as_ref().is_none_or(|(at, _)| *at >= horizon);
        if cursor_in_store && q.until.is_none_or(|u| u > horizon) {
            let since = Some(q.since.map_or(horizon, |s| s.max(horizon)));
            let page =
                LedgerQuery::Buyer { buyer: q.buyer.clone(), since, until: q.until, after: q.after.clone(), limit };
            out.extend(self.store.ledger(page).await?.into_iter().map(ListedSale::of_record));
        }
        if out.len() < limit && q.since.is_none_or(|s| s < horizon) {
            let until = Some(q.until.map_or(horizon, |u| u.min(horizon)));
            let after = q.after.filter(|(at, _)| *at < horizon);
            out.extend(self.sales_in_books(&q.buyer, q.since, until, after, limit - out.len()).await?);
        }
        Ok(out)
    }

    /// Up to `want` of the buyer's sales the books hold, sold in `[since, until)` after `after`.
    async fn sales_in_books(
        &self,
        buyer: &BuyerId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        after: Option<(Timestamp, String)>,
        want: usize,
    ) -> Result<Vec<ListedSale>, EngineError> {
        let mut sales: Vec<Entry> = Vec::with_capacity(want);
        let mut cursor = after.map(|(at, id)| Cursor { at, entry_id: format!("{}:{id}", EntryKind::Sale.as_str()) });
        loop {
            let q = EntryQuery {
                buyer: Some(buyer.clone()),
                kind: Some(EntryKind::Sale),
                since,
                until,
                limit: want,
                after: cursor.take(),
                ..EntryQuery::default()
            };
            let page = self.books.entries(q).await?;
            let next = page.next;
            sales.extend(page.entries);
            let given_back = self.sales_with(buyer, EntryKind::Rollback, &sales).await?;
            sales.retain(|e| e.sale_id.as_ref().is_some_and(|id| !given_back.contains(id)));
            match next {
                Some(c) if sales.len() < want => cursor = Some(c),
                _ => break,
            }
        }
        sales.truncate(want);
        let returned = self.sales_with(buyer, EntryKind::ReturnRefund, &sales).await?;
        Ok(sales
            .into_iter()
            .filter_map(|e| {
                let state = match &e.sale_id {
                    Some(id) if returned.contains(id) => LedgerState::Returned,
                    _ => LedgerState::Sold,
                };
                ListedSale::of_entry(e, state)
            })
            .collect())
    }

    /// Which of `sales` (sale entries of one buyer) the books hold an entry of `kind` for:
    /// those come after the sale, so the buyer's entries of that kind since the oldest sale.
    async fn sales_with(
        &self,
        buyer: &BuyerId,
        kind: EntryKind,
        sales: &[Entry],
    ) -> Result<BTreeSet<String>, EngineError> {
        let Some(oldest) = sales.iter().map(|e| e.at).min() else { return Ok(BTreeSet::new()) };
        let wanted: BTreeSet<&str> = sales.iter().filter_map(|e| e.sale_id.as_deref()).collect();
        let mut found = BTreeSet::new();
        let mut after = None;
        loop {
            let q = EntryQuery {
                buyer: Some(buyer.clone()),
                kind: Some(kind),
                since: Some(oldest),
                limit: MAX_PAGE,
                after,
                ..EntryQuery::default()
            };
            let page = self.books.entries(q).await?;
            found.extend(page.entries.into_iter().filter_map(|e| e.sale_id).filter(|id| wanted.contains(id.as_str())));
            match page.next {
                Some(c) => after = Some(c),
                None => return Ok(found),
            }
        }
    }
}

/// `t` to the millisecond below: what the stores keep of a sale's time.
fn whole_millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
