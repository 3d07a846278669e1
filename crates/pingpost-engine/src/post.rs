//! A post: only the pinging partner, once, before expiry, for the consumer that was pinged.
//! Each bid's contract is re-checked and its sale reserved atomically (window, the ping's
//! slots, caps, spend, balance) before the lead is delivered; the buyer's answer commits,
//! releases or rolls the sale back. Exclusive offers fall through the ranking (waterfall);
//! multisell offers fill up to `max_buyers`, delivering each round in parallel.
//!
//! The ledger is the post's journal: a sale's entry is written (under an id fixed per ping
//! and bid) before its lead leaves, so a post resumed by another node — its first holder
//! died, or its answer could not be stored — reads what was tried and continues from there:
//! it never delivers a bid twice, and an attempt that may have reached its buyer keeps its
//! slot as an `unconfirmed` sale.
//!
//! A test lead's post walks the same waterfall with the same re-checks and the same reading
//! of each answer, but delivers to the buyers' sandbox post URLs and reserves and settles
//! nothing: no mark, cap, spend, balance, ledger or books entry, and no statistics. A test
//! ping is only posted as a test, and a live ping never as one (422, field `test`).

use crate::audit::AuditEntry;
use crate::buyer::calls::{self, Route};
use crate::records::{Attempt, AttemptOutcome, PingRecord, PostAnswer, PostStatus, Sale, SaleStatus, RECORD_GRACE};
use crate::stats::PostFacts;
use crate::{telemetry, Engine, EngineError};
use futures_util::future::join_all;
use pingpost_core::adapter::{BidInfo, Context, ContextParts, Outcome, PingInfo, PostReading, Reading, SaleInfo};
use pingpost_core::auction::{payout_acceptable, reported_sale, Bid};
use pingpost_core::caps::sale_debits;
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::config::{Buyer, Config, Contract, ContractStatus, PartnerMode};
use pingpost_core::events::SaleEvent;
use pingpost_core::filter::matches_all;
use pingpost_core::identity::{Identity, Sha256Hex};
use pingpost_core::ids::PartnerId;
use pingpost_core::intake::{self, FieldError, Stage};
use pingpost_core::lead::{fields_of, LeadFields};
use pingpost_core::margin::Disclosure;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::{
    Claim, ClaimRequest, LedgerState, ReserveOutcome, SaleEnd, SaleRecord, SaleReservation, Settlement, StoreError,
    TakeOver,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct PostRequest {
    pub ping_id: String,
    /// The posted lead's identifiers, hashed by the server.
    pub identity: Identity,
    /// The full posted lead in the vertical's names, as the partner sent it: checked against
    /// the ping's offer here (only its record names the offer), then forwarded to buyers in
    /// its kept form.
    pub lead: Map<String, Value>,
    pub bid_ids: Option<Vec<String>>,
    /// The request posts a test lead (a partner in test mode posts only test leads).
    pub test: bool,
}

/// A post's lead once checked: what buyers receive, and what the contracts' filters read.
struct CheckedLead {
    lead: Value,
    fields: LeadFields,
}

/// `lead` checked against the vertical and consent of the offer `record` was pinged on.
fn checked_lead(config: &Config, record: &PingRecord, lead: &Map<String, Value>) -> Result<CheckedLead, EngineError> {
    let invalid = |e: FieldError| EngineError::invalid(e.field, e.message);
    let kept = match config.lead_rules(&record.offer) {
        Some((vertical, consent)) => intake::check(vertical, consent, Stage::Post, lead.clone()).map_err(invalid)?,
        // The offer was removed since the ping: its lead is taken as it comes.
        None => lead.clone(),
    };
    let fields = fields_of(&kept, Stage::Post).map_err(invalid)?;
    Ok(CheckedLead { lead: Value::Object(kept), fields })
}

/// Why a bid was skipped (its payout is below the partner's minimum, raised since the ping),
/// and why a sale was flagged (a buyer's lower price took its payout there after delivery).
const BELOW_MIN_PAYOUT: &str = "below_min_payout";

/// How often a store call whose outcome matters is sent before the post gives up: each is
/// safe to re-send, and a re-send after a lost reply learns what the first one did.
const STORE_TRIES: usize = 3;

// The span carries the ping id into every log line of the post. It is filled from the ping's
// record once found, never from the request: a partner may send anything as a ping id.
#[tracing::instrument(name = "post", skip_all, fields(ping_id = tracing::field::Empty, offer = tracing::field::Empty, partner = %partner))]
pub(crate) async fn run(engine: &Engine, partner: &PartnerId, req: PostRequest) -> Result<PostAnswer, EngineError> {
    let now = engine.clock.now();
    let unknown = || EngineError::UnknownPing(req.ping_id.clone());
    if req.ping_id.is_empty() || req.ping_id.len() > 64 {
        return Err(unknown());
    }
    // The claim travels with the read of the ping's record, so it cannot use the record:
    // its lease and life are the configuration's bounds over the partner's offers (longer is
    // safe: a lease only keeps other nodes from taking over a post whose node died). A claim
    // taken for a request that then fails is given up at once, and the answer stored at the
    // end lives exactly as long as the record.
    // It is the partner's own: taken before the record says whose ping this is, a claim of
    // the ping alone would let another partner (every real-time buyer that also publishes
    // sees ping ids) hold the owner's post off with posts of its own.
    let config = engine.config();
    let bounds = config.post_bounds(partner);
    let key = format!("post:{partner}:{}", req.ping_id);
    let holder = engine.ids.token();
    let claim = ClaimRequest {
        key: key.clone(),
        fingerprint: req.ping_id.clone(),
        holder: holder.clone(),
        lease_until: now + chrono::Duration::milliseconds(bounds.delivery_ms) + engine.lease_slack,
        keep_until: now
            + chrono::Duration::seconds(i64::from(bounds.ping_ttl_s))
            + chrono::Duration::milliseconds(bounds.delivery_ms)
            + RECORD_GRACE,
        now,
    };
    let (found, claimed) = futures_util::future::join(
        engine.store.get_blob(format!("ping:{}", req.ping_id), now),
        engine.store.claim(claim),
    )
    .await;
    let checked = found.map_err(EngineError::from).and_then(|bytes| {
        let record: PingRecord =
            serde_json::from_slice(&bytes.ok_or_else(unknown)?).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        // Another partner's ping is "unknown": its existence, and any answer to its post,
        // are not theirs to learn.
        if &record.partner != partner {
            return Err(unknown());
        }
        check_binding(&record, &req.identity)?;
        let test = req.test || config.partners.get(partner).is_some_and(|p| p.mode == PartnerMode::Test);
        check_test(&record, test)?;
        let lead = checked_lead(&config, &record, &req.lead)?;
        let consent = config.offers.get(&record.offer).is_some_and(|o| o.disclosure == Disclosure::Consent);
        let bids = chosen_bids(&record, req.bid_ids.as_deref(), consent)?;
        Ok((record, lead, bids))
    });
    let (record, lead, bids) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            if matches!(claimed, Ok(Claim::Claimed { .. })) {
                let _ = engine.store.abandon_claim(key, holder).await;
            }
            return Err(e);
        }
    };
    let span = tracing::Span::current();
    span.record("ping_id", record.ping_id.as_str());
    span.record("offer", record.offer.as_str());
    let keep_until = record.expires_at + RECORD_GRACE;
    let resumed = match claimed? {
        Claim::Claimed { resumed } => resumed,
        Claim::Done(bytes) => return serde_json::from_slice(&bytes).map_err(|e| EngineError::Corrupt(e.to_string())),
        Claim::InFlight | Claim::Mismatch => {
            return Err(EngineError::InFlight("a post of this ping is already in flight"))
        }
    };
    let post = Post { engine, config: &config, record: &record, lead: &lead, holder: &holder, resumed };
    let result = match post.journal(keep_until).await {
        Ok(journal) if journal.is_empty() && now >= record.expires_at => {
            Err(EngineError::PingExpired(record.ping_id.clone()).into())
        }
        // An expired ping's post is not tried again, but what earlier attempts did stands.
        Ok(journal) => post.deliver(bids, journal, now < record.expires_at).await,
        Err(e) => Err(EngineError::from(e).into()),
    };
    match result {
        Ok(answer) => {
            // Counted once, with the answer a repeated post will be given unchanged; a test
            // lead's never.
            if !record.test {
                let facts = PostFacts { at: engine.now(), partner, vertical: &record.vertical, answer: &answer };
                engine.stats.record(facts.increments());
            }
            telemetry::post_answered(&record.offer, &answer);
            tracing::debug!(status = ?answer.status, sales = answer.sales.len(), attempts = answer.attempts.len(), "post answered");
            // Every sale is settled before the answer is stored, so a repeat is never told what
            // the ledger does not hold.
            match serde_json::to_vec(&answer) {
                Ok(stored) => {
                    let completing = engine.store.complete_claim(key, holder.clone(), stored, engine.now(), keep_until);
                    if let Err(e) = completing.await {
                        // A repeat then resumes from the ledger once the lease runs out, and
                        // finds these sales there: it never sells again.
                        tracing::error!(ping_id = %record.ping_id, error = %e, "post answer not stored; a repeat resumes from the ledger");
                    }
                }
                Err(e) => tracing::error!(ping_id = %record.ping_id, error = %e, "post answer not serializable"),
            }
            Ok(answer)
        }
        Err(Failed { error, in_doubt }) => {
            // A reservation whose outcome is unknown keeps the claim until its lease runs
            // out, so that a repeat finds it settled (or lapsed) rather than in flight.
            if !in_doubt {
                let _ = engine.store.abandon_claim(key, holder).await;
            }
            Err(error)
        }
    }
}

