//! Reading the log: a ping's event back from its row, the what-if's rollup rows, and erasure.

use crate::writer::{bytes, NO_GAP};
use crate::{unavailable, EventsError, EventsResult, PgEvents};
use chrono::NaiveDate;
use pingpost_core::events::{ContractFate, Fate, LeadEvent, Outcome};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::whatif::{GapCount, Scope};

/// The columns of a ping's event a reader needs (its hashes are never read back).
#[derive(sqlx::FromRow)]
pub(crate) struct LeadRow {
    at: pingpost_core::Timestamp,
    ping_id: String,
    partner: String,
    offer: String,
    vertical: String,
    outcome: i16,
    repeat: bool,
    vertical_gap: Option<i16>,
    contracts: Vec<String>,
    checkpoint: Vec<i16>,
    gap_days: Vec<Option<i16>>,
    price: Vec<i64>,
}

/// [`LeadRow`]'s select, of the pings named in `$2` on day `$1` or after.
pub(crate) const LEAD_ROW_SELECT_WHERE_IDS: &str =
    "SELECT at, ping_id, partner, offer, vertical, outcome, repeat, vertical_gap, contracts, checkpoint, gap_days, price \
     FROM lead_events WHERE day >= $1 AND ping_id = ANY($2)";

fn corrupt(what: String) -> EventsError {
    EventsError::Corrupt(what)
}

fn gap_of(g: Option<i16>) -> Option<u16> {
    g.and_then(|d| u16::try_from(d).ok())
}

impl LeadRow {
    pub(crate) fn into_event(self) -> EventsResult<LeadEvent> {
        let n = self.contracts.len();
        if self.checkpoint.len() != n || self.gap_days.len() != n || self.price.len() != n {
            return Err(corrupt(format!("event {}: contract lists of different lengths", self.ping_id)));
        }
        let contracts = self
            .contracts
            .into_iter()
            .zip(self.checkpoint)
            .zip(self.gap_days)
            .zip(self.price)
            .map(|(((contract, code), gap), price)| {
                Ok(ContractFate {
                    contract: ContractId::new(contract),
                    fate: Fate::of_code(code).ok_or_else(|| corrupt(format!("fate code {code}")))?,
                    gap: gap_of(gap),
                    price: Money::from_minor(price),
                })
            })
            .collect::<EventsResult<Vec<_>>>()?;
        Ok(LeadEvent {
            at: self.at,
            outcome: Outcome::of_code(self.outcome).ok_or_else(|| corrupt(format!("outcome code {}", self.outcome)))?,
            ping_id: self.ping_id,
            partner: PartnerId::new(self.partner),
            offer: OfferId::new(self.offer),
            vertical: VerticalId::new(self.vertical),
            email: None,
            phone: None,
            repeat: self.repeat,
            vertical_gap: gap_of(self.vertical_gap),
            contracts,
        })
    }
}

impl PgEvents {
    /// The rollup's rows of one contract or vertical over the days `[since, until)`, one per
    /// gap.
    pub async fn gap_counts(
        &self,
        scope: Scope,
        key: &str,
        since: NaiveDate,
        until: NaiveDate,
    ) -> EventsResult<Vec<GapCount>> {
        let rows: Vec<(i16, i64, i64, i64)> = sqlx::query_as(
            "SELECT gap, sum(pings)::int8, sum(sales)::int8, sum(revenue)::int8 FROM gap_counts \
             WHERE scope = $1 AND key = $2 AND day >= $3 AND day < $4 GROUP BY gap ORDER BY gap",
        )
        .bind(scope.code())
        .bind(key)
        .bind(since)
        .bind(until)
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(gap, pings, sales, revenue)| GapCount {
                gap: if gap == NO_GAP { None } else { gap_of(Some(gap)) },
                pings: u64::try_from(pings).unwrap_or(0),
                sales: u64::try_from(sales).unwrap_or(0),
                revenue: Money::from_minor(revenue),
            })
            .collect())
    }

    /// Removes these identifier hashes from every event, and from every event written later
    /// (one still waiting in a store's outbox): answers how many events held one.
    pub async fn erase(&self, hashes: &[Sha256Hex], now: pingpost_core::Timestamp) -> EventsResult<u64> {
        let raw: Vec<Vec<u8>> = hashes.iter().map(bytes).collect();
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        sqlx::query("INSERT INTO erased_hashes (hash, erased_at) SELECT h, $2 FROM UNNEST($1::bytea[]) AS h ON CONFLICT (hash) DO UPDATE SET erased_at = excluded.erased_at")
            .bind(&raw)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        // A scan of the log's days (rare: an erasure is a consumer's request, not traffic).
        let done = sqlx::query(
            "UPDATE lead_events SET email = CASE WHEN email = ANY($1) THEN NULL ELSE email END, \
             phone = CASE WHEN phone = ANY($1) THEN NULL ELSE phone END \
             WHERE email = ANY($1) OR phone = ANY($1)",
        )
        .bind(&raw)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}
