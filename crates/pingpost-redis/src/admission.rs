//! Checkpoints 1 and 2 on Redis: a ping's identifiers admitted one after the other, email
//! before phone, one `admit.lua` each (each identifier lives in a slot of its own).
//!
//! The order is what makes a race between two pings of one consumer safe without waiting:
//! both take the identifiers in the same order, so they meet first at the first identifier
//! they share, where one script sees the other's pending submission and that ping is the
//! duplicate at once; neither can hold one identifier while the other holds the other, the
//! case in which side-by-side admission had to decide by rank and wait. A refused or failed
//! admission releases what it took. The price is one round trip more for a ping with both
//! identifiers (measured by `tests/round_trips.rs`: 3 in a row instead of 2), which the
//! issue that asked for it accepted against the rank, the tags of other identifiers in
//! pending marks and a wait of up to a second (`ARCHITECTURE.md`, "Store round trips").

use crate::codec::{self, corrupt, ms, parse_ms};
use crate::scripts::ScriptCall;
use crate::store::{distinct, per_kind, text, Replicas};
use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::checkpoint::{ConsumerHistory, DqMark, SaleMark};
use pingpost_core::identity::{Ident, IdentKind};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_store::*;

/// One identifier's answer to the admission script.
#[derive(Debug)]
enum Answer {
    Suppressed(Timestamp),
    /// A submission inside the window that counts: confirmed, or another ping's pending one.
    Duplicate(Timestamp),
    /// This ping's pending mark is written; the identifier's DQ marks, the submission the
    /// ping passed as a repeat of, and the latest confirmed submission the mark held.
    Admitted {
        dq: Vec<DqMark>,
        repeat_of: Option<Timestamp>,
        last: Option<Timestamp>,
    },
}

fn duplicate(matched: IdentKind, prior_at: Timestamp) -> AdmitOutcome {
    AdmitOutcome::VerticalDuplicate { matched, prior_at }
}

/// The answer for a ping whose identifier `at` is a duplicate: suppression on an identifier
/// not asked yet outranks it (checkpoint 1 before 2, on every identifier), so `later` holds
/// the suppression status of those, in order.
fn refusal(at: &Ident, prior_at: Timestamp, later: &[(IdentKind, Option<Timestamp>)]) -> AdmitOutcome {
    match later.iter().find_map(|(kind, since)| since.map(|since| (*kind, since))) {
        Some((matched, since)) => AdmitOutcome::Suppressed { matched, since },
        None => duplicate(at.kind, prior_at),
    }
}

