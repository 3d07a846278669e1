//! The integration harness: the real HTTP server in-process on 127.0.0.1:0, real simulated
//! buyers on another loopback port, a clock the test moves, and the store named by
//! `PINGPOST_TEST_STORE`: `memory` (default) or `redis` (a redis-server this harness starts
//! on a free port). `scripts/test.sh` runs the integration tests on both.
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod process;
pub mod raw_http;
pub mod wait;

use chrono::TimeZone;
use pingpost_buyersim::Buyers;
use pingpost_core::config::{load_document, SourceFile};
use pingpost_engine::audit::{AuditEntry, AuditRetention, AuditSink, MemoryAudit};
use pingpost_engine::clock::ManualClock;
use pingpost_engine::config_sync::bootstrap;
use pingpost_engine::ids::{Ids, RandomIds, SequentialIds};
use pingpost_engine::secrets::{EnvSecrets, Secrets};
use pingpost_engine::stats::{MemoryStats, StatsSink};
use pingpost_engine::{Engine, EngineParts};
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_server::AppState;
use pingpost_store::invariants::{Rules, Snapshot};
use pingpost_store::{Faults, MemoryStore, SecretStore, Store};
use pingpost_testkit::{PostgresServer, RedisServer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::net::TcpListener;

pub const KEY_P1: &str = "partner-one-key-0001";
pub const KEY_P2: &str = "partner-two-key-0002";
pub const ADMIN_TOKEN: &str = "operator-token-0009";
pub const DAY: i64 = 86_400;

pub fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Verticals, offers, partners and buyers b1..b5; tests add their contracts. The offers
/// show partners everything (`disclosure = "full"`), so tests can read who bought; what the
/// other disclosures hide is tests/money.rs's business.
/// `{buyers}` is replaced by the simulated buyers' base URL.
pub fn base_config() -> String {
    let mut s = format!(
        r#"
[[verticals]]
id = "auto"
dedup_window_days = 30

[[verticals]]
id = "solar"
dedup_window_days = 1

[[offers]]
id = "auto-excl"
vertical = "auto"
disclosure = "full"
ping_budget_ms = 1000

[[offers]]
id = "auto-2"
vertical = "auto"
disclosure = "full"
ping_budget_ms = 1000

[[offers]]
id = "auto-multi"
vertical = "auto"
disclosure = "full"
mode = "multisell"
max_buyers = 3
ping_budget_ms = 1000

[[offers]]
id = "solar-excl"
vertical = "solar"
disclosure = "full"
ping_budget_ms = 1000

[[offers]]
id = "auto-fast"
vertical = "auto"
disclosure = "full"
ping_budget_ms = 100

[[partners]]
id = "p1"
api_key_sha256 = "{}"
offers = ["auto-excl", "auto-2", "auto-multi", "solar-excl", "auto-fast"]

[[partners]]
id = "p2"
api_key_sha256 = "{}"
offers = ["auto-excl", "auto-2"]
"#,
        sha(KEY_P1),
        sha(KEY_P2)
    );
    for b in 1..=5 {
        s.push_str(&format!("\n[[buyers]]\nid = \"b{b}\"\npost_url = \"{{buyers}}/b{b}/post\"\ntimeout_ms = 1000\n"));
    }
    s
}

/// Every file of the example `contracts/` as one configuration, its buyers' URLs (the
/// simulated buyers' port 9001) turned into `{buyers}`, for the harness to point at its own.
pub fn example_configuration() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts");
    let mut files: Vec<_> =
        std::fs::read_dir(dir).expect("contracts/").map(|e| e.expect("a directory entry").path()).collect();
    files.sort();
    let text: String = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read_to_string(p).expect("a contracts/ file") + "\n")
        .collect();
    text.replace("http://127.0.0.1:9001", "{buyers}")
}