/// A post that failed; `in_doubt` when a reservation it made may stand.
struct Failed {
    error: EngineError,
    in_doubt: bool,
}

impl From<EngineError> for Failed {
    fn from(error: EngineError) -> Self {
        Failed { error, in_doubt: false }
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

/// A test ping can only be posted as a test, and a live ping never as one: a test lead
/// must not become a sale, nor a real consumer be posted where nothing is recorded.
fn check_test(record: &PingRecord, test: bool) -> Result<(), EngineError> {
    match (record.test, test) {
        (true, false) => {
            Err(EngineError::invalid("test", "the ping was a test lead: post it as a test (\"test\": true)"))
        }
        (false, true) => Err(EngineError::invalid("test", "the ping was live: a live ping cannot be posted as a test")),
        _ => Ok(()),
    }
}

/// The bids the post may try, in the order to try them: all of the ping's, or those the
/// partner named — in the ranking's order, or, on a `consent` offer, in the partner's order
/// (the consumer consented to those buyers, in that order).
fn chosen_bids(record: &PingRecord, bid_ids: Option<&[String]>, partner_order: bool) -> Result<Vec<Bid>, EngineError> {
    let Some(ids) = bid_ids else { return Ok(record.bids.clone()) };
    if ids.is_empty() {
        return Err(EngineError::invalid("bid_ids", "must name at least one bid, or be left out"));
    }
    if let Some(unknown) = ids.iter().find(|id| !record.bids.iter().any(|b| &&b.bid_id == id)) {
        return Err(EngineError::invalid("bid_ids", format!("{unknown:?} is not a bid of this ping")));
    }
    if let Some((i, repeated)) = ids.iter().enumerate().find(|(i, id)| ids[..*i].contains(id)) {
        return Err(EngineError::invalid("bid_ids", format!("{repeated:?} is named twice (at {i})")));
    }
    if partner_order {
        return Ok(ids.iter().filter_map(|id| record.bids.iter().find(|b| &b.bid_id == id)).cloned().collect());
    }
    Ok(record.bids.iter().filter(|b| ids.contains(&b.bid_id)).cloned().collect())
}

/// One post attempt: the claim's holder walking the ping's bids.
struct Post<'a> {
    engine: &'a Engine,
    config: &'a Config,
    record: &'a PingRecord,
    lead: &'a CheckedLead,
    holder: &'a str,
    /// An earlier holder had the claim: what it did is in the ledger.
    resumed: bool,
}

/// The sale of a bid: one id per (ping, contract), the same on every attempt of the post,
/// so every store step recognises an earlier attempt's work by it.
fn sale_id(bid: &Bid) -> String {
    bid.bid_id.clone()
}

/// What became of one bid.
struct Tried {
    sale: Option<Sale>,
    outcome: AttemptOutcome,
    reason: Option<String>,
    /// What the buyer's answer said of it, in its own words (for operators).
    buyer_reason: Option<String>,
}

impl Tried {
    fn settled(sale: Option<Sale>, outcome: AttemptOutcome, reason: Option<String>) -> Tried {
        Tried { sale, outcome, reason, buyer_reason: None }
    }
}

fn skipped(reason: &str) -> Tried {
    Tried::settled(None, AttemptOutcome::Skipped, Some(reason.into()))
}

impl Post<'_> {
    /// What earlier attempts of this post recorded, by sale id; nothing for a first attempt.
    /// Taking the post over fences every bid of the ping's ranking against the earlier
    /// holders (until the claim ends), so the standing sales found here are all there will be
    /// besides this holder's own.
    async fn journal(&self, keep_until: Timestamp) -> Result<HashMap<String, SaleRecord>, StoreError> {
        // A test lead's post keeps no journal: the ledger never holds its sales.
        if !self.resumed || self.record.test {
            return Ok(HashMap::new());
        }
        let sales = self.record.bids.iter().map(|b| (b.buyer.clone(), sale_id(b))).collect();
        let take_over = TakeOver { sales, holder: self.holder.to_string(), keep_until, now: self.engine.now() };
        let entries = self.engine.store.take_over(take_over).await?;
        Ok(entries.into_iter().map(|e| (e.sale_id.clone(), e)).collect())
    }

