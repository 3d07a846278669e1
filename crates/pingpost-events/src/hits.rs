//! The audit log's hits in PostgreSQL: written by the relay beside the pings' events, read by
//! the audit API newest first, a page at a time, over the whole retention.

use crate::{unavailable, EventsError, EventsResult, PgEvents};
use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::events::{Hit, HitPage, HitQuery};
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
    ping_id: String,
    partner: String,
    vertical: String,
    offer: String,
    buyer: Option<String>,
    contract: String,
    checkpoint: String,
    matched: Option<String>,
    prior_at: Option<Timestamp>,
    reason: Option<String>,
}

impl HitRow {
    fn into_hit(self) -> EventsResult<Hit> {
        Ok(Hit {
            at: self.at,
            ping_id: self.ping_id,
            partner: PartnerId::new(self.partner),
            vertical: VerticalId::new(self.vertical),
            offer: OfferId::new(self.offer),
            buyer: self.buyer.map(BuyerId::new),
            contract: (!self.contract.is_empty()).then(|| ContractId::new(self.contract)),
            checkpoint: of_name(&Checkpoint::ALL, Checkpoint::as_str, &self.checkpoint)?,
            matched: self
                .matched
                .as_deref()
                .map(|m| of_name(&[IdentKind::Email, IdentKind::Phone], IdentKind::as_str, m))
                .transpose()?,
            prior_at: self.prior_at,
            reason: self.reason,
        })
    }
}

impl PgEvents {
    /// Writes hits, each once however often it is sent; answers how many were new.
    pub async fn append_hits(&self, hits: &[Hit]) -> EventsResult<u64> {
        if hits.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "INSERT INTO hit_events (day, at, ping_id, partner, vertical, offer, buyer, contract, checkpoint, matched, \
             prior_at, reason) \
             SELECT * FROM UNNEST($1::date[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[]) \
             ON CONFLICT (day, ping_id, checkpoint, contract) DO NOTHING",
        )
        .bind(hits.iter().map(|h| h.at.date_naive()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.at).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.ping_id.clone()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.partner.to_string()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.vertical.to_string()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.offer.to_string()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.buyer.as_ref().map(|b| b.to_string())).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.contract.as_ref().map_or_else(String::new, |c| c.to_string())).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.checkpoint.as_str()).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.matched.map(IdentKind::as_str)).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.prior_at).collect::<Vec<_>>())
        .bind(hits.iter().map(|h| h.reason.clone()).collect::<Vec<_>>())
        .execute(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    /// The hits `q` asks for, newest first.
    pub async fn hits(&self, q: &HitQuery) -> EventsResult<HitPage> {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let (after_at, after_seq) = match q.after {
            Some((micros, seq)) => (Timestamp::from_timestamp_micros(micros), Some(seq)),
            None => (None, None),
        };
        // The day bounds let PostgreSQL skip whole partitions.
        let rows: Vec<HitRow> = sqlx::query_as(
            "SELECT at, seq, ping_id, partner, vertical, offer, buyer, contract, checkpoint, matched, prior_at, reason \
             FROM hit_events WHERE ($1::text IS NULL OR buyer = $1) AND ($2::text IS NULL OR partner = $2) \
             AND ($3::text IS NULL OR vertical = $3) AND ($4::text IS NULL OR offer = $4) \
             AND ($5::text IS NULL OR checkpoint = $5) \
             AND ($6::timestamptz IS NULL OR (at >= $6 AND day >= ($6 AT TIME ZONE 'UTC')::date)) \
             AND ($7::timestamptz IS NULL OR (at < $7 AND day <= ($7 AT TIME ZONE 'UTC')::date)) \
             AND ($8::timestamptz IS NULL OR (at, seq) < ($8, $9::int8)) \
             ORDER BY at DESC, seq DESC LIMIT $10",
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
        .bind(limit.saturating_add(1))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let more = rows.len() > q.limit;
        let rows: Vec<HitRow> = rows.into_iter().take(q.limit).collect();
        let next = if more { rows.last().map(|r| (r.at.timestamp_micros(), r.seq)) } else { None };
        Ok(HitPage { hits: rows.into_iter().map(HitRow::into_hit).collect::<EventsResult<_>>()?, next })
    }
}