/// A fixed-price contract on `offer` for `buyer`, plus extra TOML lines.
pub fn contract(id: &str, buyer: &str, offer: &str, price: &str, extra: &str) -> String {
    format!("\n[[contracts]]\nid = \"{id}\"\nbuyer = \"{buyer}\"\noffer = \"{offer}\"\nprice = \"{price}\"\n{extra}\n")
}

/// A decorator put between a harness's engine and its store (see [`Harness::start_layered`]).
pub type StoreLayer = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// Which store a harness runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    /// A redis-server of the harness's own.
    Redis,
    /// A Redis (one URL) or Redis Cluster (a comma-separated list) the test started and
    /// shares between harnesses, each under a namespace of its own.
    Shared(String),
}

impl Backend {
    pub fn from_env() -> Backend {
        match std::env::var("PINGPOST_TEST_STORE").as_deref() {
            Ok("redis") => Backend::Redis,
            Ok("memory") | Err(_) => Backend::Memory,
            Ok(other) => panic!("PINGPOST_TEST_STORE={other:?}: use memory or redis"),
        }
    }
}

/// The store under a harness, kept so tests can look inside it.
enum Backing {
    Memory(Arc<MemoryStore>),
    Redis { server: RedisServer, namespace: String },
    Shared { urls: String, namespace: String },
}

impl Backing {
    fn redis_urls(&self) -> Option<(String, &str)> {
        match self {
            Backing::Memory(_) => None,
            Backing::Redis { server, namespace } => Some((server.url(), namespace)),
            Backing::Shared { urls, namespace } => Some((urls.clone(), namespace)),
        }
    }
}

/// A namespace no other harness of this process uses.
fn fresh_namespace() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("t{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

pub struct Harness {
    pub engine: Arc<Engine>,
    backing: Backing,
    pub clock: Arc<ManualClock>,
    pub buyers: Arc<Buyers>,
    buyers_url: String,
    pub base: String,
    /// The metrics address (`/metrics` is served there, never on `base`).
    pub metrics: String,
    /// The failpoints of this harness's store and engine (see `pingpost_store::faults`).
    pub faults: Faults,
    http: reqwest::Client,
    /// The PostgreSQL holding the books, when they are there: kept as long as a node uses it.
    _books_server: Option<Arc<PostgresServer>>,
    /// This node's lead event log (in the process; `relay_events` fills it from the store).
    pub events: Arc<pingpost_events::MemoryEvents>,
}

/// The books a harness writes to: in the process, or with `PINGPOST_TEST_BOOKS=postgres` in
/// a database of their own in PostgreSQL (`PINGPOST_TEST_POSTGRES`'s server, else one the
/// test starts), as production keeps them.
async fn test_books() -> (Arc<dyn pingpost_books::Books>, Option<Arc<PostgresServer>>) {
    if std::env::var("PINGPOST_TEST_BOOKS").as_deref() != Ok("postgres") {
        return (Arc::new(pingpost_books::MemoryBooks::new()), None);
    }
    let (server, url) = tokio::task::spawn_blocking(|| {
        let server = PostgresServer::start();
        let url = server.fresh_database();
        (server, url)
    })
    .await
    .expect("PostgreSQL for the books");
    let books = pingpost_books::PgBooks::connect(&url).await.expect("the books in PostgreSQL");
    (Arc::new(books), Some(Arc::new(server)))
}

tokio::task_local! {
    /// The event log [`Harness::start_with_event_log`] gives the node it starts.
    static EVENT_LOG: Option<Arc<dyn pingpost_events::EventLog>>;
}

pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    // A Monday, 10:00 in New York.
    chrono::Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).single().expect("valid time")
}

impl Harness {
    /// A harness on the store `PINGPOST_TEST_STORE` names.
    pub async fn start(config_toml: &str) -> Harness {
        Self::start_on(Backend::from_env(), config_toml).await
    }

    pub async fn start_on(backend: Backend, config_toml: &str) -> Harness {
        Self::start_with_redis_options(backend, config_toml, RedisOptions::default()).await
    }

