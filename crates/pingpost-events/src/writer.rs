//! Appending events: one statement per batch, its rows' columns as arrays unnested into rows,
//! `ON CONFLICT DO NOTHING` on (day, ping id), so a batch re-sent after a lost answer writes
//! each event once. A row's per-contract lists travel as array literals and are cast in the
//! statement: `UNNEST` cannot take arrays of arrays of different lengths.

use crate::{unavailable, EventsResult, PgEvents};
use pingpost_core::events::LeadEvent;
use pingpost_core::identity::Sha256Hex;

/// An array literal of `items` (`{a,b}`), each written by `item`; `NULL` for `None`.
fn literal<T>(items: &[T], item: impl Fn(&T) -> Option<String>) -> String {
    let parts: Vec<String> = items.iter().map(|i| item(i).unwrap_or_else(|| "NULL".into())).collect();
    format!("{{{}}}", parts.join(","))
}

/// A text element of an array literal, quoted (ids are a safe alphabet; quoted all the same).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The 32 bytes a hash stands for.
fn bytes(hash: &Sha256Hex) -> Vec<u8> {
    let hex = hash.as_str().as_bytes();
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    };
    hex.chunks(2).map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])).collect()
}

#[derive(Default)]
struct Columns {
    day: Vec<chrono::NaiveDate>,
    at: Vec<pingpost_core::Timestamp>,
    ping_id: Vec<String>,
    partner: Vec<String>,
    offer: Vec<String>,
    vertical: Vec<String>,
    email: Vec<Option<Vec<u8>>>,
    phone: Vec<Option<Vec<u8>>>,
    outcome: Vec<i16>,
    repeat: Vec<bool>,
    vertical_gap: Vec<Option<i16>>,
    contracts: Vec<String>,
    checkpoint: Vec<String>,
    gap_days: Vec<String>,
    price: Vec<String>,
}

/// A gap as the log's SMALLINT (a gap is at most the retention, far below its range).
fn gap(g: Option<u16>) -> Option<i16> {
    g.map(|d| i16::try_from(d).unwrap_or(i16::MAX))
}

impl Columns {
    fn push(&mut self, e: &LeadEvent) {
        self.day.push(e.day());
        self.at.push(e.at);
        self.ping_id.push(e.ping_id.clone());
        self.partner.push(e.partner.to_string());
        self.offer.push(e.offer.to_string());
        self.vertical.push(e.vertical.to_string());
        self.email.push(e.email.as_ref().map(bytes));
        self.phone.push(e.phone.as_ref().map(bytes));
        self.outcome.push(e.outcome.code());
        self.repeat.push(e.repeat);
        self.vertical_gap.push(gap(e.vertical_gap));
        self.contracts.push(literal(&e.contracts, |c| Some(quoted(c.contract.as_str()))));
        self.checkpoint.push(literal(&e.contracts, |c| Some(c.fate.code().to_string())));
        self.gap_days.push(literal(&e.contracts, |c| gap(c.gap).map(|g| g.to_string())));
        self.price.push(literal(&e.contracts, |c| Some(c.price.minor().to_string())));
    }
}

impl PgEvents {
    /// Writes `events`, each once however often it is sent: answers how many were new. An
    /// event for a day without a partition fails the whole batch (the upkeep makes them ahead).
    pub async fn append(&self, events: &[LeadEvent]) -> EventsResult<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut c = Columns::default();
        for e in events {
            c.push(e);
        }
        let done = sqlx::query(
            "INSERT INTO lead_events (day, at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, \
             vertical_gap, contracts, checkpoint, gap_days, price) \
             SELECT day, at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, vertical_gap, \
             contracts::text[], checkpoint::int2[], gap_days::int2[], price::int8[] \
             FROM UNNEST($1::date[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::bytea[], $8::bytea[], $9::int2[], $10::bool[], $11::int2[], $12::text[], $13::text[], \
             $14::text[], $15::text[]) \
             AS u(day, at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, vertical_gap, \
             contracts, checkpoint, gap_days, price) \
             ON CONFLICT (day, ping_id) DO NOTHING",
        )
        .bind(c.day)
        .bind(c.at)
        .bind(c.ping_id)
        .bind(c.partner)
        .bind(c.offer)
        .bind(c.vertical)
        .bind(c.email)
        .bind(c.phone)
        .bind(c.outcome)
        .bind(c.repeat)
        .bind(c.vertical_gap)
        .bind(c.contracts)
        .bind(c.checkpoint)
        .bind(c.gap_days)
        .bind(c.price)
        .execute(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_its_32_bytes_and_lists_are_array_literals() {
        let h = Sha256Hex::digest("a@example.com");
        let b = bytes(&h);
        assert_eq!(b.len(), 32);
        assert_eq!(pingpost_core::identity::lower_hex(&b), h.as_str());
        assert_eq!(literal(&[Some(3u16), None], |g| g.map(|d| d.to_string())), "{3,NULL}");
        assert_eq!(literal::<u8>(&[], |_| None), "{}");
        assert_eq!(quoted("c-1.x"), "\"c-1.x\"");
    }
}
