//! The books in the process, for a `pingpost serve` without PostgreSQL: gone when the process
//! ends, as the embedded store's state is.
//!
//! Every method works under one lock, on tokio's blocking threads: an account is a scan of
//! every entry in its range, and neither that scan nor an append waiting for it may hold up
//! a runtime thread that serves pings and posts.

use crate::account::Totals;
use crate::{
    AccountGroup, AccountsQuery, Appended, Batch, Books, BooksError, BooksFuture, BooksResult, BuyerMoney, Entry,
    EntryKind, EntryPage, EntryQuery,
};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub struct MemoryBooks {
    // A std mutex, not a tokio one: it is never held across an `.await`, and each method
    // does all its work in one critical section, so a batch is appended atomically.
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Every entry by (time, id): the newest-first order of listings, read backwards.
    by_time: BTreeMap<(Timestamp, String), Entry>,
    /// Each id's time, to find an entry by its id.
    at_of: HashMap<String, Timestamp>,
}

impl MemoryBooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `work` under the lock on a blocking thread.
    fn locked<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Inner) -> BooksResult<T> + Send + 'static,
    ) -> BooksFuture<'_, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&mut lock(&inner)))
                .await
                .map_err(|e| BooksError::Unavailable(format!("the embedded books' task failed: {e}")))?
        })
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic elsewhere while holding the lock cannot leave an entry half-written (each is one
    // map insert of a complete value), so the data is still whole: keep serving.
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn get(&self, entry_id: &str) -> Option<&Entry> {
        let at = self.at_of.get(entry_id)?;
        self.by_time.get(&(*at, entry_id.to_string()))
    }

    /// Entries with `since <= at < until`: a range of the (time, id) keys, since every id
    /// sorts after the empty one.
    fn in_range(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> impl DoubleEndedIterator<Item = &Entry> {
        let upper = until.map(|t| (t, String::new()));
        self.below(since, upper)
    }

    /// Entries with `since <= at` whose (time, id) is below `upper`.
    fn below(
        &self,
        since: Option<Timestamp>,
        upper: Option<(Timestamp, String)>,
    ) -> impl DoubleEndedIterator<Item = &Entry> {
        let lower = since.map(|t| (t, String::new()));
        // `BTreeMap::range` panics on a start above its end (a range that ends before it
        // begins): such a range is empty, so its end is raised to its start.
        let upper = match (&lower, upper) {
            (Some(l), Some(u)) => Some(u.max(l.clone())),
            (_, u) => u,
        };
        let lower = lower.map_or(Bound::Unbounded, Bound::Included);
        let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_time.range((lower, upper)).map(|(_, e)| e)
    }
}

impl Books for MemoryBooks {
    fn append(&self, entries: Vec<Entry>) -> BooksFuture<'_, Appended> {
        self.locked(move |inner| {
            let Batch { unique, mut report } = Batch::prepare(entries)?;
            for e in unique {
                if let Some(kept) = inner.get(&e.entry_id) {
                    let kept = kept.clone();
                    report.compare(kept, e);
                    continue;
                }
                inner.at_of.insert(e.entry_id.clone(), e.at);
                inner.by_time.insert((e.at, e.entry_id.clone()), e);
                report.new += 1;
            }
            Ok(report)
        })
    }

    fn accounts(&self, q: AccountsQuery) -> BooksFuture<'_, Vec<AccountGroup>> {
        self.locked(move |inner| {
            let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
            for e in inner.in_range(q.since, q.until).filter(|e| e.kind != EntryKind::TopUp) {
                let Some(key) = q.by.key_of(e) else { continue };
                if q.only.as_deref().is_some_and(|only| only != key) {
                    continue;
                }
                groups.entry(key.to_string()).or_default().add_entry(e);
            }
            groups.into_iter().map(|(key, totals)| totals.account(key)).collect()
        })
    }

    fn entries(&self, q: EntryQuery) -> BooksFuture<'_, EntryPage> {
        self.locked(move |inner| {
            let size = q.page_size();
            // Start below the cursor rather than skip what came before it, so a page costs
            // the same wherever it is.
            let until = q.until.map(|t| (t, String::new()));
            let after = q.after.as_ref().map(|c| (c.at, c.entry_id.clone()));
            let upper = match (until, after) {
                (Some(u), Some(a)) => Some(u.min(a)),
                (u, a) => u.or(a),
            };
            let page: Vec<Entry> =
                inner.below(q.since, upper).rev().filter(|e| q.matches(e)).take(size).cloned().collect();
            Ok(EntryPage::of(page, size))
        })
    }

    fn buyer_money(&self, only: Option<BuyerId>) -> BooksFuture<'_, Vec<BuyerMoney>> {
        self.locked(move |inner| {
            let mut buyers: BTreeMap<BuyerId, Totals> = BTreeMap::new();
            for e in inner.by_time.values().filter(|e| only.as_ref().is_none_or(|b| &e.buyer == b)) {
                buyers.entry(e.buyer.clone()).or_default().add_entry(e);
            }
            buyers.into_iter().map(|(buyer, totals)| totals.buyer_money(buyer)).collect()
        })
    }

    fn health(&self) -> BooksFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    // Multi-threaded, so that the concurrent appends of the suite really race for the lock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        crate::conformance::run_all(|| async { Arc::new(MemoryBooks::new()) }).await;
    }

    /// A scan waits for the lock on a blocking thread: the runtime's one thread stays free.
    /// (Were the scan on the runtime, it would block that thread on the lock, the probe would
    /// never run, and the lock would never be let go: the test would not finish.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_scan_waiting_for_the_lock_leaves_the_runtime_free() {
        let books = Arc::new(MemoryBooks::new());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (held, holding) = tokio::sync::oneshot::channel::<()>();
        let inner = Arc::clone(&books.inner);
        let holder = std::thread::spawn(move || {
            let _guard = lock(&inner);
            let _ = held.send(());
            let _ = released.recv();
        });
        holding.await.expect("the lock is held");
        let q = AccountsQuery { by: crate::GroupBy::Partner, since: None, until: None, only: None };
        let scan = tokio::spawn({
            let books = Arc::clone(&books);
            async move { books.accounts(q).await }
        });
        let probe = tokio::spawn(async {});
        probe.await.expect("the runtime ran another task while the scan waited");
        release.send(()).expect("the holder waits");
        assert_eq!(scan.await.expect("scan task").expect("accounts"), []);
        holder.join().expect("holder thread");
    }
}
