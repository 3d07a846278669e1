//! An operator trying a buyer's call before it sells anything: a **preview** builds exactly
//! what would be sent (the same adapter call the ping and the post make, its secrets masked)
//! and sends nothing; a **test** sends it — to the call's `sandbox_url`, or live when asked —
//! and shows how pingpost read the answer. Neither touches the store: no dedup state, cap,
//! ledger or books entry.

use super::client::CallKind;
use super::lead_view::public_lead_of;
use crate::{Engine, EngineError};
use pingpost_core::adapter::{
    BidInfo, CompiledCall, Context, ContextParts, Mode, OutboundRequest, PingInfo, Reading, SaleInfo,
};
use pingpost_core::config::{Buyer, Config, Contract, Pricing};
use pingpost_core::identity::Identity;
use pingpost_core::ids::{BuyerId, OfferId};
use pingpost_core::lead::LeadFields;
use pingpost_core::money::Money;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The ids a trial's context carries: fixed, so a preview reads the same every time.
pub const TRIAL_PING_ID: &str = "preview-ping";
pub const TRIAL_BID_ID: &str = "preview-ping-0";
pub const TRIAL_SALE_ID: &str = "preview-ping-0";
pub const TRIAL_TOKEN: &str = "preview-token";

/// What to try: one of a buyer's calls, on an offer, with a sample lead.
#[derive(Clone, Debug)]
pub struct Trial {
    pub buyer: BuyerId,
    pub call: CallKind,
    pub offer: OfferId,
    /// The lead as a partner would send it: on a bid or DQ call only its qualifying fields
    /// and identifier hashes are used, as on a ping; on a post all of it.
    pub lead: Value,
    pub identity: Option<Identity>,
    pub fields: LeadFields,
}

/// A test's result: the request (secrets masked), what the buyer answered and how it was read.
#[derive(Clone, Debug)]
pub struct Tested {
    pub request: OutboundRequest,
    /// The buyer's status and body (at most 64 KiB, secrets masked), or why there was none.
    pub answer: Result<(u16, String), String>,
    pub elapsed_ms: u64,
    pub reading: Option<Reading>,
}

/// How long a test waits for a buyer whose call names no timeout.
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Exactly what `trial`'s call would send, its secrets masked, sent nowhere.
    pub fn preview(&self, trial: &Trial) -> Result<OutboundRequest, EngineError> {
        let config = self.config();
        let (buyer, url, ctx) = prepare(&config, trial, self.now())?;
        let call = buyer.adapter.call(trial.call);
        let secrets = self.secrets();
        call.request(&ctx, &*secrets, Mode::preview(url.as_deref())).map_err(render_error)
    }

    /// Sends `trial`'s call to its `sandbox_url` (or, `live`, where it really goes) and reads
    /// the answer. Writes nothing to the store.
    pub async fn test_call(&self, trial: &Trial, live: bool) -> Result<Tested, EngineError> {
        let config = self.config();
        let (buyer, url, ctx) = prepare(&config, trial, self.now())?;
        let call: &CompiledCall = buyer.adapter.call(trial.call);
        let secrets = self.secrets();
        let mode = Mode { url: url.as_deref(), sandbox: !live, masked: false };
        let sent = call.request(&ctx, &*secrets, mode).map_err(render_error)?;
        let shown = call.request(&ctx, &*secrets, Mode { masked: true, ..mode }).map_err(render_error)?;
        let timeout = call.timeout_ms().map_or(TEST_TIMEOUT, |ms| Duration::from_millis(u64::from(ms)));
        let started = Instant::now();
        let answered = self.buyers.send(trial.call, &buyer.id, &sent, timeout, started + timeout).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (answer, reading) = match answered {
            Ok((status, body)) => {
                let reading = super::calls::redacted(call.read(status, &body), &secrets);
                // A buyer may echo what it was sent, secrets included.
                let text = secrets.redact(&String::from_utf8_lossy(&body)).into_owned();
                (Ok((status, text)), Some(reading))
            }
            Err(e) => (Err(e.code().to_string()), None),
        };
        Ok(Tested { request: shown, answer, elapsed_ms, reading })
    }
}

/// The buyer, the URL the configuration names for the call, and the context a real call of
/// it would have: the ping's view of the lead for a bid or DQ call, the whole lead and a
/// sale at the buyer's contract's price for a post.
fn prepare(
    config: &Config,
    trial: &Trial,
    now: pingpost_core::Timestamp,
) -> Result<(Arc<Buyer>, Option<String>, Context), EngineError> {
    let buyer = config.buyers.get(&trial.buyer).cloned().ok_or_else(|| EngineError::NotFound {
        code: "not_found",
        message: format!("no buyer {:?}", trial.buyer.as_str()),
    })?;
    let offer =
        config.offers.get(&trial.offer).ok_or_else(|| EngineError::invalid("offer", "is not a configured offer"))?;
    // The buyer's contract on the offer names the bid and DQ calls' URLs and the price.
    let contract: Option<&Arc<Contract>> =
        config.contracts_of(&offer.id).iter().map(|p| &p.contract).find(|c| c.buyer == buyer.id);
    let url = match trial.call {
        CallKind::Bid => contract.and_then(|c| match &c.pricing {
            Pricing::RealTime { url, .. } => url.clone(),
            Pricing::Fixed(_) => None,
        }),
        CallKind::Dq => contract.and_then(|c| c.dq.as_ref().and_then(|d| d.url.clone())),
        CallKind::Post => buyer.post_url.clone(),
    };
    let price = contract.map_or(Money::ZERO, |c| c.pricing.ranking_price());
    let hashes = |pick: fn(&Identity) -> Option<&pingpost_core::identity::Sha256Hex>| {
        trial.identity.as_ref().and_then(pick).map(|h| h.to_string())
    };
    let lead = match trial.call {
        CallKind::Post => trial.lead.clone(),
        CallKind::Bid | CallKind::Dq => public_lead_of(&trial.fields, trial.identity.as_ref()),
    };
    let post = trial.call == CallKind::Post;
    let ctx = Context::new(ContextParts {
        lead,
        email_sha256: hashes(Identity::email),
        phone_sha256: hashes(Identity::phone),
        ping: PingInfo { id: TRIAL_PING_ID.into(), offer: offer.id.to_string(), vertical: offer.vertical.to_string() },
        bid: post.then(|| BidInfo { id: TRIAL_BID_ID.into(), price, token: Some(TRIAL_TOKEN.into()) }),
        sale: post.then(|| SaleInfo { id: TRIAL_SALE_ID.into(), price }),
        now,
    });
    Ok((buyer, url, ctx))
}

/// A request that could not be built, as a 422 naming the call's field.
fn render_error(e: pingpost_core::adapter::RenderError) -> EngineError {
    let field = if e.field.is_empty() { "call".to_string() } else { e.field.clone() };
    EngineError::invalid(field, format!("{} ({})", e.message, e.kind.code()))
}
