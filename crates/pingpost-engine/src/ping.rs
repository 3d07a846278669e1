//! A ping: idempotency, checkpoints 1-2 with the vertical reservation (one store call per
//! ping, whatever the number of contracts), caps read in the same breath, checkpoints 3-5
//! in the core, then DQ questions and real-time bids in parallel under one deadline fixed
//! at arrival.
//!
//! A test lead (`test: true`, or any ping of a partner in test mode) runs the same steps with
//! the same verdicts, but writes no dedup state (a dry-run admission, no DQ record, nothing
//! to confirm), counts in no statistics, asks only sandbox URLs (a contract whose buyer has
//! none for a call it needs is left out, audited `no_sandbox`), and says `test` in its record,
//! its audit entries and its answer.

use crate::audit::AuditEntry;
use crate::buyer::calls::{self, Route};
use crate::buyer::lead_view::public_lead;
use crate::events::{fates, ContractFacts};
use crate::records::{PingAnswer, PingRecord, PingStatus, RejectReason, Remembered, StoredAnswer, RECORD_GRACE};
use crate::secrets::SecretsView;
use crate::stats::PingFacts;
use crate::{telemetry, Engine, EngineError};
use futures_util::future::join_all;
use pingpost_core::adapter::{CallKind, CompiledCall, Context, ContextParts, Mode, OutboundRequest, PingInfo, Reading};
use pingpost_core::auction::{contract_price, payout_acceptable, rank, Bid};
use pingpost_core::checkpoint::{counter_keys, eligible, screen, Candidate, Checkpoint, Drop, Eligible, Ineligible};
use pingpost_core::config::{Config, Offer, PartnerMode, Pricing, SaleMode, Vertical};
use pingpost_core::events::{ContractFate, LeadEvent, Outcome};
use pingpost_core::identity::{IdentKind, Identity};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::lead::LeadFields;
use pingpost_core::margin::Margin;
use pingpost_core::whatif::{gap_since, Gap};
use pingpost_core::Timestamp;
use pingpost_store::{Admission, AdmitOutcome, Claim, ClaimRequest};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A ping as the server parsed it: identifiers already hashed.
#[derive(Clone, Debug)]
pub struct PingRequest {
    pub offer: String,
    pub identity: Identity,
    pub fields: LeadFields,
    pub idempotency_key: Option<String>,
    /// The request asked for a test lead (a partner in test mode makes every ping one).
    pub test: bool,
}

/// How long an idempotency key remembers its answer: partners retry within seconds or
/// minutes, and every remembered answer is memory in the store (kept small: see
/// [`StoredAnswer`]).
const IDEMPOTENCY_KEEP: chrono::Duration = chrono::Duration::hours(1);

/// How long a ping's vertical submission is pending: it turns other pings of the consumer
/// away while the ping runs, and lapses unless the ping confirms it once its answer stands.
/// So a ping that failed (a frozen store, a dead engine, a reply lost) never turns its own
/// retry away for longer than this, even when its release could not be stored. Far above any
/// ping's own duration (its budget plus a few store calls bounded by their timeouts).
pub const ADMISSION_LEASE: chrono::Duration = chrono::Duration::seconds(60);

// The span carries the ping id into every log line of the ping. Its fields are filled only
// with values known to be ours (a configured offer, a generated id): what a partner sends
// may hold anything, a consumer's email included.
#[tracing::instrument(name = "ping", skip_all, fields(ping_id = tracing::field::Empty, offer = tracing::field::Empty, partner = %partner))]
pub(crate) async fn run(engine: &Engine, partner: &PartnerId, req: PingRequest) -> Result<PingAnswer, EngineError> {
    let arrival = Instant::now();
    let now = engine.clock.now();
    let config = engine.config();
    let offer = config.offers.get(req.offer.as_str()).ok_or_else(|| EngineError::UnknownOffer(req.offer.clone()))?;
    tracing::Span::current().record("offer", offer.id.as_str());
    let partner_config = config.partners.get(partner);
    if !partner_config.is_some_and(|p| p.offers.contains(&offer.id)) {
        return Err(EngineError::OfferNotAllowed(req.offer.clone()));
    }
    let mut req = req;
    req.test |= partner_config.is_some_and(|p| p.mode == PartnerMode::Test);
    let (key, holder) = match &req.idempotency_key {
        None => return decide(engine, &config, partner, offer, &req, arrival, now).await,
        Some(k) => match claim_idempotency(engine, partner, &offer.id, k, &req, now).await? {
            Idempotency::Answered(first) => return Ok(first),
            Idempotency::Proceed { key, holder } => (key, holder),
        },
    };
    match decide(engine, &config, partner, offer, &req, arrival, now).await {
        Ok(answer) => {
            let stored = StoredAnswer::of(&answer).encode().map_err(|e| EngineError::Corrupt(e.to_string()))?;
            if let Err(e) = engine.store.complete_claim(key, holder, stored, now, now + IDEMPOTENCY_KEEP).await {
                tracing::warn!(ping_id = %answer.ping_id, error = %e, "idempotency answer not stored");
            }
            Ok(answer)
        }
        Err(e) => {
            let _ = engine.store.abandon_claim(key, holder).await;
            Err(e)
        }
    }
}