    async fn deliver(
        &self,
        bids: Vec<Bid>,
        journal: HashMap<String, SaleRecord>,
        may_deliver: bool,
    ) -> Result<PostAnswer, Failed> {
        let target = usize::from(self.record.slots.max(1));
        let mut queue = bids.into_iter().peekable();
        let mut sales: Vec<Sale> = Vec::new();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut failure: Option<Failed> = None;
        let mut delivered = false;
        while sales.len() < target && failure.is_none() && queue.peek().is_some() {
            let round: Vec<Bid> = queue.by_ref().take(target - sales.len()).collect();
            let tries = round.iter().map(|bid| async {
                match journal.get(&sale_id(bid)) {
                    Some(entry) => Ok(self.as_journaled(bid, entry).await),
                    None if may_deliver && self.record.test => Ok(self.attempt_test(bid).await),
                    None if may_deliver => self.attempt(bid).await,
                    None => Ok(skipped("ping_expired")),
                }
            });
            for (bid, result) in round.iter().zip(join_all(tries).await) {
                let (outcome, reason, buyer_reason) = match result {
                    Ok(Tried { sale, outcome, reason, buyer_reason }) => {
                        sales.extend(sale);
                        delivered |= !matches!(outcome, AttemptOutcome::Skipped);
                        (outcome, reason, buyer_reason)
                    }
                    Err(f) => {
                        // Of several failed attempts in one round, any in doubt keeps the claim.
                        let in_doubt = f.in_doubt || failure.as_ref().is_some_and(|earlier| earlier.in_doubt);
                        failure = Some(Failed { in_doubt, ..f });
                        (AttemptOutcome::Error, Some("store_unavailable".to_string()), None)
                    }
                };
                attempts.push(Attempt {
                    bid_id: bid.bid_id.clone(),
                    buyer: bid.buyer.clone(),
                    contract: bid.contract.clone(),
                    outcome,
                    reason,
                    buyer_reason,
                    repeat: bid.repeat,
                });
            }
        }
        // A store failure before any delivery is the request's failure (503, retry-able); after
        // a delivery it is reported in the attempts, because the delivery did happen.
        if let Some(f) = failure {
            if !delivered {
                return Err(f);
            }
        }
        let total_price = sales.iter().fold(Money::ZERO, |acc, s| acc.saturating_add(s.price));
        let total_payout = sales.iter().fold(Money::ZERO, |acc, s| acc.saturating_add(s.payout));
        let answer = PostAnswer {
            ping_id: self.record.ping_id.clone(),
            offer: self.record.offer.clone(),
            status: if sales.is_empty() { PostStatus::Unsold } else { PostStatus::Sold },
            sales,
            attempts,
            total_price,
            total_payout,
            test: self.record.test,
        };
        Ok(answer)
    }

