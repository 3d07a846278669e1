//! [`Claims`]: one request at a time per key (a post, an idempotent ping), and its answer
//! kept for the requests that repeat it.

use crate::{Claim, ClaimRequest, StoreFuture};
use pingpost_core::Timestamp;

/// Claims on keys. On every implementation at most one holder holds a key at a time (a
/// lease that ran out may be taken over, and the one taking over is told so); only the
/// holder completes or gives it up; a claim re-sent by its holder finds its own.
pub trait Claims: Send + Sync {
    /// Claims `key` for one request: the first caller gets [`Claim::Claimed`], later ones
    /// see it in flight or its stored answer.
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim>;

    /// Stores the answer of a claimed key, kept until `keep_until`, if `holder` still holds it.
    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()>;

    /// Gives a claim up without an answer, if `holder` still holds it: the next claim of the
    /// key gets it at once — as resumed when this holder had taken it over from an earlier
    /// one (whose work the next must read), and as new when this holder took it fresh: such
    /// a claim is removed, so a request refused before any work leaves nothing behind.
    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()>;
}

/// A claim as a request finds it: the facts its next step depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimFacts {
    /// The claim is this request's (the same fingerprint).
    pub same_request: bool,
    pub phase: ClaimPhase,
    /// This request's holder holds it (a re-sent claim).
    pub own: bool,
    /// Its holder's lease still runs.
    pub lease_runs: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimPhase {
    InFlight,
    /// Its holder gave it up without an answer.
    GivenUp,
    Done,
}

/// What a claim request does next. [`claim_step`] is the claim's state machine, stated once:
/// the embedded store follows it, and Redis's `lua/claim.lua` reads it as [`claim_table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimStep {
    /// Nobody holds the key: take it, fresh.
    Take,
    /// Another request's key: refuse ([`Claim::Mismatch`]).
    Mismatch,
    /// Answered: give the stored answer ([`Claim::Done`]).
    Answer,
    /// Its own claim, re-sent: claimed, as resumed as it was.
    Own,
    /// Another holder's, its lease running ([`Claim::InFlight`]).
    Busy,
    /// Its holder's lease ran out (it died) or it gave the claim up: take it over, resumed, so
    /// that what the earlier holder did is read first.
    TakeOver,
}

/// See [`ClaimStep`]; `None` when the key has no claim.
pub fn claim_step(found: Option<ClaimFacts>) -> ClaimStep {
    let Some(f) = found else { return ClaimStep::Take };
    match f {
        ClaimFacts { same_request: false, .. } => ClaimStep::Mismatch,
        ClaimFacts { phase: ClaimPhase::Done, .. } => ClaimStep::Answer,
        ClaimFacts { phase: ClaimPhase::InFlight, own: true, .. } => ClaimStep::Own,
        ClaimFacts { phase: ClaimPhase::InFlight, lease_runs: true, .. } => ClaimStep::Busy,
        ClaimFacts { phase: ClaimPhase::InFlight | ClaimPhase::GivenUp, .. } => ClaimStep::TakeOver,
    }
}

/// [`claim_step`] as data, for a store that runs the step where the claim lives: every case,
/// space-separated, as its four facts and its step's letter. Facts: the same request (`0`|`1`),
/// the phase (`F` in flight, `A` given up, `D` done), own (`0`|`1`), the lease runs (`0`|`1`);
/// `----` when there is no claim. Steps: `T` take, `M` mismatch, `D` answer, `O` own, `F`
/// busy, `R` take over (resumed).
pub fn claim_table() -> String {
    let letter = |step| match step {
        ClaimStep::Take => 'T',
        ClaimStep::Mismatch => 'M',
        ClaimStep::Answer => 'D',
        ClaimStep::Own => 'O',
        ClaimStep::Busy => 'F',
        ClaimStep::TakeOver => 'R',
    };
    let bit = |b: bool| if b { '1' } else { '0' };
    let mut table = format!("----{}", letter(claim_step(None)));
    for same_request in [false, true] {
        for (phase, code) in [(ClaimPhase::InFlight, 'F'), (ClaimPhase::GivenUp, 'A'), (ClaimPhase::Done, 'D')] {
            for own in [false, true] {
                for lease_runs in [false, true] {
                    let step = claim_step(Some(ClaimFacts { same_request, phase, own, lease_runs }));
                    table.extend([' ', bit(same_request), code, bit(own), bit(lease_runs), letter(step)]);
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_taken_once_answered_to_its_own_holder_and_taken_over_only_when_its_holder_is_gone() {
        let facts = |same_request, phase, own, lease_runs| Some(ClaimFacts { same_request, phase, own, lease_runs });
        use ClaimPhase::{Done, GivenUp, InFlight};
        let table = [
            (None, ClaimStep::Take),
            (facts(false, InFlight, true, true), ClaimStep::Mismatch),
            (facts(false, Done, false, false), ClaimStep::Mismatch),
            (facts(true, Done, true, true), ClaimStep::Answer),
            (facts(true, InFlight, true, false), ClaimStep::Own),
            (facts(true, InFlight, false, true), ClaimStep::Busy),
            (facts(true, InFlight, false, false), ClaimStep::TakeOver),
            (facts(true, GivenUp, false, true), ClaimStep::TakeOver),
            (facts(true, GivenUp, true, true), ClaimStep::TakeOver),
        ];
        for (found, step) in table {
            assert_eq!(claim_step(found), step, "{found:?}");
        }
    }

    #[test]
    fn the_table_states_every_case_once() {
        let table = claim_table();
        let cases: Vec<&str> = table.split(' ').collect();
        assert_eq!(cases.len(), 1 + 2 * 3 * 2 * 2, "{table}");
        assert!(cases.iter().all(|c| c.len() == 5), "{table}");
        assert!(
            cases.contains(&"----T")
                && cases.contains(&"1F01F")
                && cases.contains(&"1F00R")
                && cases.contains(&"1F10O")
        );
        let facts: std::collections::BTreeSet<&str> = cases.iter().map(|c| &c[..4]).collect();
        assert_eq!(facts.len(), cases.len(), "no case twice: {table}");
    }
}
