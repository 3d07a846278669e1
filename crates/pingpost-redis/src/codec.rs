//! How values are written in Redis: times as integer milliseconds, marks as `|`-separated
//! text the Lua scripts can read with a pattern, ledger records as JSON.

use chrono::{TimeZone, Utc};
use pingpost_core::checkpoint::{DqMark, SaleState};
use pingpost_core::identity::{Ident, IdentKind};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_store::{EntryKind, LedgerState, MarkAfter, OutboxEntry, OutboxSale, ParkedEntry, SaleRecord, StoreError};

pub fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> Result<Timestamp, StoreError> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| corrupt(format!("time {ms}")))
}

pub fn parse_ms(text: &str) -> Result<Timestamp, StoreError> {
    from_ms(text.parse().map_err(|_| corrupt(format!("time {text:?}")))?)
}

/// A Redis TTL (ms) for something that must live from `now` until `until`: relative, so
/// that Redis's own clock never decides a logical expiry (tests run on a manual clock).
pub fn ttl_ms(now: Timestamp, until: Timestamp) -> i64 {
    (until - now).num_milliseconds().max(1)
}

pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn kind_code(kind: IdentKind) -> char {
    match kind {
        IdentKind::Email => 'e',
        IdentKind::Phone => 'p',
    }
}

/// `e:<hash>,p:<hash>`: hashes only, never the identifiers themselves.
pub fn encode_idents(idents: &[Ident]) -> String {
    idents.iter().map(|i| format!("{}:{}", kind_code(i.kind), i.hash.as_str())).collect::<Vec<_>>().join(",")
}

#[cfg(any(test, feature = "testing"))]
pub fn decode_idents(text: &str) -> Result<Vec<Ident>, StoreError> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (kind, hash) = part.split_once(':').ok_or_else(|| corrupt("identifier list"))?;
            let kind = match kind {
                "e" => IdentKind::Email,
                "p" => IdentKind::Phone,
                _ => return Err(corrupt("identifier kind")),
            };
            let hash = pingpost_core::identity::Sha256Hex::parse(hash).ok_or_else(|| corrupt("identifier hash"))?;
            Ok(Ident { kind, hash })
        })
        .collect()
}

/// The code a script writes for a settled mark (`lua/prelude.lua`'s states); `None` when the
/// marks stay as they are.
pub fn mark_code(after: MarkAfter) -> Option<&'static str> {
    match after {
        MarkAfter::Unchanged | MarkAfter::Settled(SaleState::Reserved) => None,
        MarkAfter::Settled(SaleState::Sold) => Some("S"),
        MarkAfter::Settled(SaleState::Duplicate) => Some("D"),
        MarkAfter::Released => Some("X"),
    }
}

fn sale_state(code: &str) -> Result<Option<SaleState>, StoreError> {
    match code {
        "R" => Ok(Some(SaleState::Reserved)),
        "S" => Ok(Some(SaleState::Sold)),
        "D" => Ok(Some(SaleState::Duplicate)),
        "X" => Ok(None),
        other => Err(corrupt(format!("sale mark state {other:?}"))),
    }
}

/// A sale mark's value: `<at>|<state>|<lease until>|<holder>|<buyer>` (lease and holder empty
/// once settled; the buyer last, as it may hold the separator). State `None` is a released
/// sale's tombstone.
pub struct StoredMark<'a> {
    pub at: Timestamp,
    pub state: Option<SaleState>,
    pub lease_until: Option<Timestamp>,
    pub buyer: &'a str,
}

pub fn decode_mark(value: &str) -> Result<StoredMark<'_>, StoreError> {
    let mut parts = value.splitn(5, '|');
    let (Some(at), Some(state), Some(lease), Some(_holder), Some(buyer)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("sale mark"));
    };
    let lease_until = if lease.is_empty() { None } else { Some(parse_ms(lease)?) };
    Ok(StoredMark { at: parse_ms(at)?, state: sale_state(state)?, lease_until, buyer })
}

/// A vertical mark's value: `<at>|<ping>|<pending until, or empty once confirmed>`. The
/// scripts alone read it in production; the snapshot of a test reads it here.
#[cfg(feature = "testing")]
pub struct StoredVertical<'a> {
    pub at: Timestamp,
    pub ping_id: &'a str,
    pub pending_until: Option<Timestamp>,
    pub replaced: Option<Timestamp>,
}