enum Idempotency {
    /// Decide, then store the answer under this store key, as its holder.
    Proceed { key: String, holder: String },
    /// The key already has its answer.
    Answered(PingAnswer),
}

async fn claim_idempotency(
    engine: &Engine,
    partner: &PartnerId,
    offer: &OfferId,
    key: &str,
    req: &PingRequest,
    now: Timestamp,
) -> Result<Idempotency, EngineError> {
    if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) {
        return Err(EngineError::invalid("idempotency_key", "must be 1-128 printable characters"));
    }
    let store_key = format!("idem:{partner}:{}", pingpost_core::identity::lower_hex(&Sha256::digest(key.as_bytes())));
    let mut fp = Sha256::new();
    fp.update(req.offer.as_bytes());
    for i in req.identity.idents() {
        fp.update(i.kind.as_str().as_bytes());
        fp.update(i.hash.as_str().as_bytes());
    }
    // A key used for a live ping and then a test one (or the reverse) is a mismatch; a live
    // ping's fingerprint is as it always was.
    if req.test {
        fp.update(b"test");
    }
    let holder = engine.ids.token();
    let claim = ClaimRequest {
        key: store_key.clone(),
        fingerprint: pingpost_core::identity::lower_hex(&fp.finalize()),
        holder: holder.clone(),
        lease_until: now + chrono::Duration::seconds(30),
        keep_until: now + IDEMPOTENCY_KEEP,
        now,
    };
    match engine.store.claim(claim).await? {
        Claim::Claimed { .. } => Ok(Idempotency::Proceed { key: store_key, holder }),
        Claim::Done(bytes) => remembered(engine, offer, &bytes, now).await.map(Idempotency::Answered),
        Claim::InFlight => Err(EngineError::InFlight("a ping with this idempotency_key is in flight")),
        Claim::Mismatch => {
            Err(EngineError::invalid("idempotency_key", "was already used for a different lead or offer"))
        }
    }
}

/// A key's stored answer, whole again. An accepted ping's bids are read from its record,
/// which holds them until the ping's TTL and grace run out; past that they could no longer
/// be posted, and the retry is told that the ping expired (410), as a post of it would be.
async fn remembered(engine: &Engine, offer: &OfferId, bytes: &[u8], now: Timestamp) -> Result<PingAnswer, EngineError> {
    let stored = match StoredAnswer::decode(bytes).map_err(EngineError::Corrupt)? {
        Remembered::Compact(stored) => stored,
        Remembered::Whole(answer) => return Ok(answer),
    };
    if stored.status == PingStatus::Rejected {
        return Ok(stored.answer(offer.clone(), Vec::new()));
    }
    let Some(record) = engine.store.get_blob(["ping:", stored.ping_id.as_str()].concat(), now).await? else {
        return Err(EngineError::PingExpired(stored.ping_id));
    };
    let record: PingRecord = serde_json::from_slice(&record).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    Ok(stored.answer(record.offer, record.bids))
}

/// The auction's own deadline: the budget minus a tenth (at least 1 ms) kept for our work.
fn auction_deadline(arrival: Instant, offer: &Offer) -> Instant {
    let budget = Duration::from_millis(u64::from(offer.ping_budget_ms));
    arrival + budget - (budget / 10).max(Duration::from_millis(1)).min(budget)
}

/// What a ping asks of the store, planned from the configuration, the request, its id and
/// "now" alone (no I/O): the contracts that could take the lead, the cap counters they read,
/// and the admission (checkpoints 1-2 and the pending vertical submission).
struct PingPlan {
    candidates: Vec<Eligible>,
    /// The contracts that are no candidates at all, for the ping's event.
    ineligible: Vec<(ContractId, Ineligible)>,
    counter_keys: Vec<String>,
    admission: Admission,
    expires_at: Timestamp,
}

fn plan(
    config: &Config,
    vertical: &Vertical,
    offer: &Offer,
    req: &PingRequest,
    ping_id: &str,
    now: Timestamp,
) -> PingPlan {
    let (candidates, ineligible) = eligible(config.contracts_of(&offer.id), &req.fields, now);
    let counter_keys = counter_keys(&candidates);
    let admission = Admission {
        idents: req.identity.idents(),
        vertical: vertical.id.clone(),
        window: vertical.dedup_window,
        repeat_after: vertical.repeat_after,
        ping_id: ping_id.to_string(),
        now,
        pending_until: now + ADMISSION_LEASE,
        dry_run: req.test,
        buyers: std::sync::Arc::clone(&offer.buyers),
    };
    let expires_at = now + chrono::Duration::seconds(i64::from(offer.ping_ttl_s));
    PingPlan { candidates, ineligible, counter_keys, admission, expires_at }
}

