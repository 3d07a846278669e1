//! Claims in the embedded store: each under its map entry's lock.

use super::*;

impl MemoryStore {
    fn claim_now(&self, req: ClaimRequest) -> Claim {
        use dashmap::mapref::entry::Entry;
        let in_flight =
            |resumed| ClaimState::InFlight { holder: req.holder.clone(), lease_until: req.lease_until, resumed };
        match self.claims.entry(req.key.clone()) {
            Entry::Vacant(v) => {
                v.insert(ClaimEntry {
                    fingerprint: req.fingerprint.clone(),
                    state: in_flight(false),
                    keep_until: req.keep_until,
                });
                Claim::Claimed { resumed: false }
            }
            Entry::Occupied(mut o) => {
                let entry = o.get_mut();
                let (phase, own, lease_runs) = match &entry.state {
                    ClaimState::InFlight { holder, lease_until, .. } => {
                        (ClaimPhase::InFlight, holder == &req.holder, *lease_until > req.now)
                    }
                    ClaimState::Free => (ClaimPhase::GivenUp, false, false),
                    ClaimState::Done { .. } => (ClaimPhase::Done, false, false),
                };
                let same_request = entry.fingerprint == req.fingerprint;
                match (claim_step(Some(ClaimFacts { same_request, phase, own, lease_runs })), &entry.state) {
                    (ClaimStep::Mismatch, _) => Claim::Mismatch,
                    (ClaimStep::Answer, ClaimState::Done { answer }) => Claim::Done(answer.clone()),
                    (ClaimStep::Own, ClaimState::InFlight { resumed, .. }) => Claim::Claimed { resumed: *resumed },
                    (ClaimStep::Busy, _) => Claim::InFlight,
                    // Taken over (the rule gives no other step for a claim that exists).
                    _ => {
                        entry.state = in_flight(true);
                        entry.keep_until = entry.keep_until.max(req.keep_until);
                        Claim::Claimed { resumed: true }
                    }
                }
            }
        }
    }
}

impl Claims for MemoryStore {
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        ready(self.claim_now(req))
    }

    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        _now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        if let Some(mut c) = self.claims.get_mut(&key) {
            if matches!(&c.state, ClaimState::InFlight { holder: h, .. } if h == &holder) {
                c.state = ClaimState::Done { answer };
                c.keep_until = keep_until;
            }
        }
        ready(())
    }

    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()> {
        // A claim taken fresh goes; one taken over from an earlier holder stays, given up.
        let held = |c: &ClaimEntry| matches!(&c.state, ClaimState::InFlight { holder: h, .. } if h == &holder);
        let fresh = |c: &ClaimEntry| matches!(&c.state, ClaimState::InFlight { resumed: false, .. });
        self.claims.remove_if(&key, |_, c| held(c) && fresh(c));
        if let Some(mut c) = self.claims.get_mut(&key) {
            if held(&c) {
                c.state = ClaimState::Free;
            }
        }
        ready(())
    }
}
