//! Checkpoints 1 and 2 on Redis: a ping's identifiers admitted side by side, one
//! `admit.lua` per identifier (each lives in a slot of its own), so a ping with an email and
//! a phone waits on one round trip, not one per identifier.
//!
//! Side by side, two racing pings of one consumer could each win one identifier and turn
//! each other away, and the lead would be lost. So a race is decided by rank (the lesser ping
//! id wins), and the ping that ranks first waits for the other to give its identifier up —
//! but only when the other is *certain* to: when it also needs an identifier this ping
//! already holds (its script will find this ping's pending mark there, which outranks it). In
//! every other case this ping is the duplicate at once, as when the identifiers went one
//! after the other. The crate's docs ("Why the steps are safe") give the argument.

use crate::codec::{self, corrupt, ms, parse_ms, HistoryField};
use crate::held::{ranks_first, HeldWait};
use crate::scripts::ScriptCall;
use crate::store::{distinct, per_kind, text, Replicas};
use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::checkpoint::ConsumerHistory;
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_store::*;

/// How a ping names its other identifiers in its pending marks: enough of the hash to tell
/// two consumers' identifiers apart.
const TAG_LEN: usize = 16;

fn tag(hash: &Sha256Hex) -> &str {
    hash.as_str().get(..TAG_LEN).unwrap_or(hash.as_str())
}

/// One identifier's answer to the admission script.
#[derive(Debug)]
enum Answer {
    Suppressed(Timestamp),
    /// A confirmed submission inside the window.
    Duplicate(Timestamp),
    /// Another ping's pending submission inside the window; `others` are the tags of that
    /// ping's other identifiers.
    Held {
        prior_at: Timestamp,
        ping: String,
        others: String,
    },
    /// This ping's pending mark is written; the identifier's sale and DQ marks.
    Admitted(Vec<HistoryField>),
}

/// What the answers so far decide.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Refused(AdmitOutcome),
    /// Every identifier not yet admitted is held by a ping certain to give it up; should it
    /// never let go, this is the refusal (the first identifier held).
    AskAgain {
        unless: AdmitOutcome,
    },
    Admitted,
}

/// Checkpoint 1 before 2, each in the identifiers' order; a held identifier is a duplicate
/// unless its holder ranks after this ping and needs an identifier this ping holds. A dry
/// run holds none (its script wrote nothing), so a held identifier is always its duplicate.
fn decide(ping_id: &str, idents: &[Ident], answers: &[Option<Answer>], dry_run: bool) -> Decision {
    let pairs = || idents.iter().zip(answers).filter_map(|(i, a)| Some((i, a.as_ref()?)));
    if let Some((i, since)) = pairs().find_map(|(i, a)| match a {
        Answer::Suppressed(since) => Some((i, *since)),
        _ => None,
    }) {
        return Decision::Refused(AdmitOutcome::Suppressed { matched: i.kind, since });
    }
    let held_by_us: Vec<&str> =
        pairs().filter(|(_, a)| !dry_run && matches!(a, Answer::Admitted(_))).map(|(i, _)| tag(&i.hash)).collect();
    let yields = |ping: &str, others: &str| {
        ranks_first(ping_id, ping) && others.split(',').any(|t| !t.is_empty() && held_by_us.contains(&t))
    };
    let mut first_held = None;
    for (i, a) in pairs() {
        match a {
            Answer::Duplicate(prior_at) => return Decision::Refused(duplicate(i.kind, *prior_at)),
            Answer::Held { prior_at, ping, others } if !yields(ping, others) => {
                return Decision::Refused(duplicate(i.kind, *prior_at))
            }
            Answer::Held { prior_at, .. } => {
                first_held.get_or_insert_with(|| duplicate(i.kind, *prior_at));
            }
            Answer::Suppressed(_) | Answer::Admitted(_) => {}
        }
    }
    match first_held {
        Some(unless) => Decision::AskAgain { unless },
        None => Decision::Admitted,
    }
}

fn duplicate(matched: IdentKind, prior_at: Timestamp) -> AdmitOutcome {
    AdmitOutcome::VerticalDuplicate { matched, prior_at }
}