    /// A harness whose Redis store (if `backend` is one) runs with `options`; the harness
    /// still sets the namespace and the failpoints.
    pub async fn start_with_redis_options(backend: Backend, config_toml: &str, options: RedisOptions) -> Harness {
        Self::start_full(backend, config_toml, options, None, Arc::new(RandomIds)).await
    }

    /// A harness whose lead event log is in PostgreSQL (a database of its own, in a server the
    /// test starts or `PINGPOST_TEST_POSTGRES`'s), answered with the log and the server (keep
    /// it as long as the harness).
    pub async fn start_with_postgres_events(
        backend: Backend,
        config_toml: &str,
    ) -> (Harness, Arc<pingpost_events::PgEvents>, PostgresServer) {
        let (server, url) = tokio::task::spawn_blocking(|| {
            let server = PostgresServer::start();
            let url = server.fresh_database();
            (server, url)
        })
        .await
        .expect("PostgreSQL for the event log");
        let log = Arc::new(pingpost_events::PgEvents::connect(&url).await.expect("the event log in PostgreSQL"));
        let h = Self::start_with_event_log(backend, config_toml, Arc::clone(&log) as _).await;
        (h, log, server)
    }

    /// A harness whose engine writes its lead events to `log` (PostgreSQL's, say) instead of
    /// [`Harness::events`], which then stays empty.
    pub async fn start_with_event_log(
        backend: Backend,
        config_toml: &str,
        log: Arc<dyn pingpost_events::EventLog>,
    ) -> Harness {
        EVENT_LOG.scope(Some(log), Self::start_on(backend, config_toml)).await
    }

    /// A harness whose ping ids and tokens are counted ([`SequentialIds`], seed 0) rather than
    /// drawn, so a test can write them down (the whole-auction fixtures).
    pub async fn start_deterministic(backend: Backend, config_toml: &str) -> Harness {
        Self::start_full(backend, config_toml, RedisOptions::default(), None, Arc::new(SequentialIds::new(0))).await
    }

    /// A harness whose engine is given `layer(store)` instead of the store itself: a test's
    /// decorator sees every store call the engine makes (the engine adds its own on top).
    pub async fn start_layered(backend: Backend, config_toml: &str, layer: StoreLayer) -> Harness {
        Self::start_full(backend, config_toml, RedisOptions::default(), Some(layer), Arc::new(RandomIds)).await
    }

    async fn start_full(
        backend: Backend,
        config_toml: &str,
        options: RedisOptions,
        layer: Option<StoreLayer>,
        ids: Arc<dyn Ids>,
    ) -> Harness {
        let buyers = Buyers::new();
        let buyer_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind buyers");
        let buyers_url = format!("http://{}", buyer_listener.local_addr().expect("addr"));
        tokio::spawn(pingpost_buyersim::serve(buyer_listener, Arc::clone(&buyers), std::future::pending()));

        let text = config_toml.replace("{buyers}", &buyers_url);
        let seed = match load_document(&[SourceFile { name: "test.toml".into(), text }]) {
            Ok((doc, _)) => doc,
            Err(errors) => panic!("test config invalid: {errors:#?}"),
        };
        let clock = Arc::new(ManualClock::new(start_time()));
        let backing = match backend {
            Backend::Memory => Backing::Memory(Arc::new(MemoryStore::new())),
            Backend::Shared(urls) => Backing::Shared { urls, namespace: fresh_namespace() },
            Backend::Redis => Backing::Redis { server: RedisServer::start(), namespace: "pp".to_string() },
        };
        let (books, books_server) = test_books().await;
        let mut h = Self::node(backing, clock, ids, (buyers, buyers_url), &seed, options, books, layer).await;
        h._books_server = books_server;
        h
    }

