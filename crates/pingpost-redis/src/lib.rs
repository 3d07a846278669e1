//! The store on Redis and Redis Cluster — how pingpost runs in production, with several
//! stateless engine nodes sharing one store.
//!
//! Every check-then-write is one Lua script whose keys share one hash slot: consumer state
//! is tagged by identifier hash, the sales ledger and its counters by `{ledger}`. An
//! operation that spans several slots (a consumer with an email *and* a phone; a sale that
//! marks the consumer and takes the buyer's caps) runs one script per slot — the
//! identifiers' side by side, a race between two requests of one consumer decided by rank
//! (`held`), then the ledger's — each of which refuses or writes atomically, and undoes the
//! other steps when one refuses. ARCHITECTURE.md ("Redis key layout", "Why the Redis steps
//! are safe") gives the argument.
//!
//! "Now" always comes from the caller (ARGV), never from Redis's clock, and TTLs are set
//! relative to it: Redis's expiry only collects garbage, the scripts decide what is expired.

mod admission;
pub mod audit;
mod balances;
mod blobs;
mod claims;
mod codec;
mod config_docs;
mod conn;
mod counters;
mod erasure;
mod held;
mod keys;
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
    /// How long after a settlement the sweep settles the sale's marks once more, in case the
    /// engine stopped between the ledger and the marks (any value is correct: the repair
    /// writes what the engine would; shorter repairs sooner, at the cost of repairing more
    /// sales whose marks were settled already).
    pub marks_repair_after: chrono::Duration,
    /// How long an admission waits at most for a racing ping of the same consumer that is
    /// certain to give an identifier up (see `admission`); past it, the ping is answered as
    /// a duplicate. Only a ping that stopped between its own steps keeps one that long.
    pub held_wait: Duration,
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
            marks_repair_after: chrono::Duration::seconds(30),
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(200),
            held_wait: Duration::from_secs(1),
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