impl RedisStore {
    async fn admit_ident(&self, ident: &Ident, others: &str, req: &Admission) -> StoreResult<Answer> {
        let mut call = ScriptCall::new(&self.scripts.admit);
        call.key(self.keys.suppressed(&ident.hash))
            .key(self.keys.consumer(&ident.hash))
            .arg(req.vertical.as_str())
            .arg(ms(req.now))
            .arg(ms(req.window.counts_after(req.now)))
            .arg(&req.ping_id)
            .arg(self.retention_ms())
            .arg(ms(req.pending_until))
            .arg(others)
            .arg(if req.dry_run { "1" } else { "0" });
        let point = per_kind(ident, ["redis.admit.email", "redis.admit.phone"]);
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step(point, &call).await?;
        match text(&reply, 0)? {
            "S" => Ok(Answer::Suppressed(parse_ms(text(&reply, 1)?)?)),
            "V" => Ok(Answer::Duplicate(parse_ms(text(&reply, 1)?)?)),
            "P" => Ok(Answer::Held {
                prior_at: parse_ms(text(&reply, 1)?)?,
                ping: text(&reply, 2)?.to_string(),
                others: text(&reply, 3)?.to_string(),
            }),
            "A" => {
                // A dry run wrote nothing for a replica to hold.
                if !req.dry_run {
                    replicas.require()?;
                }
                let mut fields = Vec::with_capacity(reply.len() / 2);
                for pair in 1..reply.len().div_ceil(2) {
                    let (f, v) = (text(&reply, 2 * pair - 1)?, text(&reply, 2 * pair)?);
                    fields.extend(codec::decode_history_field(f, v, ident.kind)?);
                }
                Ok(Answer::Admitted(fields))
            }
            other => Err(corrupt(format!("admit answered {other:?}"))),
        }
    }

    /// Undoes what a refused or failed admission may have written: every identifier's mark
    /// of this ping, the one whose script failed included (a script that timed out may still
    /// run when Redis answers again). Best effort: a mark left behind is pending, so it lapses
    /// with its lease.
    async fn release_after_failure(&self, req: &Admission) {
        if req.dry_run {
            return;
        }
        if let Err(e) = self.own_vertical_marks(req, false).await {
            tracing::warn!(ping_id = %req.ping_id, error = %e, "vertical reservation not undone; it lapses with its lease");
        }
    }

    pub(crate) async fn admit_all(&self, req: Admission) -> StoreResult<AdmitOutcome> {
        let idents = distinct(&req.idents);
        let others: Vec<String> = (0..idents.len())
            .map(|i| {
                let tags = idents.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, o)| tag(&o.hash));
                tags.collect::<Vec<_>>().join(",")
            })
            .collect();
        let mut answers: Vec<Option<Answer>> = idents.iter().map(|_| None).collect();
        let mut wait = HeldWait::ending_by(self.opts.held_wait, req.wait_until);
        loop {
            let asked: Vec<usize> =
                (0..idents.len()).filter(|&i| !matches!(answers[i], Some(Answer::Admitted(_)))).collect();
            let replies = join_all(asked.iter().map(|&i| self.admit_ident(&idents[i], &others[i], &req))).await;
            for (&i, reply) in asked.iter().zip(replies) {
                match reply {
                    Ok(answer) => answers[i] = Some(answer),
                    Err(e) => {
                        self.release_after_failure(&req).await;
                        return Err(e);
                    }
                }
            }
            match decide(&req.ping_id, &idents, &answers, req.dry_run) {
                Decision::Admitted => return Ok(AdmitOutcome::Admitted { history: history(answers) }),
                Decision::Refused(outcome) => {
                    self.release_after_failure(&req).await;
                    return Ok(outcome);
                }
                Decision::AskAgain { unless } => {
                    if !wait.pause().await {
                        // The holder stopped between its steps: the race is lost for both,
                        // as a crash can cause, and its mark lapses with its lease.
                        self.release_after_failure(&req).await;
                        return Ok(unless);
                    }
                }
            }
        }
    }
}

fn history(answers: Vec<Option<Answer>>) -> ConsumerHistory {
    let mut history = ConsumerHistory::default();
    for field in answers.into_iter().flat_map(|a| match a {
        Some(Answer::Admitted(fields)) => fields,
        _ => Vec::new(),
    }) {
        match field {
            HistoryField::Sale(m) => history.sales.push(m),
            HistoryField::Dq(m) => history.dq.push(m),
        }
    }
    history
}

impl RedisStore {
    /// Confirms (`confirm_admission.lua`) or releases (`release_admission.lua`) the ping's
    /// vertical marks, every identifier in parallel: each is one script on its own slot.
    pub(crate) async fn own_vertical_marks(&self, req: &Admission, confirm: bool) -> StoreResult<()> {
        let calls = distinct(&req.idents).into_iter().map(|ident| async move {
            let (script, point) = if confirm {
                (&self.scripts.confirm_admission, per_kind(&ident, ["redis.confirm.email", "redis.confirm.phone"]))
            } else {
                (&self.scripts.release_admission, per_kind(&ident, ["redis.release.email", "redis.release.phone"]))
            };
            let mut call = script.key(self.keys.consumer(&ident.hash));
            call.arg(req.vertical.as_str()).arg(&req.ping_id);
            let _: i64 = self.step(point, &call).await?;
            Ok::<_, StoreError>(())
        });
        join_all(calls).await.into_iter().collect()
    }

