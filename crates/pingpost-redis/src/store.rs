//! What every concern's implementation on Redis shares: a script call under its failpoint
//! (`step`), one whose write waits for the replicas (`waited_step`), and the small readers of
//! script replies. Each concern's trait is implemented in its own module (`admission`,
//! `sales`, `returns`, `outbox`, …), one script per slot, composed as `lib.rs` says.

use crate::codec::corrupt;
use crate::conn::Conn;
use crate::scripts::ScriptCall;
use crate::{bounded, RedisStore};
use pingpost_core::identity::Ident;
use pingpost_store::*;
use std::sync::atomic::Ordering;

/// The request's identifiers without repeats, in the request's order (email before phone):
/// the order answers are reported in (the first identifier that matched).
pub(crate) fn distinct(idents: &[Ident]) -> Vec<Ident> {
    let mut out: Vec<Ident> = Vec::with_capacity(idents.len());
    for i in idents {
        if !out.iter().any(|o| o.hash == i.hash) {
            out.push(i.clone());
        }
    }
    out
}

pub(crate) fn text(reply: &[Vec<u8>], i: usize) -> Result<&str, StoreError> {
    reply.get(i).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(|| corrupt("script reply"))
}

/// Sends `pipe` on `con`. A server that lost its scripts (restarted, promoted, new) refuses
/// `EVALSHA`: `script` is loaded and the pipeline sent again — every script is safe to
/// re-send, and a `WAIT` that went with a refused call counted nothing of ours.
pub(crate) async fn send_reloading<T: redis::FromRedisValue>(
    con: &mut Conn,
    pipe: &redis::Pipeline,
    script: Option<&redis::Script>,
) -> redis::RedisResult<T> {
    match (pipe.query_async::<T>(con).await, script) {
        (Err(e), Some(script)) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            pipe.query_async(con).await
        }
        (answer, _) => answer,
    }
}

impl RedisStore {
    /// The wait for replicas in ms, at least 1: Redis reads `WAIT n 0` as "wait forever".
    pub(crate) fn wait_timeout_ms(&self) -> u64 {
        u64::try_from(self.opts.wait_timeout.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    pub(crate) fn retention_ms(&self) -> i64 {
        self.opts.retention.num_milliseconds()
    }

    /// One script call under its failpoint (see `pingpost_store::faults`).
    pub(crate) async fn step<T: redis::FromRedisValue>(
        &self,
        point: &'static str,
        call: &redis::ScriptInvocation<'_>,
    ) -> StoreResult<T> {
        let mut con = self.conn.clone();
        self.opts.faults.step(point, || self.run(call.invoke_async(&mut con))).await
    }

    /// One script call whose write the engine may act on, under its failpoint. With
    /// `--redis-wait-replicas N` it travels with `WAIT N timeout` behind it, in one pipeline
    /// on a connection of its own, and answers how many replicas acknowledged; the caller
    /// asks [`Replicas::require`] on the answers it acts on (a refusal wrote nothing to wait
    /// for). Why so:
    /// - `WAIT` counts the replicas that have what *its connection* wrote. Sent alone after
    ///   the script, it could go out on a connection the client opened in between (a
    ///   reconnect, perhaps to a promoted replica), which wrote nothing of ours: Redis then
    ///   answers at once with every connected replica, a frozen one included, or counts
    ///   replicas of a server that lacks the write. In one pipeline the two share one
    ///   connection, or fail together.
    /// - Redis reads nothing more from a client blocked in `WAIT`: on the shared multiplexed
    ///   connection every other store call of the node (reads, settlements, health) would
    ///   queue behind it, up to the wait timeout each time a replica lags.
    /// - On a Redis Cluster the pipeline goes where its script's keys live, so `WAIT` asks
    ///   the master that has the write. (Sent alone, redis-rs sends a keyless `WAIT` to every
    ///   master and answers the least count: also never too high, but each admission would
    ///   block a connection on every master and fail whenever any master's replica lags.)
    pub(crate) async fn waited_step<T: redis::FromRedisValue>(
        &self,
        point: &'static str,
        call: &ScriptCall<'_>,
    ) -> StoreResult<(T, Replicas)> {
        let wanted = self.opts.wait_replicas;
        let Some(mut con) = self.waited_conn().filter(|_| wanted > 0) else {
            let value = self.step(point, &call.invocation()).await?;
            return Ok((value, Replicas { acked: 0, wanted: 0 }));
        };
        let mut pipe = redis::pipe();
        pipe.add_command(call.evalsha()).cmd("WAIT").arg(wanted).arg(self.wait_timeout_ms());
        let send = send_reloading::<(T, i64)>(&mut con, &pipe, Some(call.script()));
        let limit = self.opts.op_timeout + self.opts.wait_timeout;
        let (value, acked) = self.opts.faults.step(point, || bounded(limit, send)).await?;
        Ok((value, Replicas { acked, wanted }))
    }

    /// One of the waited-for connections, in turn; none when no replica is waited for.
    pub(crate) fn waited_conn(&self) -> Option<Conn> {
        let n = self.next_waited.fetch_add(1, Ordering::Relaxed);
        self.waited.get(n % self.waited.len().max(1)).cloned()
    }
}

/// How many replicas acknowledged a waited step, of how many wanted (0 when none is).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Replicas {
    pub(crate) acked: i64,
    pub(crate) wanted: u32,
}

impl Replicas {
    /// Fails like an unavailable store when fewer replicas acknowledged than wanted: the
    /// engine must not act on a write a failover could lose.
    pub(crate) fn require(self) -> StoreResult<()> {
        if self.acked < i64::from(self.wanted) {
            return Err(StoreError::Unavailable(format!(
                "only {} of {} replicas acknowledged the write",
                self.acked, self.wanted
            )));
        }
        Ok(())
    }
}

/// The failpoint of a per-identifier script, by the identifier's kind.
pub(crate) fn per_kind(ident: &Ident, points: [&'static str; 2]) -> &'static str {
    match ident.kind {
        pingpost_core::identity::IdentKind::Email => points[0],
        pingpost_core::identity::IdentKind::Phone => points[1],
    }
}
