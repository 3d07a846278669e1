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
        // Each identifier's verdict; a re-sent admission finds its own mark, and the repeat it
        // was (the submission its mark replaced).
        let mut replaced = Vec::with_capacity(locked.guards.len());
        let mut repeat: Option<(IdentKind, Timestamp)> = None;
        let mut last_submission: Option<Timestamp> = None;
        for (kind, c) in &locked.guards {
            let standing = c.vertical.get(&req.vertical).and_then(|m| match m.ping_id == req.ping_id {
                true => m.replaced,
                false => m.submission().standing(req.now),
            });
            last_submission = last_submission.max(standing);
            let verdict = match c.vertical.get(&req.vertical) {
                None => VerticalVerdict::New,
                Some(m) if m.ping_id == req.ping_id => {
                    m.replaced.map_or(VerticalVerdict::New, |prior_at| VerticalVerdict::Repeat { prior_at })
                }
                Some(m) => vertical_verdict(&m.submission(), req.window, req.repeat_after, req.now),
            };
            match verdict {
                VerticalVerdict::Duplicate { prior_at } => {
                    return AdmitOutcome::VerticalDuplicate { matched: *kind, prior_at };
                }
                VerticalVerdict::Repeat { prior_at } => {
                    replaced.push(Some(prior_at));
                    if repeat.is_none_or(|(_, at)| at < prior_at) {
                        repeat = Some((*kind, prior_at));
                    }
                }
                VerticalVerdict::New => replaced.push(None),
            }
        }
        let mut history = ConsumerHistory::default();
        for ((kind, c), replaced) in locked.guards.iter_mut().zip(replaced) {
            // A re-sent admission finds its own mark and leaves it as it is (it may be confirmed).
            if !req.dry_run && c.vertical.get(&req.vertical).is_none_or(|m| m.ping_id != req.ping_id) {
                let mark = VerticalMark {
                    at: req.now,
                    ping_id: req.ping_id.clone(),
                    pending_until: Some(req.pending_until),
                    replaced,
                };
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
        AdmitOutcome::Admitted { history, repeat, last_submission }
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
                m.replaced = None;
            }
        });
        ready(())
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        // A repeat's mark gives back the confirmed submission it replaced.
        self.with_own_vertical_marks(&req, |marks| match marks.get(&req.vertical).and_then(|m| m.replaced) {
            Some(at) => {
                let restored = VerticalMark { at, ping_id: String::new(), pending_until: None, replaced: None };
                marks.insert(req.vertical.clone(), restored);
            }
            None => {
                marks.remove(&req.vertical);
            }
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
