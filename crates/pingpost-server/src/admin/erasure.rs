//! `POST /v1/admin/erasure`: a consumer's right to be forgotten. Every piece of dedup state
//! of the identifiers given — vertical submissions, sale marks, DQ marks — goes in one
//! request; suppression stays unless `"suppression": true` (an opt-out must survive an
//! erasure request unless the operator decides otherwise).

use super::auth::Operator;
use super::body;
use super::identifiers;
use crate::body::RequestBody;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use pingpost_core::identity::Sha256Hex;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/erasure", post(erase))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureRequest {
    email: Option<String>,
    phone: Option<String>,
    sha256: Option<String>,
    /// Also remove the identifiers from the suppression list.
    #[serde(default)]
    suppression: bool,
}

impl ErasureRequest {
    /// The identifiers' hashes, normalized exactly as a ping's are, each once.
    fn hashes(&self) -> Result<Vec<Sha256Hex>, ApiError> {
        let mut out = Vec::new();
        if let Some(e) = &self.email {
            out.push(identifiers::email("email", e)?);
        }
        if let Some(p) = &self.phone {
            out.push(identifiers::phone("phone", p)?);
        }
        if let Some(h) = &self.sha256 {
            let h = identifiers::sha256("sha256", h)?;
            if !out.contains(&h) {
                out.push(h);
            }
        }
        if out.is_empty() {
            return Err(ApiError::invalid("email", "is required (or phone, or sha256)"));
        }
        Ok(out)
    }
}

async fn erase(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Value>, ApiError> {
    let req: ErasureRequest = body::json(body).await?;
    let hashes = req.hashes()?;
    let store = state.engine.store();
    let erased = store.erase(hashes.clone(), state.engine.now()).await?;
    let mut answer = json!({"erased": {
        "vertical_submissions": erased.vertical_submissions,
        "sales": erased.sales,
        "dq": erased.dq,
    }});
    if erased.kept_in_flight > 0 {
        // Removing a sale in flight would let a concurrent post sell the consumer to the same
        // buyer again; it settles within its lease, and erasing again then removes it.
        answer["kept_in_flight"] = json!(erased.kept_in_flight);
    }
    if req.suppression {
        answer["suppression_removed"] = json!(store.unsuppress(hashes).await?);
    }
    // Counts only: the log must not become a list of who asked to be forgotten.
    tracing::info!(
        vertical_submissions = erased.vertical_submissions,
        sales = erased.sales,
        dq = erased.dq,
        kept_in_flight = erased.kept_in_flight,
        "erasure"
    );
    Ok(Json(answer))
}
