//! `pingpost serve | check | buyers | suppress import | reconcile`. The edge of the system:
//! reads files and the environment, picks the store, wires the engine to the HTTP server,
//! runs the periodic sweep, handles signals.
//!
//! Shutdown (SIGINT, SIGTERM): the signal stops the accept loop (new connections are refused)
//! and asks every connection to finish its request and close; `Engine::drain` waits for pings
//! and posts still running in their own tasks (the server runs engine work in a task, so a
//! client that hangs up cannot cut a post between reservation and settlement); then the audit
//! log and statistics are flushed (their channels are FIFO, so the flush marker follows every
//! entry recorded). All of it is bounded by `--shutdown-timeout-ms` from the signal: requests
//! still open then are abandoned and the flushes run anyway, so a half-sent request cannot
//! keep the process up. The workspace's `tests/shutdown.rs`, `tests/connections.rs` and
//! `tests/audit.rs` check it with the real binary.

mod contracts_dir;
mod reconcile;
mod suppress;

use anyhow::{bail, Context, Result};

// mimalloc rather than glibc's allocator: a ping makes some two hundred small allocations,
// and glibc's malloc and free were a third of a ping's instructions (issue 13's profile);
// the echo ceiling uses the same allocator, so the ratio compares work, not allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use pingpost_engine::audit::{AuditRetention, AuditSink, MemoryAudit};
use pingpost_engine::clock::SystemClock;
use pingpost_engine::config_sync;
use pingpost_engine::secrets::{EnvSecrets, Secrets};
use pingpost_engine::stats::{MemoryStats, StatsSink, DEFAULT_RETENTION};
use pingpost_engine::{Engine, EngineParts};
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_server::{AdminToken, AppState, DEFAULT_BODY_LIMIT};
use pingpost_store::{MemoryStore, SecretStore, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "pingpost", version, about = "Ping-post lead auction engine with contract-level dedup")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine.
    Serve(ServeArgs),
    /// Validate a contracts/ directory and name every error.
    Check {
        /// The directory of *.toml files.
        #[arg(default_value = "contracts")]
        dir: PathBuf,
    },
    /// Manage the suppression list of a running engine.
    Suppress {
        #[command(subcommand)]
        command: SuppressCommand,
    },
    /// Check a running engine's books against its store; exit 1 on any difference.
    Reconcile(reconcile::ReconcileArgs),
    /// Move a Redis store of the single-slot ledger layout to the buyer-slot layout (every
    /// engine stopped, posts drained: see the README, "Upgrading to the buyer-slot layout").
    MigrateStore {
        /// The store: one `redis://` URL, or a cluster's comma-separated list.
        #[arg(long, env = "PINGPOST_REDIS")]
        redis: String,
    },
    /// Run simulated buyers (the example contracts point at them).
    Buyers {
        #[arg(long, env = "PINGPOST_BUYERS_LISTEN", default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
    },
}