    async fn record_dq_all(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreResult<()> {
        if buyers.is_empty() {
            return Ok(());
        }
        let calls = distinct(&idents).into_iter().map(|ident| {
            let mut call = self.scripts.record_dq.key(self.keys.consumer(&ident.hash));
            call.arg(ms(now)).arg(self.retention_ms());
            for b in &buyers {
                call.arg(b.as_str());
            }
            async move {
                let point = per_kind(&ident, ["redis.record_dq.email", "redis.record_dq.phone"]);
                let _: i64 = self.step(point, &call).await?;
                Ok::<_, StoreError>(())
            }
        });
        join_all(calls).await.into_iter().collect()
    }
}

impl Admissions for RedisStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        Box::pin(self.admit_all(req))
    }

    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.own_vertical_marks(&req, true).await })
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.own_vertical_marks(&req, false).await })
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.record_dq_all(idents, buyers, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents() -> Vec<Ident> {
        vec![
            Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("a@example.com") },
            Ident { kind: IdentKind::Phone, hash: Sha256Hex::digest("5550001111") },
        ]
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_timestamp_millis(ms).unwrap_or_default()
    }

    fn held(ping: &str, others: &str) -> Option<Answer> {
        Some(Answer::Held { prior_at: at(7), ping: ping.into(), others: others.into() })
    }

    fn admitted() -> Option<Answer> {
        Some(Answer::Admitted(Vec::new()))
    }

    #[test]
    fn a_ping_that_ranks_first_waits_for_a_holder_that_needs_what_it_holds() {
        let ids = idents();
        let email_tag = tag(&ids[0].hash).to_string();
        let unless = duplicate(IdentKind::Phone, at(7));
        assert_eq!(decide("1", &ids, &[admitted(), held("2", &email_tag)], false), Decision::AskAgain { unless });
    }

    #[test]
    fn a_dry_run_holds_nothing_so_a_held_identifier_is_its_duplicate() {
        let ids = idents();
        let email_tag = tag(&ids[0].hash).to_string();
        let refused = Decision::Refused(duplicate(IdentKind::Phone, at(7)));
        assert_eq!(decide("1", &ids, &[admitted(), held("2", &email_tag)], true), refused);
    }

    #[test]
    fn a_ping_that_ranks_second_is_the_duplicate_at_once() {
        let ids = idents();
        let email_tag = tag(&ids[0].hash).to_string();
        let refused = Decision::Refused(duplicate(IdentKind::Phone, at(7)));
        assert_eq!(decide("3", &ids, &[admitted(), held("2", &email_tag)], false), refused);
    }

    #[test]
    fn a_holder_that_does_not_need_what_this_ping_holds_may_win_so_this_ping_is_the_duplicate() {
        let ids = idents();
        // The holder has another email: nothing forces it to give the phone up.
        let refused = Decision::Refused(duplicate(IdentKind::Phone, at(7)));
        assert_eq!(decide("1", &ids, &[admitted(), held("2", "0123456789abcdef")], false), refused);
        // It holds both of this ping's identifiers: it has won.
        let phone_tag = tag(&ids[1].hash).to_string();
        let email_tag = tag(&ids[0].hash).to_string();
        assert_eq!(
            decide("1", &ids, &[held("2", &phone_tag), held("2", &email_tag)], false),
            Decision::Refused(duplicate(IdentKind::Email, at(7)))
        );
    }

    #[test]
    fn suppression_outranks_a_duplicate_and_a_confirmed_submission_outranks_waiting() {
        let ids = idents();
        let email_tag = tag(&ids[0].hash).to_string();
        assert_eq!(
            decide("1", &ids, &[Some(Answer::Duplicate(at(5))), Some(Answer::Suppressed(at(3)))], false),
            Decision::Refused(AdmitOutcome::Suppressed { matched: IdentKind::Phone, since: at(3) })
        );
        assert_eq!(
            decide("1", &ids, &[Some(Answer::Duplicate(at(5))), held("2", &email_tag)], false),
            Decision::Refused(duplicate(IdentKind::Email, at(5)))
        );
        assert_eq!(decide("1", &ids, &[admitted(), admitted()], false), Decision::Admitted);
    }
}
