//! Appending events: one statement per batch, its rows' columns as arrays unnested into rows,
//! `ON CONFLICT DO NOTHING` on (day, ping id), so a batch re-sent after a lost answer writes
//! each event once. A row's per-contract lists travel as array literals and are cast in the
//! statement: `UNNEST` cannot take arrays of arrays of different lengths.

use crate::{unavailable, EventsResult, PgEvents};
use chrono::NaiveDate;
use pingpost_core::events::{LeadEvent, SaleEvent};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::ContractId;
use pingpost_core::money::Money;
use pingpost_core::whatif::Rollup;
use std::collections::{HashMap, HashSet};

/// An array literal of `items` (`{a,b}`), each written by `item`; `NULL` for `None`.
pub(crate) fn literal<T>(items: &[T], item: impl Fn(&T) -> Option<String>) -> String {
    let parts: Vec<String> = items.iter().map(|i| item(i).unwrap_or_else(|| "NULL".into())).collect();
    format!("{{{}}}", parts.join(","))
}

/// A text element of an array literal, quoted (ids are a safe alphabet; quoted all the same).
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The 32 bytes a hash stands for.
pub(crate) fn bytes(hash: &Sha256Hex) -> Vec<u8> {
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
pub(crate) fn gap(g: Option<u16>) -> Option<i16> {
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

/// The advisory lock key of appending (any constant unique to it).
const APPEND_LOCK: i64 = 0x7069_6e67_6576_0002;

impl PgEvents {
    /// Writes pings' events and sales, each once however often it is sent, and counts the new
    /// ones into the what-if's rollup (`gap_counts`) in the same transaction: answers how many
    /// were new. A sale counts once, when the later of it and its ping's event is written.
    /// Hashes erased before an event arrived are written as NULL. An event for a day without
    /// a partition fails the whole batch (the upkeep makes them ahead).
    pub async fn append(&self, leads: &[LeadEvent], sales: &[SaleEvent]) -> EventsResult<u64> {
        if leads.is_empty() && sales.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        // One writer at a time: a ping's event and its sale written by two nodes at once would
        // each miss the other, and the sale would never reach the rollup.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let mut rollup = Rollup::default();
        let fresh = insert_leads(&mut tx, leads).await?;
        let fresh: Vec<&LeadEvent> = leads.iter().filter(|e| fresh.contains(&e.ping_id)).collect();
        for e in &fresh {
            rollup.add_ping(e);
        }
        // Sales that arrived before their ping's event count now.
        if let Some(first) = fresh.iter().map(|e| e.day()).min() {
            let ids: Vec<String> = fresh.iter().map(|e| e.ping_id.clone()).collect();
            let by_ping: HashMap<&str, &LeadEvent> = fresh.iter().map(|e| (e.ping_id.as_str(), *e)).collect();
            for sale in sales_of(&mut tx, &ids, first).await? {
                if let Some(e) = by_ping.get(sale.ping_id.as_str()) {
                    rollup.add_sale(e, &sale);
                }
            }
        }
        let new_sales = insert_sales(&mut tx, sales).await?;
        let new_sales: Vec<&SaleEvent> = sales.iter().filter(|s| new_sales.contains(&s.sale_id)).collect();
        // A sale whose ping's event is written (before, or just above) counts now.
        if let Some(first) = new_sales.iter().map(|s| s.at.date_naive()).min() {
            let ids: Vec<String> = new_sales.iter().map(|s| s.ping_id.clone()).collect();
            // A ping's sales come within its lifetime: its event is of the sale's day or the one before.
            let from = first.pred_opt().unwrap_or(first);
            let pings: HashMap<String, LeadEvent> =
                leads_by_id(&mut tx, &ids, from).await?.into_iter().map(|e| (e.ping_id.clone(), e)).collect();
            for sale in new_sales.iter().copied() {
                if let Some(e) = pings.get(&sale.ping_id) {
                    rollup.add_sale(e, sale);
                }
            }
        }
        add_to_rollup(&mut tx, &rollup).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok((fresh.len() + new_sales.len()) as u64)
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Inserts the events not yet written; answers the new ones' ping ids.
async fn insert_leads(tx: &mut Tx, events: &[LeadEvent]) -> EventsResult<HashSet<String>> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let mut c = Columns::default();
    for e in events {
        c.push(e);
    }
    let erased = "CASE WHEN EXISTS (SELECT 1 FROM erased_hashes x WHERE x.hash = u.{0}) THEN NULL ELSE u.{0} END";
    let statement = format!(
        "INSERT INTO lead_events (day, at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, \
         vertical_gap, contracts, checkpoint, gap_days, price) \
         SELECT day, at, ping_id, partner, offer, vertical, {}, {}, outcome, repeat, vertical_gap, \
         contracts::text[], checkpoint::int2[], gap_days::int2[], price::int8[] \
         FROM UNNEST($1::date[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::bytea[], $8::bytea[], $9::int2[], $10::bool[], $11::int2[], $12::text[], $13::text[], \
         $14::text[], $15::text[]) \
         AS u(day, at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, vertical_gap, \
         contracts, checkpoint, gap_days, price) \
         ON CONFLICT (day, ping_id) DO NOTHING RETURNING ping_id",
        erased.replace("{0}", "email"),
        erased.replace("{0}", "phone"),
    );
    let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(statement))
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
        .fetch_all(&mut **tx)
        .await
        .map_err(unavailable)?;
    Ok(ids.into_iter().collect())
}

/// Inserts the sales not yet written; answers the new ones' sale ids.
async fn insert_sales(tx: &mut Tx, sales: &[SaleEvent]) -> EventsResult<HashSet<String>> {
    if sales.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO sale_events (day, at, sale_id, ping_id, contract, price, repeat) \
         SELECT * FROM UNNEST($1::date[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::bool[]) \
         ON CONFLICT (day, sale_id) DO NOTHING RETURNING sale_id",
    )
    .bind(sales.iter().map(|s| s.at.date_naive()).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.at).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.sale_id.clone()).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.ping_id.clone()).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.contract.to_string()).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.price.minor()).collect::<Vec<_>>())
    .bind(sales.iter().map(|s| s.repeat).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(ids.into_iter().collect())
}

