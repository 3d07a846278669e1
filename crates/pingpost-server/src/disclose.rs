//! What a partner is shown of its ping's bids and its post's sales: the offer's
//! `disclosure` decides. The engine's answers are whole (they are also what a repeated
//! request is answered from); this is the one place that cuts them down, so no other code
//! path can show a partner of a `payout` offer a buyer's identity or a gross price.
//!
//! - `payout` (default): bids `{bid_id, payout}`; sales `{sale_id, payout, status}`;
//!   attempts `{bid_id, outcome, reason?}`; `total_payout`.
//! - `consent`: bids also carry `buyer_name` (the buyer's legal name, else its name), for
//!   one-to-one consent forms; the post is as for `payout`.
//! - `full`: bids `{bid_id, buyer, contract, price, payout}`; sales add `buyer`, `contract`,
//!   `price`; attempts `{buyer, contract, outcome, reason?}`; `total_price` too.
//!
//! Whatever the disclosure, a test lead's answers say `"test": true`; a live answer has no
//! `test` key at all, so it reads as it did before test leads.

use pingpost_core::config::Config;
use pingpost_core::ids::{BuyerId, ContractId, OfferId};
use pingpost_core::margin::Disclosure;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_engine::records::{
    AttemptOutcome, PingAnswer, PingStatus, PostAnswer, PostStatus, RejectReason, SaleStatus,
};
use serde::Serialize;

fn disclosure(config: &Config, offer: &OfferId) -> Disclosure {
    // An offer deleted since the ping shows the least.
    config.offers.get(offer).map_or(Disclosure::Payout, |o| o.disclosure)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
/// A ping's answer as its partner sees it.
pub struct PingView<'a> {
    ping_id: &'a str,
    status: PingStatus,
    reason: Option<RejectReason>,
    bids: Vec<BidView<'a>>,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    decision_us: u64,
    /// `true` for a test lead (left out otherwise): nothing of it was recorded, and its post
    /// must be a test too.
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<bool>,
    /// `true` when the consumer came back (left out otherwise): the ping passed its vertical
    /// dedup as a repeat, or some contract bids on it at its repeat price.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<bool>,
}

/// A bid: `bid_id` and `payout` always; `buyer_name` on a `consent` offer; `buyer`,
/// `contract` and `price` on a `full` offer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BidView<'a> {
    bid_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer: Option<&'a BuyerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract: Option<&'a ContractId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Money>,
    payout: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer_name: Option<&'a str>,
    /// `true` for a bid at its contract's repeat price (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<bool>,
}

pub fn ping<'a>(answer: &'a PingAnswer, config: &'a Config) -> PingView<'a> {
    ping_shown(answer, config, disclosure(config, &answer.offer))
}

/// A ping's answer as the operator sees it (the console's ping tester): everything.
pub fn ping_for_operator<'a>(answer: &'a PingAnswer, config: &'a Config) -> PingView<'a> {
    ping_shown(answer, config, Disclosure::Full)
}

fn ping_shown<'a>(answer: &'a PingAnswer, config: &'a Config, shown: Disclosure) -> PingView<'a> {
    let full = shown == Disclosure::Full;
    let bids = answer
        .bids
        .iter()
        .map(|b| BidView {
            bid_id: &b.bid_id,
            buyer: full.then_some(&b.buyer),
            contract: full.then_some(&b.contract),
            price: full.then_some(b.price),
            payout: b.payout,
            buyer_name: (shown == Disclosure::Consent)
                .then(|| config.buyers.get(&b.buyer).map(|buyer| buyer.consent_name()))
                .flatten(),
            repeat: b.repeat.then_some(true),
        })
        .collect();
    PingView {
        ping_id: &answer.ping_id,
        status: answer.status,
        reason: answer.reason,
        bids,
        expires_at: answer.expires_at,
        decision_us: answer.decision_us,
        test: answer.test.then_some(true),
        repeat: answer.repeat.then_some(true),
    }
}

/// A post's answer as its partner sees it (`total_price` on a `full` offer only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostView<'a> {
    ping_id: &'a str,
    status: PostStatus,
    sales: Vec<SaleView<'a>>,
    attempts: Vec<AttemptView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_price: Option<Money>,
    total_payout: Money,
    /// `true` for a test lead's post (left out otherwise): delivered to sandbox URLs only,
    /// and its sales were never charged nor recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<bool>,
}

/// A sale (`buyer`, `contract`, `price` on a `full` offer only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SaleView<'a> {
    sale_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer: Option<&'a BuyerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract: Option<&'a ContractId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Money>,
    payout: Money,
    status: SaleStatus,
    /// Where the buyer asks that the consumer be sent (its answer's `redirect_url`), when it
    /// gives one: the partner's to follow, whatever the offer's disclosure.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_url: Option<&'a str>,
    /// `true` for a repeat sale, at its contract's repeat price (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<bool>,
}

/// One try of the waterfall: `bid_id`, or on a `full` offer `buyer` and `contract`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AttemptView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer: Option<&'a BuyerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract: Option<&'a ContractId>,
    outcome: AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// On a `full` offer, what the buyer's answer said, in its own words (a partner of
    /// another disclosure is not told what a buyer said: it could name the buyer).
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer_reason: Option<&'a str>,
}

pub fn post<'a>(answer: &'a PostAnswer, config: &'a Config) -> PostView<'a> {
    let full = disclosure(config, &answer.offer) == Disclosure::Full;
    PostView {
        ping_id: &answer.ping_id,
        status: answer.status,
        sales: answer
            .sales
            .iter()
            .map(|s| SaleView {
                sale_id: &s.sale_id,
                buyer: full.then_some(&s.buyer),
                contract: full.then_some(&s.contract),
                price: full.then_some(s.price),
                payout: s.payout,
                status: s.status,
                redirect_url: s.redirect_url.as_deref(),
                repeat: s.repeat.then_some(true),
            })
            .collect(),
        attempts: answer
            .attempts
            .iter()
            .map(|a| AttemptView {
                bid_id: (!full).then_some(a.bid_id.as_str()),
                buyer: full.then_some(&a.buyer),
                contract: full.then_some(&a.contract),
                outcome: a.outcome,
                reason: a.reason.as_deref(),
                buyer_reason: a.buyer_reason.as_deref().filter(|_| full),
            })
            .collect(),
        total_price: full.then_some(answer.total_price),
        total_payout: answer.total_payout,
        test: answer.test.then_some(true),
    }
}