#[cfg(feature = "testing")]
pub fn decode_vertical(value: &str) -> Result<StoredVertical<'_>, StoreError> {
    // A pending mark's fourth part names the ping's other identifiers (see `admission`), its
    // fifth the submission a repeat replaced (prelude.lua).
    let mut parts = value.splitn(5, '|');
    let (Some(at), Some(ping_id), pending, _, replaced) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("vertical mark"));
    };
    let instant = |part: Option<&str>| match part {
        None | Some("") => Ok(None),
        Some(p) => parse_ms(p).map(Some),
    };
    Ok(StoredVertical { at: parse_ms(at)?, ping_id, pending_until: instant(pending)?, replaced: instant(replaced)? })
}

/// A consumer-hash field the admission answers: `d:<buyer>` = `<at>`, a DQ mark. Other
/// fields are not history.
pub fn decode_dq_field(field: &str, value: &str, matched: IdentKind) -> Result<Option<DqMark>, StoreError> {
    match field.strip_prefix("d:") {
        Some(buyer) => Ok(Some(DqMark { buyer: BuyerId::new(buyer), matched, at: parse_ms(value)? })),
        None => Ok(None),
    }
}

pub fn ledger_code(state: LedgerState) -> &'static str {
    match state {
        LedgerState::Reserved => "R",
        LedgerState::Sold => "S",
        LedgerState::Released => "B",
        LedgerState::RolledBack => "D",
        LedgerState::Unconfirmed => "U",
        LedgerState::Returned => "T",
    }
}

pub fn ledger_state(code: &str) -> Result<LedgerState, StoreError> {
    LedgerState::ALL
        .into_iter()
        .find(|s| ledger_code(*s) == code)
        .ok_or_else(|| corrupt(format!("ledger state {code:?}")))
}

/// The codes of the states a return may be opened for ([`LedgerState::is_returnable`]), as
/// the returns' scripts are given them.
pub fn returnable_codes() -> String {
    LedgerState::ALL.into_iter().filter(|s| s.is_returnable()).map(ledger_code).collect()
}

/// The parts of a ledger record that never change after the reservation.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRecord {
    sale_id: String,
    ping_id: String,
    partner: PartnerId,
    offer: OfferId,
    vertical: VerticalId,
    buyer: BuyerId,
    contract: ContractId,
    reserved_at_ms: i64,
    holder: String,
    lease_until_ms: i64,
    /// A repeat sale's `repeat.after_days` (absent for a new lead, and in older entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat_after_days: Option<WindowDays>,
}

pub fn encode_record(r: &SaleRecord) -> Result<String, StoreError> {
    let stored = StoredRecord {
        sale_id: r.sale_id.clone(),
        ping_id: r.ping_id.clone(),
        partner: r.partner.clone(),
        offer: r.offer.clone(),
        vertical: r.vertical.clone(),
        buyer: r.buyer.clone(),
        contract: r.contract.clone(),
        reserved_at_ms: ms(r.reserved_at),
        holder: r.holder.clone(),
        lease_until_ms: ms(r.lease_until),
        repeat_after_days: r.repeat_after,
    };
    serde_json::to_string(&stored).map_err(corrupt)
}

/// A ledger entry's hash fields as stored, `rec` (its fixed part, JSON) and the fields a
/// settlement changes: `price`, `payout`, `st`, `reason`, `sold` and `lead` (empty when absent).
pub struct StoredSale<'a> {
    pub rec: &'a str,
    pub price: &'a str,
    pub payout: &'a str,
    pub state: &'a str,
    pub reason: &'a str,
    pub sold: &'a str,
    pub lead: &'a str,
}

/// A ledger entry from its hash fields.
pub fn decode_record(f: StoredSale<'_>) -> Result<SaleRecord, StoreError> {
    let StoredSale { rec, price, payout, state, reason, sold, lead } = f;
    let s: StoredRecord = serde_json::from_str(rec).map_err(corrupt)?;
    Ok(SaleRecord {
        sale_id: s.sale_id,
        ping_id: s.ping_id,
        partner: s.partner,
        offer: s.offer,
        vertical: s.vertical,
        buyer: s.buyer,
        contract: s.contract,
        price: Money::from_minor(price.parse().map_err(|_| corrupt("ledger price"))?),
        // Entries written before payouts existed paid the partner the whole price.
        payout: Money::from_minor(
            if payout.is_empty() { price } else { payout }.parse().map_err(|_| corrupt("ledger payout"))?,
        ),
        reserved_at: from_ms(s.reserved_at_ms)?,
        state: ledger_state(state)?,
        holder: s.holder,
        lease_until: from_ms(s.lease_until_ms)?,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
        sold_at: if sold.is_empty() { None } else { Some(parse_ms(sold)?) },
        lead_id: (!lead.is_empty()).then(|| lead.to_string()),
        repeat_after: s.repeat_after_days,
    })
}

