//! The store on Redis and Redis Cluster — how pingpost runs in production, with several
//! stateless engine nodes sharing one store.
//!
//! Every check-then-write is one Lua script whose keys share one hash slot: consumer state
//! (suppression, vertical submissions, DQ marks) is tagged by identifier hash, and everything
//! of one buyer's sales — its ledger entries, its marks on consumers, its counters, lists,
//! returns and books outbox — by the buyer (`{b:<buyer>}`), so a sale is one script and the
//! buyers spread over a cluster's masters. A ping's identifiers, which live in slots of their
//! own, are admitted one after the other. The key layout is in `keys`, every script's checks
//! and writes in `scripts`, and the argument below.
//!
//! "Now" always comes from the caller (ARGV), never from Redis's clock, and TTLs are set
//! relative to it: Redis's expiry only collects garbage, the scripts decide what is expired.
//!
//! # Why the steps are safe
//!
//! Each script runs atomically on its node. What needs care is the composition of scripts on
//! different slots (an email and a phone; consumer marks and the ledger), and what is left when
//! the sequence stops after any step — a crash, a reply lost after Redis applied the script, a
//! Redis frozen while the client timed out (the script may still run when it wakes). The rules:
//!
//! 1. **Each step refuses or writes, and recognises its own earlier write.** Every script
//!    finds a mark or entry it wrote before — by ping id, sale id or holder token — and answers
//!    it again, so the engine, redis-rs' cluster client or a re-sent call after a lost reply
//!    can repeat any step. An error undoes nothing in the store layer (whether the step
//!    applied is unknown) and is resolved by rule 5.
//! 2. **Admission** (`admit.lua`, per identifier, one after the other: email before phone,
//!    then by hash, the same order for every ping): suppressed? → refuse; submitted on the
//!    vertical inside its window by *another* ping, confirmed or still pending (lease: 60 s)?
//!    → refuse, writing nothing; else record a *pending* submission and answer the history.
//!    Two racing pings of one consumer take their identifiers in the same order, so they meet
//!    first at the first identifier they share, where one of them is refused at once: neither
//!    can hold one identifier while the other holds another, so they can neither both pass
//!    (each identifier's script is atomic) nor both lose to each other, and nobody waits
//!    (`pingpost_redis::admission`). A refusal on a duplicate still answers suppression first
//!    when an identifier not asked yet is suppressed (checkpoint 1 before 2: one read of their
//!    suppression keys, on the refusal only). Once the ping is answered,
//!    `confirm_admission.lua` makes its submissions count for the window. A refused or failed
//!    admission releases every identifier's mark of this ping (releasing what was never
//!    written is harmless); a mark the release could not remove lapses with its lease.
//!    Tested step by step with failpoints in `crates/pingpost-redis/tests/admission.rs`.
//! 3. **Sale reservation** (`reserve_sale.lua`, one script on the buyer's slot): does the
//!    sale have an entry already? answer it; did a later holder of the post fence it? refuse;
//!    has the buyer bought the consumer by any of its identifiers inside the window, or is
//!    another of the buyer's reservations of it in flight? refuse; does every debit fit? then
//!    take them all and write the entry, its lease and the buyer's reserved marks. Two posts of
//!    one consumer to one buyer meet in that one slot, so the second is refused at once:
//!    nothing is decided by rank and nobody waits. Tested in `crates/pingpost-redis/tests/sale_race.rs`.
//!    The ping's slots (one standing sale, or `max_buyers`) are not counted by a script, since
//!    a ping's sales sit in several buyers' slots: the post's claim gives one holder the post,
//!    it counts its own sales, and a holder taking a post over (rule 5) first fences every bid
//!    of the ping's ranking in its buyer's slot (`fence.lua`), which answers an entry an earlier
//!    holder wrote and otherwise refuses every other holder's reservation until the claim ends.
//! 4. **Settlement** (`settle_sale.lua`, one script on the buyer's slot): the entry moves from
//!    reserved (or unconfirmed) exactly once, with its refunds, books entry and lists, and the
//!    buyer's marks follow it in the same step (sold, "duplicate", or removed on a release, as
//!    `pingpost_store::marks_after` says); a second settlement finds it settled and changes
//!    nothing. A release of a sale that has no entry yet writes a tombstone entry that a
//!    reservation still on its way finds and stops at.
//! 5. **What a stop between steps leaves, and how it resolves by itself.**
//!    - After the reservation, before or during delivery: an entry *reserved* under a dead
//!      holder. The post's claim keeps other nodes out until its lease runs out (the sum of its
//!      bids' buyer timeouts plus the slack); the holder that resumes it fences the ping's sales
//!      and finds the entry, delivers nothing for it, and reports it `unconfirmed`, keeping its
//!      slot. A holder that stalled instead of dying finds its next reservation fenced. The sweep turns it `unconfirmed` (debits kept)
//!      within its lease plus one sweep interval; a late settlement still records the truth.
//!    - An unknown reservation outcome (every re-send failed): the engine releases the sale; the
//!      tombstones fence a reservation still in transit. If the release fails too, the post keeps
//!      its claim until the lease runs out, by which time the reservation has lapsed.
//!    - A post's claim taken for a request that then failed (an unknown ping, another
//!      partner's, a lead that is not the pinged consumer): given up at once. If even that
//!      fails, it lapses with its lease — the longest delivery of the partner's offers (the
//!      largest sum of an offer's buyer timeouts) plus the slack, since the claim travels with
//!      the read of the record and cannot use it — and the owner's post is answered `409` until
//!      then.
//!    - A ping that failed after admission, when even its release failed: the submission was never
//!      confirmed (confirmation comes only after the answer stands), so it lapses after 60 s and
//!      the partner's retry is never turned away for longer. A confirmation that is lost after a
//!      successful answer leaves the submission counting 60 s instead of the window: weaker
//!      vertical dedup for that consumer, never a sale.
//! 6. **Transient refusals are possible**: while ping A holds a mark it may later undo, ping B of
//!    the same consumer is refused. This includes a ping that took its email and is then
//!    refused on its phone: until it releases the email (one round trip), a third ping of that
//!    email is refused. All concern one consumer within milliseconds, and a refusal is the
//!    safe side.
//!
//! The audit log's `audit_append.lua` and the statistics' `stats_add.lua` take a batch marker
//! (`SET NX` with an hour's TTL, in their key's slot) and do nothing for a batch already applied.
//!
//! Single commands (and pipelines of them) are reads or writes that need no check: among them
//! `MGET` (counters), `SET … PX` and `GET` (ping records; the expiry inside the value is checked
//! against the caller's clock), `DEL` (lifting a suppression), `XREVRANGE` (audit queries),
//! `HKEYS`/`HMGET`/`ZRANGE`/`ZREVRANGE`/`ZREM` (ledger queries, the outbox), `PING`
//! (readiness), `WAIT` (with `--redis-wait-replicas`).
//!
//! Timeouts (`RedisOptions`): connection 500 ms, response 500 ms, and every Redis call — one
//! command, one script, one pipeline, a reconnection included — at most `op_timeout` (1 s)
//! (`RedisStore::run`, `bounded`). That bounds each *call*, not each store operation: an
//! operation that is a sequence of calls takes one bound per call (nothing waits on a racing
//! request: rules 2 and 3), so a ping's admission can take a few seconds when Redis is slow. A call past its bound is `StoreError::Unavailable`: the ping answers 503 and no buyer
//! is called for it; the post re-sends a reservation or settlement up to three times before it
//! gives the bid up (see the README, "Decisions the spec left open", Post).
//!
//! With `--redis-wait-replicas N` (`RedisOptions::wait_replicas`), `admit.lua`,
//! `reserve_sale.lua`, `fence.lua` and the operators' writes (`suppress.lua` and lifting's `DEL`, a
//! pipeline of them behind one `WAIT`; `erase.lua`, `top_up.lua`, `open_return.lua`,
//! `decide_return.lua`, `save_config.lua`) each travel in one pipeline with `WAIT N t`, `t` being
//! `--redis-wait-timeout-ms` (default 200 ms, at least 1: Redis reads 0 as "forever"). One
//! pipeline, because `WAIT` counts what its own connection wrote; on a Cluster it goes to the
//! master of the script's keys. Those pipelines use 8 connections of their own, since Redis
//! serves nothing else on a connection blocked in `WAIT`; their response timeout and operation
//! bound are the ones above plus `t`. Fewer than N acknowledgements on an answer the engine acts
//! on (an admission, a reservation, its own reservation answered again, an operator's write done
//! now or before) is a 503 like an unreachable store; a refusal is answered as it is. A script
//! answering a write done before (a retry after such a 503) writes it again unchanged, because
//! `WAIT` counts only what its own call replicated, and replication keeps order. The README says what a failover can still
//! lose. `TCP_NODELAY` is set on every Redis connection (redis-rs leaves it off by
//! default), which matters for a store answered in tens of microseconds.

