//! Sales in the embedded store: reserved and settled under the consumers' locks and then the
//! ledger's, marks and ledger entry in one step.

use super::*;

impl MemoryStore {
    pub(super) fn reserve_now(&self, req: SaleReservation) -> ReserveOutcome {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        let mut ledger = lock(&self.ledger);
        let sale_id = &req.record.sale_id;
        if let Some(e) = ledger.sales.get(sale_id) {
            return ReserveOutcome::Existing(Box::new(e.record.clone()));
        }
        if let Some((_, reason)) = ledger.tombstones.get(sale_id) {
            return ReserveOutcome::Existing(Box::new(released_before_reserved(req.record, reason)));
        }
        let buyer = &req.record.buyer;
        let now = req.record.reserved_at;
        if let Some((holder, until)) = ledger.fences.get(sale_id) {
            if *holder != req.record.holder && now < *until {
                return ReserveOutcome::SlotsTaken;
            }
        }
        if let Some(window) = req.window {
            for (kind, c) in &locked.guards {
                let prior = c
                    .sales
                    .iter()
                    .filter(|s| &s.buyer == buyer && &s.sale_id != sale_id)
                    .filter(|s| s.state.is_some_and(|st| st.counts_as_bought(s.at, s.lease_until, window, now)))
                    .max_by_key(|s| s.at);
                if let Some(s) = prior {
                    return ReserveOutcome::AlreadyBought { matched: *kind, prior_at: s.at };
                }
            }
        }
        if !ledger.slot_free(&req.record.ping_id, buyer, req.slots) {
            return ReserveOutcome::SlotsTaken;
        }
        if let Some(d) = req.debits.iter().find(|d| !ledger.fits(d)) {
            return ReserveOutcome::LimitReached { key: d.key.clone() };
        }
        for d in &req.debits {
            ledger.take(d);
        }
        for (_, c) in &mut locked.guards {
            c.sales.retain(|m| &m.sale_id != sale_id);
            c.sales.push(StoredSale {
                buyer: buyer.clone(),
                sale_id: sale_id.clone(),
                at: now,
                state: Some(SaleState::Reserved),
                lease_until: Some(req.record.lease_until),
            });
        }
        let mut record = req.record;
        record.state = LedgerState::Reserved;
        ledger.by_ping.entry(record.ping_id.clone()).or_default().push(record.sale_id.clone());
        ledger.sales.insert(
            record.sale_id.clone(),
            LedgerEntry {
                record,
                #[cfg(feature = "testing")]
                idents: req.idents,
                debits: req.debits,
                kept_until: None,
            },
        );
        ReserveOutcome::Reserved
    }

    pub(super) fn take_over_now(&self, t: TakeOver) -> Vec<SaleRecord> {
        let mut ledger = lock(&self.ledger);
        ledger.fences.retain(|_, (_, until)| *until > t.now);
        let mut found = Vec::new();
        for (_, sale_id) in t.sales {
            if let Some(e) = ledger.sales.get(&sale_id) {
                found.push(e.record.clone());
            } else if !ledger.tombstones.contains_key(&sale_id) {
                ledger.fences.insert(sale_id, (t.holder.clone(), t.keep_until));
            }
        }
        found.sort_by(|a, b| (a.reserved_at, &a.sale_id).cmp(&(b.reserved_at, &b.sale_id)));
        found
    }

