//! The dedup audit log on Redis: a stream, written off the ping's path. Pings hand their
//! entries to a channel; one task per process writes them in batches, one script call per
//! batch, which also trims the stream to its retention (count and age).
//!
//! The channel holds at most [`QUEUE`] pings' entries. While the writer cannot write (the
//! audit's slot down, Redis frozen), pings go on adding entries faster than a stalled writer
//! takes them: past the bound they are dropped and counted (`pingpost_audit_dropped_total`),
//! never queued in memory without end, and a ping never waits for the log.
//!
//! Stream ids follow each entry's `at` (see `lua/audit_append.lua`): an id is never earlier
//! than its entry's time and later only by how late the entry was written (a batch's delay,
//! clock skew between nodes). Queries use that to bound their scan by time: `since` exactly,
//! `until` plus [`LATE_MARGIN_MS`].
//!
//! One stream entry holds one `record` call's entries — a ping's or a post's dedup hits —
//! as a JSON array: a ping that drops 300 contracts costs one `XADD`, like one that drops
//! one, so the log's Redis work per ping does not grow with the number of contracts.
//! Cursors name a stream entry and how many of its hits were already returned.
//!
//! A query filters in Rust while it reads the stream newest first, `SCAN_PAGE` entries per
//! `XREVRANGE`. It reads at most [`SCAN_BUDGET`] entries per request: a rare filter over a
//! long log answers what it found so far with a cursor to continue from, so one request
//! never holds Redis or the engine for long.
//!
//! The writer appends a batch of about a thousand hits with one `audit_append.lua` call,
//! which appends it once: a marker key per batch id (same slot, an hour's TTL) makes the
//! writer's retry after a lost reply a no-op. The same call trims the stream by count
//! (`XADD MAXLEN ~`) and by age (`XTRIM MINID ~`, the newest entry's time minus the
//! retention). Age is measured from the newest entry rather than a clock, so both sinks behave
//! alike, tests need no clock, and a quiet period never empties the log. On shutdown the
//! binary stops taking requests, lets in-flight ones finish, then flushes the writer (the
//! channel is FIFO, so the flush marker comes after every recorded entry). The embedded
//! `pingpost_engine::audit::MemoryAudit` keeps the same retention in a ring with
//! sequence-number cursors; both pass `pingpost_engine::audit::conformance`.

use crate::conn::Conn;
use crate::{bounded, RedisStore};
use pingpost_engine::audit::{cursor_is_well_formed, AuditEntry, AuditPage, AuditQuery, AuditRetention, AuditSink};
use pingpost_engine::telemetry::AUDIT_DROPPED_TOTAL;
use pingpost_store::{StoreError, StoreFuture};
use redis::streams::{StreamId, StreamRangeReply};
use redis::{AsyncCommands, Script};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Audit entries (hits, not stream entries) after which a script call is made; a call
/// never splits one ping's hits.
const BATCH: usize = 1000;
/// Tries per batch before it is dropped (and the loss logged): a long outage must not
/// grow memory without bound.
const WRITE_ATTEMPTS: usize = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Most stream entries one query reads before answering with a cursor to continue.
pub const SCAN_BUDGET: usize = 20_000;
/// Entries read per `XREVRANGE`.
const SCAN_PAGE: usize = 1_000;
/// How much later than its `at` an entry's id may be: batches are written within
/// milliseconds and retried for about a second; node clocks agree within far less.
pub const LATE_MARGIN_MS: i64 = 30_000;
/// Pings' (or posts') entries the writer's channel holds at most: some seconds of a busy
/// node's hits, a few megabytes.
pub const QUEUE: usize = 10_000;

