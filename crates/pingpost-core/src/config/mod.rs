//! The configured resources — verticals, offers, partners, buyers, contracts — as validated
//! domain types. [`raw`] holds the wire/file shapes, [`validate`] turns them into these types
//! and names every error, [`load`] reads a set of TOML texts into one [`Config`].

pub mod document;
mod intake;
pub mod load;
pub mod raw;
pub mod validate;

use crate::caps::Caps;
use crate::filter::{Filters, Scalar};
use crate::identity::Sha256Hex;
use crate::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use crate::intake::{Consent, FieldSet, UnknownFields};
use crate::margin::{Disclosure, Margin};
use crate::money::Money;
use crate::schedule::Schedule;
use crate::window::WindowDays;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use document::{ConfigDocument, Resource};
pub use load::{load_document, load_files, SourceFile};
pub use validate::ConfigError;

#[derive(Clone, Debug, PartialEq)]
pub struct Vertical {
    pub id: VerticalId,
    pub name: String,
    pub dedup_window: WindowDays,
    /// A consumer submitted again at least this long after its last submission (and inside
    /// `dedup_window`, which is longer) passes checkpoint 2 as a repeat; `None`: never.
    pub repeat_after: Option<WindowDays>,
    /// The fields its leads carry, checked at the edge by [`crate::intake::check`]; `None`
    /// when it declares none: its leads are then taken as they come, as before fields
    /// existed (only the built-in consent fields are checked).
    pub fields: Option<Arc<FieldSet>>,
    /// What becomes of a field it does not declare; `Refuse` only with declared fields.
    pub unknown: UnknownFields,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaleMode {
    Exclusive,
    Multisell,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub id: OfferId,
    /// What partners read it as (the partners' docs); may be empty.
    pub name: String,
    pub vertical: VerticalId,
    pub mode: SaleMode,
    /// 1 for exclusive offers.
    pub max_buyers: u16,
    pub ping_budget_ms: u32,
    pub ping_ttl_s: u32,
    /// The margin when neither the buyer nor the partner sets one.
    pub margin: Option<Margin>,
    pub disclosure: Disclosure,
    /// The consent and source fields its leads must carry.
    pub consent: Consent,
    /// The distinct buyers of its contracts (active or not), in id order: whose sale marks a
    /// ping of the offer asks about. Derived from the contracts when the configuration is
    /// indexed, once, rather than on every ping.
    pub buyers: Arc<[BuyerId]>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub api_key_sha256: Sha256Hex,
    /// The same digest as bytes: every ping compares it, and 32 bytes cost half of 64 hex
    /// digits in a constant-time comparison.
    pub api_key_digest: [u8; 32],
    pub offers: Vec<OfferId>,
    /// Overrides the buyer's and the offer's margin on this partner's leads.
    pub margin: Option<Margin>,
    /// A bid paying this partner less is no bid.
    pub min_payout: Option<Money>,
    /// The partner's field names → the vertical's, applied by
    /// [`crate::intake::apply_aliases`] before anything reads its leads.
    pub field_aliases: BTreeMap<String, String>,
    pub mode: PartnerMode,
}

/// Whether a partner's pings are real or all test leads (SPEC "Test leads"): new partners
/// may be created in test mode and switched to live by an operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartnerMode {
    #[default]
    Live,
    Test,
}

/// How one outcome is recognised in a buyer's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseRule {
    /// The JSON value at `pointer` equals `equals` (compared as text).
    Pointer { pointer: String, equals: Scalar },
    /// The HTTP status is one of these.
    HttpStatus(Vec<u16>),
    /// The body contains this text.
    Contains(String),
}

/// How to read a buyer's post answers. The default reads `{"status": "accepted"|"rejected"|"duplicate"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseRules {
    pub accepted: ResponseRule,
    pub duplicate: ResponseRule,
    /// JSON pointer to the price the buyer says it paid, when it reports one.
    pub price: Option<String>,
}