    /// A bid an earlier attempt of this post already tried: its ledger entry says what became
    /// of it, and nothing is delivered again. A settled entry's marks are settled again (a
    /// crash may have come between the ledger and the marks); re-sending is harmless.
    async fn as_journaled(&self, bid: &Bid, entry: &SaleRecord) -> Tried {
        let sale = |status| Sale {
            sale_id: entry.sale_id.clone(),
            buyer: bid.buyer.clone(),
            contract: bid.contract.clone(),
            price: entry.price,
            payout: entry.payout,
            status,
            // The buyer's redirect went with the first answer; a resumed post has no copy.
            redirect_url: None,
            repeat: entry.repeat_after.is_some(),
        };
        match entry.state {
            LedgerState::Sold | LedgerState::Returned => {
                Tried::settled(Some(sale(SaleStatus::Sold)), AttemptOutcome::Accepted, None)
            }
            LedgerState::Reserved | LedgerState::Unconfirmed => {
                Tried::settled(Some(sale(SaleStatus::Unconfirmed)), AttemptOutcome::Unconfirmed, None)
            }
            LedgerState::RolledBack => Tried::settled(None, AttemptOutcome::Duplicate, None),
            LedgerState::Released => match entry.reason.as_deref() {
                Some("rejected") => Tried::settled(None, AttemptOutcome::Rejected, None),
                Some(code) => Tried::settled(None, AttemptOutcome::Error, Some(code.to_string())),
                None => Tried::settled(None, AttemptOutcome::Error, Some("store_unavailable".into())),
            },
        }
    }

