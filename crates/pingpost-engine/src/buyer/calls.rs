//! One call to a buyer, whatever its protocol: the buyer's compiled adapter builds the whole
//! request, the executor ([`super::client`]) sends it, the adapter reads the answer. Nothing
//! here knows a protocol, and nothing in an adapter does I/O.

use super::client::{BuyerClient, CallError, CallKind};
use crate::secrets::SecretsView;
use pingpost_core::adapter::{CompiledCall, Context, Mode, OutboundRequest, Reading, Secrets};
use pingpost_core::ids::BuyerId;
use std::borrow::Cow;
use std::time::Duration;
use tokio::time::Instant;

/// Where a call goes and how long it may take.
#[derive(Clone, Copy, Debug)]
pub struct Route<'a> {
    pub buyer: &'a BuyerId,
    /// The URL the configuration names for the call (`post_url`, a contract's `bid_url` or
    /// `dq.url`), used when the call names none of its own.
    pub url: Option<&'a str>,
    pub timeout: Duration,
    pub deadline: Instant,
    /// A test lead's call: to the call's `sandbox_url`, never where it really goes.
    pub sandbox: bool,
}

/// Builds `call`'s request with `ctx`, sends it and reads the answer.
pub async fn make(
    client: &BuyerClient,
    call: &CompiledCall,
    ctx: &Context,
    secrets: &(dyn Secrets + Sync),
    route: Route<'_>,
) -> Result<Reading, CallError> {
    let mode = Mode { sandbox: route.sandbox, ..Mode::live(route.url) };
    let req = call.request(ctx, secrets, mode).map_err(|e| CallError::Render(e.kind.code()))?;
    send(client, call.kind(), &req, route).await.map(|(status, body)| call.read(status, &body))
}

/// Sends a request already built (pingpost's own protocol writes one body per ping for
/// every buyer asked; see the ping's `Bodies`), and reads the answer with `call`.
pub async fn make_built(
    client: &BuyerClient,
    call: &CompiledCall,
    req: &OutboundRequest,
    route: Route<'_>,
) -> Result<Reading, CallError> {
    // pingpost's own protocol has no sandbox URL: a test lead never asks it (it leaves such
    // contracts out), and this keeps one that did from reaching a live URL.
    if route.sandbox {
        return Err(CallError::Render(pingpost_core::adapter::RenderErrorKind::NoSandboxUrl.code()));
    }
    send(client, call.kind(), req, route).await.map(|(status, body)| call.read(status, &body))
}

async fn send(
    client: &BuyerClient,
    kind: CallKind,
    req: &OutboundRequest,
    route: Route<'_>,
) -> Result<(u16, Vec<u8>), CallError> {
    client.send(kind, route.buyer, req, route.timeout, route.deadline).await
}

/// A post's reading as pingpost keeps and shows it (the audit log, the post's attempts, the
/// ledger, a test's answer): a buyer may echo what it was sent, secrets included, into the
/// reason, lead id or redirect URL it answers.
pub fn redacted(reading: Reading, secrets: &SecretsView) -> Reading {
    match reading {
        Reading::Post(mut p) => {
            for text in [&mut p.reason, &mut p.lead_id, &mut p.redirect_url].into_iter().flatten() {
                if let Cow::Owned(masked) = secrets.redact(text) {
                    *text = masked;
                }
            }
            Reading::Post(p)
        }
        other => other,
    }
}
