//! The statistics' counters in PostgreSQL: added once per batch (a re-sent batch adds
//! nothing), summed per group over whole hours when read.

use crate::{unavailable, EventsResult, PgEvents};
use pingpost_core::events::CountRow;
use std::collections::HashMap;

impl PgEvents {
    /// Deletes the statistics' counters of the hours before `before_hour` (since the epoch).
    /// They are kept for the statistics' own retention, not the events': the store keeps its
    /// counters as long, and a log in PostgreSQL answers the statistics in its stead.
    pub async fn forget_counts(&self, before_hour: i64) -> EventsResult<()> {
        sqlx::query("DELETE FROM stat_counts WHERE hour < $1")
            .bind(before_hour)
            .execute(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Adds the counters of the batches not added before; answers how many batches were new.
    pub async fn append_counts(
        &self,
        batches: &[(String, pingpost_core::Timestamp, Vec<CountRow>)],
    ) -> EventsResult<u64> {
        if batches.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        let new: Vec<String> = sqlx::query_scalar(
            "INSERT INTO count_batches (id, at) SELECT * FROM UNNEST($1::text[], $2::timestamptz[]) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(batches.iter().map(|(id, _, _)| id.clone()).collect::<Vec<_>>())
        .bind(batches.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let mut sums: HashMap<(&str, i64, &str, &str), i64> = HashMap::new();
        for (_, _, rows) in batches.iter().filter(|(id, _, _)| new.contains(id)) {
            for r in rows {
                let n = sums.entry((r.by.as_str(), r.hour, r.key.as_str(), r.metric.as_str())).or_insert(0);
                *n = n.saturating_add(i64::try_from(r.n).unwrap_or(i64::MAX));
            }
        }
        if !sums.is_empty() {
            let rows: Vec<_> = sums.into_iter().collect();
            sqlx::query(
                "INSERT INTO stat_counts (by_kind, hour, key, metric, n) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[]) \
                 ON CONFLICT (by_kind, hour, key, metric) DO UPDATE SET n = stat_counts.n + excluded.n",
            )
            .bind(rows.iter().map(|((by, _, _, _), _)| by.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|((_, hour, _, _), _)| *hour).collect::<Vec<_>>())
            .bind(rows.iter().map(|((_, _, key, _), _)| key.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|((_, _, _, metric), _)| metric.to_string()).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, n)| *n).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(new.len() as u64)
    }

    /// Each group's counters of kind `by` summed over the hours `hours` (since the epoch):
    /// (key, metric, n).
    pub async fn counts(
        &self,
        by: &str,
        hours: std::ops::RangeInclusive<i64>,
    ) -> EventsResult<Vec<(String, String, u64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT key, metric, sum(n)::int8 FROM stat_counts WHERE by_kind = $1 AND hour >= $2 AND hour <= $3 \
             GROUP BY key, metric",
        )
        .bind(by)
        .bind(*hours.start())
        .bind(*hours.end())
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(rows.into_iter().map(|(key, metric, n)| (key, metric, u64::try_from(n).unwrap_or(0))).collect())
    }
}
