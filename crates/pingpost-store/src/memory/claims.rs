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
                if entry.fingerprint != req.fingerprint {
                    return Claim::Mismatch;
                }
                match &entry.state {
                    ClaimState::Done { answer } => Claim::Done(answer.clone()),
                    ClaimState::InFlight { holder, resumed, .. } if holder == &req.holder => {
                        Claim::Claimed { resumed: *resumed }
                    }
                    ClaimState::InFlight { lease_until, .. } if *lease_until > req.now => Claim::InFlight,
                    ClaimState::InFlight { .. } | ClaimState::Free => {
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
