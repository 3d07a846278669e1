//! Admissions in the embedded store: checked and written under the consumers' locks, every
//! identifier of the ping at once.

use super::*;

impl MemoryStore {
    pub(super) fn admit_now(&self, req: &Admission) -> AdmitOutcome {
        // A dry run looks consumers up without adding an entry for one never seen.
        let handles = if req.dry_run { self.existing_handles(&req.idents) } else { self.handles(&req.idents) };
        let mut locked = Self::lock_all(&handles);
        for (kind, c) in &locked.guards {
            if let Some(since) = c.suppressed_at {
                return AdmitOutcome::Suppressed { matched: *kind, since };
            }
        }
        for (kind, c) in &locked.guards {
            if let Some(m) = c.vertical.get(&req.vertical) {
                let own = m.ping_id == req.ping_id;
                if !own && vertical_submission_counts(m.at, m.pending_until, req.window, req.now) {
                    return AdmitOutcome::VerticalDuplicate { matched: *kind, prior_at: m.at };
                }
            }
        }
        let mut history = ConsumerHistory::default();
        for (kind, c) in &mut locked.guards {
            // A re-sent admission finds its own mark and leaves it as it is (it may be confirmed).
            if !req.dry_run && c.vertical.get(&req.vertical).is_none_or(|m| m.ping_id != req.ping_id) {
                let mark =
                    VerticalMark { at: req.now, ping_id: req.ping_id.clone(), pending_until: Some(req.pending_until) };
                c.vertical.insert(req.vertical.clone(), mark);
            }
            history.sales.extend(c.sales.iter().filter_map(|s| {
                Some(SaleMark {
                    buyer: s.buyer.clone(),
                    matched: *kind,
                    at: s.at,
                    state: s.state?,
                    lease_until: s.lease_until,
                })
            }));
            history.dq.extend(c.dq.iter().map(|(b, at)| DqMark { buyer: b.clone(), matched: *kind, at: *at }));
        }
        AdmitOutcome::Admitted { history }
    }

    pub(super) fn with_own_vertical_marks(&self, req: &Admission, f: impl Fn(&mut VecMap<VerticalId, VerticalMark>)) {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        for (_, c) in &mut locked.guards {
            if c.vertical.get(&req.vertical).is_some_and(|m| m.ping_id == req.ping_id) {
                f(&mut c.vertical);
            }
        }
    }
}

impl Admissions for MemoryStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        ready(self.admit_now(&req))
    }

    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        self.with_own_vertical_marks(&req, |marks| {
            if let Some(m) = marks.get_mut(&req.vertical) {
                m.pending_until = None;
            }
        });
        ready(())
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        self.with_own_vertical_marks(&req, |marks| {
            marks.remove(&req.vertical);
        });
        ready(())
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        for (_, _, c) in self.handles(&idents) {
            let mut c = lock(&c);
            for b in &buyers {
                c.dq.insert(b.clone(), now);
            }
        }
        ready(())
    }
}
