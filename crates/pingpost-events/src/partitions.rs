//! The daily partitions of `lead_events`, `sale_events` and `hit_events`: one per UTC day,
//! named `lead_events_yyyymmdd` (and so on),
//! created ahead of the days they hold and dropped whole once past the retention — a
//! `DROP TABLE`, never rows deleted one by one. Every node may run the upkeep; a transaction
//! advisory lock makes it one at a time, and each step is idempotent, so a node dying in the
//! middle leaves nothing another run does not finish.

use crate::{unavailable, EventsError, EventsResult, PgEvents};
use chrono::{Days, NaiveDate};

/// The advisory lock key of the upkeep (any constant unique to it).
const UPKEEP_LOCK: i64 = 0x7069_6e67_6576_0001;

/// The partitioned tables; each has the same days.
const PARENTS: [&str; 3] = ["lead_events", "sale_events", "hit_events"];

fn name_of(parent: &str, day: NaiveDate) -> String {
    format!("{parent}_{}", day.format("%Y%m%d"))
}

fn day_of(parent: &str, name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(parent)?.strip_prefix('_')?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// What one upkeep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upkeep {
    pub created: Vec<NaiveDate>,
    pub dropped: Vec<NaiveDate>,
}

impl PgEvents {
    /// The days that have a partition of `lead_events`, in order.
    pub async fn partitions(&self) -> EventsResult<Vec<NaiveDate>> {
        partition_days(self.pool(), PARENTS[0]).await
    }

    /// Creates the partitions of `today` and the `ahead` days after it that are missing, and
    /// drops every partition of a day before `keep_from`. One node at a time.
    pub async fn upkeep(&self, today: NaiveDate, ahead: u32, keep_from: NaiveDate) -> EventsResult<Upkeep> {
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(UPKEEP_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let mut done = Upkeep::default();
        for parent in PARENTS {
            // Read under the lock, in the transaction: what an upkeep before this one committed.
            let existing = partition_days(&mut *tx, parent).await?;
            for n in 0..=ahead {
                let day = today
                    .checked_add_days(Days::new(u64::from(n)))
                    .ok_or_else(|| EventsError::Corrupt("a day past the calendar".into()))?;
                if existing.contains(&day) {
                    continue;
                }
                let next = day.succ_opt().ok_or_else(|| EventsError::Corrupt("a day past the calendar".into()))?;
                // Names and bounds come from dates we formatted, never from a caller's text.
                let create = format!(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {parent} FOR VALUES FROM ('{day}') TO ('{next}')",
                    name_of(parent, day)
                );
                sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *tx).await.map_err(unavailable)?;
                if parent == PARENTS[0] {
                    done.created.push(day);
                }
            }
            for day in existing.into_iter().filter(|d| *d < keep_from) {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", name_of(parent, day))))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                if parent == PARENTS[0] {
                    done.dropped.push(day);
                }
            }
        }
        // The rollup is small (keys × gaps a day): its old days are deleted, not partitioned.
        sqlx::query("DELETE FROM gap_counts WHERE day < $1")
            .bind(keep_from)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM count_batches WHERE at < $1")
            .bind(keep_from.and_time(chrono::NaiveTime::MIN).and_utc())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM erased_hashes WHERE erased_at < $1")
            .bind(keep_from.and_time(chrono::NaiveTime::MIN).and_utc())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(done)
    }
}

async fn partition_days<'e>(on: impl sqlx::PgExecutor<'e>, parent: &str) -> EventsResult<Vec<NaiveDate>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
         JOIN pg_namespace n ON n.oid = p.relnamespace \
         WHERE p.relname = $1 AND n.nspname = $2",
    )
    .bind(parent)
    .bind(crate::SCHEMA)
    .fetch_all(on)
    .await
    .map_err(unavailable)?;
    let mut days = names
        .iter()
        .map(|n| day_of(parent, n).ok_or_else(|| EventsError::Corrupt(format!("a partition named {n:?}"))))
        .collect::<EventsResult<Vec<_>>>()?;
    days.sort_unstable();
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_named_by_its_day_and_read_back() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default();
        assert_eq!(name_of("lead_events", day), "lead_events_20261207");
        assert_eq!(day_of("lead_events", "lead_events_20261207"), Some(day));
        assert_eq!(day_of("lead_events", "lead_events_2026120"), None);
        assert_eq!(day_of("lead_events", "sale_events_20261207"), None);
    }
}
