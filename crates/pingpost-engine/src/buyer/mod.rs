//! Everything pingpost says to buyers. As in prebid-server's adapters, the protocol
//! ([`protocol`]) builds request bodies and reads answers without doing I/O, and one shared
//! executor ([`client`]) owns HTTP, deadlines and connection reuse.

pub mod client;
pub mod protocol;

pub use client::{BuyerClient, CallError};
pub use protocol::PostOutcome;