impl RedisStore {
    async fn admit_ident(&self, ident: &Ident, req: &Admission) -> StoreResult<Answer> {
        let mut call = ScriptCall::new(&self.scripts.admit);
        call.key(self.keys.suppressed(&ident.hash))
            .key(self.keys.consumer(&ident.hash))
            .arg(req.vertical.as_str())
            .arg(ms(req.now))
            .arg(ms(req.window.counts_after(req.now)))
            .arg(&req.ping_id)
            .arg(self.retention_ms())
            .arg(ms(req.pending_until))
            .arg("")
            .arg(if req.dry_run { "1" } else { "0" })
            .arg(req.repeat_after.map(|r| ms(r.counts_after(req.now)).to_string()).unwrap_or_default());
        let point = per_kind(ident, ["redis.admit.email", "redis.admit.phone"]);
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step(point, &call).await?;
        match text(&reply, 0)? {
            "S" => Ok(Answer::Suppressed(parse_ms(text(&reply, 1)?)?)),
            "V" | "P" => Ok(Answer::Duplicate(parse_ms(text(&reply, 1)?)?)),
            verdict @ ("A" | "R") => {
                // A dry run wrote nothing for a replica to hold.
                if !req.dry_run {
                    replicas.require()?;
                }
                let (repeat_of, first) = match verdict {
                    "R" => (Some(parse_ms(text(&reply, 1)?)?), 2),
                    _ => (None, 1),
                };
                let (mut dq, mut last) = (Vec::with_capacity(reply.len() / 2), None);
                for pair in 0..(reply.len() - first) / 2 {
                    let (f, v) = (text(&reply, first + 2 * pair)?, text(&reply, first + 2 * pair + 1)?);
                    match f {
                        "p:" => last = Some(parse_ms(v)?),
                        _ => dq.extend(codec::decode_dq_field(f, v, ident.kind)?),
                    }
                }
                Ok(Answer::Admitted { dq, repeat_of, last })
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

    /// Admission (the identifiers one after the other) beside the read of the offer's
    /// buyers' sale marks on the consumer, which live in the buyers' slots: the history
    /// costs no round trip of its own.
    pub(crate) async fn admit_all(&self, req: Admission) -> StoreResult<AdmitOutcome> {
        // One order for every ping, whatever order its caller gave: email before phone, then
        // by hash.
        let mut idents = distinct(&req.idents);
        idents.sort_by(|a, b| {
            (a.kind == IdentKind::Phone, a.hash.as_str()).cmp(&(b.kind == IdentKind::Phone, b.hash.as_str()))
        });
        let (admitted, sales) = tokio::join!(self.admit_in_order(&idents, &req), self.sale_marks(&idents, &req.buyers));
        let mut outcome = admitted?;
        if let AdmitOutcome::Admitted { history, .. } = &mut outcome {
            match sales {
                Ok(sales) => history.sales = sales,
                Err(e) => {
                    self.release_after_failure(&req).await;
                    return Err(e);
                }
            }
        }
        Ok(outcome)
    }

    /// Each buyer's sale marks on the identifiers (one read per buyer, side by side).
    async fn sale_marks(&self, idents: &[Ident], buyers: &[BuyerId]) -> StoreResult<Vec<SaleMark>> {
        if idents.is_empty() {
            return Ok(Vec::new());
        }
        let reads = buyers.iter().map(|buyer| async move {
            let mut pipe = redis::pipe();
            for ident in idents {
                pipe.hgetall(self.keys.bought(buyer.as_str(), &ident.hash));
            }
            let mut con = self.conn.clone();
            let found: Vec<Vec<(String, String)>> = self.run(pipe.query_async(&mut con)).await?;
            let mut marks = Vec::new();
            for (ident, fields) in idents.iter().zip(found) {
                for (_, value) in fields {
                    let m = codec::decode_mark(&value)?;
                    if let Some(state) = m.state {
                        let buyer = buyer.clone();
                        marks.push(SaleMark {
                            buyer,
                            matched: ident.kind,
                            at: m.at,
                            state,
                            lease_until: m.lease_until,
                        });
                    }
                }
            }
            StoreResult::Ok(marks)
        });
        Ok(join_all(reads).await.into_iter().collect::<StoreResult<Vec<_>>>()?.into_iter().flatten().collect())
    }

    async fn admit_in_order(&self, idents: &[Ident], req: &Admission) -> StoreResult<AdmitOutcome> {
        let req = req.clone();
        let mut history = ConsumerHistory::default();
        let mut repeat: Option<(IdentKind, Timestamp)> = None;
        let mut last_submission: Option<Timestamp> = None;
        for (i, ident) in idents.iter().enumerate() {
            let answer = match self.admit_ident(ident, &req).await {
                Ok(answer) => answer,
                Err(e) => {
                    self.release_after_failure(&req).await;
                    return Err(e);
                }
            };
            let refused = match answer {
                Answer::Admitted { dq, repeat_of, last } => {
                    history.dq.extend(dq);
                    last_submission = last_submission.max(last);
                    // The latest of the submissions the identifiers passed as repeats of.
                    if let Some(prior) = repeat_of.filter(|p| repeat.is_none_or(|(_, at)| at < *p)) {
                        repeat = Some((ident.kind, prior));
                    }
                    continue;
                }
                Answer::Suppressed(since) => Ok(AdmitOutcome::Suppressed { matched: ident.kind, since }),
                // The rest were not asked: only their suppression can outrank this.
                Answer::Duplicate(prior_at) => {
                    self.suppressed(&idents[i + 1..]).await.map(|later| refusal(ident, prior_at, &later))
                }
            };
            self.release_after_failure(&req).await;
            return refused;
        }
        Ok(AdmitOutcome::Admitted { history, repeat, last_submission })
    }

    /// The suppression status of identifiers, in order (one read each, side by side).
    async fn suppressed(&self, idents: &[Ident]) -> StoreResult<Vec<(IdentKind, Option<Timestamp>)>> {
        if idents.is_empty() {
            return Ok(Vec::new());
        }
        let status = self.suppression_status(idents.iter().map(|i| i.hash.clone()).collect()).await?;
        Ok(idents.iter().map(|i| i.kind).zip(status).collect())
    }
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
    use pingpost_core::identity::Sha256Hex;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_timestamp_millis(ms).unwrap_or_default()
    }

    #[test]
    fn suppression_on_an_identifier_not_asked_yet_outranks_a_duplicate() {
        let email = Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("a@example.com") };
        let suppressed = [(IdentKind::Phone, Some(at(3)))];
        assert_eq!(
            refusal(&email, at(7), &suppressed),
            AdmitOutcome::Suppressed { matched: IdentKind::Phone, since: at(3) }
        );
        let free = [(IdentKind::Phone, None)];
        assert_eq!(refusal(&email, at(7), &free), duplicate(IdentKind::Email, at(7)));
        assert_eq!(refusal(&email, at(7), &[]), duplicate(IdentKind::Email, at(7)));
    }
}
