//! Everything pingpost says to buyers. As in prebid-server's adapters, each buyer's adapter
//! (`pingpost_core::adapter`, compiled with the configuration) builds whole requests and
//! reads whole answers without doing I/O, and one shared executor ([`client`]) owns HTTP,
//! deadlines, connection reuse and metrics; [`calls`] puts the two together for one call.

pub mod calls;
pub mod client;
pub mod lead_view;
pub mod trial;

pub use client::{BuyerClient, CallError};
