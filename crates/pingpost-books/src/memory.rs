//! The books in the process, for a `pingpost serve` without PostgreSQL: gone when the process
//! ends, as the embedded store's state is.

use crate::account::Totals;
use crate::{
    AccountGroup, AccountsQuery, Appended, Batch, Books, BooksFuture, BuyerMoney, Entry, EntryKind, EntryPage,
    EntryQuery,
};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct MemoryBooks {
    // A std mutex, not a tokio one: it is never held across an `.await`, and each method
    // does all its work in one critical section, so a batch is appended atomically.
    inner: Mutex<Inner>,
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

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave an entry half-written (each
        // is one map insert of a complete value), so the data is still whole: keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
        Box::pin(async move {
            let Batch { unique, mut report } = Batch::prepare(entries)?;
            let mut inner = self.inner();
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
        Box::pin(async move {
            let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
            {
                let inner = self.inner();
                for e in inner.in_range(q.since, q.until).filter(|e| e.kind != EntryKind::TopUp) {
                    let Some(key) = q.by.key_of(e) else { continue };
                    if q.only.as_deref().is_some_and(|only| only != key) {
                        continue;
                    }
                    groups.entry(key.to_string()).or_default().add_entry(e);
                }
            }
            groups.into_iter().map(|(key, totals)| totals.account(key)).collect()
        })
    }

    fn entries(&self, q: EntryQuery) -> BooksFuture<'_, EntryPage> {
        Box::pin(async move {
            let size = q.page_size();
            let page: Vec<Entry> = {
                let inner = self.inner();
                // Start below the cursor rather than skip what came before it, so a page costs
                // the same wherever it is.
                let until = q.until.map(|t| (t, String::new()));
                let after = q.after.as_ref().map(|c| (c.at, c.entry_id.clone()));
                let upper = match (until, after) {
                    (Some(u), Some(a)) => Some(u.min(a)),
                    (u, a) => u.or(a),
                };
                inner.below(q.since, upper).rev().filter(|e| q.matches(e)).take(size).cloned().collect()
            };
            Ok(EntryPage::of(page, size))
        })
    }

    fn buyer_money(&self, only: Option<BuyerId>) -> BooksFuture<'_, Vec<BuyerMoney>> {
        Box::pin(async move {
            let mut buyers: BTreeMap<BuyerId, Totals> = BTreeMap::new();
            {
                let inner = self.inner();
                for e in inner.by_time.values().filter(|e| only.as_ref().is_none_or(|b| &e.buyer == b)) {
                    buyers.entry(e.buyer.clone()).or_default().add_entry(e);
                }
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
}
