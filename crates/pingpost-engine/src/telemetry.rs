//! What the engine reports to the `metrics` facade. Names live here so that the README, the
//! tests and the code cannot drift apart; labels are ids from the configuration (offer,
//! buyer, checkpoint) and fixed words, never anything a consumer sent.
//!
//! Durations are in seconds (Prometheus' base unit); the exporter's buckets start at 25 µs
//! so the ping path is resolved. Without an installed recorder every call is a no-op.
//!
//! Test leads move no business figure (pings, bids, drops, posts, attempts, sales,
//! rollbacks, payouts below minimum): operators' dashboards show live traffic only. What
//! measures the machinery still counts them: the ping's decision time, the buyer calls' time
//! (sandbox calls, under the buyer's id) and the store operations'.
//!
//! `Engine::new` wraps whatever store it is given in `pingpost_store::Timed` (one histogram
//! per operation, error counters, the `pingpost_store_up` gauge; its names live in
//! `pingpost_store::timed`) and its audit sink in [`CountedAudit`]: every drop is audited, so
//! counting drops at the audit log cannot miss a checkpoint, and ping and post code make one
//! call here each when they answer. Outbound buyer calls (an operator's test call included)
//! are timed in the single executor, `BuyerClient::send` (and `post_bytes`, through the same
//! measured path). Handles are taken from the recorder once per label set and kept (per
//! engine or per decorator, so one made after the recorder is installed records into it).
//! The server owns the recorder (`pingpost_server::metrics::install`) and serves `/metrics`
//! on an address of its own, never the API's.

use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditSink};
use crate::records::{AttemptOutcome, PingAnswer, PingStatus, PostAnswer, PostStatus, RejectReason};
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::ids::OfferId;
use pingpost_store::StoreFuture;
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::buyer::client::{BUYER_CALLS_SKIPPED_TOTAL, BUYER_CALL_SECONDS};
pub use pingpost_store::timed::{STORE_ERRORS_TOTAL, STORE_OP_SECONDS, STORE_UP};

pub const PING_DECISION_SECONDS: &str = "pingpost_ping_decision_seconds";
pub const PINGS_TOTAL: &str = "pingpost_pings_total";
pub const DROPS_TOTAL: &str = "pingpost_drops_total";
/// Contracts that bid on a returning consumer at their repeat price (audited
/// `contract_repeat`: a hit, not a drop).
pub const REPEAT_BIDS_TOTAL: &str = "pingpost_repeat_bids_total";
pub const BIDS_TOTAL: &str = "pingpost_bids_total";
pub const POSTS_TOTAL: &str = "pingpost_posts_total";
pub const POST_ATTEMPTS_TOTAL: &str = "pingpost_post_attempts_total";
pub const SALES_TOTAL: &str = "pingpost_sales_total";
pub const ROLLBACKS_TOTAL: &str = "pingpost_rollbacks_total";
pub const SALES_UNCONFIRMED: &str = "pingpost_sales_unconfirmed";
pub const SALES_UNCONFIRMED_TOTAL: &str = "pingpost_sales_unconfirmed_total";
/// Audit entries a sink that writes them elsewhere lost (Redis': its queue full, or its
/// writes failing), by `reason`.
pub const AUDIT_DROPPED_TOTAL: &str = "pingpost_audit_dropped_total";

pub const PAYOUTS_BELOW_MINIMUM_TOTAL: &str = "pingpost_payouts_below_minimum_total";

/// A sale whose buyer reported a price that took the partner's payout below its minimum (or
/// to nothing): it stands, flagged in the ledger. Operators alert on it.
pub fn payout_below_minimum(offer: &OfferId) {
    metrics::counter!(PAYOUTS_BELOW_MINIMUM_TOTAL, "offer" => Arc::clone(&offer.0)).increment(1);
}

/// A sweep: reservations it found past their lease (their engine died, or their settlement
/// was lost) and the unconfirmed sales in the ledger now. Operators alert on both.
pub fn swept(report: &pingpost_store::SweepReport) {
    metrics::counter!(SALES_UNCONFIRMED_TOTAL).increment(report.reservations_unconfirmed);
    metrics::gauge!(SALES_UNCONFIRMED).set(report.unconfirmed as f64);
}

/// A ping answered (not a replayed idempotent answer): its decision time, its outcome and
/// one bid per buyer that bid.
pub fn ping_answered(offer: &OfferId, answer: &PingAnswer, decision: Duration, bid_counters: &BidCounters) {
    let outcome = match (answer.status, answer.reason) {
        (PingStatus::Accepted, _) => "accepted",
        (PingStatus::Rejected, Some(RejectReason::Suppressed)) => "suppressed",
        (PingStatus::Rejected, Some(RejectReason::VerticalDuplicate)) => "vertical_duplicate",
        (PingStatus::Rejected, _) => "no_bids",
    };
    // Labels share the configuration's ids: no copy of a label per metric.
    let offer = &offer.0;
    metrics::histogram!(PING_DECISION_SECONDS, "offer" => Arc::clone(offer)).record(decision.as_secs_f64());
    // A test lead's decision time is the engine's like any other; its outcome and bids are
    // not business, and move no counter an operator watches.
    if answer.test {
        return;
    }
    metrics::counter!(PINGS_TOTAL, "offer" => Arc::clone(offer), "outcome" => outcome).increment(1);
    bid_counters.count(offer, &answer.bids);
}