/// The dedup hits of a ping, audited once its answer stands: checkpoint 1 or 2's stop, the
/// contracts checkpoints 3-5 dropped or kept as repeats, those whose buyer answered
/// "disqualified", and those a test lead left out for want of a sandbox.
#[derive(Default)]
struct Hits {
    stopped_by: Option<(Checkpoint, IdentKind, Timestamp)>,
    drops: Vec<Drop>,
    repeats: Vec<Drop>,
    disqualified: Vec<(BuyerId, ContractId)>,
    no_sandbox: Vec<(BuyerId, ContractId)>,
}

/// What the checkpoints and the auction made of a ping, before its record is kept.
struct Decided {
    status: PingStatus,
    reason: Option<RejectReason>,
    bids: Vec<Bid>,
    hits: Hits,
    facts: PingFacts,
    /// The consumer came back: a vertical repeat, or a repeat bid.
    repeat: bool,
    event: EventParts,
}

impl Decided {
    /// Checkpoint 1 or 2 stopped the ping (`stop`: the checkpoint, the identifier that matched
    /// and since when); `vertical_gap` for its event.
    fn stopped(
        stop: (Checkpoint, IdentKind, Timestamp),
        reason: RejectReason,
        mut hits: Hits,
        mut facts: PingFacts,
        vertical_gap: Gap,
    ) -> Decided {
        facts.stopped(stop.0);
        hits.stopped_by = Some(stop);
        let event = EventParts { fates: Vec::new(), vertical_gap };
        Decided {
            status: PingStatus::Rejected,
            reason: Some(reason),
            bids: Vec::new(),
            hits,
            facts,
            repeat: false,
            event,
        }
    }
}

/// What a ping's event needs beyond its answer.
#[derive(Default)]
struct EventParts {
    fates: Vec<ContractFate>,
    vertical_gap: Gap,
}

/// A live ping's event, once answered (pure).
fn lead_event(
    answer: &PingAnswer,
    partner: &PartnerId,
    vertical: &VerticalId,
    req: &PingRequest,
    event: EventParts,
    now: Timestamp,
) -> LeadEvent {
    let outcome = match answer.reason {
        None => Outcome::Accepted,
        Some(RejectReason::Suppressed) => Outcome::Suppressed,
        Some(RejectReason::VerticalDuplicate) => Outcome::VerticalDuplicate,
        Some(RejectReason::NoBids) => Outcome::NoBids,
    };
    LeadEvent {
        at: now,
        ping_id: answer.ping_id.clone(),
        partner: partner.clone(),
        offer: answer.offer.clone(),
        vertical: vertical.clone(),
        email: req.identity.email().cloned(),
        phone: req.identity.phone().cloned(),
        outcome,
        repeat: answer.repeat,
        vertical_gap: event.vertical_gap,
        contracts: event.fates,
    }
}

/// A ping's audit entries, in the order of its checkpoints (pure): one record call, so one
/// stream entry on Redis, per ping.
fn audit_entries(
    hits: Hits,
    ping_id: &str,
    partner: &PartnerId,
    vertical: &VerticalId,
    offer: &OfferId,
    test: bool,
    now: Timestamp,
) -> Vec<AuditEntry> {
    let audit_ping_id: Arc<str> = Arc::from(ping_id);
    let audit =
        |checkpoint, buyer: Option<BuyerId>, contract: Option<ContractId>, matched: Option<IdentKind>, prior_at| {
            AuditEntry {
                at: now,
                ping_id: Arc::clone(&audit_ping_id),
                partner: partner.clone(),
                vertical: vertical.clone(),
                offer: offer.clone(),
                buyer,
                contract,
                checkpoint,
                matched,
                prior_at,
                reason: None,
                test,
            }
        };
    let Hits { stopped_by, drops, repeats, disqualified, no_sandbox } = hits;
    let stop_hit = stopped_by.map(|(checkpoint, matched, at)| audit(checkpoint, None, None, Some(matched), Some(at)));
    let drop_hits = drops
        .into_iter()
        .chain(repeats)
        .map(|d| audit(d.checkpoint, Some(d.buyer), Some(d.contract), d.matched, d.prior_at));
    let dq_hits = disqualified
        .into_iter()
        .map(|(buyer, contract)| audit(Checkpoint::DqDuplicate, Some(buyer), Some(contract), None, None));
    let sandbox_hits = no_sandbox
        .into_iter()
        .map(|(buyer, contract)| audit(Checkpoint::NoSandbox, Some(buyer), Some(contract), None, None));
    stop_hit.into_iter().chain(drop_hits).chain(dq_hits).chain(sandbox_hits).collect()
}

