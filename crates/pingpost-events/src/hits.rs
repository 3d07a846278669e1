//! The audit log's hits in PostgreSQL: written by the relay beside the pings' events, read by
//! the audit API newest first, a page at a time, over the whole retention.

use crate::writer::{literal, quoted};
use crate::{unavailable, EventsError, EventsResult, PgEvents};
use pingpost_core::audit::{AuditEntry, AuditQuery};
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::events::{HitCursor, HitPage};
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::Timestamp;

/// A checkpoint or an identifier kind by its name (the audit API's words, kept in the rows).
fn of_name<T: Copy>(all: &[T], as_str: impl Fn(T) -> &'static str, text: &str) -> EventsResult<T> {
    all.iter()
        .copied()
        .find(|v| as_str(*v) == text)
        .ok_or_else(|| EventsError::Corrupt(format!("a hit holds {text:?}")))
}

#[derive(sqlx::FromRow)]
struct HitRow {
    at: Timestamp,
    seq: i64,
    ord: i64,
    ping_id: String,
    partner: String,
    vertical: String,
    offer: String,
    buyer: Option<String>,
    contract: Option<String>,
    checkpoint: String,
    matched: Option<String>,
    prior_at: Option<Timestamp>,
    reason: Option<String>,
}

impl HitRow {
    fn into_entry(self) -> EventsResult<AuditEntry> {
        Ok(AuditEntry {
            at: self.at,
            ping_id: self.ping_id.into(),
            partner: PartnerId::new(self.partner),
            vertical: VerticalId::new(self.vertical),
            offer: OfferId::new(self.offer),
            buyer: self.buyer.map(BuyerId::new),
            contract: self.contract.map(ContractId::new),
            checkpoint: of_name(&Checkpoint::ALL, Checkpoint::as_str, &self.checkpoint)?,
            matched: self
                .matched
                .as_deref()
                .map(|m| of_name(&[IdentKind::Email, IdentKind::Phone], IdentKind::as_str, m))
                .transpose()?,
            prior_at: self.prior_at,
            reason: self.reason,
            // A test lead's hits are in no log.
            test: false,
        })
    }
}

/// The rows of audit records, a column each: what a record's hits share once, each hit's own
/// fields as array literals (`UNNEST` cannot take arrays of arrays of different lengths).
#[derive(Default)]
struct Records {
    day: Vec<chrono::NaiveDate>,
    at: Vec<Timestamp>,
    ping_id: Vec<String>,
    record: Vec<String>,
    partner: Vec<String>,
    vertical: Vec<String>,
    offer: Vec<String>,
    buyers: Vec<String>,
    contracts: Vec<String>,
    checkpoints: Vec<String>,
    matched: Vec<String>,
    prior_ats: Vec<String>,
    reasons: Vec<String>,
}

impl Records {
    /// A record's hits, as rows: one, unless (never so far) its hits differ in what a row
    /// shares, when each run of hits sharing it is a row of its own.
    fn push(&mut self, hits: &[AuditEntry]) {
        let shares = |a: &AuditEntry, b: &AuditEntry| {
            (a.at, &a.ping_id, &a.partner, &a.vertical, &a.offer)
                == (b.at, &b.ping_id, &b.partner, &b.vertical, &b.offer)
        };
        for run in hits.chunk_by(shares) {
            let first = &run[0];
            self.day.push(first.at.date_naive());
            self.at.push(first.at);
            self.ping_id.push(first.ping_id.to_string());
            self.record.push(format!(
                "{}:{}",
                first.checkpoint.as_str(),
                first.contract.as_ref().map_or("", |c| c.as_str())
            ));
            self.partner.push(first.partner.to_string());
            self.vertical.push(first.vertical.to_string());
            self.offer.push(first.offer.to_string());
            self.buyers.push(literal(run, |h| h.buyer.as_ref().map(|b| quoted(b.as_str()))));
            self.contracts.push(literal(run, |h| h.contract.as_ref().map(|c| quoted(c.as_str()))));
            self.checkpoints.push(literal(run, |h| Some(quoted(h.checkpoint.as_str()))));
            self.matched.push(literal(run, |h| h.matched.map(|m| quoted(m.as_str()))));
            self.prior_ats.push(literal(run, |h| {
                h.prior_at.map(|t| quoted(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)))
            }));
            self.reasons.push(literal(run, |h| h.reason.as_deref().map(quoted)));
        }
    }
}

