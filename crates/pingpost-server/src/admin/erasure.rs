//! `POST /v1/admin/erasure`: a consumer's right to be forgotten. Every piece of dedup state
//! of the identifiers given — vertical submissions, sale marks, DQ marks — goes in one
//! request; suppression stays unless `"suppression": true` (an opt-out must survive an
//! erasure request unless the operator decides otherwise).
//!
//! The store erases each identifier hash's whole record in one step (`erase.lua` on Redis;
//! the embedded store clears the three maps under the consumer's lock) and answers the counts
//! — except reservations in flight (a reservation mark whose lease still runs), which it
//! keeps and counts as `kept_in_flight`: removing one would let a concurrent post of the same
//! consumer to the same buyer pass. They settle within their lease; erasing again then
//! removes them. Not erased: sales-ledger entries, which are financial records and keep the
//! hashes they were sold under for the ledger's retention (366 days), and pings awaiting
//! their post (minutes).

use super::auth::Operator;
use super::body;
use super::identifiers;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use pingpost_core::identity::Sha256Hex;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(erase))
}

/// The consumer to forget, by any of its identifiers.
#[derive(serde::Deserialize, utoipa::ToSchema)]
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

/// What an erasure removed, by kind of record.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Erased {
    erased: ErasedCounts,
    /// Sales in flight kept (they settle within their lease; erase again then).
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_in_flight: Option<u64>,
    /// With `"suppression": true`: how many suppression entries were removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression_removed: Option<u64>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ErasedCounts {
    vertical_submissions: u64,
    sales: u64,
    dq: u64,
    /// Lead events that held one of the hashes (the hashes removed from them; events written
    /// later, still waiting in the store when the erasure ran, are written without them).
    events: u64,
}

/// Forget a consumer's dedup state.
///
/// Its vertical submissions, sale marks and DQ records, and its hashes in the lead event
/// log, under every identifier given;
/// its suppression stays unless `"suppression": true`.
#[utoipa::path(post, path = "/erasure", tag = "operator", security(("operator_token" = [])),
    request_body = ErasureRequest,
    responses(
        (status = 200, description = "Counts of what was removed.", body = Erased),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "No identifier, or an invalid one.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn erase(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Erased>, ApiError> {
    let req: ErasureRequest = body::json(body).await?;
    let hashes = req.hashes()?;
    let store = state.engine.store();
    let erased = store.erase(hashes.clone(), state.engine.now()).await?;
    let events = state.engine.erase_events(hashes.clone()).await?;
    let mut answer = Erased {
        erased: ErasedCounts {
            vertical_submissions: erased.vertical_submissions,
            sales: erased.sales,
            dq: erased.dq,
            events,
        },
        // Removing a sale in flight would let a concurrent post sell the consumer to the same
        // buyer again; it settles within its lease, and erasing again then removes it.
        kept_in_flight: (erased.kept_in_flight > 0).then_some(erased.kept_in_flight),
        suppression_removed: None,
    };
    if req.suppression {
        answer.suppression_removed = Some(store.unsuppress(hashes).await?);
    }
    // Counts only: the log must not become a list of who asked to be forgotten.
    tracing::info!(
        vertical_submissions = erased.vertical_submissions,
        sales = erased.sales,
        dq = erased.dq,
        kept_in_flight = erased.kept_in_flight,
        events,
        "erasure"
    );
    Ok(Json(answer))
}