#[derive(Subcommand)]
enum SuppressCommand {
    /// Import a CSV of emails and phones: hashed here, only hashes are sent.
    Import(suppress::ImportArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "PINGPOST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, env = "PINGPOST_CONTRACTS", default_value = "contracts")]
    contracts: PathBuf,
    /// `memory` (embedded, one node), `redis://host:port` (one Redis), or a
    /// comma-separated list of `redis://` URLs (a Redis Cluster).
    #[arg(long, env = "PINGPOST_STORE", default_value = "memory")]
    store: String,
    /// Where the books are kept: `postgres://…` (schema created and migrated at start), or
    /// in this process when unset (they then last as long as it does).
    #[arg(long, env = "PINGPOST_BOOKS", hide_env_values = true)]
    books: Option<String>,
    /// Where the lead event log is kept: `postgres://…` (its own schema, created and migrated
    /// at start); the books' database when unset and they are in PostgreSQL; else in this
    /// process.
    #[arg(long, env = "PINGPOST_EVENTS", hide_env_values = true)]
    events: Option<String>,
    /// Days of lead events kept: older days are dropped whole.
    #[arg(long, env = "PINGPOST_EVENT_RETENTION_DAYS", default_value_t = pingpost_engine::events::DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    event_retention_days: u32,
    /// Operator token for /v1/admin (generated and printed once when unset).
    #[arg(long, env = "PINGPOST_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Days of dedup audit log kept, counted back from the newest entry.
    #[arg(long, env = "PINGPOST_AUDIT_RETENTION_DAYS", default_value_t = AuditRetention::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    audit_retention_days: u32,
    /// Most dedup audit entries kept (the oldest go first). On Redis the stream is trimmed
    /// approximately (whole stream nodes), so it may hold slightly more.
    #[arg(long, env = "PINGPOST_AUDIT_MAX_ENTRIES", default_value_t = AuditRetention::DEFAULT_MAX_ENTRIES,
          value_parser = audit_max_entries)]
    audit_max_entries: usize,
    /// Redis replicas every admission and reservation must reach (Redis's WAIT) before the
    /// engine acts on it; 0 does not wait. See the README on what a failover can lose.
    #[arg(long, env = "PINGPOST_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    redis_wait_replicas: u32,
    /// How long such a write waits for its replicas before the request fails with 503 (at
    /// least 1: Redis reads a WAIT timeout of 0 as "wait forever").
    #[arg(long, env = "PINGPOST_REDIS_WAIT_TIMEOUT_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    redis_wait_timeout_ms: u64,
    /// Slack on top of the buyers' timeouts before a post's reservation or claim counts as
    /// abandoned (its engine died): another node may then resume the post, and the sweep
    /// keeps the reservation as an unconfirmed sale.
    #[arg(long, env = "PINGPOST_LEASE_SLACK_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    lease_slack_ms: u64,
    /// How often reservations past their lease are turned into unconfirmed sales and
    /// expired state is forgotten.
    #[arg(long, env = "PINGPOST_SWEEP_INTERVAL_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    sweep_interval_ms: u64,
    /// Where `/metrics` is served: an address of its own, never the partners' (per-buyer
    /// counters would tell a partner who bought its lead); `off` serves none.
    #[arg(long, env = "PINGPOST_METRICS_LISTEN", default_value = "127.0.0.1:9464", value_parser = metrics_listen)]
    metrics_listen: MetricsListen,
    /// How long a client may take to send a request's head; also how long a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, env = "PINGPOST_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    header_read_timeout_ms: u64,
    /// How long a request's body may stall between two of its chunks.
    #[arg(long, env = "PINGPOST_BODY_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    body_read_timeout_ms: u64,
    /// Connections open at once on the API's address; past it new ones wait to be accepted.
    #[arg(long, env = "PINGPOST_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// After SIGTERM, how long requests in flight may take to finish before the engine
    /// flushes its logs and books and exits anyway.
    #[arg(long, env = "PINGPOST_SHUTDOWN_TIMEOUT_MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    shutdown_timeout_ms: u64,
    /// Send the console's session cookie with `Secure` (only over HTTPS): for deployments
    /// behind TLS.
    #[arg(long, env = "PINGPOST_CONSOLE_SECURE_COOKIE")]
    console_secure_cookie: bool,
}

/// The shortest operator token accepted: it opens everything, and the console's sign-in
/// form can be tried by anyone who reaches the port.
const MIN_ADMIN_TOKEN_LEN: usize = 24;

#[derive(Clone, Copy, Debug)]
enum MetricsListen {
    Off,
    At(SocketAddr),
}

fn metrics_listen(text: &str) -> Result<MetricsListen, String> {
    match text.trim() {
        "off" => Ok(MetricsListen::Off),
        addr => addr.parse().map(MetricsListen::At).map_err(|e| format!("{text:?} is not host:port or \"off\": {e}")),
    }
}

fn audit_max_entries(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a number of entries (1 or more)")),
    }
}

async fn migrate_store(urls: &str) -> Result<()> {
    let store = RedisStore::connect(urls, RedisOptions::default()).await.context("connecting to Redis")?;
    let moved = store.migrate_to_buyer_slots(urls).await.context("migrating the store")?;
    println!("{moved:?}");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { dir } => check(&dir),
        Command::Serve(args) => runtime()?.block_on(serve(args)),
        Command::Buyers { listen } => runtime()?.block_on(buyers(listen)),
        Command::Suppress { command: SuppressCommand::Import(args) } => runtime()?.block_on(suppress::import(args)),
        Command::MigrateStore { redis } => runtime()?.block_on(migrate_store(&redis)),
        Command::Reconcile(args) => match runtime()?.block_on(reconcile::run(args)) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(reconcile::DIFFERENCES_FOUND),
            Err(e) => {
                eprintln!("Error: {e:#}");
                std::process::exit(reconcile::FAILED)
            }
        },
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    init_logging();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")
}

