//! [`Timed`]: a decorator of every store trait that measures every round trip, and the one
//! place the trait-level failpoints (`store.<op>`, see [`crate::faults`]) are applied, for
//! every store. A `Timed<S>` implements each concern `S` does, so it is a
//! [`Store`](crate::Store) when `S` is.
//!
//! The engine wraps whatever store it is given, so the embedded store, Redis and Redis
//! Cluster are measured the same way and no implementation has to remember to. It records
//! through the `metrics` facade only: without an installed recorder (unit tests, benches)
//! each call costs a relaxed atomic load.
//!
//! - `pingpost_store_op_seconds{op}`: histogram of each operation's duration, errors included
//!   (a timeout is exactly the round trip an operator wants to see).
//! - `pingpost_store_errors_total{op, kind}`: failed operations, `kind` = `unavailable` | `corrupt`.
//! - `pingpost_store_up`: gauge, 1 after an operation the store answered, 0 after one it
//!   could not (the readiness probe moves it too).

use crate::{
    Admission, Admissions, AdmitOutcome, Balances, Blobs, BuyerMoney, Claim, ClaimRequest, Claims, ConfigDoc,
    ConfigDocs, ConfigStamp, Counters, DecideOutcome, Erased, Erasure, Faults, LedgerQuery, LedgerState, Outbox,
    OutboxEntry, ParkedEntry, Refusal, ReserveOutcome, ReturnOutcome, ReturnQuery, ReturnRecord, ReturnRequest,
    Returns, SaleRecord, SaleReservation, Sales, Settlement, StoreError, StoreFuture, StoreResult, Suppression,
    SweepReport, TakeOver, TopUp, TopUpOutcome, Upkeep,
};
use crate::{EventOutbox, QueuedEvent};
use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use rustc_hash::FxHashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::time::Instant;

pub const STORE_OP_SECONDS: &str = "pingpost_store_op_seconds";
pub const STORE_ERRORS_TOTAL: &str = "pingpost_store_errors_total";
pub const STORE_UP: &str = "pingpost_store_up";

/// Measures every operation of the store it wraps, and runs each under its failpoint
/// (`store.<op>`); see the module documentation.
pub struct Timed<S: ?Sized> {
    inner: Arc<S>,
    faults: Faults,
    handles: Handles,
}

/// The metric handles every call records into, taken from the recorder at their first use
/// and kept: a recorder lookup builds a key and hashes its labels, about a thousand
/// instructions, and every ping makes three store calls (issue 13's profile). Kept per
/// decorator, so one made after the recorder was installed records into it; pingpost's
/// exporter never forgets a metric, so a kept handle stays live.
#[derive(Default)]
struct Handles {
    seconds: Mutex<FxHashMap<&'static str, metrics::Histogram>>,
    up: OnceLock<metrics::Gauge>,
}

impl Handles {
    fn record(&self, op: &'static str, seconds: f64) {
        let mut kept = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        kept.entry(op).or_insert_with(|| metrics::histogram!(STORE_OP_SECONDS, "op" => op)).record(seconds);
    }

    fn up(&self, up: bool) {
        self.up.get_or_init(|| metrics::gauge!(STORE_UP)).set(if up { 1.0 } else { 0.0 });
    }
}

impl<S: ?Sized> Timed<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Self::with_faults(inner, Faults::none())
    }

    pub fn with_faults(inner: Arc<S>, faults: Faults) -> Self {
        Timed { inner, faults, handles: Handles::default() }
    }

    async fn measured<T, F: Future<Output = StoreResult<T>>>(
        &self,
        op: &'static str,
        point: &'static str,
        call: impl FnOnce() -> F,
    ) -> StoreResult<T> {
        measured(&self.handles, op, self.faults.step(point, call)).await
    }

    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

/// Records whether the store answered. Shared with the readiness probe, which reaches the
/// store through this decorator but also knows about its own timeout.
pub fn set_store_up(up: bool) {
    metrics::gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

async fn measured<T>(
    handles: &Handles,
    op: &'static str,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    handles.record(op, started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => handles.up(true),
        Err(StoreError::Unavailable(_)) => {
            metrics::counter!(STORE_ERRORS_TOTAL, "op" => op, "kind" => "unavailable").increment(1);
            handles.up(false);
        }
        // The store answered; what it answered is the problem, not its availability.
        Err(StoreError::Corrupt(_)) => {
            metrics::counter!(STORE_ERRORS_TOTAL, "op" => op, "kind" => "corrupt").increment(1);
            handles.up(true);
        }
    }
    result
}

impl<S: Admissions + ?Sized> Admissions for Timed<S> {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        Box::pin(self.measured("admit", "store.admit", move || self.inner.admit(req)))
    }

    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(
            self.measured("confirm_admission", "store.confirm_admission", move || self.inner.confirm_admission(req)),
        )
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(
            self.measured("release_admission", "store.release_admission", move || self.inner.release_admission(req)),
        )
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("record_dq", "store.record_dq", move || self.inner.record_dq(idents, buyers, now)))
    }
}

impl<S: Counters + ?Sized> Counters for Timed<S> {
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        Box::pin(self.measured("read_counters", "store.read_counters", move || self.inner.read_counters(keys)))
    }
}

impl<S: Sales + ?Sized> Sales for Timed<S> {
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.measured("reserve_sale", "store.reserve_sale", move || self.inner.reserve_sale(req)))
    }

    fn settle_sale(&self, settlement: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        Box::pin(self.measured("settle_sale", "store.settle_sale", move || self.inner.settle_sale(settlement)))
    }

    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.measured("ledger", "store.ledger", move || self.inner.ledger(q)))
    }

    fn take_over(&self, t: TakeOver) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.measured("take_over", "store.take_over", move || self.inner.take_over(t)))
    }
}