/// Rejected for want of bids, or accepted with them (pure).
fn verdict(bids: &[Bid]) -> (PingStatus, Option<RejectReason>) {
    if bids.is_empty() {
        (PingStatus::Rejected, Some(RejectReason::NoBids))
    } else {
        (PingStatus::Accepted, None)
    }
}

/// A ping in three parts: [`plan`] (pure), the store and buyers ([`checkpoints_and_auction`],
/// the record kept), and the answer with its audit entries and statistics ([`audit_entries`]).
async fn decide(
    engine: &Engine,
    config: &Config,
    partner: &PartnerId,
    offer: &Offer,
    req: &PingRequest,
    arrival: Instant,
    now: Timestamp,
) -> Result<PingAnswer, EngineError> {
    let vertical =
        config.verticals.get(&offer.vertical).ok_or_else(|| EngineError::UnknownOffer(offer.id.to_string()))?;
    let ping_id = engine.ids.ping_id();
    tracing::Span::current().record("ping_id", ping_id.as_str());
    let PingPlan { candidates, ineligible, counter_keys, admission, expires_at } =
        plan(config, vertical, offer, req, &ping_id, now);
    let ping = Ping { engine, config, partner, offer, req, ping_id: &ping_id, now };
    let decided = ping.checkpoints_and_auction(candidates, ineligible, counter_keys, &admission, arrival).await;
    let Decided { status, reason, mut bids, hits, mut facts, repeat, event } = match decided {
        Ok(decided) => decided,
        // The admission itself failed: there is nothing known to give back.
        Err(Unanswered { error, admitted: false }) => return Err(error),
        Err(Unanswered { error, admitted: true }) => {
            release(engine, admission).await;
            return Err(error);
        }
    };
    // Only a ping with bids can be posted, so only its record is kept: rejected pings (most
    // of a dedup-heavy stream) cost no write and no memory.
    if status == PingStatus::Accepted {
        let record = PingRecord {
            ping_id: ping_id.clone(),
            partner: partner.clone(),
            offer: offer.id.clone(),
            vertical: vertical.id.clone(),
            email: req.identity.email().cloned(),
            phone: req.identity.phone().cloned(),
            // Lent to the record and taken back once it is written: no copy of the bids.
            bids,
            created_at: now,
            expires_at,
            slots: offer_slots(offer),
            test: req.test,
        };
        // Sized for the compact form (some 200 bytes and ~35 per bid): no regrowth.
        let mut bytes = Vec::with_capacity(256 + 48 * record.bids.len());
        serde_json::to_writer(&mut bytes, &record).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        bids = record.bids;
        if let Err(e) =
            engine.store.put_blob(["ping:", ping_id.as_str()].concat(), bytes, now, expires_at + RECORD_GRACE).await
        {
            release(engine, admission).await;
            return Err(e.into());
        }
    }
    // The answer stands from here on: nothing after this point can turn it into an error.
    // So the submission is confirmed only now, and off the answer's path: a ping answered
    // with an error never confirmed its submission, which therefore lapses with its lease
    // even when its release could not be stored.
    // A test lead's dry-run admission wrote nothing to confirm.
    if !req.test && !matches!(reason, Some(RejectReason::Suppressed | RejectReason::VerticalDuplicate)) {
        engine.confirm_admission(admission);
    }
    // The decision is taken: what follows (audit log, statistics, telemetry) is bookkeeping
    // the answer does not need, and not part of the time a partner is told it took.
    let decision = arrival.elapsed();
    // Audited and counted only now that the answer stands: a ping that failed gave its
    // reservation back, and is audited and counted when its retry is answered, once.
    engine.audit.record(audit_entries(hits, &ping_id, partner, &vertical.id, &offer.id, req.test, now));
    if !req.test {
        facts.bids(&bids);
        engine.stats.record(facts.increments());
    }
    let answer = PingAnswer {
        ping_id,
        offer: offer.id.clone(),
        status,
        reason,
        bids,
        expires_at,
        decision_us: u64::try_from(decision.as_micros()).unwrap_or(u64::MAX),
        test: req.test,
        repeat,
    };
    if !req.test {
        engine.queue_event(lead_event(&answer, partner, &vertical.id, req, event, now));
    }
    telemetry::ping_answered(&offer.id, &answer, decision, &engine.bid_counters);
    tracing::debug!(status = ?answer.status, reason = ?answer.reason, bids = answer.bids.len(), decision_us = answer.decision_us, "ping answered");
    Ok(answer)
}