/// The sales written of these pings (on `from` or after).
async fn sales_of(tx: &mut Tx, ping_ids: &[String], from: NaiveDate) -> EventsResult<Vec<SaleEvent>> {
    let rows: Vec<(pingpost_core::Timestamp, String, String, String, i64, bool)> = sqlx::query_as(
        "SELECT at, sale_id, ping_id, contract, price, repeat FROM sale_events WHERE day >= $1 AND ping_id = ANY($2)",
    )
    .bind(from)
    .bind(ping_ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(rows
        .into_iter()
        .map(|(at, sale_id, ping_id, contract, price, repeat)| SaleEvent {
            at,
            sale_id,
            ping_id,
            contract: ContractId::new(contract),
            price: Money::from_minor(price),
            repeat,
        })
        .collect())
}

/// The events of these pings (of `from` or after), without their hashes.
async fn leads_by_id(tx: &mut Tx, ping_ids: &[String], from: NaiveDate) -> EventsResult<Vec<LeadEvent>> {
    let rows: Vec<crate::read::LeadRow> = sqlx::query_as(crate::read::LEAD_ROW_SELECT_WHERE_IDS)
        .bind(from)
        .bind(ping_ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(unavailable)?;
    rows.into_iter().map(crate::read::LeadRow::into_event).collect()
}

/// Adds a batch's rollup to `gap_counts`.
async fn add_to_rollup(tx: &mut Tx, rollup: &Rollup) -> EventsResult<()> {
    let rows: Vec<_> = rollup.rows().collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO gap_counts (day, scope, key, gap, pings, sales, revenue) \
         SELECT * FROM UNNEST($1::date[], $2::int2[], $3::text[], $4::int2[], $5::int8[], $6::int8[], $7::int8[]) \
         ON CONFLICT (scope, key, day, gap) DO UPDATE SET pings = gap_counts.pings + excluded.pings, \
         sales = gap_counts.sales + excluded.sales, revenue = gap_counts.revenue + excluded.revenue",
    )
    .bind(rows.iter().map(|(k, _)| k.day).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.scope.code()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.key.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| gap(k.gap).unwrap_or(NO_GAP)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| i64::try_from(c.pings).unwrap_or(i64::MAX)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| i64::try_from(c.sales).unwrap_or(i64::MAX)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.revenue.minor()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// `gap_counts.gap` of "no gap known" (a key column cannot be NULL).
pub(crate) const NO_GAP: i16 = -1;

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
