//! Returns in the embedded store: opened, decided and listed under the ledger's lock, so
//! each check-then-write is as atomic as the Redis scripts (`open_return.lua`,
//! `decide_return.lua`).

use super::{lock, ready, Ledger, LedgerEntry, MemoryStore};
use crate::*;
use pingpost_core::caps::{credit_key, Debit};
use std::collections::BTreeSet;

impl Ledger {
    /// Lists a sale that became charged among its buyer's sales.
    pub(super) fn charged(&mut self, record: &SaleRecord) {
        if let Some(at) = record.sold_at {
            self.buyer_sales.entry(record.buyer.clone()).or_default().insert((at, record.sale_id.clone()));
        }
    }

    /// A charged sale given back (an unconfirmed one rolled back or released) is no sale of
    /// its buyer's any more: not listed, not counted in its return rate.
    pub(super) fn uncharged(&mut self, record: &SaleRecord) {
        if let (Some(at), Some(sales)) = (record.sold_at, self.buyer_sales.get_mut(&record.buyer)) {
            sales.remove(&(at, record.sale_id.clone()));
        }
    }

    pub(super) fn open_return(&mut self, r: ReturnRequest) -> ReturnOutcome {
        let Some(entry) = self.sales.get(&r.sale_id).filter(|e| e.record.buyer == r.buyer) else {
            return ReturnOutcome::NoSuchSale;
        };
        if let Some(existing) = self.returns.get(&r.return_id()) {
            return if existing.token == r.token {
                ReturnOutcome::Opened(Box::new(existing.clone()))
            } else {
                ReturnOutcome::AlreadyReturned(Box::new(existing.clone()))
            };
        }
        let sale = &entry.record;
        if !sale.state.is_returnable() {
            return ReturnOutcome::NotReturnable(sale.state);
        }
        if sale.sold_at.unwrap_or(sale.reserved_at) < r.sold_since() {
            return ReturnOutcome::WindowPassed;
        }
        let since = r.at - RETURN_RATE_SPAN;
        let sales = self.buyer_sales.get(&r.buyer).map_or(0, |s| s.range((since, String::new())..).count());
        let returns = self
            .returns
            .values()
            .filter(|x| x.buyer == r.buyer && x.status != ReturnStatus::Denied && x.opened_at >= since)
            .count();
        if !r.rate_allows(returns as u64, sales as u64) {
            return ReturnOutcome::RateExceeded;
        }
        let (refund, clawback) = return_amounts(sale.price, sale.payout, r.claw_back);
        let mut record = ReturnRecord {
            return_id: r.return_id(),
            sale_id: r.sale_id.clone(),
            buyer: r.buyer.clone(),
            reason: r.reason,
            claw_back: r.claw_back,
            note: r.note,
            status: ReturnStatus::Pending,
            decision_note: None,
            opened_at: r.at,
            decided_at: None,
            refund,
            clawback,
            token: r.token,
        };
        if r.approve {
            self.approve(&mut record, r.at);
        } else if let Some(entry) = self.sales.get_mut(&r.sale_id) {
            // Pending, the sale is kept until the return is decided.
            entry.kept_until = None;
        }
        self.returns.insert(record.return_id.clone(), record.clone());
        ReturnOutcome::Opened(Box::new(record))
    }

    pub(super) fn decide_return(
        &mut self,
        return_id: &str,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> DecideOutcome {
        let Some(mut record) = self.returns.get(return_id).cloned() else { return DecideOutcome::NoSuchReturn };
        if record.status != ReturnStatus::Pending {
            return DecideOutcome::AlreadyDecided(Box::new(record));
        }
        record.decision_note = note;
        if approve {
            self.approve(&mut record, at);
        } else {
            record.status = ReturnStatus::Denied;
            record.decided_at = Some(at);
            self.decided(&record.sale_id, at);
        }
        self.returns.insert(record.return_id.clone(), record.clone());
        DecideOutcome::Decided(Box::new(record))
    }

    /// A sale whose return is decided is final: kept [`SETTLED_KEPT`] from the decision.
    fn decided(&mut self, sale_id: &str, at: Timestamp) {
        if let Some(entry) = self.sales.get_mut(sale_id) {
            entry.kept_until = Some(at + SETTLED_KEPT);
        }
    }

    /// Refunds the sale's price to its buyer and writes the books entries; a sale that
    /// stopped standing since the return was opened (an unconfirmed sale settled as rolled
    /// back: its price went back already) denies the return instead.
    fn approve(&mut self, record: &mut ReturnRecord, at: Timestamp) {
        record.decided_at = Some(at);
        self.decided(&record.sale_id, at);
        let Some(LedgerEntry { record: sale, .. }) = self.sales.get_mut(&record.sale_id) else {
            record.status = ReturnStatus::Denied;
            record.decision_note = Some("the sale is gone".into());
            return;
        };
        if !sale.state.is_returnable() {
            record.status = ReturnStatus::Denied;
            record.decision_note = Some(format!("the sale is {} already", sale.state.as_str()));
            return;
        }
        sale.state = LedgerState::Returned;
        record.status = ReturnStatus::Approved;
        let sale = sale.clone();
        self.take(&Debit {
            key: credit_key(&record.buyer),
            amount: record.refund.minor(),
            limit: i64::MAX,
            is_money: true,
            expires_at: None,
            credit_key: None,
        });
        for e in OutboxEntry::of_return(record, &sale, at) {
            self.write_entry(e);
        }
    }

    pub(super) fn returns_matching(&self, q: ReturnQuery) -> Vec<ReturnRecord> {
        match q {
            ReturnQuery::Id(id) => self.returns.get(&id).cloned().into_iter().collect(),
            ReturnQuery::Status { status, limit } => {
                let mut out: Vec<ReturnRecord> =
                    self.returns.values().filter(|r| r.status == status).cloned().collect();
                out.sort_by(|a, b| (b.opened_at, &b.return_id).cmp(&(a.opened_at, &a.return_id)));
                out.truncate(limit);
                out
            }
        }
    }

    pub(super) fn buyer_sales_page(
        &self,
        buyer: &BuyerId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> Vec<SaleRecord> {
        let empty = BTreeSet::new();
        let sales = self.buyer_sales.get(buyer).unwrap_or(&empty);
        sales
            .iter()
            .rev()
            .filter(|(at, id)| {
                since.is_none_or(|s| *at >= s)
                    && until.is_none_or(|u| *at < u)
                    && after.as_ref().is_none_or(|(a_at, a_id)| (at, id) < (a_at, a_id))
            })
            .filter_map(|(_, id)| self.sales.get(id))
            .map(|e| e.record.clone())
            .take(limit)
            .collect()
    }
}

impl Returns for MemoryStore {
    fn open_return(&self, r: ReturnRequest) -> StoreFuture<'_, ReturnOutcome> {
        ready(lock(&self.ledger).open_return(r))
    }

    fn decide_return(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreFuture<'_, DecideOutcome> {
        ready(lock(&self.ledger).decide_return(&return_id, approve, note, at))
    }

    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>> {
        ready(lock(&self.ledger).returns_matching(q))
    }
}