    /// What the post call's templates read: the posted lead, the ping's hashes, the bid it
    /// delivers (with the buyer's token) and the sale it makes.
    fn context(&self, bid: &Bid, sale_id: &str, now: Timestamp) -> Context {
        let r = self.record;
        Context::new(ContextParts {
            lead: self.lead.lead.clone(),
            email_sha256: r.email.as_ref().map(|h| h.to_string()),
            phone_sha256: r.phone.as_ref().map(|h| h.to_string()),
            ping: PingInfo { id: r.ping_id.clone(), offer: r.offer.to_string(), vertical: r.vertical.to_string() },
            bid: Some(BidInfo { id: bid.bid_id.clone(), price: bid.price, token: bid.token.clone() }),
            sale: Some(SaleInfo { id: sale_id.to_string(), price: bid.price }),
            now,
        })
    }

    /// How `bid`'s sale, reserved as `reserved` says, ends.
    fn settlement(&self, bid: &Bid, reserved: &SaleReservation, end: SaleEnd, at: Timestamp) -> Settlement {
        reserved.settlement(end, at, self.config.return_policy(&bid.contract).window.duration())
    }

    /// The re-checks before a bid's delivery: its contract and buyer as configured now, or
    /// why the bid is skipped (the attempt's reason).
    fn recheck(&self, bid: &Bid, now: Timestamp) -> Result<(&Arc<Contract>, &Arc<Buyer>), &'static str> {
        let (Some(contract), Some(buyer)) =
            (self.config.contracts.get(&bid.contract), self.config.buyers.get(&bid.buyer))
        else {
            return Err("contract_unavailable");
        };
        if contract.status != ContractStatus::Active {
            return Err("contract_paused");
        }
        if !matches_all(&contract.filters, &self.lead.fields) {
            return Err("filtered");
        }
        if contract.schedule.as_ref().is_some_and(|s| !s.is_open(now)) {
            return Err("out_of_schedule");
        }
        // The partner's minimum may have been raised since the ping: never sell below it.
        if !payout_acceptable(bid.payout, self.min_payout()) {
            return Err(BELOW_MIN_PAYOUT);
        }
        Ok((contract, buyer))
    }

    fn min_payout(&self) -> Option<Money> {
        self.config.partners.get(&self.record.partner).and_then(|p| p.min_payout)
    }

    /// A test lead's try of one bid: the live re-checks, then delivery to the buyer's sandbox
    /// post URL, its answer read as a live one is; nothing reserved, settled or charged.
    async fn attempt_test(&self, bid: &Bid) -> Tried {
        let now = self.engine.clock.now();
        let buyer = match self.recheck(bid, now) {
            Ok((_, buyer)) => buyer,
            Err(reason) => return skipped(reason),
        };
        let reading = self.deliver_to(bid, buyer, now).await;
        let (_, tried, hit) = self.judge(bid, reading, self.engine.clock.now());
        if let Some(hit) = hit {
            self.engine.audit.record(vec![hit]);
        }
        tried
    }

    /// One bid's sale in three parts: the re-checks and the reservation planned (pure:
    /// [`reservation`]), the store and buyer steps (reserve, deliver, settle the ledger), and
    /// what each answer makes of it (pure: [`after_reserve`], [`Post::judge`]).
    async fn attempt(&self, bid: &Bid) -> Result<Tried, Failed> {
        let engine = self.engine;
        let now = engine.clock.now();
        let (contract, buyer) = match self.recheck(bid, now) {
            Ok(found) => found,
            Err(reason) => return Ok(skipped(reason)),
        };
        let reservation = reservation(self.record, bid, contract, buyer, self.holder, now, engine.lease_slack);
        let reserved = self.reserve(bid, &reservation).await?;
        match after_reserve(self.record, bid, self.holder, reserved, now) {
            AfterReserve::Deliver => {}
            AfterReserve::Journaled(entry) => return Ok(self.as_journaled(bid, &entry).await),
            AfterReserve::Skip(reason, hit) => {
                if let Some(hit) = hit {
                    engine.audit.record(vec![hit]);
                }
                return Ok(skipped(reason));
            }
        }
        let reading = self.deliver_to(bid, buyer, now).await;
        engine.faults.crash_point("post.delivered");
        let settled_at = engine.clock.now();
        let (end, tried, hit) = self.judge(bid, reading, settled_at);
        if let Some(hit) = hit {
            engine.audit.record(vec![hit]);
        }
        // At once, as the buyer answered (the reservation's lease is counted from its own
        // delivery): the entry and the marks in one step.
        let sold = match &end {
            SaleEnd::Sold { final_price, .. } if !self.record.test => Some(SaleEvent {
                at: settled_at,
                sale_id: sale_id(bid),
                ping_id: self.record.ping_id.clone(),
                contract: bid.contract.clone(),
                price: *final_price,
                repeat: bid.repeat,
            }),
            _ => None,
        };
        let settlement = self.settlement(bid, &reservation, end, settled_at);
        match resent(|| engine.store.settle_sale(settlement.clone())).await {
            Ok(_) => {
                if let Some(sale) = sold {
                    engine.queue_sale_event(sale);
                }
                Ok(tried)
            }
            Err(e) => {
                // The reservation stays; when its lease runs out the sweep keeps it as an
                // unconfirmed sale (counted for dedup, caps and the ping's slot).
                tracing::error!(sale_id = %sale_id(bid), error = %e, "sale settlement not recorded; it will be kept as unconfirmed");
                Ok(tried)
            }
        }
    }

    /// Delivers the lead to `bid`'s buyer (a test lead to its sandbox post URL) and reads the
    /// answer; no answer to read is an error by its code.
    async fn deliver_to(&self, bid: &Bid, buyer: &Buyer, now: Timestamp) -> PostReading {
        let engine = self.engine;
        let record = self.record;
        let context = self.context(bid, &sale_id(bid), now);
        let timeout = Duration::from_millis(u64::from(buyer.timeout_ms));
        let route = Route {
            buyer: &bid.buyer,
            url: buyer.post_url.as_deref(),
            timeout,
            deadline: Instant::now() + timeout,
            sandbox: record.test,
        };
        let secrets = engine.secrets();
        let made = calls::make(&engine.buyers, buyer.adapter.post(), &context, &*secrets, route).await;
        match made.map(|r| calls::redacted(r, &secrets)) {
            Ok(Reading::Post(reading)) => reading,
            Ok(other) => {
                tracing::error!(ping_id = %record.ping_id, buyer = %bid.buyer, ?other, "a post read as another call");
                failed("unreadable")
            }
            Err(e) => {
                tracing::debug!(ping_id = %record.ping_id, buyer = %bid.buyer, error = %e, "post delivery failed");
                failed(e.code())
            }
        }
    }

    /// What the buyer's answer makes of the sale: how it ends, what the attempt reports, and
    /// the audit entry of a "duplicate" answer (marked test for a test lead), for the caller
    /// to record. Pure but for the log line and metric of a payout a lower price took below
    /// the partner's minimum.
    fn judge(&self, bid: &Bid, reading: PostReading, settled_at: Timestamp) -> (SaleEnd, Tried, Option<AuditEntry>) {
        let record = self.record;
        let buyer_reason = reading.reason.clone();
        let mut hit = None;
        let (end, tried) = match &reading.outcome {
            Outcome::Accepted => {
                let margin = self.config.margin(&record.offer, &bid.buyer, &record.partner);
                let (price, payout) = reported_sale(bid, reading.price, margin);
                let sale_id = sale_id(bid);
                // The lead was delivered and accepted, so the sale stands even when the
                // buyer's lower price took the payout below what the partner accepts; its
                // ledger entry says so, for an operator to settle with the partner.
                let reason = (!payout_acceptable(payout, self.min_payout())).then(|| {
                    if !record.test {
                        telemetry::payout_below_minimum(&record.offer);
                    }
                    tracing::warn!(%sale_id, partner = %record.partner, %price, %payout, test = record.test, "a buyer's lower price took the payout below the partner's minimum; the sale stands");
                    BELOW_MIN_PAYOUT.to_string()
                });
                let sale = Sale {
                    sale_id,
                    buyer: bid.buyer.clone(),
                    contract: bid.contract.clone(),
                    price,
                    payout,
                    status: SaleStatus::Sold,
                    redirect_url: reading.redirect_url.clone(),
                    repeat: bid.repeat,
                };
                let tried = Tried::settled(Some(sale), AttemptOutcome::Accepted, None);
                let lead_id = reading.lead_id.clone();
                (SaleEnd::Sold { final_price: price, final_payout: payout, reason, lead_id }, tried)
            }
            Outcome::Duplicate => {
                let mut entry = audit(record, bid, settled_at, Checkpoint::PostDuplicate, None, None);
                entry.reason.clone_from(&buyer_reason);
                hit = Some(entry);
                (SaleEnd::RolledBack, Tried::settled(None, AttemptOutcome::Duplicate, None))
            }
            Outcome::Rejected => {
                (SaleEnd::Released { reason: "rejected".into() }, Tried::settled(None, AttemptOutcome::Rejected, None))
            }
            Outcome::Error(why) => (
                SaleEnd::Released { reason: why.clone() },
                Tried::settled(None, AttemptOutcome::Error, Some(why.clone())),
            ),
        };
        (end, Tried { buyer_reason, ..tried }, hit)
    }

    /// Reserves, re-sending on a store error (each send recognises an earlier one by the sale
    /// id). If every send fails, whether the reservation stands is unknown: the sale is given
    /// up with a release, whose tombstones also fence a reservation still on its way, and the
    /// post fails without delivering.
    async fn reserve(&self, bid: &Bid, reservation: &SaleReservation) -> Result<ReserveOutcome, Failed> {
        let error = match resent(|| self.engine.store.reserve_sale(reservation.clone())).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        let give_up = SaleEnd::Released { reason: "store_unavailable".into() };
        let give_up = self.settlement(bid, reservation, give_up, self.engine.now());
        let released = resent(|| self.engine.store.settle_sale(give_up.clone())).await.is_ok();
        if !released {
            tracing::error!(sale_id = %sale_id(bid), "reservation in doubt and not released; it lapses with its lease");
        }
        Err(Failed { error: error.into(), in_doubt: !released })
    }
}

