//! The engine: runs pings and posts over a [`Store`], calls buyers, writes the audit log.
//!
//! # Layout
//! - [`ping`]: checkpoints, DQ questions and real-time bids under one deadline.
//! - [`post`]: identity binding, atomic sale reservation, delivery, rollback, waterfall.
//! - [`buyer`]: the buyer protocol (pure) and its HTTP executor.
//! - [`audit`]: the dedup audit log.
//! - [`stats`]: dedup statistics, hourly counters by partner, buyer and vertical.
//! - [`clock`]: injected wall-clock time.
//! - [`ids`]: injected ids (pings' ids, claims' holders, write and top-up ids).
//! - [`config_sync`]: the configuration document in the store; edits and their propagation.
//! - [`records`]: answers and the ping record kept for the post.
//! - [`telemetry`]: metric names and what the engine reports to the `metrics` facade.
//! - [`relay`]: the books relay, from the store's outbox to the books (a refused entry parked).
//! - [`events`]: each ping's lead event, queued in the store and relayed to the event log.
//! - [`reconcile`]: the books checked against the store.
//! - [`balance`]: a prepaid buyer's balance as it stands, reservations in flight apart.
//! - [`secrets`]: the secrets buyers' calls are rendered with (store and environment).
//!
//! The engine knows JSON only where buyers need it; partners' JSON is the server's business.

pub mod audit;
pub mod balance;
pub mod buyer;
pub mod clock;
pub mod config_sync;
pub mod error;
pub mod events;
pub mod ids;
pub mod ping;
pub mod post;
pub mod reconcile;
pub mod records;
pub mod relay;
pub mod returns;
pub mod sales_list;
pub mod secrets;
pub mod stats;
pub mod telemetry;
#[cfg(test)]
mod unit_market;
pub mod whatif;

pub use error::EngineError;
pub use ping::PingRequest;
pub use post::PostRequest;

use audit::AuditSink;
use buyer::BuyerClient;
use clock::Clock;
use ids::Ids;
use pingpost_books::Books;
use pingpost_core::config::Config;
use pingpost_core::ids::PartnerId;
use pingpost_store::{Faults, Store};
use sha2::Digest;
use stats::StatsSink;
use std::sync::{Arc, RwLock};

/// Everything the engine needs from outside, chosen by the caller (the binary or a test).
pub struct EngineParts {
    pub config: Config,
    /// The stored configuration document `config` is (`None` when none is stored): the
    /// engine adopts any other the store holds from then on.
    pub config_stamp: Option<pingpost_store::ConfigStamp>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Where ping ids and tokens come from ([`ids::RandomIds`] in production).
    pub ids: Arc<dyn Ids>,
    pub audit: Arc<dyn AuditSink>,
    pub stats: Arc<dyn StatsSink>,
    /// Where money movements are kept for good (the relay fills it from the store's outbox).
    pub books: Arc<dyn Books>,
    /// Where each ping's event is kept for good (the event relay fills it from the store's
    /// event outbox).
    pub events: Arc<dyn pingpost_events::EventLog>,
    /// Failpoints on every store call and the engine's own step boundaries (tests only;
    /// `Faults::none()` in production).
    pub faults: Faults,
    /// Slack on top of the buyers' timeouts before a post's reservation or claim counts as
    /// abandoned ([`DEFAULT_LEASE_SLACK`]).
    pub lease_slack: chrono::Duration,
    /// The secrets buyers' calls are rendered with: the store's and the node's environment's.
    pub secrets: secrets::Secrets,
}

/// Covers what a live engine can add to a buyer's timeout (store calls, scheduling, a GC-like
/// pause) with a wide margin: a lease that ran out must mean the engine died.
pub const DEFAULT_LEASE_SLACK: chrono::Duration = chrono::Duration::seconds(30);

pub struct Engine {
    /// The stored document in force and its validated configuration.
    config: RwLock<(Option<pingpost_store::ConfigStamp>, Arc<Config>)>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn Ids>,
    audit: Arc<dyn AuditSink>,
    stats: Arc<dyn StatsSink>,
    books: Arc<dyn Books>,
    events: Arc<dyn pingpost_events::EventLog>,
    buyers: BuyerClient,
    faults: Faults,
    lease_slack: chrono::Duration,
    /// Pings and posts under way, so shutdown can wait for them: the server runs each in a
    /// task of its own that outlives a client that hung up, and the process must not end it.
    in_flight: tokio_util::task::TaskTracker,
    /// Serializes this node's configuration edits and reloads, so they never race each other
    /// for the document's compare-and-set nor adopt over each other; races between nodes are
    /// left to the compare-and-set.
    edits: tokio::sync::Mutex<()>,
    bid_counters: telemetry::BidCounters,
    secrets: secrets::Secrets,
    pending_events: Arc<events::PendingEvents>,
}

