//! What the buyers' and the operators' return endpoints share: the request body, and a
//! return as each of them sees it (a buyer never sees the partner's payout or clawback:
//! they would disclose the marketplace's margin).

use crate::admin::body;
use crate::body::RequestBody;
use crate::error::ApiError;
use pingpost_engine::returns::ReturnAsk;
use pingpost_store::ReturnRecord;
use serde_json::{json, Value};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    sale_id: String,
    reason: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

const NOTE_MAX: usize = 1_000;

/// `{"sale_id", "reason", "note"?, "idempotency_key"?}`.
pub async fn ask(body: RequestBody) -> Result<ReturnAsk, ApiError> {
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
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    Ok(ReturnAsk { sale_id: b.sale_id, reason: b.reason, note: b.note, token })
}

/// A return as its buyer sees it.
pub fn for_buyer(r: &ReturnRecord) -> Value {
    json!({
        "return_id": r.return_id,
        "sale_id": r.sale_id,
        "status": r.status.as_str(),
        "refund": r.refund,
        "reason": r.reason,
        "note": r.note,
        "opened_at": r.opened_at,
        "decided_at": r.decided_at,
        "decision_note": r.decision_note,
    })
}

/// A return as the operator sees it: with its buyer and what it claws back.
pub fn for_operator(r: &ReturnRecord) -> Value {
    let mut v = for_buyer(r);
    if let Some(o) = v.as_object_mut() {
        o.insert("buyer".into(), json!(r.buyer));
        o.insert("claw_back".into(), json!(r.claw_back));
        o.insert("clawback".into(), json!(r.clawback));
    }
    v
}