/// The sale reservation of `bid` (pure): the buyer's window on the consumer under every
/// identifier of the ping, the ping's slots, the contract's and buyer's debits, and the
/// ledger entry the post journals before the lead leaves, leased for the buyer's timeout
/// and `lease_slack`.
fn reservation(
    record: &PingRecord,
    bid: &Bid,
    contract: &Contract,
    buyer: &Buyer,
    holder: &str,
    now: Timestamp,
    lease_slack: chrono::Duration,
) -> SaleReservation {
    // A repeat bid sells only if the buyer bought the consumer no more recently than its
    // contract's `repeat.after_days` (a contract that stopped taking repeats since the ping
    // sells it under its whole window).
    let repeat_after = contract.repeat.filter(|_| bid.repeat).map(|terms| terms.after);
    SaleReservation {
        idents: record.idents(),
        window: repeat_after.or(contract.dedup.enabled.then_some(contract.dedup.window)),
        debits: sale_debits(contract, buyer, bid.price, now),
        slots: record.slots,
        record: SaleRecord {
            sale_id: sale_id(bid),
            ping_id: record.ping_id.clone(),
            partner: record.partner.clone(),
            offer: record.offer.clone(),
            vertical: record.vertical.clone(),
            buyer: bid.buyer.clone(),
            contract: bid.contract.clone(),
            price: bid.price,
            payout: bid.payout,
            reserved_at: now,
            state: LedgerState::Reserved,
            holder: holder.to_string(),
            lease_until: now + chrono::Duration::milliseconds(i64::from(buyer.timeout_ms)) + lease_slack,
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after,
        },
    }
}