/// A ping that could not be decided; `admitted` when its admission stands, to be released.
struct Unanswered {
    error: EngineError,
    admitted: bool,
}

impl From<pingpost_store::StoreError> for Unanswered {
    fn from(e: pingpost_store::StoreError) -> Self {
        Unanswered { error: e.into(), admitted: true }
    }
}

/// One ping's I/O steps, on what [`plan`] decided to ask.
struct Ping<'a> {
    engine: &'a Engine,
    config: &'a Config,
    partner: &'a PartnerId,
    offer: &'a Offer,
    req: &'a PingRequest,
    ping_id: &'a str,
    now: Timestamp,
}

impl Ping<'_> {
    /// Checkpoints 1-2 and the cap counters (two store calls side by side, whatever the
    /// offer), checkpoints 3-5 in the core, then the buyers asked and a "disqualified" answer
    /// recorded. An error after the admission leaves it to the caller to release.
    async fn checkpoints_and_auction(
        &self,
        candidates: Vec<Eligible>,
        ineligible: Vec<(ContractId, Ineligible)>,
        keys: Vec<String>,
        admission: &Admission,
        arrival: Instant,
    ) -> Result<Decided, Unanswered> {
        let (engine, req, now) = (self.engine, self.req, self.now);
        let counters_call = async {
            if keys.is_empty() {
                Ok(Vec::new())
            } else {
                engine.store.read_counters(keys.clone()).await
            }
        };
        let (admit_outcome, counters) = tokio::join!(engine.store.admit(admission.clone()), counters_call);
        let mut facts = PingFacts::new(now, self.partner, &admission.vertical);
        let mut hits = Hits::default();
        let admitted = admit_outcome.map_err(|e| Unanswered { error: e.into(), admitted: false })?;
        let history = match admitted {
            AdmitOutcome::Suppressed { matched, since } => {
                let stop = (Checkpoint::Suppressed, matched, since);
                return Ok(Decided::stopped(stop, RejectReason::Suppressed, hits, facts, None));
            }
            AdmitOutcome::VerticalDuplicate { matched, prior_at } => {
                let stop = (Checkpoint::VerticalDuplicate, matched, prior_at);
                let gap = Some(gap_since(prior_at, now));
                return Ok(Decided::stopped(stop, RejectReason::VerticalDuplicate, hits, facts, gap));
            }
            AdmitOutcome::Admitted { history, repeat, last_submission } => {
                if repeat.is_some() {
                    facts.vertical_repeat();
                }
                (history, repeat, last_submission)
            }
        };
        let (history, vertical_repeat, last_submission) = history;
        let counters = keys.into_iter().zip(counters?).collect::<HashMap<_, _>>();
        let mut screening = screen(candidates, &counters, &history, vertical_repeat, now);
        facts.screened(&screening);
        hits.drops = screening.drops;
        hits.repeats = screening.repeats;
        if req.test {
            screening.candidates.retain(|c| {
                let sandboxed = has_sandbox(c);
                if !sandboxed {
                    hits.no_sandbox.push((c.contract.buyer.clone(), c.contract.id.clone()));
                }
                sandboxed
            });
        }
        let deadline = auction_deadline(arrival, self.offer);
        let (bids, disqualified) =
            auction(engine, self.config, self.partner, self.ping_id, self.offer, req, screening.candidates, deadline)
                .await;
        // A test lead's DQ answers are audited, never recorded.
        if !disqualified.is_empty() && !req.test {
            let buyers = disqualified.iter().map(|(buyer, _)| buyer.clone()).collect();
            engine.store.record_dq(req.identity.idents(), buyers, now).await?;
            // A buyer's "disqualified" answer drops its contract at checkpoint 5 like a
            // recorded one does.
            facts.disqualified(&disqualified);
        }
        hits.disqualified = disqualified;
        let (status, reason) = verdict(&bids);
        let repeat = vertical_repeat.is_some() || bids.iter().any(|b| b.repeat);
        // A test lead is in no event log (it counts in no statistics either).
        let event = if req.test {
            EventParts::default()
        } else {
            let mut not_candidates = ineligible;
            not_candidates.extend(screening.ineligible);
            let contracts = ContractFacts {
                contracts: self.config.contracts_of(&self.offer.id),
                ineligible: &not_candidates,
                drops: &hits.drops,
                disqualified: &hits.disqualified,
                bids: &bids,
                history: &history,
                now,
            };
            EventParts { fates: fates(&contracts), vertical_gap: last_submission.map(|at| gap_since(at, now)) }
        };
        Ok(Decided { status, reason, bids, hits, facts, repeat, event })
    }
}

