//! The dedup audit log on Redis: a stream, written off the ping's path. Pings hand their
//! entries to a channel; one task per process writes them in batches, one script call per
//! batch, which also trims the stream to its retention (count and age).
//!
//! Stream ids follow each entry's `at` (see `lua/audit_append.lua`): an id is never earlier
//! than its entry's time and later only by how late the entry was written (a batch's delay,
//! clock skew between nodes). Queries use that to bound their scan by time: `since` exactly,
//! `until` plus [`LATE_MARGIN_MS`].
//!
//! A query filters in Rust while it reads the stream newest first, `SCAN_PAGE` entries per
//! `XREVRANGE`. It reads at most [`SCAN_BUDGET`] entries per request: a rare filter over a
//! long log answers what it found so far with a cursor to continue from, so one request
//! never holds Redis or the engine for long.

use crate::conn::Conn;
use crate::{bounded, RedisStore};
use pingpost_engine::audit::{cursor_is_well_formed, AuditEntry, AuditPage, AuditQuery, AuditRetention, AuditSink};
use pingpost_store::{StoreError, StoreFuture};
use redis::streams::{StreamId, StreamRangeReply};
use redis::{AsyncCommands, Script};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most entries written in one script call.
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

enum Msg {
    Entries(Vec<AuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// The audit sink of a Redis-backed engine.
pub struct RedisAudit {
    tx: mpsc::UnboundedSender<Msg>,
    conn: Conn,
    key: String,
    op_timeout: Duration,
}

impl RedisStore {
    /// The audit log in this store's namespace, kept within `retention`. Starts its writer
    /// task: call inside a tokio runtime.
    pub fn audit_log(&self, retention: AuditRetention) -> RedisAudit {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            conn: self.conn.clone(),
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
    key: String,
    script: Script,
    retention: AuditRetention,
    op_timeout: Duration,
}

impl Writer {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::new();
            let mut flushed = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Entries(e) => batch.extend(e),
                    Msg::Flush(done) => flushed.push(done),
                }
                if batch.len() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            for chunk in batch.chunks(BATCH) {
                self.write(chunk).await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn write(&self, batch: &[AuditEntry]) {
        let Some(newest) = batch.iter().map(|e| e.at).max() else { return };
        let mut call = self.script.key(&self.key);
        call.arg(self.retention.max_entries).arg(self.retention.cutoff(newest).timestamp_millis().max(0));
        for e in batch {
            match serde_json::to_string(e) {
                Ok(json) => {
                    call.arg(e.at.timestamp_millis().max(0)).arg(json);
                }
                Err(err) => tracing::error!(ping_id = %e.ping_id, error = %err, "audit entry not serializable"),
            }
        }
        for attempt in 1..=WRITE_ATTEMPTS {
            let mut con = self.conn.clone();
            match bounded(self.op_timeout, call.invoke_async::<i64>(&mut con)).await {
                Ok(_) => return,
                Err(e) if attempt == WRITE_ATTEMPTS => {
                    tracing::error!(entries = batch.len(), error = %e, "audit entries lost: Redis unavailable");
                }
                Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }
}

/// An entry as stored, or `None` (logged) when this version cannot read it: one bad entry
/// must not make the whole log unreadable.
fn decode(id: &StreamId) -> Option<AuditEntry> {
    let json: Option<String> = id.get("e");
    match json.map(|j| serde_json::from_str(&j)) {
        Some(Ok(e)) => Some(e),
        Some(Err(err)) => {
            tracing::warn!(id = %id.id, error = %err, "unreadable audit entry skipped");
            None
        }
        None => {
            tracing::warn!(id = %id.id, "audit entry without its field skipped");
            None
        }
    }
}

impl RedisAudit {
    async fn query_page(&self, q: AuditQuery) -> Result<AuditPage, StoreError> {
        let mut end = match (&q.cursor, q.until) {
            // The smallest id (0-0) has nothing before it, and so has a cursor this sink
            // never hands out; the API refuses malformed ones before they get here.
            (Some(c), _) if !cursor_is_well_formed(c) || c.split('-').all(|p| p.bytes().all(|b| b == b'0')) => {
                return Ok(AuditPage::default());
            }
            (Some(c), _) => format!("({c}"),
            (None, Some(until)) => until.timestamp_millis().saturating_add(LATE_MARGIN_MS).max(0).to_string(),
            (None, None) => "+".to_string(),
        };
        let start = q.since.map_or_else(|| "-".to_string(), |s| s.timestamp_millis().max(0).to_string());
        if q.limit == 0 {
            return Ok(AuditPage::default());
        }
        let mut entries = Vec::new();
        let mut last_returned: Option<String> = None;
        let mut scanned = 0;
        let mut con = self.conn.clone();
        loop {
            let count = SCAN_PAGE.min(SCAN_BUDGET - scanned);
            let reply: StreamRangeReply =
                bounded(self.op_timeout, con.xrevrange_count(&self.key, &end, &start, count)).await?;
            for id in &reply.ids {
                scanned += 1;
                let Some(e) = decode(id).filter(|e| q.matches(e)) else { continue };
                if entries.len() == q.limit {
                    // A match beyond the page: there is more, from the page's last entry on.
                    return Ok(AuditPage { entries, next_cursor: last_returned });
                }
                last_returned = Some(id.id.clone());
                entries.push(e);
            }
            let Some(last_scanned) = reply.ids.last().filter(|_| reply.ids.len() == count) else {
                // The range is exhausted: nothing older can match.
                return Ok(AuditPage { entries, next_cursor: None });
            };
            if scanned >= SCAN_BUDGET {
                let next = if entries.len() == q.limit { last_returned } else { Some(last_scanned.id.clone()) };
                return Ok(AuditPage { entries, next_cursor: next });
            }
            end = format!("({}", last_scanned.id);
        }
    }
}

impl AuditSink for RedisAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        if !entries.is_empty() && self.tx.send(Msg::Entries(entries)).is_err() {
            tracing::error!("audit writer stopped; entries lost");
        }
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let count = limit.min(1_000_000);
            let reply: StreamRangeReply =
                bounded(self.op_timeout, con.xrevrange_count(&self.key, "+", "-", count)).await?;
            Ok(reply.ids.iter().filter_map(decode).collect())
        })
    }

    fn query(&self, q: AuditQuery) -> StoreFuture<'_, AuditPage> {
        Box::pin(self.query_page(q))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Msg::Flush(done)).is_err() {
                return Err(StoreError::Unavailable("audit writer stopped".into()));
            }
            wait.await.map_err(|_| StoreError::Unavailable("audit writer stopped".into()))
        })
    }
}