enum Msg {
    Entries(Vec<AuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// The audit sink of a Redis-backed engine.
pub struct RedisAudit {
    tx: mpsc::Sender<Msg>,
    conn: Conn,
    key: String,
    op_timeout: Duration,
}

/// How long a batch's marker outlives it: far longer than its retries take.
const BATCH_MARKER_TTL_MS: i64 = 3_600_000;

impl RedisStore {
    /// The audit log in this store's namespace, kept within `retention`. Starts its writer
    /// task: call inside a tokio runtime.
    pub fn audit_log(&self, retention: AuditRetention) -> RedisAudit {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            conn: self.conn.clone(),
            faults: self.opts.faults.clone(),
            keys: self.keys.clone(),
            key: self.keys.audit(),
            script: self.scripts.audit_append.clone(),
            retention,
            op_timeout: self.opts.op_timeout,
        };
        tokio::spawn(writer.run(rx));
        RedisAudit { tx, conn: self.conn.clone(), key: self.keys.audit(), op_timeout: self.opts.op_timeout }
    }
}

struct Writer {
    conn: Conn,
    faults: pingpost_store::Faults,
    keys: crate::Keys,
    key: String,
    script: Script,
    retention: AuditRetention,
    op_timeout: Duration,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(first) = rx.recv().await {
            let mut batch: Vec<Vec<AuditEntry>> = Vec::new();
            let mut hits = 0;
            let mut flushed = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Entries(e) => {
                        hits += e.len();
                        batch.push(e);
                    }
                    Msg::Flush(done) => flushed.push(done),
                }
                if hits < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write(&batch).await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn write(&self, batch: &[Vec<AuditEntry>]) {
        let Some(newest) = batch.iter().flatten().map(|e| e.at).max() else { return };
        // Retries of this batch carry the same marker, so a batch whose reply was lost is not
        // appended again.
        let batch_id = uuid::Uuid::new_v4().simple().to_string();
        let mut call = self.script.key(&self.key);
        call.key(self.keys.audit_batch(&batch_id))
            .arg(self.retention.max_entries)
            .arg(self.retention.cutoff(newest).timestamp_millis().max(0))
            .arg(BATCH_MARKER_TTL_MS);
        for group in batch {
            // The group's newest time, so no entry of it is younger than its stream id.
            let Some(at) = group.iter().map(|e| e.at).max() else { continue };
            match serde_json::to_string(group) {
                Ok(json) => {
                    call.arg(at.timestamp_millis().max(0)).arg(json);
                }
                Err(err) => tracing::error!(error = %err, "audit entries not serializable"),
            }
        }
        for attempt in 1..=WRITE_ATTEMPTS {
            let mut con = self.conn.clone();
            match self
                .faults
                .step("redis.audit_append", || bounded(self.op_timeout, call.invoke_async::<i64>(&mut con)))
                .await
            {
                Ok(_) => return,
                Err(e) if attempt == WRITE_ATTEMPTS => {
                    let hits = batch.iter().map(Vec::len).sum();
                    dropped(hits, Dropped::Unwritten);
                    tracing::error!(entries = hits, error = %e, "audit entries lost: Redis unavailable");
                }
                Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }
}

/// A stream entry's hits, newest first (reverse of the order they were recorded in, as the
/// embedded log answers them); empty (and logged) when this version cannot read it: one bad
/// entry must not make the whole log unreadable.
fn decode(id: &StreamId) -> Vec<AuditEntry> {
    let json: Option<String> = id.get("e");
    match json.map(|j| serde_json::from_str::<Vec<AuditEntry>>(&j)) {
        Some(Ok(mut group)) => {
            group.reverse();
            group
        }
        Some(Err(err)) => {
            tracing::warn!(id = %id.id, error = %err, "unreadable audit entry skipped");
            Vec::new()
        }
        None => {
            tracing::warn!(id = %id.id, "audit entry without its field skipped");
            Vec::new()
        }
    }
}

/// Where a page ended: a stream entry, and how many of its hits (newest first) were read.
struct Position {
    id: String,
    taken: usize,
}

impl Position {
    /// `<ms>-<seq>-<taken>`, or `<ms>-<seq>` for a whole entry (cursors of older versions).
    fn parse(cursor: &str) -> Option<Position> {
        let mut parts = cursor.splitn(3, '-');
        let (ms, seq) = (parts.next()?, parts.next()?);
        let taken = match parts.next() {
            Some(t) => t.parse().ok()?,
            None => usize::MAX,
        };
        Some(Position { id: format!("{ms}-{seq}"), taken })
    }

    fn cursor(&self) -> String {
        format!("{}-{}", self.id, self.taken)
    }
}

impl RedisAudit {
    async fn query_page(&self, q: AuditQuery) -> Result<AuditPage, StoreError> {
        let resume = match &q.cursor {
            Some(c) => match Position::parse(c).filter(|_| cursor_is_well_formed(c)) {
                Some(p) => Some(p),
                // The API refuses malformed cursors before they get here.
                None => return Ok(AuditPage::default()),
            },
            None => None,
        };
        let mut end = match (&resume, q.until) {
            (Some(p), _) => p.id.clone(),
            (None, Some(until)) => until.timestamp_millis().saturating_add(LATE_MARGIN_MS).max(0).to_string(),
            (None, None) => "+".to_string(),
        };
        let start = q.since.map_or_else(|| "-".to_string(), |s| s.timestamp_millis().max(0).to_string());
        if q.limit == 0 {
            return Ok(AuditPage::default());
        }
        let mut entries = Vec::new();
        let mut last_returned: Option<Position> = None;
        let mut scanned = 0;
        let mut con = self.conn.clone();
        loop {
            let count = SCAN_PAGE.min(SCAN_BUDGET.saturating_sub(scanned).max(1));
            let reply: StreamRangeReply =
                bounded(self.op_timeout, con.xrevrange_count(&self.key, &end, &start, count)).await?;
            for id in &reply.ids {
                let group = decode(id);
                // The budget counts hits, not stream entries: one entry may hold hundreds.
                scanned += group.len().max(1);
                let skip = match &resume {
                    Some(p) if p.id == id.id => p.taken,
                    _ => 0,
                };
                for (i, e) in group.into_iter().enumerate().skip(skip) {
                    if !q.matches(&e) {
                        continue;
                    }
                    if entries.len() == q.limit {
                        // A match beyond the page: there is more, from the page's last entry on.
                        return Ok(AuditPage { entries, next_cursor: last_returned.map(|p| p.cursor()) });
                    }
                    last_returned = Some(Position { id: id.id.clone(), taken: i + 1 });
                    entries.push(e);
                }
            }
            let Some(last_scanned) = reply.ids.last().filter(|_| reply.ids.len() == count) else {
                // The range is exhausted: nothing older can match.
                return Ok(AuditPage { entries, next_cursor: None });
            };
            if scanned >= SCAN_BUDGET {
                let next = match last_returned {
                    Some(p) if entries.len() == q.limit => p,
                    _ => Position { id: last_scanned.id.clone(), taken: usize::MAX },
                };
                return Ok(AuditPage { entries, next_cursor: Some(next.cursor()) });
            }
            end = format!("({}", last_scanned.id);
        }
    }
}

/// Why audit entries were lost.
#[derive(Clone, Copy)]
enum Dropped {
    /// The writer's channel was full: it has been unable to write for a while.
    QueueFull,
    /// Written in vain [`WRITE_ATTEMPTS`] times.
    Unwritten,
    /// The writer is gone (only after a panic in it).
    WriterStopped,
}

/// Counts `hits` audit entries lost, by why.
fn dropped(hits: usize, why: Dropped) {
    let reason = match why {
        Dropped::QueueFull => "queue_full",
        Dropped::Unwritten => "unwritten",
        Dropped::WriterStopped => "writer_stopped",
    };
    metrics::counter!(AUDIT_DROPPED_TOTAL, "reason" => reason).increment(hits as u64);
}

impl AuditSink for RedisAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        if entries.is_empty() {
            return;
        }
        match self.tx.try_send(Msg::Entries(entries)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(Msg::Entries(lost))) => dropped(lost.len(), Dropped::QueueFull),
            Err(mpsc::error::TrySendError::Closed(Msg::Entries(lost))) => {
                dropped(lost.len(), Dropped::WriterStopped);
                tracing::error!("audit writer stopped; entries lost");
            }
            Err(_) => {}
        }
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let count = limit.min(1_000_000);
            let reply: StreamRangeReply =
                bounded(self.op_timeout, con.xrevrange_count(&self.key, "+", "-", count)).await?;
            Ok(reply.ids.iter().flat_map(decode).take(limit).collect())
        })
    }

    fn query(&self, q: AuditQuery) -> StoreFuture<'_, AuditPage> {
        Box::pin(self.query_page(q))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            // Waits for room: a flush is never dropped.
            if self.tx.send(Msg::Flush(done)).await.is_err() {
                return Err(StoreError::Unavailable("audit writer stopped".into()));
            }
            wait.await.map_err(|_| StoreError::Unavailable("audit writer stopped".into()))
        })
    }
}