/// The id of the ping's `n`th bid: `<ping id>-<n>`, written without the formatting
/// machinery (per bid: issue 13's profile found a thousand instructions per `format!`).
fn bid_id(ping_id: &str, n: usize) -> String {
    let mut digits = itoa::Buffer::new();
    let n = digits.format(n);
    let mut id = String::with_capacity(ping_id.len() + 1 + n.len());
    id.push_str(ping_id);
    id.push('-');
    id.push_str(n);
    id
}

/// How many standing sales a ping of the offer may have.
fn offer_slots(offer: &Offer) -> u16 {
    match offer.mode {
        SaleMode::Multisell => offer.max_buyers.max(1),
        SaleMode::Exclusive => 1,
    }
}

/// Gives the vertical reservation back when the ping cannot be answered, so that the
/// partner's retry is not turned away as its own duplicate. A dry run reserved nothing.
async fn release(engine: &Engine, admission: Admission) {
    if admission.dry_run {
        return;
    }
    let ping_id = admission.ping_id.clone();
    if let Err(e) = engine.store.release_admission(admission).await {
        tracing::warn!(%ping_id, error = %e, "vertical reservation not released");
    }
}

/// Whether a test lead may keep `c`: its buyer has a `sandbox_url` for every call the
/// contract needs — its real-time bid, its DQ question, and the post any sale makes.
/// pingpost's own protocol has none, so a buyer speaking it is never in a test lead.
fn has_sandbox(c: &Candidate) -> bool {
    let needed = [
        matches!(c.contract.pricing, Pricing::RealTime { .. }).then_some(CallKind::Bid),
        c.contract.dq.is_some().then_some(CallKind::Dq),
        Some(CallKind::Post),
    ];
    needed.into_iter().flatten().all(|kind| c.buyer.adapter.call(kind).has_sandbox_url())
}

/// Asks DQ contracts, then real-time-bid contracts, each in parallel with the others, all
/// before `deadline`. Answers the bids ranked by payout (a bid that would pay the partner
/// nothing, or less than its minimum, is no bid) and the (buyer, contract) of every DQ
/// question answered "disqualified".
#[allow(clippy::too_many_arguments)]
async fn auction(
    engine: &Engine,
    config: &Config,
    partner: &PartnerId,
    ping_id: &str,
    offer: &Offer,
    req: &PingRequest,
    candidates: Vec<Candidate>,
    deadline: Instant,
) -> (Vec<Bid>, Vec<(BuyerId, ContractId)>) {
    let needs_call = |c: &Candidate| c.contract.dq.is_some() || matches!(c.contract.pricing, Pricing::RealTime { .. });
    // What the calls share (the templates' context above all) is built only when a
    // candidate asks its buyer: a fixed-price ping pays nothing for adapters.
    let calls = candidates
        .iter()
        .any(needs_call)
        .then(|| Calls::new(engine.secrets(), ping_id, offer, req, &candidates, engine.now()));
    // Only the contracts that ask their buyer wait on a call: a fixed price without a DQ
    // question is known now, and a future per contract showed in profiles at 300.
    let asks = calls
        .iter()
        .flat_map(|calls| candidates.iter().filter(|c| needs_call(c)).map(move |c| ask(engine, calls, c, deadline)));
    let mut asked = join_all(asks).await.into_iter();
    let mut bids = Vec::with_capacity(candidates.len());
    let mut disqualified = Vec::new();
    let partner = config.partners.get(partner);
    let (min_payout, partner_margin) = (partner.and_then(|p| p.min_payout), partner.and_then(|p| p.margin));
    for (n, c) in candidates.iter().enumerate() {
        let answer = if needs_call(c) {
            asked.next().unwrap_or(Asked::NoBid)
        } else {
            contract_price(&c.contract.pricing, None).map_or(Asked::NoBid, |price| Asked::Price(price, None))
        };
        match answer {
            Asked::Price(price, token) => {
                // A repeat bids its repeat price, and pays the partner by the same margin.
                let price = match (&c.contract.repeat, c.repeat) {
                    (Some(terms), true) => terms.price_of(price),
                    _ => price,
                };
                // The candidate's buyer is the configuration's (see `Config::margin`).
                let margin = Margin::resolve(offer.margin, c.buyer.margin, partner_margin);
                let payout = Margin::payout(margin, price);
                if !payout_acceptable(payout, min_payout) {
                    continue;
                }
                bids.push(Bid {
                    // A bid only means something inside its ping, whose id is the unguessable
                    // part (and a post must come from the ping's partner): deriving bid ids from
                    // it spares a random draw per contract, which showed in profiles at 300.
                    bid_id: bid_id(ping_id, n),
                    buyer: c.contract.buyer.clone(),
                    contract: c.contract.id.clone(),
                    price,
                    payout,
                    token,
                    repeat: c.repeat,
                })
            }
            Asked::Disqualified => disqualified.push((c.contract.buyer.clone(), c.contract.id.clone())),
            Asked::NoBid => {}
        }
    }
    rank(&mut bids);
    (bids, disqualified)
}

