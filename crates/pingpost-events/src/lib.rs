//! The lead event log in PostgreSQL (SPEC "Repeat leads, the window what-if and the lead event
//! log"): one row per ping, in a partition per UTC day of its own schema, `pingpost_events`,
//! so it can share the books' database (`--events` falls back to it) without sharing their
//! migrations or ever touching their tables.
//!
//! Its parts: the schema, its migrations and the partitions' upkeep ([`partitions`]): each
//! day's partition created ahead of time, whole partitions dropped once past the retention, no
//! DEFAULT partition; the events' (`pingpost_core::events`) idempotent batch append, which
//! keeps the what-if's rollup in the same transaction ([`writer`]); the rollup's reader and
//! erasure (`read`); the audit log's hits, written and read a page at a time (`hits`); the
//! statistics' counters, added once per batch (`counts`); the relay from the store's event
//! outbox ([`relay`]).

mod counts;
mod hits;
pub mod log;
pub mod partitions;
mod read;
pub mod relay;
pub mod writer;

pub use log::{Batch, EventLog, MemoryEvents};

pub use pingpost_core::events::{
    ContractFate, CountRow, Fate, HitCursor, HitPage, LeadEvent, LogEvent, Outcome, SaleEvent,
};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The schema the log lives in; its migrations are recorded there too.
pub const SCHEMA: &str = "pingpost_events";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("events database URL: {0}")]
    BadUrl(String),
    #[error("events database unavailable: {0}")]
    Unavailable(String),
    #[error("events schema not migrated: {0}")]
    Migration(String),
    #[error("events database holds what this engine does not read: {0}")]
    Corrupt(String),
    #[error("the store's event outbox: {0}")]
    Outbox(String),
}

pub type EventsResult<T> = Result<T, EventsError>;

fn unavailable(e: sqlx::Error) -> EventsError {
    EventsError::Unavailable(e.to_string())
}

/// The event log on one PostgreSQL database.
pub struct PgEvents {
    pool: PgPool,
}

impl PgEvents {
    /// Connects to `url`, creates the log's schema if it is missing and migrates it (under
    /// sqlx's advisory lock: nodes starting together migrate once). Errors never carry the
    /// URL, which may hold a password.
    pub async fn connect(url: &str) -> EventsResult<PgEvents> {
        let base = PgConnectOptions::from_str(url).map_err(|e| EventsError::BadUrl(e.to_string()))?;
        let setup = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(base.clone())
            .await
            .map_err(unavailable)?;
        // Two nodes may race here: IF NOT EXISTS still fails on the loser of a concurrent
        // create, which the retry of one statement settles.
        let create = || sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}")));
        if create().execute(&setup).await.is_err() {
            create().execute(&setup).await.map_err(unavailable)?;
        }
        setup.close().await;
        // Every connection of the log resolves names in its schema first, the migrations'
        // own table included.
        let options = base.options([("search_path", SCHEMA)]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&pool).await.map_err(|e| EventsError::Migration(e.to_string()))?;
        Ok(PgEvents { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
