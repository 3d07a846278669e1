//! pingpost's domain, free of I/O: everything here is a pure function of its inputs,
//! so it cannot fail for network or disk reasons and is tested without a runtime.
//!
//! # Layout
//! - [`ids`]: the newtype ids of verticals, offers, partners, buyers and contracts.
//! - [`money`]: exact amounts in minor units.
//! - [`window`]: dedup windows of 1..=365 days.
//! - [`identity`]: email/phone normalization and SHA-256 hashing.
//! - [`lead`]: the qualifying fields of a lead, as filters see them.
//! - [`intake`]: a partner's lead checked against its vertical's fields and its offer's
//!   consent, renamed from the partner's own names, each value in its kept form.
//! - [`config`]: the resource shapes, their validation and loading from TOML text.
//! - [`filter`], [`schedule`], [`caps`]: whether a contract may take a lead now.
//! - [`checkpoint`]: the checkpoint pipeline of a ping, as a pure decision over a
//!   snapshot of the store.
//! - [`auction`]: ranking bids and choosing winners.
//! - [`events`]: one ping as the lead event log keeps it.
//! - [`repeat`]: a returning consumer bought again, and what it costs.
//! - [`suppression_csv`]: the identifiers each row of a suppression CSV names.
//! - [`whatif`]: what another dedup window would have done to past pings, from their gaps.
//! - [`adapter`]: each buyer's own protocol — requests built and answers read, no I/O.
//! - [`secret`]: secrets' names and values (a value is never printed).

pub mod adapter;
pub mod auction;
pub mod audit;
pub mod caps;
pub mod checkpoint;
pub mod config;
pub mod events;
pub mod filter;
pub mod identity;
pub mod ids;
pub mod intake;
pub mod lead;
pub mod margin;
pub mod money;
pub mod movement;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod repeat;
pub mod schedule;
pub mod secret;
pub mod suppression_csv;
pub mod whatif;
pub mod window;

/// Every instant inside pingpost is UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