enum Asked {
    /// A price, and the buyer's token for the post.
    Price(pingpost_core::money::Money, Option<String>),
    Disqualified,
    NoBid,
}

/// What a ping's calls to buyers share: the context every template reads, the secrets in
/// force, and pingpost's own requests, written once per ping for every buyer that speaks
/// pingpost's protocol (each gets the same body; only the URL is its contract's). Nothing
/// is built that no candidate asks.
struct Calls {
    context: Context,
    secrets: Arc<SecretsView>,
    /// pingpost's own bid request and DQ question (`None`: not needed, or not writable, and
    /// nobody speaking pingpost's protocol is asked).
    bid: Option<OutboundRequest>,
    dq: Option<OutboundRequest>,
    /// A test lead's calls: each to its `sandbox_url`.
    sandbox: bool,
}

impl Calls {
    fn new(
        secrets: Arc<SecretsView>,
        ping_id: &str,
        offer: &Offer,
        req: &PingRequest,
        candidates: &[Candidate],
        now: Timestamp,
    ) -> Self {
        let asks = |kind: CallKind| {
            candidates.iter().any(|c| {
                let asked = match kind {
                    CallKind::Bid => matches!(c.contract.pricing, Pricing::RealTime { .. }),
                    _ => c.contract.dq.is_some(),
                };
                asked && c.buyer.adapter.call(kind).is_pingpost()
            })
        };
        let context = Context::new(ContextParts {
            lead: public_lead(&req.fields, &req.identity),
            email_sha256: req.identity.email().map(|h| h.to_string()),
            phone_sha256: req.identity.phone().map(|h| h.to_string()),
            ping: PingInfo {
                id: ping_id.to_string(),
                offer: offer.id.to_string(),
                vertical: offer.vertical.to_string(),
            },
            bid: None,
            sale: None,
            now,
        });
        let own = |kind: CallKind| {
            asks(kind).then(|| {
                let call = CompiledCall::pingpost(kind, &Default::default());
                // The URL is each contract's; the body is what every one of them gets.
                call.request(&context, &*secrets, Mode::live(Some("")))
                    .map_err(|e| tracing::error!(%ping_id, error = %e, "buyer request not writable"))
                    .ok()
            })
        };
        let (bid, dq) = (own(CallKind::Bid).flatten(), own(CallKind::Dq).flatten());
        Calls { context, secrets, bid, dq, sandbox: req.test }
    }

    /// Asks `c`'s buyer `kind` at `url` (the contract's), its own protocol's request built
    /// now, pingpost's taken as written once for the ping.
    async fn make(
        &self,
        engine: &Engine,
        c: &Candidate,
        kind: CallKind,
        url: Option<&str>,
        timeout_ms: u32,
        deadline: Instant,
    ) -> Option<Reading> {
        let call = c.buyer.adapter.call(kind);
        let timeout = Duration::from_millis(u64::from(call.timeout_ms().unwrap_or(timeout_ms)));
        let route = Route { buyer: &c.contract.buyer, url, timeout, deadline, sandbox: self.sandbox };
        let answer = if call.is_pingpost() {
            let built = match kind {
                CallKind::Bid => self.bid.as_ref(),
                _ => self.dq.as_ref(),
            }?;
            let req = OutboundRequest { url: url?.to_string(), ..built.clone() };
            calls::make_built(&engine.buyers, call, &req, route).await
        } else {
            calls::make(&engine.buyers, call, &self.context, &*self.secrets, route).await
        };
        answer
            .map_err(
                |e| tracing::debug!(buyer = %c.contract.buyer, call = kind.as_str(), error = %e, "buyer call failed"),
            )
            .ok()
    }
}