    /// A second engine node on the same Redis namespace, clock and buyers, with failpoints of
    /// its own: two engine processes sharing one store, as behind a load balancer.
    pub async fn another_node(&self) -> Harness {
        let Some((urls, namespace)) = self.backing.redis_urls() else { panic!("a second node needs Redis") };
        let backing = Backing::Shared { urls, namespace: namespace.to_string() };
        let seed = pingpost_core::config::ConfigDocument::default();
        let books = Arc::clone(self.engine.books());
        let mut h = Self::node(
            backing,
            Arc::clone(&self.clock),
            Arc::new(RandomIds),
            (Arc::clone(&self.buyers), self.buyers_url.clone()),
            &seed,
            RedisOptions::default(),
            books,
            None,
        )
        .await;
        h._books_server = self._books_server.clone();
        h
    }

    #[allow(clippy::too_many_arguments)] // a node is all of these; a test names each
    async fn node(
        backing: Backing,
        clock: Arc<ManualClock>,
        ids: Arc<dyn Ids>,
        (buyers, buyers_url): (Arc<Buyers>, String),
        seed: &pingpost_core::config::ConfigDocument,
        options: RedisOptions,
        books: Arc<dyn pingpost_books::Books>,
        layer: Option<StoreLayer>,
    ) -> Harness {
        let faults = Faults::new();
        type Parts = (Arc<dyn Store>, Arc<dyn SecretStore>, Arc<dyn AuditSink>, Arc<dyn StatsSink>);
        let (store, secret_store, audit, stats): Parts = match (&backing, backing.redis_urls()) {
            (Backing::Memory(store), _) => (
                Arc::clone(store) as _,
                Arc::clone(store) as _,
                Arc::new(MemoryAudit::new(AuditRetention::default())),
                Arc::new(MemoryStats::default()),
            ),
            (_, Some((urls, namespace))) => {
                let opts = RedisOptions { namespace: namespace.to_string(), faults: faults.clone(), ..options };
                let store = RedisStore::connect(&urls, opts).await.expect("connect to the test's Redis");
                let audit = store.audit_log(AuditRetention::default());
                let stats = store.stats_sink(pingpost_engine::stats::DEFAULT_RETENTION);
                let store = Arc::new(store);
                (Arc::clone(&store) as _, store, Arc::new(audit), Arc::new(stats))
            }
            (_, None) => unreachable!("every Redis backing has URLs"),
        };
        let store = match layer {
            Some(layer) => layer(store),
            None => store,
        };
        let (stamp, config, _) = bootstrap(store.as_ref(), seed).await.expect("configuration seeded");
        let clock_dyn = Arc::clone(&clock) as _;
        let secrets = Secrets::load(secret_store, EnvSecrets::default()).await.expect("secrets read");
        let events = Arc::new(pingpost_events::MemoryEvents::new());
        let log: Arc<dyn pingpost_events::EventLog> =
            EVENT_LOG.try_with(|given| given.clone()).ok().flatten().unwrap_or_else(|| Arc::clone(&events) as _);
        let parts = EngineParts {
            config,
            config_stamp: Some(stamp),
            store,
            clock: clock_dyn,
            ids,
            audit,
            stats,
            books,
            events: log,
            faults: faults.clone(),
            lease_slack: pingpost_engine::DEFAULT_LEASE_SLACK,
            secrets,
        };
        let engine = Arc::new(Engine::new(parts).expect("engine"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(AppState {
            engine: Arc::clone(&engine),
            body_limit: pingpost_server::DEFAULT_BODY_LIMIT,
            admin_token: pingpost_server::AdminToken::new(ADMIN_TOKEN),
            console: Default::default(),
        });
        tokio::spawn(pingpost_server::serve(listener, state, std::future::pending()));
        let metrics_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind metrics");
        let metrics = format!("http://{}", metrics_listener.local_addr().expect("addr"));
        tokio::spawn(pingpost_server::serve_metrics(metrics_listener, std::future::pending()));
        let http = reqwest::Client::new();
        Harness { engine, backing, clock, buyers, buyers_url, base, metrics, faults, http, _books_server: None, events }
    }

    /// The simulated buyers' base URL (`http://127.0.0.1:port`).
    pub fn buyers_url(&self) -> String {
        self.buyers_url.clone()
    }

    pub async fn call(&self, path: &str, key: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = req.send().await.expect("server answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}"));
        (status, value)
    }

    /// `method` on `path` with the `Authorization` header exactly as given.
    pub async fn call_authorized(
        &self,
        method: &str,
        path: &str,
        authorization: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.json_call(method, path, Some(authorization.to_string()), body).await
    }

    /// `method` on `path`, with this `Authorization` header if any and a JSON body if any,
    /// answered in JSON: (status, body).
    async fn json_call(
        &self,
        method: &str,
        path: &str,
        authorization: Option<String>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.expect("server answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}"));
        (status, value)
    }