/// A blob is stored as `<expiry ms>|<bytes>` so a read can honour the caller's clock.
pub fn encode_blob(value: &[u8], expires_at: Timestamp) -> Vec<u8> {
    let mut out = format!("{}|", ms(expires_at)).into_bytes();
    out.extend_from_slice(value);
    out
}

pub fn decode_blob(raw: &[u8], now: Timestamp) -> Result<Option<Vec<u8>>, StoreError> {
    let bar = raw.iter().position(|b| *b == b'|').ok_or_else(|| corrupt("blob"))?;
    let expiry = std::str::from_utf8(&raw[..bar]).map_err(corrupt)?;
    if parse_ms(expiry)? <= now {
        return Ok(None);
    }
    Ok(Some(raw[bar + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingpost_core::identity::Sha256Hex;

    #[test]
    fn identifiers_round_trip_as_hashes_only() {
        let idents = vec![
            Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("a") },
            Ident { kind: IdentKind::Phone, hash: Sha256Hex::digest("p") },
        ];
        let text = encode_idents(&idents);
        assert_eq!(decode_idents(&text).ok(), Some(idents));
    }

    #[test]
    fn a_sale_mark_keeps_a_buyer_id_containing_the_separator() {
        let m = decode_mark("1000|S|||odd|buyer").ok();
        assert_eq!(m.map(|m| (m.buyer, m.state)), Some(("odd|buyer", Some(SaleState::Sold))));
    }

    #[test]
    fn blobs_honour_the_callers_clock() {
        let t = Utc.timestamp_millis_opt(1_000_000).single().unwrap_or_default();
        let raw = encode_blob(b"a|b", t + chrono::Duration::seconds(1));
        assert_eq!(decode_blob(&raw, t).ok().flatten(), Some(b"a|b".to_vec()));
        assert_eq!(decode_blob(&raw, t + chrono::Duration::seconds(1)).ok().flatten(), None);
    }
}

/// A books entry as the money-moving scripts write it to the outbox (`lua/books.lua`):
/// amounts and time as the text Redis held, so no float ever touches them.
#[derive(serde::Deserialize)]
struct StoredOutboxEntry {
    entry_id: String,
    kind: String,
    at: String,
    buyer: String,
    sale_id: Option<String>,
    ping_id: Option<String>,
    partner: Option<String>,
    offer: Option<String>,
    contract: Option<String>,
    price: String,
    payout: String,
    amount: String,
    /// The buyer's own id for the lead (a sale's entries; absent in entries of older engines).
    #[serde(default)]
    lead_id: Option<String>,
    /// A repeat sale's entry (absent in entries of older engines: a new lead).
    #[serde(default)]
    repeat: bool,
}

pub fn decode_outbox(body: &str) -> Result<OutboxEntry, StoreError> {
    let e: StoredOutboxEntry = serde_json::from_str(body).map_err(|err| corrupt(format!("outbox entry: {err}")))?;
    let minor =
        |text: &str| text.parse::<i64>().map(Money::from_minor).map_err(|_| corrupt(format!("amount {text:?}")));
    let sale = match (e.sale_id, e.ping_id, e.partner, e.offer, e.contract) {
        (Some(sale_id), Some(ping_id), Some(partner), Some(offer), Some(contract)) => Some(OutboxSale {
            sale_id,
            ping_id,
            partner: PartnerId::new(partner),
            offer: OfferId::new(offer),
            contract: ContractId::new(contract),
            lead_id: e.lead_id.filter(|l| !l.is_empty()),
            repeat: e.repeat,
        }),
        (None, None, None, None, None) => None,
        _ => return Err(corrupt(format!("outbox entry {} names part of a sale", e.entry_id))),
    };
    Ok(OutboxEntry {
        kind: e.kind.parse::<EntryKind>().map_err(corrupt)?,
        at: parse_ms(&e.at)?,
        buyer: BuyerId::new(e.buyer),
        sale,
        price: minor(&e.price)?,
        payout: minor(&e.payout)?,
        amount: minor(&e.amount)?,
        entry_id: e.entry_id,
    })
}

/// A parked entry as `lua/park_outbox.lua` writes it: the outbox's own text of the entry,
/// why the books refused it, and when (ms).
#[derive(serde::Deserialize)]
struct StoredParked {
    entry: String,
    reason: String,
    parked_at: String,
}

pub fn decode_parked(body: &str) -> Result<ParkedEntry, StoreError> {
    let p: StoredParked = serde_json::from_str(body).map_err(|err| corrupt(format!("parked entry: {err}")))?;
    Ok(ParkedEntry { entry: decode_outbox(&p.entry)?, reason: p.reason, parked_at: parse_ms(&p.parked_at)? })
}