async fn ask(engine: &Engine, calls: &Calls, c: &Candidate, deadline: Instant) -> Asked {
    if let Some(dq) = &c.contract.dq {
        let reading = calls.make(engine, c, CallKind::Dq, dq.url.as_deref(), dq.timeout_ms, deadline).await;
        match reading {
            Some(Reading::Dq(d)) if d.disqualified == Some(false) => {}
            Some(Reading::Dq(d)) if d.disqualified == Some(true) => return Asked::Disqualified,
            // No usable answer: the buyer asked to be consulted, so it does not bid blind.
            _ => return Asked::NoBid,
        }
    }
    let (answered, token) = match &c.contract.pricing {
        Pricing::Fixed(_) => (None, None),
        Pricing::RealTime { url, timeout_ms, .. } => {
            match calls.make(engine, c, CallKind::Bid, url.as_deref(), *timeout_ms, deadline).await {
                Some(Reading::Bid(b)) => (b.price, b.token),
                _ => (None, None),
            }
        }
    };
    contract_price(&c.contract.pricing, answered).map_or(Asked::NoBid, |price| Asked::Price(price, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::unit_market::{market, t0};
    use pingpost_core::identity::Sha256Hex;
    use pingpost_core::lead::FieldValue;
    use pingpost_core::money::Money;

    fn config() -> Config {
        market(
            r#"
[[contracts]]
id = "c1"
buyer = "b1"
offer = "o"
price = "10.00"
caps = { daily = 5 }

[[contracts]]
id = "tx"
buyer = "b1"
offer = "o"
price = "30.00"
filters = { state = { in = ["TX"] } }
"#,
        )
    }

    fn request(test: bool) -> PingRequest {
        PingRequest {
            offer: "o".into(),
            identity: Identity::new(Some(Sha256Hex::digest("jane@example.com")), None).expect("an identity"),
            fields: [("state".to_string(), FieldValue::Text("CA".into()))].into_iter().collect(),
            idempotency_key: None,
            test,
        }
    }

    #[test]
    fn a_plan_asks_for_the_eligible_contracts_counters_and_a_pending_admission() {
        let config = config();
        let offer = &config.offers[&OfferId::new("o")];
        let vertical = &config.verticals[&offer.vertical];
        let planned = plan(&config, vertical, offer, &request(false), "ping-1", t0());
        let kept: Vec<&str> = planned.candidates.iter().map(|c| c.contract.id.as_str()).collect();
        assert_eq!(kept, ["c1"], "the Texan-only contract is no candidate");
        assert!(
            !planned.counter_keys.is_empty() && planned.counter_keys.iter().all(|k| k.contains("c1")),
            "{:?}",
            planned.counter_keys
        );
        assert_eq!(planned.admission.ping_id, "ping-1");
        assert_eq!(planned.admission.vertical.as_str(), "auto");
        assert_eq!(planned.admission.pending_until, t0() + ADMISSION_LEASE);
        assert_eq!(planned.admission.idents.len(), 1);
        assert!(!planned.admission.dry_run);
        assert_eq!(planned.expires_at, t0() + chrono::Duration::seconds(120));
        assert!(
            plan(&config, vertical, offer, &request(true), "ping-2", t0()).admission.dry_run,
            "a test lead writes nothing"
        );
    }

    #[test]
    fn audit_entries_follow_the_checkpoints_order() {
        let (b, c) = (|s: &str| BuyerId::new(s), |s: &str| ContractId::new(s));
        let hits = Hits {
            stopped_by: None,
            drops: vec![Drop {
                contract: c("c1"),
                buyer: b("b1"),
                checkpoint: Checkpoint::InAuctionDuplicate,
                matched: None,
                prior_at: None,
            }],
            disqualified: vec![(b("b2"), c("c2"))],
            no_sandbox: vec![(b("b3"), c("c3"))],
            repeats: Vec::new(),
        };
        let (p, v, o) = (PartnerId::new("p1"), VerticalId::new("auto"), OfferId::new("o"));
        let entries = audit_entries(hits, "ping-1", &p, &v, &o, true, t0());
        let seen: Vec<(&str, &str)> =
            entries.iter().map(|e| (e.contract.as_ref().map_or("", |c| c.as_str()), e.checkpoint.as_str())).collect();
        assert_eq!(seen, [("c1", "in_auction_duplicate"), ("c2", "dq_duplicate"), ("c3", "no_sandbox")]);
        assert!(entries.iter().all(|e| &*e.ping_id == "ping-1" && e.test && e.at == t0()));

        let stopped = Hits { stopped_by: Some((Checkpoint::Suppressed, IdentKind::Email, t0())), ..Hits::default() };
        let entries = audit_entries(stopped, "ping-2", &p, &v, &o, false, t0());
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].checkpoint, entries[0].matched, entries[0].contract.as_ref()),
            (Checkpoint::Suppressed, Some(IdentKind::Email), None)
        );
    }

    #[test]
    fn a_ping_without_bids_is_rejected() {
        assert_eq!(verdict(&[]), (PingStatus::Rejected, Some(RejectReason::NoBids)));
        let bid = Bid {
            bid_id: "p-0".into(),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::parse("10.00").expect("money"),
            payout: Money::parse("10.00").expect("money"),
            token: None,
            repeat: false,
        };
        assert_eq!(verdict(&[bid]), (PingStatus::Accepted, None));
    }

    #[test]
    fn bid_ids_have_their_documented_shape() {
        assert_eq!(bid_id("abc", 0), "abc-0");
        assert_eq!(bid_id("abc", 12_345), "abc-12345");
    }
}
