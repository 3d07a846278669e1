//! What the engine answers and what it keeps between a ping and its post.

use pingpost_core::auction::Bid;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use serde::{Deserialize, Serialize};

/// How long a ping's record, and its post's answer, outlive the ping's TTL: a late post is
/// told "expired" (410) rather than "unknown", and a repeated post still gets its first answer.
pub const RECORD_GRACE: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PingStatus {
    Accepted,
    Rejected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RejectReason {
    Suppressed,
    VerticalDuplicate,
    NoBids,
}

/// The answer to a ping, whole: the server shows the partner what the offer's disclosure
/// allows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingAnswer {
    pub ping_id: String,
    #[serde(default)]
    pub offer: OfferId,
    pub status: PingStatus,
    pub reason: Option<RejectReason>,
    pub bids: Vec<Bid>,
    pub expires_at: Timestamp,
    pub decision_us: u64,
}

/// A ping kept for its post: hashes only, never plaintext.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PingRecord {
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub email: Option<Sha256Hex>,
    pub phone: Option<Sha256Hex>,
    pub bids: Vec<Bid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// How many standing sales the ping may have (1 exclusive, `max_buyers` multisell), fixed
    /// at the ping so that an edit of the offer cannot change it between attempts.
    #[serde(default = "one_slot")]
    pub slots: u16,
}

fn one_slot() -> u16 {
    1
}

impl PingRecord {
    /// Every identifier of the ping: what a sale is reserved and settled under, whatever
    /// the post repeated.
    pub fn idents(&self) -> Vec<pingpost_core::identity::Ident> {
        use pingpost_core::identity::{Ident, IdentKind};
        let email = self.email.iter().map(|h| Ident { kind: IdentKind::Email, hash: h.clone() });
        let phone = self.phone.iter().map(|h| Ident { kind: IdentKind::Phone, hash: h.clone() });
        email.chain(phone).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PostStatus {
    Sold,
    Unsold,
}

/// Whether a sale is known to stand, or its outcome is unknown: an attempt whose engine died
/// (or whose settlement could not be stored) after the lead may have left. Either way the
/// sale takes its slot and no other buyer is tried for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SaleStatus {
    Sold,
    Unconfirmed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub sale_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    /// What the buyer pays.
    pub price: Money,
    /// What the partner earns.
    #[serde(default)]
    pub payout: Money,
    pub status: SaleStatus,
}

/// What became of one try to sell to one bid's contract: the buyer's answer, or `skipped`
/// when the re-check before delivery refused the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    Accepted,
    Rejected,
    Duplicate,
    Error,
    Skipped,
    /// An earlier attempt of this post (on a node that died) may have delivered the lead.
    Unconfirmed,
}

/// One try to sell to one bid's contract; `reason` says why for `skipped` and `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub bid_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to a post, whole: the server shows the partner what the offer's disclosure
/// allows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostAnswer {
    pub ping_id: String,
    #[serde(default)]
    pub offer: OfferId,
    pub status: PostStatus,
    pub sales: Vec<Sale>,
    pub attempts: Vec<Attempt>,
    pub total_price: Money,
    #[serde(default)]
    pub total_payout: Money,
}