impl PgEvents {
    /// Writes audit records' hits, each record once however often it is sent; answers how
    /// many records were new.
    pub async fn append_hits(&self, records: &[Vec<AuditEntry>]) -> EventsResult<u64> {
        let mut rows = Records::default();
        for record in records {
            rows.push(record);
        }
        if rows.day.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "INSERT INTO hit_events (day, at, ping_id, record, partner, vertical, offer, buyers, contracts, \
             checkpoints, matched, prior_ats, reasons) \
             SELECT day, at, ping_id, record, partner, vertical, offer, buyers::text[], contracts::text[], \
             checkpoints::text[], matched::text[], prior_ats::timestamptz[], reasons::text[] \
             FROM UNNEST($1::date[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) \
             AS u(day, at, ping_id, record, partner, vertical, offer, buyers, contracts, checkpoints, matched, \
             prior_ats, reasons) \
             ON CONFLICT (day, ping_id, record) DO NOTHING",
        )
        .bind(rows.day)
        .bind(rows.at)
        .bind(rows.ping_id)
        .bind(rows.record)
        .bind(rows.partner)
        .bind(rows.vertical)
        .bind(rows.offer)
        .bind(rows.buyers)
        .bind(rows.contracts)
        .bind(rows.checkpoints)
        .bind(rows.matched)
        .bind(rows.prior_ats)
        .bind(rows.reasons)
        .execute(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    /// The hits `q` asks for, newest first (a record's last hit first, as it was recorded),
    /// from where the page before stopped (`after`; `q.cursor` is the engine's to read).
    pub async fn hits(&self, q: &AuditQuery, after: Option<HitCursor>) -> EventsResult<HitPage> {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let (after_at, after_seq, after_ord) = match after {
            Some((micros, seq, ord)) => (Timestamp::from_timestamp_micros(micros), Some(seq), Some(ord)),
            None => (None, None, None),
        };
        // The day bounds let PostgreSQL skip whole partitions; the index gives the records
        // newest first, and only their hits are sorted.
        let rows: Vec<HitRow> = sqlx::query_as(
            "SELECT h.at, h.seq, u.ord, h.ping_id, h.partner, h.vertical, h.offer, u.buyer, u.contract, \
             u.checkpoint, u.matched, u.prior_at, u.reason \
             FROM hit_events h, \
             UNNEST(h.buyers, h.contracts, h.checkpoints, h.matched, h.prior_ats, h.reasons) WITH ORDINALITY \
             AS u(buyer, contract, checkpoint, matched, prior_at, reason, ord) \
             WHERE ($1::text IS NULL OR u.buyer = $1) AND ($2::text IS NULL OR h.partner = $2) \
             AND ($3::text IS NULL OR h.vertical = $3) AND ($4::text IS NULL OR h.offer = $4) \
             AND ($5::text IS NULL OR u.checkpoint = $5) \
             AND ($6::timestamptz IS NULL OR (h.at >= $6 AND h.day >= ($6 AT TIME ZONE 'UTC')::date)) \
             AND ($7::timestamptz IS NULL OR (h.at < $7 AND h.day <= ($7 AT TIME ZONE 'UTC')::date)) \
             AND ($8::timestamptz IS NULL OR (h.at, h.seq, u.ord) < ($8, $9::int8, $10::int8)) \
             ORDER BY h.at DESC, h.seq DESC, u.ord DESC LIMIT $11",
        )
        .bind(q.buyer.as_ref().map(|b| b.to_string()))
        .bind(q.partner.as_ref().map(|p| p.to_string()))
        .bind(q.vertical.as_ref().map(|v| v.to_string()))
        .bind(q.offer.as_ref().map(|o| o.to_string()))
        .bind(q.checkpoint.map(Checkpoint::as_str))
        .bind(q.since)
        .bind(q.until)
        .bind(after_at)
        .bind(after_seq)
        .bind(after_ord)
        .bind(limit.saturating_add(1))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let more = rows.len() > q.limit;
        let rows: Vec<HitRow> = rows.into_iter().take(q.limit).collect();
        let next = if more { rows.last().map(|r| (r.at.timestamp_micros(), r.seq, r.ord)) } else { None };
        Ok(HitPage { hits: rows.into_iter().map(HitRow::into_entry).collect::<EventsResult<_>>()?, next })
    }
}
