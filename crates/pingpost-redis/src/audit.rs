//! The dedup audit log on Redis: a capped stream, written off the ping's path. Pings hand
//! their entries to a channel; one task per process writes them in pipelined batches.

use crate::conn::Conn;
use crate::{bounded, RedisStore};
use pingpost_engine::audit::{AuditEntry, AuditSink};
use pingpost_store::{StoreError, StoreFuture};
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most entries written in one pipeline.
const BATCH: usize = 1000;
/// Tries per batch before it is dropped (and the loss logged): a long outage must not
/// grow memory without bound.
const WRITE_ATTEMPTS: usize = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

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
    /// The audit log in this store's namespace, keeping about `capacity` newest entries.
    /// Starts its writer task: call inside a tokio runtime.
    pub fn audit_log(&self, capacity: usize) -> RedisAudit {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer =
            Writer { conn: self.conn.clone(), key: self.keys.audit(), capacity, op_timeout: self.opts.op_timeout };
        tokio::spawn(writer.run(rx));
        RedisAudit { tx, conn: self.conn.clone(), key: self.keys.audit(), op_timeout: self.opts.op_timeout }
    }
}

struct Writer {
    conn: Conn,
    key: String,
    capacity: usize,
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
            if !batch.is_empty() {
                self.write(&batch).await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn write(&self, batch: &[AuditEntry]) {
        let mut pipe = redis::pipe();
        for e in batch {
            match serde_json::to_string(e) {
                Ok(json) => {
                    pipe.cmd("XADD")
                        .arg(&self.key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(self.capacity)
                        .arg("*")
                        .arg("e")
                        .arg(json)
                        .ignore();
                }
                Err(err) => tracing::error!(ping_id = %e.ping_id, error = %err, "audit entry not serializable"),
            }
        }
        for attempt in 1..=WRITE_ATTEMPTS {
            let mut con = self.conn.clone();
            match bounded(self.op_timeout, pipe.query_async::<()>(&mut con)).await {
                Ok(()) => return,
                Err(e) if attempt == WRITE_ATTEMPTS => {
                    tracing::error!(entries = batch.len(), error = %e, "audit entries lost: Redis unavailable");
                }
                Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
            }
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
            reply
                .ids
                .iter()
                .map(|id| {
                    let json: String = id.get("e").ok_or_else(|| StoreError::Corrupt("audit entry".into()))?;
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
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
