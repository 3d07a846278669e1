//! What the buyers' and the operators' return endpoints share: the request body, and a
//! return as each of them sees it (a buyer never sees the partner's payout or clawback:
//! they would disclose the marketplace's margin).

use crate::admin::body;
use crate::body::RequestBody;
use crate::error::ApiError;
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_engine::returns::ReturnAsk;
use pingpost_store::{ReturnRecord, ReturnStatus};

/// A return of a sold lead.
// The patterns say what `ask` checks: no control character (but a line break in the note);
// `ask` counts lengths in bytes of UTF-8.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    sale_id: String,
    /// One of the configured return reasons.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    reason: String,
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$")]
    note: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    idempotency_key: Option<String>,
}

const NOTE_MAX: usize = 1_000;

/// `{"sale_id", "reason", "note"?, "idempotency_key"?}`; without a key, the return's token
/// is the engine's (see [`pingpost_engine::ids`]).
pub async fn ask(body: RequestBody, engine: &pingpost_engine::Engine) -> Result<ReturnAsk, ApiError> {
    let b: ReturnBody = body::json(body).await?;
    let printable = |s: &str, max: usize| !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control);
    if !printable(&b.sale_id, 128) {
        return Err(ApiError::invalid("sale_id", "must be 1-128 printable characters"));
    }
    if !printable(&b.reason, 64) {
        return Err(ApiError::invalid("reason", "must be 1-64 printable characters"));
    }
    if let Some(note) = &b.note {
        if note.len() > NOTE_MAX || note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::invalid("note", format!("must be at most {NOTE_MAX} bytes of text")));
        }
    }
    let token = match b.idempotency_key {
        Some(k) if !printable(&k, 128) => {
            return Err(ApiError::invalid("idempotency_key", "must be 1-128 printable characters"))
        }
        Some(k) => format!("key:{k}"),
        None => engine.new_token(),
    };
    Ok(ReturnAsk { sale_id: b.sale_id, reason: b.reason, note: b.note, token })
}

/// Where a return stands.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatusView {
    Pending,
    Approved,
    Denied,
}

impl From<ReturnStatus> for ReturnStatusView {
    fn from(s: ReturnStatus) -> Self {
        match s {
            ReturnStatus::Pending => ReturnStatusView::Pending,
            ReturnStatus::Approved => ReturnStatusView::Approved,
            ReturnStatus::Denied => ReturnStatusView::Denied,
        }
    }
}

/// A return as its buyer sees it: what goes back to its balance, never the partner's payout.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BuyerReturnView {
    return_id: String,
    sale_id: String,
    status: ReturnStatusView,
    /// The sale's price, back to the buyer's balance once approved.
    refund: Money,
    reason: String,
    note: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    opened_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    decided_at: Option<Timestamp>,
    decision_note: Option<String>,
}

/// A return as the operator sees it: with its buyer and what it claws back.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OperatorReturnView {
    #[serde(flatten)]
    seen_by_buyer: BuyerReturnView,
    buyer: BuyerId,
    /// Whether the reason claws the partner's payout back.
    claw_back: bool,
    /// What approval takes back from the partner (zero without `claw_back`).
    clawback: Money,
}

pub fn for_buyer(r: &ReturnRecord) -> BuyerReturnView {
    BuyerReturnView {
        return_id: r.return_id.clone(),
        sale_id: r.sale_id.clone(),
        status: r.status.into(),
        refund: r.refund,
        reason: r.reason.clone(),
        note: r.note.clone(),
        opened_at: r.opened_at,
        decided_at: r.decided_at,
        decision_note: r.decision_note.clone(),
    }
}

pub fn for_operator(r: &ReturnRecord) -> OperatorReturnView {
    OperatorReturnView {
        seen_by_buyer: for_buyer(r),
        buyer: r.buyer.clone(),
        claw_back: r.claw_back,
        clawback: r.clawback,
    }
}
