//! [`Timed`]: a [`Store`] decorator that measures every round trip.
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
    Admission, AdmitOutcome, Claim, ClaimRequest, ConfigDoc, Erased, ReserveOutcome, SaleRecord, SaleReservation,
    Store, StoreError, StoreFuture, StoreResult, SweepReport,
};
use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

pub const STORE_OP_SECONDS: &str = "pingpost_store_op_seconds";
pub const STORE_ERRORS_TOTAL: &str = "pingpost_store_errors_total";
pub const STORE_UP: &str = "pingpost_store_up";

/// Measures every operation of the store it wraps; see the module documentation.
pub struct Timed<S: Store + ?Sized> {
    inner: Arc<S>,
}

impl<S: Store + ?Sized> Timed<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Timed { inner }
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

async fn measured<T>(op: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!(STORE_OP_SECONDS, "op" => op).record(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => set_store_up(true),
        Err(StoreError::Unavailable(_)) => {
            metrics::counter!(STORE_ERRORS_TOTAL, "op" => op, "kind" => "unavailable").increment(1);
            set_store_up(false);
        }
        // The store answered; what it answered is the problem, not its availability.
        Err(StoreError::Corrupt(_)) => {
            metrics::counter!(STORE_ERRORS_TOTAL, "op" => op, "kind" => "corrupt").increment(1);
            set_store_up(true);
        }
    }
    result
}

impl<S: Store + ?Sized> Store for Timed<S> {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        Box::pin(measured("admit", self.inner.admit(req)))
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(measured("release_admission", self.inner.release_admission(req)))
    }

    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        Box::pin(measured("read_counters", self.inner.read_counters(keys)))
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(measured("record_dq", self.inner.record_dq(idents, buyers, now)))
    }

    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(measured("reserve_sale", self.inner.reserve_sale(req)))
    }

    fn commit_sale(&self, sale_id: String, final_price: Money, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(measured("commit_sale", self.inner.commit_sale(sale_id, final_price, now)))
    }

    fn release_sale(&self, sale_id: String) -> StoreFuture<'_, ()> {
        Box::pin(measured("release_sale", self.inner.release_sale(sale_id)))
    }

    fn rollback_sale(&self, sale_id: String, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(measured("rollback_sale", self.inner.rollback_sale(sale_id, now)))
    }

    fn sale(&self, sale_id: String) -> StoreFuture<'_, Option<SaleRecord>> {
        Box::pin(measured("sale", self.inner.sale(sale_id)))
    }

    fn put_blob(&self, key: String, value: Vec<u8>, now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(measured("put_blob", self.inner.put_blob(key, value, now, expires_at)))
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(measured("get_blob", self.inner.get_blob(key, now)))
    }

    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        Box::pin(measured("claim", self.inner.claim(req)))
    }

    fn complete_claim(
        &self,
        key: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        Box::pin(measured("complete_claim", self.inner.complete_claim(key, answer, now, keep_until)))
    }

    fn abandon_claim(&self, key: String) -> StoreFuture<'_, ()> {
        Box::pin(measured("abandon_claim", self.inner.abandon_claim(key)))
    }

    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        Box::pin(measured("suppress", self.inner.suppress(hashes, now)))
    }

    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64> {
        Box::pin(measured("unsuppress", self.inner.unsuppress(hashes)))
    }

    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>> {
        Box::pin(measured("suppression_status", self.inner.suppression_status(hashes)))
    }

    fn sweep(&self, now: Timestamp, keep: chrono::Duration) -> StoreFuture<'_, SweepReport> {
        Box::pin(measured("sweep", self.inner.sweep(now, keep)))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(measured("health", self.inner.health()))
    }

    fn erase(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Erased> {
        Box::pin(measured("erase", self.inner.erase(hashes)))
    }

    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        Box::pin(measured("config", self.inner.config()))
    }

    fn config_version(&self) -> StoreFuture<'_, u64> {
        Box::pin(measured("config_version", self.inner.config_version()))
    }

    fn save_config(&self, expected: u64, body: Vec<u8>) -> StoreFuture<'_, Option<u64>> {
        Box::pin(measured("save_config", self.inner.save_config(expected, body)))
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
}