impl Default for ResponseRules {
    fn default() -> Self {
        let status = |v: &str| ResponseRule::Pointer { pointer: "/status".into(), equals: Scalar::Text(v.into()) };
        ResponseRules { accepted: status("accepted"), duplicate: status("duplicate"), price: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Buyer {
    pub id: BuyerId,
    pub name: String,
    /// The post call's URL when the call does not give its own (`calls.post.url`).
    pub post_url: Option<String>,
    /// How long a delivery may take: the post call's `timeout_ms`, else the buyer's.
    pub timeout_ms: u32,
    /// Prepaid credit: sales may spend up to this much in total. `None` = unlimited.
    pub balance: Option<Money>,
    pub response: ResponseRules,
    /// The name partners of `consent` offers show consumers; `name` when not set.
    pub legal_name: Option<String>,
    /// Overrides the offer's margin on this buyer's sales.
    pub margin: Option<Margin>,
    /// Opens the buyers' API (only its digest is kept).
    pub api_key_sha256: Option<Sha256Hex>,
    pub returns: ReturnPolicy,
    /// Its balance's counter names, written once with the buyer.
    pub balance_keys: crate::caps::BalanceKeys,
    /// Its three calls, compiled once with the configuration: its own protocol where it
    /// describes one, pingpost's elsewhere.
    pub adapter: Arc<crate::adapter::CompiledBuyer>,
}

/// When a buyer may return a lead, and whether returns wait for an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnPolicy {
    /// A sale older than this cannot be returned.
    pub window: WindowDays,
    /// Approved (and pending) returns may be at most this share of the buyer's sales of the
    /// trailing 30 days, in hundredths of a percent.
    pub max_rate: u32,
    pub auto_approve: bool,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        ReturnPolicy { window: WindowDays::new(7).unwrap_or(WindowDays::MAX), max_rate: 2_000, auto_approve: true }
    }
}

/// A contract's overrides of its buyer's return policy, field by field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReturnOverride {
    pub window: Option<WindowDays>,
    pub max_rate: Option<u32>,
    pub auto_approve: Option<bool>,
}

impl ReturnOverride {
    pub fn over(self, base: ReturnPolicy) -> ReturnPolicy {
        ReturnPolicy {
            window: self.window.unwrap_or(base.window),
            max_rate: self.max_rate.unwrap_or(base.max_rate),
            auto_approve: self.auto_approve.unwrap_or(base.auto_approve),
        }
    }
}

/// Why a lead may be returned; `claw_back` takes the partner's payout back with the refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnReason {
    pub id: String,
    pub name: String,
    pub claw_back: bool,
}

/// The reasons in force when none is configured.
pub const DEFAULT_RETURN_REASONS: [&str; 5] =
    ["invalid_contact", "duplicate", "wrong_vertical", "out_of_area", "fraud"];

