//! The event log's partitions on a real PostgreSQL: made ahead of the days they hold, dropped
//! whole past the retention, no DEFAULT partition, nodes keeping up together, and the log's
//! own schema beside whatever else the database holds. One server, a fresh database per check.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use chrono::NaiveDate;
use pingpost_events::partitions::Upkeep;
use pingpost_events::PgEvents;
use pingpost_testkit::PostgresServer;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

async fn insert(events: &PgEvents, on: NaiveDate, ping_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO lead_events (day, at, ping_id, partner, offer, vertical, outcome, contracts, checkpoint, \
         gap_days, price) VALUES ($1, now(), $2, 'p1', 'o1', 'auto', 0, '{c1}', '{0}', '{NULL}', '{1850}')",
    )
    .bind(on)
    .bind(ping_id)
    .execute(events.pool())
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_event_partitions() {
    let pg = PostgresServer::start();
    partitions_are_made_ahead_and_dropped_whole_with_no_default_partition(&pg).await;
    nodes_keeping_up_together_make_each_partition_once(&pg).await;
    the_log_keeps_to_its_own_schema_and_a_later_start_migrates_nothing_again(&pg).await;
}

async fn partitions_are_made_ahead_and_dropped_whole_with_no_default_partition(pg: &PostgresServer) {
    let events = PgEvents::connect(&pg.fresh_database()).await.expect("connect");
    let first = events.upkeep(day(7), 7, day(1)).await.expect("upkeep");
    assert_eq!(first, Upkeep { created: (7..=14).map(day).collect(), dropped: vec![] });
    assert_eq!(events.partitions().await.unwrap(), (7..=14).map(day).collect::<Vec<_>>());
    let default: i64 = sqlx::query_scalar(
        "SELECT pt.partdefid::int8 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid \
         WHERE c.relname = 'lead_events'",
    )
    .fetch_one(events.pool())
    .await
    .unwrap();
    assert_eq!(default, 0, "no DEFAULT partition");
    insert(&events, day(8), "ping-8").await.expect("a day with its partition takes the row");
    let refused = insert(&events, day(20), "ping-20").await;
    assert!(refused.is_err(), "a day without a partition is refused, not piled up: {refused:?}");
    assert_eq!(events.upkeep(day(7), 7, day(1)).await.unwrap(), Upkeep::default(), "a second run finds it done");

    // Two days on, keeping from the 9th: two partitions made ahead, the 7th and 8th dropped
    // whole, their rows with them.
    let later = events.upkeep(day(9), 7, day(9)).await.unwrap();
    assert_eq!(later, Upkeep { created: vec![day(15), day(16)], dropped: vec![day(7), day(8)] });
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events").fetch_one(events.pool()).await.unwrap();
    assert_eq!(rows, 0);
    assert_eq!(events.partitions().await.unwrap(), (9..=16).map(day).collect::<Vec<_>>());
}

async fn nodes_keeping_up_together_make_each_partition_once(pg: &PostgresServer) {
    let url = pg.fresh_database();
    let mut nodes = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        nodes.spawn(async move {
            let events = PgEvents::connect(&url).await.expect("every node starts");
            events.upkeep(day(7), 7, day(1)).await.expect("every node's upkeep succeeds")
        });
    }
    let mut created: Vec<NaiveDate> = nodes.join_all().await.into_iter().flat_map(|u| u.created).collect();
    created.sort_unstable();
    assert_eq!(created, (7..=14).map(day).collect::<Vec<_>>(), "each day made by exactly one node");
}

async fn the_log_keeps_to_its_own_schema_and_a_later_start_migrates_nothing_again(pg: &PostgresServer) {
    let url = pg.fresh_database();
    let events = PgEvents::connect(&url).await.unwrap();
    events.upkeep(day(7), 1, day(1)).await.unwrap();
    let in_public: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
         AND (table_name LIKE 'lead_events%' OR table_name = '_sqlx_migrations')",
    )
    .fetch_one(events.pool())
    .await
    .unwrap();
    assert_eq!(in_public, 0, "the log and its migrations live in pingpost_events only");
    insert(&events, day(7), "kept").await.unwrap();
    let again = PgEvents::connect(&url).await.expect("a later start");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events").fetch_one(again.pool()).await.unwrap();
    assert_eq!(rows, 1, "a later start keeps the log as it is");
}