/// Level from `PINGPOST_LOG`, else `RUST_LOG` (what operators of any Rust service try
/// first), else `info`; one line of text per event, or one JSON object per line with
/// `PINGPOST_LOG_FORMAT=json` (for log shippers). Logs go to stderr: stdout carries the lines
/// tests and scripts read (the listening address, a generated admin token).
fn init_logging() {
    let filter = ["PINGPOST_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok())
        .unwrap_or_else(|| "info".into());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = std::env::var("PINGPOST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        fmt.json().with_current_span(true).with_span_list(false).init();
    } else {
        fmt.init();
    }
}

fn check(dir: &std::path::Path) -> Result<()> {
    match contracts_dir::load(dir)? {
        Ok((_, config)) => {
            println!(
                "{}: ok ({} verticals, {} offers, {} partners, {} buyers, {} contracts)",
                dir.display(),
                config.verticals.len(),
                config.offers.len(),
                config.partners.len(),
                config.buyers.len(),
                config.contracts.len()
            );
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!("{}: {} error(s)", dir.display(), errors.len())
        }
    }
}

/// A store spec safe to print: passwords in `redis://user:pass@host` URLs are masked.
fn redacted(spec: &str) -> String {
    spec.split(',')
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            _ => url.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The store, and the secrets, audit log and statistics that live beside it.
struct Backing {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    audit: Arc<dyn AuditSink>,
    stats: Arc<dyn StatsSink>,
}

async fn open_store(spec: &str, retention: AuditRetention, options: RedisOptions) -> Result<Backing> {
    if spec == "memory" {
        let store = Arc::new(MemoryStore::new());
        return Ok(Backing {
            store: Arc::clone(&store) as _,
            secrets: store,
            audit: Arc::new(MemoryAudit::new(retention)),
            stats: Arc::new(MemoryStats::new(DEFAULT_RETENTION)),
        });
    }
    if spec.split(',').all(|u| u.trim().starts_with("redis://")) {
        let store = RedisStore::connect(spec, options)
            .await
            .with_context(|| format!("connecting to Redis at {}", redacted(spec)))?;
        let audit = Arc::new(store.audit_log(retention));
        let stats = Arc::new(store.stats_sink(DEFAULT_RETENTION));
        let store = Arc::new(store);
        return Ok(Backing { store: Arc::clone(&store) as _, secrets: store, audit, stats });
    }
    bail!("unknown store {spec:?}: use \"memory\", redis://host:port, or a comma-separated list of redis:// URLs")
}

async fn serve(args: ServeArgs) -> Result<()> {
    let metrics = pingpost_server::metrics::install()?;
    let seed = match contracts_dir::load(&args.contracts)? {
        Ok((doc, _)) => doc,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!("refusing to start: {} has {} error(s)", args.contracts.display(), errors.len());
        }
    };
    // Read first: a node must not start without a secret its operator meant to give it.
    let own_secrets = EnvSecrets::from_vars(std::env::vars_os()).context("reading PINGPOST_SECRET_* variables")?;
    let retention = AuditRetention::new(args.audit_max_entries, args.audit_retention_days);
    let faults = failpoints()?;
    let lease_slack = chrono::Duration::milliseconds(i64::try_from(args.lease_slack_ms)?);
    let redis_options = RedisOptions {
        wait_replicas: args.redis_wait_replicas,
        wait_timeout: Duration::from_millis(args.redis_wait_timeout_ms),
        faults: faults.clone(),
        ..RedisOptions::default()
    };
    let admin_token = match args.admin_token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() < MIN_ADMIN_TOKEN_LEN => bail!(
            "refusing to start: the operator token (--admin-token / PINGPOST_ADMIN_TOKEN) must be at least \
             {MIN_ADMIN_TOKEN_LEN} characters; leave it unset to have one generated"
        ),
        Some(t) => AdminToken::new(t),
        None => {
            let generated = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
            println!("admin token (generated, shown once): {generated}");
            AdminToken::new(&generated)
        }
    };
    let shared_store = args.store != "memory";
    if shared_store && args.books.as_deref().is_none_or(|b| b.trim().is_empty()) {
        bail!(
            "refusing to start: with a shared store ({}) the books must be shared too, or every node keeps \
             its own and a restart loses the money entries it relayed; give --books postgres://… (PINGPOST_BOOKS)",
            redacted(&args.store)
        );
    }
    let Backing { store, secrets, audit, stats } = open_store(&args.store, retention, redis_options).await?;
    let books = open_books(args.books.as_deref()).await?;
    let events = open_events(args.events.as_deref(), args.books.as_deref()).await?;
    let own_names: Vec<String> = own_secrets.names().map(ToString::to_string).collect();
    if !own_names.is_empty() {
        tracing::info!(secrets = %own_names.join(","), "secrets from the environment: they override the store's");
    }
    let secrets = Secrets::load(secrets, own_secrets).await.context("reading the secrets from the store")?;
    let (stamp, config, seeded) = config_sync::bootstrap(store.as_ref(), &seed)
        .await
        .map_err(|e| anyhow::anyhow!("loading the configuration from the store: {e}"))?;
    if seeded {
        tracing::info!(contracts = %args.contracts.display(), "store had no configuration: seeded it from the files");
    } else {
        tracing::info!(
            version = stamp.version,
            "configuration read from the store (files in {} not applied)",
            args.contracts.display()
        );
    }
    let engine = Arc::new(Engine::new(EngineParts {
        config,
        config_stamp: Some(stamp),
        store,
        clock: Arc::new(SystemClock),
        ids: Arc::new(pingpost_engine::ids::RandomIds),
        audit,
        stats,
        books,
        events,
        faults,
        lease_slack,
        secrets,
    })?);
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        MetricsListen::Off => None,
        MetricsListen::At(at) => {
            Some(TcpListener::bind(at).await.with_context(|| format!("binding the metrics address {at}"))?)
        }
    };
    // The event log's days before the first ping's event is written (a day without its
    // partition is refused whole); retried by the relay task if the database is not there yet.
    let upkept = match engine.event_upkeep(args.event_retention_days).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "event log upkeep failed at start; retried");
            false
        }
    };
    let sweeper = tokio::spawn(sweep_forever(Arc::clone(&engine), Duration::from_millis(args.sweep_interval_ms)));
    let relay = tokio::spawn(relay_forever(Arc::clone(&engine)));
    let events_flush = tokio::spawn(flush_events_forever(Arc::clone(&engine)));
    let events_relay = tokio::spawn(relay_events_forever(Arc::clone(&engine), args.event_retention_days, upkept));
    let config_poller = tokio::spawn(follow_config(Arc::clone(&engine)));
    let secrets_poller = tokio::spawn(pingpost_engine::secrets::follow(Arc::clone(&engine)));
    let upkeep = tokio::spawn(metrics_upkeep(metrics));
    // One signal stops both servers; the deadline counts from it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<tokio::time::Instant>);
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(Some(tokio::time::Instant::now()));
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>| async move {
        let _ = rx.wait_for(Option::is_some).await;
    };
    if let Some(metrics_listener) = metrics_listener {
        let at = metrics_listener.local_addr()?;
        // Tests read this line to learn the port when they bind port 0.
        println!("pingpost metrics on http://{at}/metrics");
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = pingpost_server::serve_metrics(metrics_listener, stop).await {
                tracing::error!(error = %e, "the metrics server stopped");
            }
        });
    }
    // Tests read this line to learn the port when they bind port 0.
    println!("pingpost listening on http://{addr}");
    tracing::info!(%addr, store = %redacted(&args.store), "pingpost serving");
    let state = Arc::new(AppState {
        engine: Arc::clone(&engine),
        body_limit: DEFAULT_BODY_LIMIT,
        admin_token,
        console: pingpost_server::console::ConsoleState::new(args.console_secure_cookie),
    });
    let grace = Duration::from_millis(args.shutdown_timeout_ms);
    let limits = pingpost_server::Limits {
        header_read: Duration::from_millis(args.header_read_timeout_ms),
        body_read: Duration::from_millis(args.body_read_timeout_ms),
        max_connections: usize::try_from(args.max_connections)?,
        shutdown: grace,
    };
    pingpost_server::serve_with(listener, state, limits, stopped(stop_rx.clone())).await?;
    // Requests whose client hung up are still running in their own tasks; let them finish
    // before their audit entries and statistics are flushed, within what is left of the
    // deadline: past it the flushes run anyway, and those requests end with the process.
    let deadline = stop_rx.borrow().unwrap_or_else(tokio::time::Instant::now) + grace;
    if tokio::time::timeout_at(deadline, engine.drain()).await.is_err() {
        tracing::warn!("requests still running at the shutdown deadline; flushing without them");
    }
    sweeper.abort();
    relay.abort();
    events_relay.abort();
    events_flush.abort();
    config_poller.abort();
    secrets_poller.abort();
    // What the last requests moved goes to the books now; what cannot wait in the outbox for
    // the next start (or another node).
    if let Err(e) = engine.relay_books().await {
        tracing::warn!(error = %e, "books not caught up at shutdown; the outbox keeps the rest");
    }
    if let Err(e) = engine.relay_events().await {
        tracing::warn!(error = %e, "event log not caught up at shutdown; the store keeps the rest");
    }
    upkeep.abort();
    if let Err(e) = engine.audit().flush().await {
        tracing::error!(error = %e, "audit log not flushed at shutdown");
    }
    if let Err(e) = engine.stats().flush().await {
        tracing::error!(error = %e, "statistics not flushed at shutdown");
    }
    tracing::info!("pingpost stopped");
    Ok(())
}

