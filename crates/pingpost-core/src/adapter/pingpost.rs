//! pingpost's own protocol, the adapter of every call a buyer leaves undescribed: byte for
//! byte the bodies the engine has always sent ("What pingpost sends to buyers" in the SPEC),
//! so existing buyers keep working unchanged.

use super::context::ContextParts;
use super::request::{RenderError, RenderErrorKind};
use super::CallKind;
use serde::Serialize;
use serde_json::Value;

/// `{"ping_id", "offer", "vertical", "lead"}`: the lead is the ping's fields with their
/// identifier hashes.
#[derive(Serialize)]
struct BidRequest<'a> {
    ping_id: &'a str,
    offer: &'a str,
    vertical: &'a str,
    lead: &'a Value,
}

/// `{"ping_id", "offer", "vertical", "email_sha256", "phone_sha256"}` (a missing identifier
/// is `null`).
#[derive(Serialize)]
struct DqRequest<'a> {
    ping_id: &'a str,
    offer: &'a str,
    vertical: &'a str,
    email_sha256: Option<&'a str>,
    phone_sha256: Option<&'a str>,
}

/// `{"lead", "ping_id", "price", "sale_id"}`: the keys in the order the engine's JSON object
/// has always written them (sorted).
#[derive(Serialize)]
struct PostRequest<'a> {
    lead: &'a Value,
    ping_id: &'a str,
    price: String,
    sale_id: &'a str,
}

pub(super) const CONTENT_TYPE: &str = "application/json";

pub(super) fn body(kind: CallKind, ctx: &ContextParts) -> Result<String, RenderError> {
    let (ping_id, offer, vertical) = (ctx.ping.id.as_str(), ctx.ping.offer.as_str(), ctx.ping.vertical.as_str());
    let written = match kind {
        CallKind::Bid => serde_json::to_string(&BidRequest { ping_id, offer, vertical, lead: &ctx.lead }),
        CallKind::Dq => serde_json::to_string(&DqRequest {
            ping_id,
            offer,
            vertical,
            email_sha256: ctx.email_sha256.as_deref(),
            phone_sha256: ctx.phone_sha256.as_deref(),
        }),
        CallKind::Post => {
            let sale = ctx.sale.as_ref().ok_or_else(|| {
                RenderError::new("", RenderErrorKind::MissingContext, "a post is made for a sale: the context has none")
            })?;
            serde_json::to_string(&PostRequest {
                lead: &ctx.lead,
                ping_id,
                price: sale.price.to_string(),
                sale_id: &sale.id,
            })
        }
    };
    written.map_err(|_| RenderError::new("", RenderErrorKind::Value, "the lead cannot be written as JSON"))
}