    pub(super) fn settle_now(&self, s: &Settlement) -> Option<LedgerState> {
        let handles = self.handles(&s.idents);
        let mut locked = Self::lock_all(&handles);
        let mut ledger = lock(&self.ledger);
        let Some(entry) = ledger.sales.get_mut(&s.sale_id) else {
            if let SaleEnd::Released { reason } = &s.end {
                ledger.tombstones.insert(s.sale_id.clone(), (s.at, reason.clone()));
                drop(ledger);
                for (_, c) in &mut locked.guards {
                    settle_mark(c, s, None);
                }
            }
            return None;
        };
        if matches!(entry.record.state, LedgerState::Reserved | LedgerState::Unconfirmed) {
            let own =
                ReservedTerms { price: entry.record.price, payout: entry.record.payout, debits: entry.debits.clone() };
            let settling = settling(entry.record.state, &s.end, &own);
            let r = &mut entry.record;
            r.state = settling.state;
            if let SaleEnd::Sold { lead_id, .. } = &s.end {
                r.lead_id.clone_from(lead_id);
            }
            if let Some((price, payout)) = settling.lowered {
                (r.price, r.payout) = (price, payout);
            }
            if settling.reason.is_some() {
                r.reason = settling.reason;
            }
            if settling.books == Some(EntryKind::Sale) {
                r.sold_at = Some(whole_millis(s.at));
            }
            entry.kept_until = Some(s.at + kept_after_settling(settling.state, s.return_window));
            let record = entry.record.clone();
            let keys: Vec<String> = entry.debits.iter().map(|d| d.key.clone()).collect();
            match settling.books {
                Some(EntryKind::Sale) => ledger.charged(&record),
                Some(_) => ledger.uncharged(&record),
                None => {}
            }
            for (key, amount) in keys.iter().zip(settling.refunds) {
                if amount != 0 {
                    ledger.give_back(key, amount);
                }
            }
            if let Some(kind) = settling.books {
                ledger.write_entry(OutboxEntry::of_sale(kind, &record, whole_millis(s.at)));
            }
        }
        let state = ledger.sales.get(&s.sale_id).map(|e| e.record.state);
        drop(ledger);
        let mark = match marks_after(state, &s.end) {
            MarkAfter::Unchanged => return state,
            MarkAfter::Settled(mark) => Some(mark),
            MarkAfter::Released => None,
        };
        for (_, c) in &mut locked.guards {
            settle_mark(c, s, mark);
        }
        state
    }

    pub(super) fn ledger_now(&self, q: LedgerQuery) -> Vec<SaleRecord> {
        let ledger = lock(&self.ledger);
        match q {
            LedgerQuery::Sale(id) => ledger.sales.get(&id).map(|e| e.record.clone()).into_iter().collect(),
            LedgerQuery::Ping(ping) => {
                let mut out: Vec<SaleRecord> = ledger
                    .by_ping
                    .get(&ping)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| ledger.sales.get(id))
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (a.reserved_at, &a.sale_id).cmp(&(b.reserved_at, &b.sale_id)));
                out
            }
            LedgerQuery::Unconfirmed { limit } => {
                let mut out: Vec<SaleRecord> = ledger
                    .sales
                    .values()
                    .filter(|e| e.record.state == LedgerState::Unconfirmed)
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (b.reserved_at, &b.sale_id).cmp(&(a.reserved_at, &a.sale_id)));
                out.truncate(limit);
                out
            }
            LedgerQuery::Buyer { buyer, since, until, after, limit } => {
                ledger.buyer_sales_page(&buyer, since, until, after, limit)
            }
            LedgerQuery::Reserved { after, limit } => {
                let mut out: Vec<SaleRecord> = ledger
                    .sales
                    .values()
                    .filter(|e| e.record.state == LedgerState::Reserved)
                    .filter(|e| {
                        after.as_ref().is_none_or(|(at, id)| (e.record.lease_until, &e.record.sale_id) > (*at, id))
                    })
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (a.lease_until, &a.sale_id).cmp(&(b.lease_until, &b.sale_id)));
                out.truncate(limit);
                out
            }
        }
    }
}

/// A reservation of a sale whose release came first: it stands as released, for the reason
/// the release gave.
fn released_before_reserved(mut record: SaleRecord, reason: &str) -> SaleRecord {
    record.state = LedgerState::Released;
    record.reason = Some(reason.to_string());
    record
}

/// Moves one consumer's mark of the settled sale to `state` (`None`: a tombstone), writing
/// a tombstone where a release finds no mark, so a reservation still on its way cannot
/// apply after the release.
fn settle_mark(c: &mut Consumer, s: &Settlement, state: Option<SaleState>) {
    match c.sales.iter_mut().find(|m| m.sale_id == s.sale_id) {
        Some(m) if m.state == state && m.lease_until.is_none() => {}
        Some(m) => {
            m.state = state;
            m.at = s.at;
            m.lease_until = None;
        }
        None if state.is_none() => c.sales.push(StoredSale {
            buyer: s.buyer.clone(),
            sale_id: s.sale_id.clone(),
            at: s.at,
            state: None,
            lease_until: None,
        }),
        // Settled marks that are gone were erased: the erasure stands.
        None => {}
    }
}

impl Sales for MemoryStore {
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        ready(self.reserve_now(req))
    }

    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        ready(self.settle_now(&s))
    }

    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>> {
        ready(self.ledger_now(q))
    }

    fn take_over(&self, t: TakeOver) -> StoreFuture<'_, Vec<SaleRecord>> {
        ready(self.take_over_now(t))
    }
}
