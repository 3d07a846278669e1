//! A post: only the pinging partner, once, before expiry, for the consumer that was pinged.
//! Each bid's contract is re-checked and its sale reserved atomically (window, caps, spend,
//! balance) before the lead is delivered; the buyer's answer commits, releases or rolls the
//! sale back. Exclusive offers fall through the ranking (waterfall); multisell offers fill
//! up to `max_buyers`, delivering each round in parallel.

use crate::audit::AuditEntry;
use crate::buyer::client::{CallKind, Target};
use crate::buyer::protocol::{classify_post, post_request};
use crate::buyer::PostOutcome;
use crate::records::{Attempt, AttemptOutcome, PingRecord, PostAnswer, PostStatus, Sale, RECORD_GRACE};
use crate::stats::PostFacts;
use crate::{telemetry, Engine, EngineError};
use futures_util::future::join_all;
use pingpost_core::auction::Bid;
use pingpost_core::caps::sale_debits;
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::config::{Config, ContractStatus, SaleMode};
use pingpost_core::filter::matches_all;
use pingpost_core::identity::{Identity, Sha256Hex};
use pingpost_core::ids::PartnerId;
use pingpost_core::lead::LeadFields;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::{Claim, ClaimRequest, LedgerState, ReserveOutcome, SaleRecord, SaleReservation, StoreError};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct PostRequest {
    pub ping_id: String,
    /// The posted lead's identifiers, hashed by the server.
    pub identity: Identity,
    pub fields: LeadFields,
    /// The full posted lead, forwarded to buyers as sent.
    pub lead: Value,
    pub bid_ids: Option<Vec<String>>,
}

/// Slack on top of the buyers' own timeouts before a post's claim may be taken over.
const LEASE_SLACK: chrono::Duration = chrono::Duration::seconds(30);

// The span carries the ping id into every log line of the post. It is filled from the ping's
// record once found, never from the request: a partner may send anything as a ping id.
#[tracing::instrument(name = "post", skip_all, fields(ping_id = tracing::field::Empty, offer = tracing::field::Empty, partner = %partner))]
pub(crate) async fn run(engine: &Engine, partner: &PartnerId, req: PostRequest) -> Result<PostAnswer, EngineError> {
    let now = engine.clock.now();
    let unknown = || EngineError::UnknownPing(req.ping_id.clone());
    if req.ping_id.is_empty() || req.ping_id.len() > 64 {
        return Err(unknown());
    }
    let bytes = engine.store.get_blob(format!("ping:{}", req.ping_id), now).await?.ok_or_else(unknown)?;
    let record: PingRecord = serde_json::from_slice(&bytes).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    // Another partner's ping is "unknown": its existence is not theirs to learn.
    if &record.partner != partner {
        return Err(unknown());
    }
    let span = tracing::Span::current();
    span.record("ping_id", record.ping_id.as_str());
    span.record("offer", record.offer.as_str());
    check_binding(&record, &req.identity)?;
    let bids = chosen_bids(&record, req.bid_ids.as_deref())?;
    let config = engine.config();
    let lease: i64 = bids.iter().filter_map(|b| config.buyers.get(&b.buyer)).map(|b| i64::from(b.timeout_ms)).sum();
    let key = format!("post:{}", record.ping_id);
    let claim = ClaimRequest {
        key: key.clone(),
        fingerprint: record.ping_id.clone(),
        lease_until: now + chrono::Duration::milliseconds(lease) + LEASE_SLACK,
        now,
    };
    match engine.store.claim(claim).await? {
        Claim::Claimed => {}
        Claim::Done(bytes) => return serde_json::from_slice(&bytes).map_err(|e| EngineError::Corrupt(e.to_string())),
        Claim::InFlight | Claim::Mismatch => {
            return Err(EngineError::InFlight("a post of this ping is already in flight"))
        }
    }
    if now >= record.expires_at {
        let _ = engine.store.abandon_claim(key).await;
        return Err(EngineError::PingExpired(record.ping_id));
    }
    match deliver(engine, &config, &record, &req, bids).await {
        Ok(answer) => {
            // Counted once, with the answer a repeated post will be given unchanged.
            let facts = PostFacts { at: engine.now(), partner, vertical: &record.vertical, answer: &answer };
            engine.stats.record(facts.increments());
            telemetry::post_answered(&record.offer, &answer);
            tracing::debug!(status = ?answer.status, sales = answer.sales.len(), attempts = answer.attempts.len(), "post answered");
            match serde_json::to_vec(&answer) {
                Ok(stored) => {
                    let keep_until = record.expires_at + RECORD_GRACE;
                    if let Err(e) = engine.store.complete_claim(key, stored, engine.now(), keep_until).await {
                        tracing::error!(ping_id = %record.ping_id, error = %e, "post answer not stored; the claim's lease keeps repeats out");
                    }
                }
                Err(e) => tracing::error!(ping_id = %record.ping_id, error = %e, "post answer not serializable"),
            }
            Ok(answer)
        }
        Err(e) => {
            let _ = engine.store.abandon_claim(key).await;
            Err(e)
        }
    }
}