mod admission;
pub mod audit;
mod balances;
mod blobs;
mod buyers;
mod claims;
mod codec;
mod config_docs;
mod conn;
mod counters;
mod erasure;
mod events;
mod keys;
mod migrate;
mod outbox;
mod returns;
mod sales;
mod scripts;
mod secrets;
#[cfg(feature = "testing")]
mod snapshot;
mod stats;
mod store;
mod suppression;
mod upkeep;

pub use audit::RedisAudit;
pub use keys::Keys;
pub use migrate::Migrated;
#[cfg(feature = "testing")]
pub use snapshot::snapshot;
pub use stats::RedisStats;

use conn::Conn;
use pingpost_store::{StoreError, StoreResult};
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo, RedisResult};
use scripts::Scripts;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// Connections reserved for the writes followed by `WAIT` (see `RedisStore::waited_step`).
/// Redis reads nothing more from a client blocked in `WAIT`, so each of them carries one
/// waiting write at a time; a healthy replica acknowledges within a round trip, so a few
/// let a node's admissions and reservations wait side by side.
const WAITED_CONNECTIONS: usize = 8;

/// How the store talks to Redis.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Prefix of every key (`pp`); lets tests share a server without seeing each other.
    pub namespace: String,
    /// Upper bound on any one store operation, connection included: past it the request
    /// fails with 503 instead of hanging.
    pub op_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// How long consumer dedup state and ledger entries are kept after their last write
    /// ([`pingpost_store::RETENTION`], as the embedded store keeps them).
    pub retention: chrono::Duration,
    /// Replicas every admission and reservation must reach (Redis's `WAIT`) before the
    /// engine acts on it; 0 does not wait. See the README on what a failover can lose.
    pub wait_replicas: u32,
    /// How long such a write waits for its replicas before the request fails (503). At
    /// least 1 ms is used: Redis reads `WAIT n 0` as "wait forever".
    pub wait_timeout: Duration,
    /// Failpoints at every script (tests only; see `pingpost_store::faults`).
    pub faults: pingpost_store::Faults,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            namespace: "pp".into(),
            op_timeout: Duration::from_millis(1000),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
            retention: pingpost_store::RETENTION,
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(200),
            faults: pingpost_store::Faults::none(),
        }
    }
}