impl Engine {
    /// Measures whatever store and audit log it is given (see [`telemetry`]), so the binary
    /// and the tests report the same metrics without wiring them up.
    pub fn new(parts: EngineParts) -> Result<Self, reqwest::Error> {
        let pending_events = Arc::new(events::PendingEvents::default());
        // A log that serves the audit and the statistics gets their hits and counters too.
        let (audit, stats): (Arc<dyn AuditSink>, Arc<dyn StatsSink>) = if parts.events.serves_reads() {
            (
                Arc::new(events::LoggedAudit::new(parts.audit, Arc::clone(&pending_events))),
                Arc::new(events::LoggedStats::new(parts.stats, Arc::clone(&pending_events))),
            )
        } else {
            (parts.audit, parts.stats)
        };
        Ok(Engine {
            config: RwLock::new((parts.config_stamp, Arc::new(parts.config))),
            store: Arc::new(pingpost_store::Timed::with_faults(parts.store, parts.faults.clone())),
            clock: parts.clock,
            ids: parts.ids,
            audit: Arc::new(telemetry::CountedAudit::new(audit)),
            stats,
            books: parts.books,
            events: parts.events,
            buyers: BuyerClient::new()?,
            faults: parts.faults,
            lease_slack: parts.lease_slack,
            in_flight: tokio_util::task::TaskTracker::new(),
            edits: tokio::sync::Mutex::new(()),
            bid_counters: telemetry::BidCounters::default(),
            secrets: parts.secrets,
            pending_events,
        })
    }

    /// The configuration in force; a request keeps the one it started with.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()).1)
    }

    /// The partner an API key belongs to, by the key's SHA-256 (keys are never kept): its id
    /// only, which is all a request needs (a whole partner, its offers included, was copied
    /// on every request).
    pub fn partner_for_key(&self, api_key: &str) -> Option<PartnerId> {
        let digest: [u8; 32] = sha2::Sha256::digest(api_key.as_bytes()).into();
        self.config().partner_by_key_digest(&digest).map(|p| p.id.clone())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    pub fn stats(&self) -> &Arc<dyn StatsSink> {
        &self.stats
    }

    pub fn books(&self) -> &Arc<dyn Books> {
        &self.books
    }

    pub fn now(&self) -> pingpost_core::Timestamp {
        self.clock.now()
    }

    /// The injected source of ids: a new token (a top-up's or a return's id, a holder).
    pub fn new_token(&self) -> String {
        self.ids.token()
    }

    pub async fn ping(&self, partner: &PartnerId, req: PingRequest) -> Result<records::PingAnswer, EngineError> {
        let _in_flight = self.in_flight.token();
        ping::run(self, partner, req).await
    }

    pub async fn post(&self, partner: &PartnerId, req: PostRequest) -> Result<records::PostAnswer, EngineError> {
        let _in_flight = self.in_flight.token();
        post::run(self, partner, req).await
    }

    /// Resolves once no ping or post is under way. Call it after the server stopped
    /// accepting requests and before flushing the audit log and statistics.
    pub async fn drain(&self) {
        self.in_flight.close();
        self.in_flight.wait().await;
    }

    /// Resolves once no ping, post or background confirmation is under way, then takes new
    /// work again: tests wait here for what an answer left to do in the background.
    pub async fn quiesce(&self) {
        self.in_flight.close();
        self.in_flight.wait().await;
        self.in_flight.reopen();
    }

    /// Confirms an answered ping's vertical submission in the background (the answer does not
    /// wait for it), a few times if the store fails. A confirmation that never lands leaves
    /// the submission pending, so it counts for `ADMISSION_LEASE` only: vertical dedup for
    /// that consumer is weakened, never a sale.
    fn confirm_admission(&self, admission: pingpost_store::Admission) {
        let store: Arc<dyn pingpost_store::Admissions> = Arc::clone(&self.store) as _;
        self.in_flight.spawn(async move {
            for attempt in 1..=3u64 {
                match store.confirm_admission(admission.clone()).await {
                    Ok(()) => return,
                    Err(e) if attempt == 3 => {
                        tracing::warn!(ping_id = %admission.ping_id, error = %e, "vertical submission not confirmed; it lapses with its lease");
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
                }
            }
        });
    }

    /// Forgets what the store keeps past its retention (whatever the windows in force: see
    /// [`pingpost_store::RETENTION`]) and turns reservations past their lease into
    /// unconfirmed sales (reported as metrics); run periodically.
    pub async fn sweep(&self) -> Result<pingpost_store::SweepReport, EngineError> {
        let report = self.store.sweep(self.clock.now()).await?;
        telemetry::swept(&report);
        if report.reservations_unconfirmed > 0 {
            tracing::warn!(
                count = report.reservations_unconfirmed,
                unconfirmed = report.unconfirmed,
                "reservations past their lease kept as unconfirmed sales; list them with GET /v1/admin/ledger?state=unconfirmed"
            );
        }
        Ok(report)
    }
}