impl<S: Balances + ?Sized> Balances for Timed<S> {
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome> {
        Box::pin(self.measured("top_up", "store.top_up", move || self.inner.top_up(t)))
    }

    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney> {
        Box::pin(self.measured("buyer_money", "store.buyer_money", move || self.inner.buyer_money(buyer)))
    }
}

impl<S: Returns + ?Sized> Returns for Timed<S> {
    fn open_return(&self, r: ReturnRequest) -> StoreFuture<'_, ReturnOutcome> {
        Box::pin(self.measured("open_return", "store.open_return", move || self.inner.open_return(r)))
    }

    fn decide_return(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreFuture<'_, DecideOutcome> {
        let call = move || self.inner.decide_return(return_id, approve, note, at);
        Box::pin(self.measured("decide_return", "store.decide_return", call))
    }

    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>> {
        Box::pin(self.measured("returns", "store.returns", move || self.inner.returns(q)))
    }
}

impl<S: Outbox + ?Sized> Outbox for Timed<S> {
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>> {
        Box::pin(self.measured("outbox", "store.outbox", move || self.inner.outbox(limit)))
    }

    fn outbox_done(&self, entries: Vec<(BuyerId, String)>) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("outbox_done", "store.outbox_done", move || self.inner.outbox_done(entries)))
    }

    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("outbox_park", "store.outbox_park", move || self.inner.outbox_park(refused, at)))
    }

    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>> {
        Box::pin(self.measured("outbox_parked", "store.outbox_parked", move || self.inner.outbox_parked(after, limit)))
    }
}

impl<S: EventOutbox + ?Sized> EventOutbox for Timed<S> {
    fn queue_events(&self, events: Vec<QueuedEvent>) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("queue_events", "store.queue_events", move || self.inner.queue_events(events)))
    }

    fn queued_events(&self, limit: usize) -> StoreFuture<'_, Vec<QueuedEvent>> {
        Box::pin(self.measured("queued_events", "store.queued_events", move || self.inner.queued_events(limit)))
    }

    fn events_done(&self, events: Vec<(String, Timestamp)>) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("events_done", "store.events_done", move || self.inner.events_done(events)))
    }
}

impl<S: Blobs + ?Sized> Blobs for Timed<S> {
    fn put_blob(&self, key: String, value: Vec<u8>, now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("put_blob", "store.put_blob", move || self.inner.put_blob(key, value, now, expires_at)))
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.measured("get_blob", "store.get_blob", move || self.inner.get_blob(key, now)))
    }
}

impl<S: Claims + ?Sized> Claims for Timed<S> {
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        Box::pin(self.measured("claim", "store.claim", move || self.inner.claim(req)))
    }

    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        let call = move || self.inner.complete_claim(key, holder, answer, now, keep_until);
        Box::pin(self.measured("complete_claim", "store.complete_claim", call))
    }

    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("abandon_claim", "store.abandon_claim", move || self.inner.abandon_claim(key, holder)))
    }
}

impl<S: Suppression + ?Sized> Suppression for Timed<S> {
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        Box::pin(self.measured("suppress", "store.suppress", move || self.inner.suppress(hashes, now)))
    }

    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64> {
        Box::pin(self.measured("unsuppress", "store.unsuppress", move || self.inner.unsuppress(hashes)))
    }

    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>> {
        Box::pin(
            self.measured("suppression_status", "store.suppression_status", move || {
                self.inner.suppression_status(hashes)
            }),
        )
    }
}

impl<S: Erasure + ?Sized> Erasure for Timed<S> {
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased> {
        Box::pin(self.measured("erase", "store.erase", move || self.inner.erase(hashes, now)))
    }
}

impl<S: Upkeep + ?Sized> Upkeep for Timed<S> {
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport> {
        Box::pin(self.measured("sweep", "store.sweep", move || self.inner.sweep(now)))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.measured("health", "store.health", move || self.inner.health()))
    }
}

impl<S: ConfigDocs + ?Sized> ConfigDocs for Timed<S> {
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        Box::pin(self.measured("config", "store.config", move || self.inner.config()))
    }

    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(self.measured("config_stamp", "store.config_stamp", move || self.inner.config_stamp()))
    }

    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(self.measured("save_config", "store.save_config", move || self.inner.save_config(expected, rev, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;
    use crate::MemoryStore;

    #[tokio::test]
    async fn a_timed_store_behaves_like_the_store_it_wraps() {
        conformance::run_all(|| async { Arc::new(Timed::new(Arc::new(MemoryStore::new()))) }).await;
    }

    /// The embedded store does its work when called, not when polled: an `error` failpoint
    /// must still mean "not applied" there, and `drop_reply` "applied, answer lost".
    #[cfg(feature = "failpoints")]
    #[tokio::test]
    async fn an_error_failpoint_leaves_even_the_embedded_store_untouched() {
        use crate::Fault;
        use chrono::TimeZone;
        let faults = Faults::new();
        let store = Timed::with_faults(Arc::new(MemoryStore::new()), faults.clone());
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("valid time");
        let hash = Sha256Hex::digest("opted-out@example.com");

        faults.arm("store.suppress", Fault::Error, 1, 0);
        assert!(store.suppress(vec![hash.clone()], now).await.is_err());
        assert_eq!(store.suppression_status(vec![hash.clone()]).await.expect("status"), [None], "not applied");

        faults.arm("store.suppress", Fault::DropReply, 1, 0);
        assert!(store.suppress(vec![hash.clone()], now).await.is_err());
        assert_eq!(store.suppression_status(vec![hash]).await.expect("status"), [Some(now)], "applied, reply lost");
    }
}