/// The posted lead must be the pinged consumer: every posted identifier must equal the
/// ping's, and none may be new (a new one was never deduplicated).
fn check_binding(record: &PingRecord, posted: &Identity) -> Result<(), EngineError> {
    let pairs: [(&str, Option<&Sha256Hex>, Option<&Sha256Hex>); 2] =
        [("email", record.email.as_ref(), posted.email()), ("phone", record.phone.as_ref(), posted.phone())];
    for (field, pinged, posted) in pairs {
        match (pinged, posted) {
            (Some(a), Some(b)) if a != b => {
                return Err(EngineError::invalid(field, "does not match the pinged lead's"));
            }
            (None, Some(_)) => {
                return Err(EngineError::invalid(
                    field,
                    "was not in the ping, so it was never deduplicated; ping the lead with it",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn chosen_bids(record: &PingRecord, bid_ids: Option<&[String]>) -> Result<Vec<Bid>, EngineError> {
    let Some(ids) = bid_ids else { return Ok(record.bids.clone()) };
    if ids.is_empty() {
        return Err(EngineError::invalid("bid_ids", "must name at least one bid, or be left out"));
    }
    if let Some(unknown) = ids.iter().find(|id| !record.bids.iter().any(|b| &&b.bid_id == id)) {
        return Err(EngineError::invalid("bid_ids", format!("{unknown:?} is not a bid of this ping")));
    }
    Ok(record.bids.iter().filter(|b| ids.contains(&b.bid_id)).cloned().collect())
}

async fn deliver(
    engine: &Engine,
    config: &Config,
    record: &PingRecord,
    req: &PostRequest,
    bids: Vec<Bid>,
) -> Result<PostAnswer, EngineError> {
    let target = match config.offers.get(&record.offer) {
        Some(o) if o.mode == SaleMode::Multisell => usize::from(o.max_buyers),
        _ => 1,
    };
    let mut queue = bids.into_iter();
    let mut sales: Vec<Sale> = Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut store_failure: Option<StoreError> = None;
    let mut delivered = false;
    while sales.len() < target && store_failure.is_none() {
        let round: Vec<Bid> = queue.by_ref().take(target - sales.len()).collect();
        if round.is_empty() {
            break;
        }
        let tries = round.iter().map(|bid| attempt(engine, config, record, req, bid));
        for (bid, result) in round.iter().zip(join_all(tries).await) {
            let (outcome, reason) = match result {
                Ok(Tried { sale, outcome, reason }) => {
                    sales.extend(sale);
                    delivered |= outcome != AttemptOutcome::Skipped;
                    (outcome, reason)
                }
                Err(e) => {
                    store_failure = Some(e);
                    (AttemptOutcome::Error, Some("store_unavailable".to_string()))
                }
            };
            attempts.push(Attempt { buyer: bid.buyer.clone(), contract: bid.contract.clone(), outcome, reason });
        }
    }
    // A store failure before any delivery is the request's failure (503, retry-able); after
    // a delivery it is reported in the attempts, because the delivery did happen.
    if let Some(e) = store_failure {
        if !delivered {
            return Err(e.into());
        }
    }
    let total = sales.iter().fold(Money::ZERO, |acc, s| acc.saturating_add(s.price));
    Ok(PostAnswer {
        ping_id: record.ping_id.clone(),
        status: if sales.is_empty() { PostStatus::Unsold } else { PostStatus::Sold },
        sales,
        attempts,
        total_price: total,
    })
}

struct Tried {
    sale: Option<Sale>,
    outcome: AttemptOutcome,
    reason: Option<String>,
}

fn skipped(reason: &str) -> Tried {
    Tried { sale: None, outcome: AttemptOutcome::Skipped, reason: Some(reason.into()) }
}

async fn attempt(
    engine: &Engine,
    config: &Config,
    record: &PingRecord,
    req: &PostRequest,
    bid: &Bid,
) -> Result<Tried, StoreError> {
    let now = engine.clock.now();
    let (Some(contract), Some(buyer)) = (config.contracts.get(&bid.contract), config.buyers.get(&bid.buyer)) else {
        return Ok(skipped("contract_unavailable"));
    };
    if contract.status != ContractStatus::Active {
        return Ok(skipped("contract_paused"));
    }
    if !matches_all(&contract.filters, &req.fields) {
        return Ok(skipped("filtered"));
    }
    if contract.schedule.as_ref().is_some_and(|s| !s.is_open(now)) {
        return Ok(skipped("out_of_schedule"));
    }
    let sale_id = uuid::Uuid::new_v4().simple().to_string();
    let timeout = Duration::from_millis(u64::from(buyer.timeout_ms));
    let reservation = SaleReservation {
        idents: req.identity.idents(),
        window: contract.dedup.enabled.then_some(contract.dedup.window),
        debits: sale_debits(contract, buyer, bid.price, now),
        lease_until: now + chrono::Duration::milliseconds(i64::from(buyer.timeout_ms)) + LEASE_SLACK,
        record: SaleRecord {
            sale_id: sale_id.clone(),
            ping_id: record.ping_id.clone(),
            partner: record.partner.clone(),
            offer: record.offer.clone(),
            vertical: record.vertical.clone(),
            buyer: bid.buyer.clone(),
            contract: bid.contract.clone(),
            price: bid.price,
            reserved_at: now,
            state: LedgerState::Reserved,
        },
    };
    match engine.store.reserve_sale(reservation).await? {
        ReserveOutcome::Reserved => {}
        ReserveOutcome::AlreadyBought { matched, prior_at } => {
            engine.audit.record(vec![audit(
                record,
                bid,
                now,
                Checkpoint::ContractDuplicate,
                Some(matched),
                Some(prior_at),
            )]);
            return Ok(skipped("contract_duplicate"));
        }
        ReserveOutcome::LimitReached { .. } => return Ok(skipped("cap_reached")),
    }
    let body = post_request(&record.ping_id, &sale_id, bid.price, &req.lead);
    let to = Target { kind: CallKind::Post, buyer: &bid.buyer, url: &buyer.post_url };
    let outcome = match engine.buyers.post_json(to, &body, timeout, Instant::now() + timeout).await {
        Ok((status, answer)) => classify_post(&buyer.response, status, &answer),
        Err(e) => {
            tracing::debug!(ping_id = %record.ping_id, buyer = %bid.buyer, error = %e, "post delivery failed");
            PostOutcome::Error(e.code().to_string())
        }
    };
    let settled_at = engine.clock.now();
    let tried = match &outcome {
        PostOutcome::Accepted { reported_price } => {
            // A buyer may report paying less than its bid, never more.
            let price = reported_price.filter(|p| *p <= bid.price).unwrap_or(bid.price);
            settle(engine.store.commit_sale(sale_id.clone(), price, settled_at).await, &sale_id);
            let sale = Sale { sale_id, buyer: bid.buyer.clone(), contract: bid.contract.clone(), price };
            Tried { sale: Some(sale), outcome: AttemptOutcome::Accepted, reason: None }
        }
        PostOutcome::Duplicate => {
            settle(engine.store.rollback_sale(sale_id.clone(), settled_at).await, &sale_id);
            engine.audit.record(vec![audit(record, bid, settled_at, Checkpoint::PostDuplicate, None, None)]);
            Tried { sale: None, outcome: AttemptOutcome::Duplicate, reason: None }
        }
        PostOutcome::Rejected => {
            settle(engine.store.release_sale(sale_id.clone()).await, &sale_id);
            Tried { sale: None, outcome: AttemptOutcome::Rejected, reason: None }
        }
        PostOutcome::Error(why) => {
            settle(engine.store.release_sale(sale_id.clone()).await, &sale_id);
            Tried { sale: None, outcome: AttemptOutcome::Error, reason: Some(why.clone()) }
        }
    };
    Ok(tried)
}

/// A settlement the store could not record stays a reservation; when its lease runs out the
/// store keeps it as an unconfirmed sale (counted for dedup and caps, flagged in the ledger).
fn settle(result: Result<(), StoreError>, sale_id: &str) {
    if let Err(e) = result {
        tracing::error!(%sale_id, error = %e, "sale settlement not recorded; it will be kept as unconfirmed");
    }
}

fn audit(
    record: &PingRecord,
    bid: &Bid,
    at: Timestamp,
    checkpoint: Checkpoint,
    matched: Option<pingpost_core::identity::IdentKind>,
    prior_at: Option<Timestamp>,
) -> AuditEntry {
    AuditEntry {
        at,
        ping_id: record.ping_id.clone(),
        partner: record.partner.clone(),
        vertical: record.vertical.clone(),
        offer: record.offer.clone(),
        buyer: Some(bid.buyer.clone()),
        contract: Some(bid.contract.clone()),
        checkpoint,
        matched,
        prior_at,
    }
}