/// The books: PostgreSQL when named (`postgres://` or `postgresql://`), else in this process.
async fn open_books(spec: Option<&str>) -> Result<Arc<dyn pingpost_books::Books>> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Arc::new(pingpost_books::MemoryBooks::new())),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let books = pingpost_books::PgBooks::connect(url)
                .await
                .with_context(|| format!("opening the books at {}", redacted(url)))?;
            tracing::info!(books = %redacted(url), "books in PostgreSQL");
            Ok(Arc::new(books))
        }
        Some(other) => bail!("unknown books {:?}: use a postgres:// URL, or leave it unset", redacted(other)),
    }
}

/// The lead event log: PostgreSQL when named, else the books' PostgreSQL database when they
/// are kept there (in a schema of its own), else this process.
async fn open_events(spec: Option<&str>, books: Option<&str>) -> Result<Arc<dyn pingpost_events::EventLog>> {
    let named = spec.map(str::trim).filter(|s| !s.is_empty());
    let books_pg = books.map(str::trim).filter(|b| b.starts_with("postgres://") || b.starts_with("postgresql://"));
    match named.or(books_pg) {
        None => Ok(Arc::new(pingpost_events::MemoryEvents::new())),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let events = pingpost_events::PgEvents::connect(url)
                .await
                .with_context(|| format!("opening the lead event log at {}", redacted(url)))?;
            tracing::info!(events = %redacted(url), "lead event log in PostgreSQL");
            Ok(Arc::new(events))
        }
        Some(other) => bail!("unknown event log {:?}: use a postgres:// URL, or leave it unset", redacted(other)),
    }
}