impl Buyer {
    /// The name a consumer consents to be sold to: the legal name, else the name, else (a
    /// buyer configured with neither) its id.
    pub fn consent_name(&self) -> &str {
        match (&self.legal_name, self.name.trim()) {
            (Some(legal), _) => legal,
            (None, "") => self.id.as_str(),
            (None, name) => name,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractStatus {
    Active,
    Paused,
}

/// A fixed price, or a price asked from the buyer on each ping.
#[derive(Clone, Debug, PartialEq)]
pub enum Pricing {
    Fixed(Money),
    RealTime {
        /// The contract's `bid_url`; `None` when its buyer's bid call gives the URL.
        url: Option<String>,
        timeout_ms: u32,
        floor: Option<Money>,
        ceiling: Option<Money>,
        /// What the contract is ranked at before its bid is known (checkpoint 3):
        /// its configured `price`, else its floor, else zero.
        expected: Money,
    },
}

impl Pricing {
    /// The price used to rank contracts of one buyer against each other before bids are in.
    pub fn ranking_price(&self) -> Money {
        match self {
            Pricing::Fixed(p) => *p,
            Pricing::RealTime { expected, .. } => *expected,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DedupSettings {
    pub enabled: bool,
    pub window: WindowDays,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DqSettings {
    /// The contract's `dq.url`; `None` when its buyer's DQ call gives the URL.
    pub url: Option<String>,
    pub window: WindowDays,
    pub timeout_ms: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    pub id: ContractId,
    pub buyer: BuyerId,
    pub offer: OfferId,
    pub status: ContractStatus,
    pub pricing: Pricing,
    pub filters: Filters,
    pub caps: Caps,
    pub schedule: Option<Schedule>,
    pub dedup: DedupSettings,
    pub dq: Option<DqSettings>,
    pub returns: ReturnOverride,
    /// Bids on repeat consumers at a repeat price; `None`: drops them as duplicates.
    pub repeat: Option<crate::repeat::RepeatTerms>,
    /// Its counters' names up to their time bucket, written once with the contract.
    pub counter_keys: crate::caps::CounterKeys,
}

/// A validated, cross-referenced configuration: every reference resolves.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub verticals: BTreeMap<VerticalId, Vertical>,
    pub offers: BTreeMap<OfferId, Offer>,
    pub partners: BTreeMap<PartnerId, Partner>,
    pub buyers: BTreeMap<BuyerId, Arc<Buyer>>,
    pub contracts: BTreeMap<ContractId, Arc<Contract>>,
    /// The reasons a lead may be returned for: the configured ones, or the defaults.
    pub return_reasons: BTreeMap<String, ReturnReason>,
    contracts_by_offer: HashMap<OfferId, Vec<Planned>>,
    post_bounds: HashMap<PartnerId, PostBounds>,
}

/// Upper bounds, over the offers a partner may ping, of what a post's claim needs from its
/// ping's record, for a post that claims before the record is read (both travel together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostBounds {
    /// The longest a post may take to deliver every bid: the largest sum, over an offer's
    /// contracts, of their buyers' timeouts (ms).
    pub delivery_ms: i64,
    /// The longest any offer's pings live (s).
    pub ping_ttl_s: u32,
}

/// A contract of an offer's plan, with its buyer resolved once per configuration rather
/// than looked up on every ping (`None`: a buyer the configuration does not have).
#[derive(Clone, Debug)]
pub struct Planned {
    pub contract: Arc<Contract>,
    pub buyer: Option<Arc<Buyer>>,
}

impl Planned {
    fn of(contract: &Arc<Contract>, buyers: &BTreeMap<BuyerId, Arc<Buyer>>) -> Self {
        Planned { contract: Arc::clone(contract), buyer: buyers.get(&contract.buyer).cloned() }
    }
}

/// Each contract with its buyer, in the order given.
pub fn plan(contracts: &[Arc<Contract>], buyers: &BTreeMap<BuyerId, Arc<Buyer>>) -> Vec<Planned> {
    contracts.iter().map(|c| Planned::of(c, buyers)).collect()
}

impl Config {
    /// Builds the indexes. Callers go through [`validate::validate`], which checks references first.
    pub(crate) fn indexed(mut self) -> Self {
        self.contracts_by_offer.clear();
        for c in self.contracts.values() {
            self.contracts_by_offer.entry(c.offer.clone()).or_default().push(Planned::of(c, &self.buyers));
        }
        for (id, offer) in &mut self.offers {
            let mut buyers: Vec<BuyerId> =
                self.contracts_by_offer.get(id).into_iter().flatten().map(|p| p.contract.buyer.clone()).collect();
            buyers.sort_unstable();
            buyers.dedup();
            offer.buyers = Arc::from(buyers);
        }
        let mut bounds = HashMap::with_capacity(self.partners.len());
        for p in self.partners.values() {
            let mut b = PostBounds::default();
            for offer in &p.offers {
                let delivery: i64 = self
                    .contracts_of(offer)
                    .iter()
                    .filter_map(|c| c.buyer.as_ref())
                    .map(|buyer| i64::from(buyer.timeout_ms))
                    .sum();
                b.delivery_ms = b.delivery_ms.max(delivery);
                b.ping_ttl_s = b.ping_ttl_s.max(self.offers.get(offer).map_or(0, |o| o.ping_ttl_s));
            }
            bounds.insert(p.id.clone(), b);
        }
        self.post_bounds = bounds;
        self
    }

    /// See [`PostBounds`]; nothing for a partner the configuration does not have.
    pub fn post_bounds(&self, partner: &PartnerId) -> PostBounds {
        self.post_bounds.get(partner).copied().unwrap_or_default()
    }

    /// What a lead of `offer` is checked against (its vertical's fields, the offer's consent),
    /// and the partner's names for the vertical's fields: see [`crate::intake`]. `None` for
    /// an offer the configuration does not have (the ping answers 404 for it).
    pub fn lead_rules(&self, offer: &OfferId) -> Option<(&Vertical, &crate::intake::Consent)> {
        let offer = self.offers.get(offer)?;
        Some((self.verticals.get(&offer.vertical)?, &offer.consent))
    }

    /// The offer's contracts in id order (active or not), each with its buyer.
    pub fn contracts_of(&self, offer: &OfferId) -> &[Planned] {
        self.contracts_by_offer.get(offer).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The partner whose key has this SHA-256 digest. Every partner's digest is compared, in
    /// constant time and without stopping at a match, so the answer's timing says nothing
    /// about which digest (or how much of one) matched.
    pub fn partner_by_key_digest(&self, digest: &[u8; 32]) -> Option<&Partner> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for p in self.partners.values() {
            if bool::from(p.api_key_digest.ct_eq(digest)) {
                found = Some(p);
            }
        }
        found
    }

    /// The buyer with this key digest, compared like partners' keys (see
    /// [`Config::partner_by_key_digest`]).
    pub fn buyer_by_key_hash(&self, key_hash: &Sha256Hex) -> Option<&Arc<Buyer>> {
        use subtle::ConstantTimeEq;
        let presented = key_hash.as_str().as_bytes();
        let mut found = None;
        for b in self.buyers.values() {
            if let Some(digest) = &b.api_key_sha256 {
                if bool::from(digest.as_str().as_bytes().ct_eq(presented)) {
                    found = Some(b);
                }
            }
        }
        found
    }

    /// The return policy of a sale on `contract`: the contract's overrides over its buyer's
    /// policy (the defaults when the buyer or contract is no longer configured).
    pub fn return_policy(&self, contract: &ContractId) -> ReturnPolicy {
        let Some(c) = self.contracts.get(contract) else { return ReturnPolicy::default() };
        let base = self.buyers.get(&c.buyer).map(|b| b.returns).unwrap_or_default();
        c.returns.over(base)
    }

    /// The margin on a sale of `buyer`'s to `partner` on `offer`: partner, else buyer, else
    /// offer (none when the offer, buyer or partner is not configured any more).
    pub fn margin(&self, offer: &OfferId, buyer: &BuyerId, partner: &PartnerId) -> Option<Margin> {
        Margin::resolve(
            self.offers.get(offer).and_then(|o| o.margin),
            self.buyers.get(buyer).and_then(|b| b.margin),
            self.partners.get(partner).and_then(|p| p.margin),
        )
    }

    /// The longest window that can still need a dedup record: records older than this are garbage.
    pub fn longest_window(&self) -> WindowDays {
        let verticals = self.verticals.values().map(|v| v.dedup_window);
        let contracts = self
            .contracts
            .values()
            .flat_map(|c| std::iter::once(c.dedup.window).chain(c.dq.as_ref().map(|d| d.window)));
        verticals.chain(contracts).max().unwrap_or(WindowDays::MAX)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Builders for tests elsewhere in the crate.
    use super::*;

    pub fn contract(id: &str, buyer: &str, offer: &str) -> Contract {
        Contract {
            id: ContractId::new(id),
            buyer: BuyerId::new(buyer),
            offer: OfferId::new(offer),
            status: ContractStatus::Active,
            pricing: Pricing::Fixed(Money::from_minor(1000)),
            filters: Filters::new(),
            caps: Caps::default(),
            schedule: None,
            dedup: DedupSettings { enabled: true, window: WindowDays::new(30).unwrap() },
            dq: None,
            returns: ReturnOverride::default(),
            repeat: None,
            counter_keys: crate::caps::CounterKeys::new(&BuyerId::new(buyer), &ContractId::new(id)),
        }
    }

    pub fn buyer(id: &str) -> Buyer {
        Buyer {
            id: BuyerId::new(id),
            name: id.into(),
            post_url: Some(format!("http://127.0.0.1:1/{id}/post")),
            timeout_ms: 2000,
            balance: None,
            response: ResponseRules::default(),
            legal_name: None,
            margin: None,
            api_key_sha256: None,
            returns: ReturnPolicy::default(),
            balance_keys: crate::caps::BalanceKeys::new(&BuyerId::new(id)),
            adapter: Arc::new(crate::adapter::CompiledBuyer::pingpost(&ResponseRules::default())),
        }
    }
}
