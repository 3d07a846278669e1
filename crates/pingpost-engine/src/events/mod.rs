//! The lead event log, the engine's side (SPEC "Repeat leads, the window what-if and the lead
//! event log"): each answered live ping becomes one [`LeadEvent`] — where each contract of the
//! offer stopped, or its bid, and the gaps a different window would have judged by ([`fates`]) —
//! kept by the node and handed to the store's event outbox off the answer's path ([`pending`]);
//! the relay moves what waits to the log ([`relay`]), the upkeep makes its days ahead and drops
//! those past the retention, and the age of the oldest waiting event is the log's lag. With the
//! log in PostgreSQL the audit API ([`audit`]) and the statistics ([`stats`]) read it too.
//!
//! [`LeadEvent`]: pingpost_core::events::LeadEvent

mod audit;
mod fates;
mod pending;
mod relay;
mod stats;

pub(crate) use audit::LoggedAudit;
pub(crate) use fates::{fates, ContractFacts};
pub(crate) use pending::PendingEvents;
pub use pending::{EVENTS_DROPPED_TOTAL, FLUSH_INTERVAL_MS, MAX_PENDING};
pub use relay::{DAYS_AHEAD, DEFAULT_RETENTION_DAYS, EVENTS_LAG_SECONDS, EVENTS_UNREADABLE_TOTAL, RELAY_BATCH};
pub(crate) use stats::LoggedStats;