/// How often the event relay empties the store's event outbox: the log's lag in normal
/// running, and how soon it catches up once PostgreSQL is back.
const EVENTS_RELAY_INTERVAL: Duration = Duration::from_millis(500);
/// How often the log's days ahead are made and those past the retention dropped.
const EVENTS_UPKEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Hands this node's answered pings' events to the store every
/// `pingpost_engine::events::FLUSH_INTERVAL_MS`, in a task of its own: a relay pass stuck on a
/// stalled PostgreSQL must not keep the events in the node (where they are capped), only in
/// the store.
async fn flush_events_forever(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(Duration::from_millis(pingpost_engine::events::FLUSH_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = engine.flush_events().await {
            tracing::warn!(error = %e, "lead events not handed to the store; this node keeps them");
        }
    }
}

/// Relays what waits in the store to the log every [`EVENTS_RELAY_INTERVAL`], and keeps the
/// log's days (made ahead, dropped past the retention) every [`EVENTS_UPKEEP_INTERVAL`].
async fn relay_events_forever(engine: Arc<Engine>, retention_days: u32, upkept_at_start: bool) {
    let mut tick = tokio::time::interval(EVENTS_RELAY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut upkept: Option<tokio::time::Instant> = upkept_at_start.then(tokio::time::Instant::now);
    loop {
        tick.tick().await;
        if upkept.is_none_or(|at| at.elapsed() >= EVENTS_UPKEEP_INTERVAL) {
            match engine.event_upkeep(retention_days).await {
                Ok(()) => upkept = Some(tokio::time::Instant::now()),
                Err(e) => tracing::warn!(error = %e, "event log upkeep failed; retried"),
            }
        }
        if let Err(e) = engine.relay_events().await {
            tracing::warn!(error = %e, "event relay paused; the store keeps the events");
        }
    }
}

/// How often the books relay empties the outbox: money movements reach the books within
/// about this, or as soon as the books are back after an outage.
const RELAY_INTERVAL: Duration = Duration::from_millis(500);

async fn relay_forever(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(RELAY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = engine.relay_books().await {
            tracing::warn!(error = %e, "books relay paused; the outbox keeps the entries");
        }
    }
}

/// Failpoints from `PINGPOST_FAILPOINTS` (test builds only: the crash tests make a real node
/// die at a chosen step), whose aborts end the process on the spot, as `kill -9` would.
fn failpoints() -> Result<pingpost_store::Faults> {
    match std::env::var("PINGPOST_FAILPOINTS") {
        Ok(spec) if !spec.trim().is_empty() => {
            let abort = Box::new(|point: &str| {
                eprintln!("failpoint {point}: aborting the process");
                std::process::abort()
            });
            let faults = pingpost_store::Faults::from_spec(&spec, abort).map_err(anyhow::Error::msg)?;
            tracing::warn!(%spec, "failpoints armed");
            Ok(faults)
        }
        _ => Ok(pingpost_store::Faults::none()),
    }
}

async fn sweep_forever(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match engine.sweep().await {
            Ok(report) => tracing::debug!(?report, "swept"),
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}

/// The recorder is installed without the exporter's own task, so its upkeep is ours.
async fn metrics_upkeep(handle: pingpost_server::metrics::PrometheusHandle) {
    let mut tick = tokio::time::interval(pingpost_server::metrics::UPKEEP_INTERVAL);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// Picks up configuration edits made through any node.
async fn follow_config(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(config_sync::POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match engine.refresh_config().await {
            Ok(true) => tracing::info!(version = engine.config_version(), "configuration updated"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "configuration not refreshed"),
        }
    }
}

async fn buyers(listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let shutdown = shutdown_signal();
    // The strict buyers expect the secrets the engine sends them: the same variables, read
    // here too (their demo values where unset). Names only: a secret's value is never shown.
    for name in pingpost_buyersim::strict::SECRET_NAMES {
        let var = pingpost_buyersim::Credentials::env_var(name);
        let from = if std::env::var_os(&var).is_some_and(|v| !v.is_empty()) { "set" } else { "unset: demo value" };
        println!("strict buyers' secret {name} from {var} ({from})");
    }
    println!("simulated buyers listening on http://{}", listener.local_addr()?);
    let buyers = pingpost_buyersim::Buyers::with_credentials(pingpost_buyersim::Credentials::from_env());
    pingpost_buyersim::serve(listener, buyers, shutdown).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not when
/// the future is first polled: a signal arriving between binding and the server's first poll
/// must start a graceful shutdown, not kill the process with its audit log unflushed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "signal handlers not installed; stop the process with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; no new connections, finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn store_specs_are_printed_without_passwords() {
        assert_eq!(
            redacted("redis://:s3cret@10.0.0.1:6379,redis://10.0.0.2:6379"),
            "redis://***@10.0.0.1:6379,redis://10.0.0.2:6379"
        );
        assert_eq!(redacted("memory"), "memory");
    }
}