    /// A GET on the API's address answered in text: (status, body).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.expect("server answers");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// `GET /metrics` on the metrics address: (status, body).
    pub async fn scrape_metrics(&self) -> (u16, String) {
        let resp = self.http.get(format!("{}/metrics", self.metrics)).send().await.expect("metrics answer");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// An admin API call with the operator token: `method` on `/v1/admin{path}`.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.admin_with(Some(ADMIN_TOKEN), method, path, body).await
    }

    /// An admin API call with the given bearer token (or none).
    pub async fn admin_with(&self, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json_call(method, &format!("/v1/admin{path}"), token.map(|t| format!("Bearer {t}")), body).await
    }

    pub async fn ping_as(&self, key: &str, offer: &str, lead: Value) -> (u16, Value) {
        self.call("/v1/ping", Some(key), json!({"offer": offer, "lead": lead}).to_string().into_bytes()).await
    }

    /// Pings as p1 and expects a 200.
    pub async fn ping(&self, offer: &str, lead: Value) -> Value {
        let (status, body) = self.ping_as(KEY_P1, offer, lead).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn post_as(&self, key: &str, ping_id: &str, lead: Value) -> (u16, Value) {
        self.call("/v1/post", Some(key), json!({"ping_id": ping_id, "lead": lead}).to_string().into_bytes()).await
    }

    /// Posts as p1 and expects a 200.
    pub async fn post(&self, ping_id: &str, lead: Value) -> Value {
        let (status, body) = self.post_as(KEY_P1, ping_id, lead).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Pings then posts the same lead; answers (ping, post).
    pub async fn sell(&self, offer: &str, lead: Value) -> (Value, Value) {
        let ping = self.ping(offer, lead.clone()).await;
        let post = self.post(ping["ping_id"].as_str().expect("ping_id"), lead).await;
        (ping, post)
    }

    /// Moves the clock on, once what the engine still had to do in the background
    /// (confirmations) is done: time passes after the work of the moment, never in its middle.
    pub async fn advance_days(&self, days: i64) {
        self.advance_secs(days * DAY).await;
    }

    pub async fn advance_secs(&self, secs: i64) {
        self.engine.quiesce().await;
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    /// Moves the clock on `days` and lets the store age as far: the sweep runs at the new
    /// time (the embedded store forgets by the clock), and on Redis, whose keys expire by its
    /// own clock, every key of the harness's namespace whose time to live ends within `days`
    /// is deleted first, as Redis will have expired it by then.
    pub async fn let_days_pass(&self, days: i64) {
        self.advance_days(days).await;
        if let Some((urls, namespace)) = self.backing.redis_urls() {
            let within = std::time::Duration::from_secs(u64::try_from(days * DAY).unwrap_or(0));
            pingpost_testkit::expire_within(&urls, &format!("{namespace}:*"), within).await;
        }
        self.engine.sweep().await.expect("sweep");
    }

    /// Every audit entry, newest first (after the log's writer caught up).
    pub async fn audit(&self) -> Vec<AuditEntry> {
        self.engine.audit().flush().await.expect("audit flushed");
        self.engine.audit().recent(usize::MAX).await.expect("audit readable")
    }

    /// (contract, checkpoint) of every audit entry, oldest first.
    pub async fn audit_hits(&self) -> Vec<(String, String)> {
        let mut hits: Vec<(String, String)> = self
            .audit()
            .await
            .into_iter()
            .map(|e| (e.contract.map(|c| c.to_string()).unwrap_or_default(), e.checkpoint.as_str().to_string()))
            .collect();
        hits.reverse();
        hits
    }

    /// Everything the store holds, keys and values, as text.
    pub async fn dump_store(&self) -> String {
        match self.backing.redis_urls() {
            None => match &self.backing {
                Backing::Memory(store) => store.dump(),
                _ => unreachable!("only the embedded store has no URL"),
            },
            Some((urls, namespace)) => pingpost_testkit::dump(&urls, &format!("{namespace}:*")).await,
        }
    }

    /// The test's own redis-server, when the harness runs on Redis.
    pub fn redis(&mut self) -> Option<&mut RedisServer> {
        match &mut self.backing {
            Backing::Redis { server, .. } => Some(server),
            Backing::Memory(_) | Backing::Shared { .. } => None,
        }
    }

    /// Every consumer mark, ledger entry and counter of the store.
    pub async fn snapshot(&self) -> Snapshot {
        // What answers left to do in the background (confirmations) is part of the state.
        self.engine.quiesce().await;
        match (&self.backing, self.backing.redis_urls()) {
            (Backing::Memory(store), _) => store.snapshot(),
            (_, Some((urls, namespace))) => pingpost_redis::snapshot(&urls, &pingpost_redis::Keys::new(namespace))
                .await
                .expect("snapshot of the test's Redis"),
            (_, None) => unreachable!("every Redis backing has URLs"),
        }
    }

    /// The sale guarantees over the whole store, with the windows and slots of the
    /// configuration in force; `swept_at` when a sweep just ran at that time.
    pub async fn assert_guarantees(&self, context: &str, swept_at: Option<chrono::DateTime<chrono::Utc>>) {
        self.assert_guarantees_erased(context, swept_at, &std::collections::HashSet::new()).await;
    }

    /// As [`Harness::assert_guarantees`], for a run that erased the `erased` identifier hashes.
    pub async fn assert_guarantees_erased(
        &self,
        context: &str,
        swept_at: Option<chrono::DateTime<chrono::Utc>>,
        erased: &std::collections::HashSet<pingpost_core::identity::Sha256Hex>,
    ) {
        let config = self.engine.config();
        let window = |c: &pingpost_core::ids::ContractId| {
            config.contracts.get(c).and_then(|c| c.dedup.enabled.then_some(c.dedup.window))
        };
        let slots = |o: &pingpost_core::ids::OfferId| match config.offers.get(o) {
            Some(o) if o.mode == pingpost_core::config::SaleMode::Multisell => o.max_buyers,
            _ => 1,
        };
        let snapshot = self.snapshot().await;
        let rules = Rules { window: &window, slots: &slots, erased, swept_at };
        pingpost_store::invariants::assert_holds(&snapshot, &rules, context);
    }

    pub async fn counter(&self, key: &str) -> i64 {
        self.engine.store().read_counters(vec![key.to_string()]).await.expect("store")[0]
    }
}

pub fn lead(email: Option<&str>, phone: Option<&str>) -> Value {
    let mut l = json!({"state": "CA", "zip": "90210", "age": 34});
    if let Some(e) = email {
        l["email"] = json!(e);
    }
    if let Some(p) = phone {
        l["phone"] = json!(p);
    }
    l
}

pub fn email(e: &str) -> Value {
    lead(Some(e), None)
}

/// The contracts that bid, in rank order.
pub fn bid_contracts(ping: &Value) -> Vec<String> {
    ping["bids"]
        .as_array()
        .map(|b| b.iter().filter_map(|x| x["contract"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub fn sold_to(post: &Value) -> Vec<String> {
    post["sales"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["buyer"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub fn outcomes(post: &Value) -> Vec<(String, String)> {
    post["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["buyer"].as_str().unwrap_or_default().to_string(),
                        x["outcome"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