/// What a reservation's outcome leaves to do.
#[derive(Debug)]
enum AfterReserve {
    /// Reserved (or our own reservation answered again to a re-sent call): deliver.
    Deliver,
    /// An earlier attempt's entry: report it as the journal says, deliver nothing.
    Journaled(Box<SaleRecord>),
    /// Refused: skip the bid for this reason, auditing the hit if any.
    Skip(&'static str, Option<AuditEntry>),
}

/// What the store's answer to a reservation makes of the bid (pure).
fn after_reserve(
    record: &PingRecord,
    bid: &Bid,
    holder: &str,
    outcome: ReserveOutcome,
    now: Timestamp,
) -> AfterReserve {
    match outcome {
        ReserveOutcome::Reserved => AfterReserve::Deliver,
        // Our own reservation, answered again to a re-sent call: not delivered yet.
        ReserveOutcome::Existing(e) if e.holder == holder && e.state == LedgerState::Reserved => AfterReserve::Deliver,
        ReserveOutcome::Existing(e) => AfterReserve::Journaled(e),
        ReserveOutcome::AlreadyBought { matched, prior_at } => {
            let hit = audit(record, bid, now, Checkpoint::ContractDuplicate, Some(matched), Some(prior_at));
            AfterReserve::Skip("contract_duplicate", Some(hit))
        }
        ReserveOutcome::LimitReached { .. } => AfterReserve::Skip("cap_reached", None),
        ReserveOutcome::SlotsTaken => AfterReserve::Skip("slots_taken", None),
    }
}

/// A post that got no answer to read: an error, by its code (`timeout`, `unreachable`, …).
fn failed(code: &str) -> PostReading {
    PostReading {
        outcome: Outcome::Error(code.to_string()),
        price: None,
        lead_id: None,
        redirect_url: None,
        reason: None,
    }
}

/// A store call whose outcome matters, sent up to `STORE_TRIES` times: each is safe to re-send
/// (it recognises its own earlier effect), and a re-send after a lost reply learns what the
/// first one did. Answers the last error if every send failed.
async fn resent<'s, T>(call: impl Fn() -> pingpost_store::StoreFuture<'s, T>) -> Result<T, StoreError> {
    let mut last = StoreError::Unavailable("not sent".into());
    for _ in 0..STORE_TRIES {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(e) => last = e,
        }
    }
    Err(last)
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
        ping_id: record.ping_id.as_str().into(),
        partner: record.partner.clone(),
        vertical: record.vertical.clone(),
        offer: record.offer.clone(),
        buyer: Some(bid.buyer.clone()),
        contract: Some(bid.contract.clone()),
        checkpoint,
        matched,
        prior_at,
        reason: None,
        test: record.test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_market::{market, t0};
    use pingpost_core::identity::IdentKind;
    use pingpost_core::ids::{BuyerId, ContractId};

    fn config() -> Config {
        market(
            r#"
[[contracts]]
id = "c1"
buyer = "b1"
offer = "o"
price = "10.00"
dedup = { window_days = 45 }

[[contracts]]
id = "open"
buyer = "b1"
offer = "o"
price = "10.00"
dedup = { enabled = false }
"#,
        )
    }

    fn bid(contract: &str) -> Bid {
        Bid {
            bid_id: "ping-1-0".into(),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new(contract),
            price: Money::parse("10.00").expect("money"),
            payout: Money::parse("8.00").expect("money"),
            token: None,
            repeat: false,
        }
    }

    fn record() -> PingRecord {
        PingRecord {
            ping_id: "ping-1".into(),
            partner: PartnerId::new("p1"),
            offer: pingpost_core::ids::OfferId::new("o"),
            vertical: pingpost_core::ids::VerticalId::new("auto"),
            email: Some(Sha256Hex::digest("jane@example.com")),
            phone: None,
            bids: vec![bid("c1")],
            created_at: t0(),
            expires_at: t0() + chrono::Duration::minutes(5),
            slots: 1,
            test: false,
        }
    }

    #[test]
    fn a_reservation_holds_the_contracts_window_the_pings_slots_and_a_leased_journal_entry() {
        let config = config();
        let buyer = &config.buyers[&BuyerId::new("b1")];
        let (c1, open) = (&config.contracts[&ContractId::new("c1")], &config.contracts[&ContractId::new("open")]);
        let slack = chrono::Duration::seconds(30);
        let r = reservation(&record(), &bid("c1"), c1, buyer, "holder-1", t0(), slack);
        assert_eq!(r.window.map(|w| w.days()), Some(45));
        assert_eq!((r.slots, r.idents.len()), (1, 1));
        assert_eq!((r.record.sale_id.as_str(), r.record.holder.as_str()), ("ping-1-0", "holder-1"));
        assert_eq!((r.record.state, r.record.reserved_at), (LedgerState::Reserved, t0()));
        assert_eq!(r.record.lease_until, t0() + chrono::Duration::milliseconds(2000) + slack);
        assert_eq!(r.record.payout, Money::parse("8.00").expect("money"));
        let r = reservation(&record(), &bid("open"), open, buyer, "holder-1", t0(), slack);
        assert_eq!(r.window, None, "a contract without dedup reserves no window");
    }

    #[test]
    fn a_reservations_outcome_says_deliver_report_or_skip() {
        let (record, bid) = (record(), bid("c1"));
        let config = config();
        let (c1, buyer) = (&config.contracts[&ContractId::new("c1")], &config.buyers[&BuyerId::new("b1")]);
        let entry = reservation(&record, &bid, c1, buyer, "holder-1", t0(), chrono::Duration::zero()).record;
        let after = |outcome| after_reserve(&record, &bid, "holder-1", outcome, t0());
        assert!(matches!(after(ReserveOutcome::Reserved), AfterReserve::Deliver));
        assert!(
            matches!(after(ReserveOutcome::Existing(Box::new(entry.clone()))), AfterReserve::Deliver),
            "our own, re-sent"
        );
        let theirs = SaleRecord { holder: "holder-0".into(), ..entry.clone() };
        assert!(matches!(after(ReserveOutcome::Existing(Box::new(theirs))), AfterReserve::Journaled(_)));
        let sold = SaleRecord { state: LedgerState::Sold, ..entry };
        assert!(matches!(after(ReserveOutcome::Existing(Box::new(sold))), AfterReserve::Journaled(_)));
        match after(ReserveOutcome::AlreadyBought { matched: IdentKind::Email, prior_at: t0() }) {
            AfterReserve::Skip("contract_duplicate", Some(hit)) => {
                assert_eq!(
                    (hit.checkpoint, hit.matched, hit.prior_at),
                    (Checkpoint::ContractDuplicate, Some(IdentKind::Email), Some(t0()))
                );
                assert_eq!(hit.contract.as_ref().map(|c| c.as_str()), Some("c1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(after(ReserveOutcome::SlotsTaken), AfterReserve::Skip("slots_taken", None)));
    }
}