/// The Redis store. Cheap to share: the connection is multiplexed.
pub struct RedisStore {
    conn: Conn,
    /// With `wait_replicas > 0`, the connections of the writes followed by `WAIT`, kept
    /// apart so that a write waiting for its replicas holds up no other store call; empty
    /// otherwise.
    waited: Vec<Conn>,
    next_waited: AtomicUsize,
    keys: Keys,
    scripts: Scripts,
    opts: RedisOptions,
    /// Buyers this node knows are in `pp:buyers` (see `buyers.rs`).
    known_buyers: dashmap::DashSet<String>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `urls`: one `redis://` URL for a single server, a comma-separated list
    /// of them for a Redis Cluster (any reachable masters; the rest is discovered).
    pub async fn connect(urls: &str, opts: RedisOptions) -> StoreResult<Self> {
        let nodes: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        let connect = async {
            let conn = open(&nodes, &opts, opts.response_timeout).await?;
            let waited = if opts.wait_replicas > 0 {
                // Their answers come only once the replicas acknowledged, up to the wait.
                let response_timeout = opts.response_timeout + opts.wait_timeout;
                let opening = (0..WAITED_CONNECTIONS).map(|_| open(&nodes, &opts, response_timeout));
                futures_util::future::try_join_all(opening).await?
            } else {
                Vec::new()
            };
            Ok((conn, waited))
        };
        let (conn, waited) = bounded(opts.op_timeout, connect).await?;
        Ok(RedisStore {
            conn,
            waited,
            next_waited: AtomicUsize::new(0),
            keys: Keys::new(opts.namespace.clone()),
            scripts: Scripts::new(),
            opts,
            known_buyers: dashmap::DashSet::new(),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn run<T>(&self, op: impl Future<Output = RedisResult<T>>) -> StoreResult<T> {
        bounded(self.opts.op_timeout, op).await
    }
}

/// One connection to `nodes`: a single Redis for one URL, a Redis Cluster for several.
async fn open(nodes: &[&str], opts: &RedisOptions, response_timeout: Duration) -> RedisResult<Conn> {
    let tcp = || TcpSettings::default().set_nodelay(true);
    match nodes {
        [] => Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no Redis URL given"))),
        [one] => {
            let info = one.into_connection_info()?.set_tcp_settings(tcp());
            let client = redis::Client::open(info)?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(opts.connect_timeout))
                .set_response_timeout(Some(response_timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            Ok(Conn::Single(client.get_connection_manager_with_config(config).await?))
        }
        many => {
            let client = redis::cluster::ClusterClientBuilder::new(many.to_vec())
                .tcp_settings(tcp())
                .connection_timeout(opts.connect_timeout)
                .response_timeout(response_timeout)
                .retries(2)
                .build()?;
            Ok(Conn::Cluster(client.get_async_connection().await?))
        }
    }
}

async fn bounded<T>(limit: Duration, op: impl Future<Output = RedisResult<T>>) -> StoreResult<T> {
    match tokio::time::timeout(limit, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(e)),
        Err(_) => Err(StoreError::Unavailable(format!("no answer from Redis within {} ms", limit.as_millis()))),
    }
}

fn classify(e: redis::RedisError) -> StoreError {
    if e.kind() == redis::ErrorKind::UnexpectedReturnType {
        StoreError::Corrupt(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}