/// The `pingpost_bids_total` counter of each (offer, buyer) that bid, taken from the recorder
/// once and kept: a ping of 300 contracts has a hundred bids, and a recorder lookup (its key
/// built, its labels hashed) cost more than a thousand instructions each. One per engine, so
/// an engine made after the recorder was installed counts into it; the handles live as long
/// as the recorder's metrics (pingpost's exporter never forgets an idle one), and there are
/// as many as configured (offer, buyer) pairs.
#[derive(Debug, Default)]
pub struct BidCounters(Mutex<FxHashMap<OfferBuyer, metrics::Counter>>);

/// An (offer, buyer) pair of configured ids.
type OfferBuyer = (Arc<str>, Arc<str>);

impl BidCounters {
    fn count(&self, offer: &Arc<str>, bids: &[pingpost_core::auction::Bid]) {
        if bids.is_empty() {
            return;
        }
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for bid in bids {
            let key = (Arc::clone(offer), Arc::clone(&bid.buyer.0));
            counters
                .entry(key)
                .or_insert_with_key(|(offer, buyer)| {
                    metrics::counter!(BIDS_TOTAL, "offer" => Arc::clone(offer), "buyer" => Arc::clone(buyer))
                })
                .increment(1);
        }
    }
}

/// A post answered (once; repeats get the stored answer and are not counted again).
pub fn post_answered(offer: &OfferId, answer: &PostAnswer) {
    // A test lead's post sells nothing: no post, attempt, sale or rollback is counted.
    if answer.test {
        return;
    }
    let offer = offer.to_string();
    let status = match answer.status {
        PostStatus::Sold => "sold",
        PostStatus::Unsold => "unsold",
    };
    metrics::counter!(POSTS_TOTAL, "offer" => offer.clone(), "status" => status).increment(1);
    for a in &answer.attempts {
        let outcome = match a.outcome {
            AttemptOutcome::Accepted => "accepted",
            AttemptOutcome::Rejected => "rejected",
            AttemptOutcome::Duplicate => "duplicate",
            AttemptOutcome::Error => "error",
            AttemptOutcome::Skipped => "skipped",
            AttemptOutcome::Unconfirmed => "unconfirmed",
        };
        let buyer = a.buyer.to_string();
        metrics::counter!(POST_ATTEMPTS_TOTAL, "offer" => offer.clone(), "buyer" => buyer.clone(), "outcome" => outcome)
            .increment(1);
        if a.outcome == AttemptOutcome::Duplicate {
            metrics::counter!(ROLLBACKS_TOTAL, "offer" => offer.clone(), "buyer" => buyer).increment(1);
        }
    }
    for s in &answer.sales {
        metrics::counter!(SALES_TOTAL, "offer" => offer.clone(), "buyer" => s.buyer.to_string()).increment(1);
    }
}

/// Counts every dedup hit by checkpoint and offer on its way into the audit log. Every drop
/// is audited (the spec requires it), so counting here cannot miss a checkpoint that a
/// future change adds to the ping or the post, and those files need no hook of their own.
pub struct CountedAudit {
    inner: Arc<dyn AuditSink>,
    /// `pingpost_drops_total` by (checkpoint, offer), kept like [`BidCounters`]' handles.
    drops: Mutex<FxHashMap<(Checkpoint, Arc<str>), metrics::Counter>>,
}

impl CountedAudit {
    pub fn new(inner: Arc<dyn AuditSink>) -> Self {
        CountedAudit { inner, drops: Mutex::default() }
    }
}

impl AuditSink for CountedAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        // One ping's entries share their offer and mostly their checkpoint: counted in runs,
        // one registry lookup per run rather than per entry.
        // A test lead's hits are logged but not counted: test traffic moves no dashboard.
        let mut run = entries.iter().filter(|e| !e.test).peekable();
        let mut drops = self.drops.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(first) = run.next() {
            let mut n = 1;
            while run.next_if(|e| e.checkpoint == first.checkpoint && e.offer == first.offer).is_some() {
                n += 1;
            }
            drops
                .entry((first.checkpoint, Arc::clone(&first.offer.0)))
                .or_insert_with_key(|(checkpoint, offer)| match checkpoint {
                    Checkpoint::ContractRepeat => metrics::counter!(REPEAT_BIDS_TOTAL, "offer" => Arc::clone(offer)),
                    _ => metrics::counter!(DROPS_TOTAL, "checkpoint" => checkpoint.as_str(), "offer" => Arc::clone(offer)),
                })
                .increment(n);
        }
        drop(drops);
        self.inner.record(entries);
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        self.inner.recent(limit)
    }

    fn query(&self, q: AuditQuery) -> StoreFuture<'_, AuditPage> {
        self.inner.query(q)
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        self.inner.flush()
    }
}
