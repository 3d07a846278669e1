//! The event log's partitions on a real PostgreSQL: made ahead of the days they hold, dropped
//! whole past the retention, no DEFAULT partition, nodes keeping up together, and the log's
//! own schema beside whatever else the database holds. One server, a fresh database per check.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use chrono::{NaiveDate, TimeZone, Utc};
use pingpost_core::checkpoint::{Checkpoint, Ineligible};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::whatif::{GapCount, Rollup, Scope};
use pingpost_events::partitions::Upkeep;
use pingpost_events::relay::relay_events;
use pingpost_events::{ContractFate, CountRow, Fate, LeadEvent, Outcome, PgEvents, SaleEvent};
use pingpost_store::{EventOutbox, MemoryStore, QueuedEvent};
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
    a_batch_is_written_once_however_often_it_is_sent_and_whole_or_not_at_all(&pg).await;
    a_sale_counts_once_in_the_rollup_whichever_of_it_and_its_ping_comes_first(&pg).await;
    a_batch_of_counters_is_added_once_however_often_it_is_sent(&pg).await;
    an_event_written_after_an_erasure_comes_without_its_hashes(&pg).await;
    a_records_hits_are_written_once_and_paged_newest_first_across_records(&pg).await;
}

/// An audit record's hits (one row, its hits as arrays) sent twice are written once; pages of
/// two hits walk the records newest first, a record's last hit first, the cursor stopping
/// inside a record; the buyer and checkpoint filters pick single hits out of a record.
async fn a_records_hits_are_written_once_and_paged_newest_first_across_records(pg: &PostgresServer) {
    use pingpost_core::audit::{AuditEntry, AuditQuery};
    use pingpost_core::identity::IdentKind;
    use pingpost_core::ids::BuyerId;
    let events = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    events.upkeep(day(6), 7, day(1)).await.unwrap();
    let hit = |ping: &str, secs: u32, contract: &str, checkpoint: Checkpoint| AuditEntry {
        at: Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, secs).unwrap(),
        ping_id: ping.into(),
        partner: PartnerId::new("p1"),
        vertical: VerticalId::new("auto"),
        offer: OfferId::new("o1"),
        buyer: Some(BuyerId::new(format!("b-{contract}"))),
        contract: Some(ContractId::new(contract)),
        checkpoint,
        matched: Some(IdentKind::Email),
        prior_at: Some(Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()),
        reason: Some("a \"quoted\", reason".into()),
        test: false,
    };
    let first =
        vec![hit("p-1", 1, "c1", Checkpoint::InAuctionDuplicate), hit("p-1", 1, "c2", Checkpoint::InAuctionDuplicate)];
    let mut whole = hit("p-2", 2, "", Checkpoint::VerticalDuplicate);
    (whole.buyer, whole.contract, whole.matched, whole.prior_at, whole.reason) = (None, None, None, None, None);
    let second = vec![whole, hit("p-2", 2, "c3", Checkpoint::ContractDuplicate)];
    assert_eq!(events.append_hits(std::slice::from_ref(&first)).await.unwrap(), 1);
    assert_eq!(
        events.append_hits(&[first.clone(), second.clone()]).await.unwrap(),
        1,
        "the first again writes nothing"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM hit_events").fetch_one(events.pool()).await.unwrap();
    assert_eq!(rows, 2, "a row per record");

    let newest_first: Vec<AuditEntry> = second.iter().rev().chain(first.iter().rev()).cloned().collect();
    let q = AuditQuery::newest(3);
    let page = events.hits(&q, None).await.unwrap();
    assert_eq!(page.hits, newest_first[..3], "every field read back as written");
    let rest = events.hits(&q, page.next).await.unwrap();
    assert_eq!((rest.hits.as_slice(), rest.next), (&newest_first[3..], None), "the cursor stops inside a record");

    let by_buyer = AuditQuery { buyer: Some(BuyerId::new("b-c2")), ..AuditQuery::newest(10) };
    assert_eq!(events.hits(&by_buyer, None).await.unwrap().hits, [first[1].clone()]);
    let by_checkpoint = AuditQuery { checkpoint: Some(Checkpoint::VerticalDuplicate), ..AuditQuery::newest(10) };
    assert_eq!(events.hits(&by_checkpoint, None).await.unwrap().hits, [second[0].clone()]);
}

/// An event still on its way when its consumer was erased (another node's, or one waiting
/// while the log was down) is written without the erased hash; its other hash stays.
async fn an_event_written_after_an_erasure_comes_without_its_hashes(pg: &PostgresServer) {
    let events = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    events.upkeep(day(6), 7, day(1)).await.unwrap();
    let jane = Sha256Hex::digest("jane@example.com");
    let mut late = event("late", 7);
    late.phone = Some(Sha256Hex::digest("4155550100"));
    assert_eq!(events.erase(std::slice::from_ref(&jane), Utc::now()).await.unwrap(), 0, "nothing logged yet");
    events.append(std::slice::from_ref(&late), &[]).await.unwrap();
    let (email, phone): (Option<Vec<u8>>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT email, phone FROM lead_events WHERE ping_id = 'late'")
            .fetch_one(events.pool())
            .await
            .unwrap();
    assert_eq!(email, None, "the erased email never reaches the log");
    assert!(phone.is_some(), "the phone was not erased");
}

async fn a_batch_of_counters_is_added_once_however_often_it_is_sent(pg: &PostgresServer) {
    let events = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    let row = |key: &str, metric: &str, n| CountRow {
        hour: 100,
        by: "partner".into(),
        key: key.into(),
        metric: metric.into(),
        n,
    };
    let at = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
    let first = ("n-1".to_string(), at, vec![row("p1", "pings", 3), row("p2", "pings", 1)]);
    let second = ("n-2".to_string(), at, vec![row("p1", "pings", 2), row("p1", "sales", 1)]);
    assert_eq!(events.append_counts(std::slice::from_ref(&first)).await.unwrap(), 1);
    assert_eq!(events.append_counts(&[first, second.clone()]).await.unwrap(), 1, "n-1 again adds nothing");
    assert_eq!(events.append_counts(&[second]).await.unwrap(), 0);
    let mut counts = events.counts("partner", 90..=110).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [("p1".into(), "pings".into(), 5), ("p1".into(), "sales".into(), 1), ("p2".into(), "pings".into(), 1)]
    );
    assert!(events.counts("partner", 101..=110).await.unwrap().is_empty(), "other hours hold nothing");
}

fn sale(sale_id: &str, ping_id: &str, on: u32) -> SaleEvent {
    SaleEvent {
        at: Utc.with_ymd_and_hms(2026, 12, on, 15, 1, 0).unwrap(),
        sale_id: sale_id.into(),
        ping_id: ping_id.into(),
        contract: ContractId::new("c1"),
        price: Money::from_minor(740),
        repeat: true,
    }
}

/// The rollup in PostgreSQL equals the one rule's (`pingpost_core::whatif::Rollup`) over the
/// same events, however the relay happens to deliver them: a sale before its ping's event, a
/// sale with it, a batch sent twice, a sale of a ping the day before.
async fn a_sale_counts_once_in_the_rollup_whichever_of_it_and_its_ping_comes_first(pg: &PostgresServer) {
    let events = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    events.upkeep(day(6), 7, day(1)).await.unwrap();
    let (p1, p2, p3) = (event("p1", 7), event("p2", 7), event("p3", 6));
    let (s1, s2, s3) = (sale("s1", "p1", 7), sale("s2", "p2", 7), sale("s3", "p3", 7));
    assert_eq!(events.append(&[], std::slice::from_ref(&s1)).await.unwrap(), 1, "a sale before its ping");
    assert_eq!(events.append(&[p1.clone(), p2.clone()], std::slice::from_ref(&s2)).await.unwrap(), 3);
    assert_eq!(events.append(&[p1.clone(), p2.clone()], &[s1.clone(), s2.clone()]).await.unwrap(), 0, "re-sent");
    assert_eq!(events.append(std::slice::from_ref(&p3), &[]).await.unwrap(), 1);
    assert_eq!(events.append(&[], std::slice::from_ref(&s3)).await.unwrap(), 1, "a sale the day after its ping");
    let mut rule = Rollup::default();
    for p in [&p1, &p2, &p3] {
        rule.add_ping(p);
    }
    for (p, s) in [(&p1, &s1), (&p2, &s2), (&p3, &s3)] {
        rule.add_sale(p, s);
    }
    for (scope, key) in [(Scope::Contract, "c1"), (Scope::Contract, "c2"), (Scope::Vertical, "auto")] {
        let mut expected = rule.counts(scope, key, day(1), day(10));
        // The log sums a key's days by gap; the rule keeps a row per day.
        let mut by_gap = std::collections::BTreeMap::<Option<u16>, GapCount>::new();
        for r in expected.drain(..) {
            let row = by_gap.entry(r.gap).or_insert(GapCount { gap: r.gap, ..GapCount::default() });
            row.pings += r.pings;
            row.sales += r.sales;
            row.revenue = row.revenue.saturating_add(r.revenue);
        }
        let expected: Vec<GapCount> = by_gap.into_values().collect();
        assert_eq!(events.gap_counts(scope, key, day(1), day(10)).await.unwrap(), expected, "{scope:?} {key}");
    }
    let c1 = events.gap_counts(Scope::Contract, "c1", day(1), day(10)).await.unwrap();
    assert_eq!(c1, [GapCount { gap: Some(20), pings: 3, sales: 3, revenue: Money::from_minor(2220) }]);
    assert!(
        events.gap_counts(Scope::Contract, "c2", day(1), day(10)).await.unwrap().is_empty(),
        "c2 never reached its window"
    );
}

fn event(ping_id: &str, on: u32) -> LeadEvent {
    let fate = |contract: &str, fate, gap, cents| ContractFate {
        contract: ContractId::new(contract),
        fate,
        gap,
        price: Money::from_minor(cents),
    };
    LeadEvent {
        at: Utc.with_ymd_and_hms(2026, 12, on, 15, 0, 0).unwrap(),
        ping_id: ping_id.into(),
        partner: PartnerId::new("p1"),
        offer: OfferId::new("auto-excl"),
        vertical: VerticalId::new("auto"),
        email: Some(Sha256Hex::digest("jane@example.com")),
        phone: None,
        outcome: Outcome::Accepted,
        repeat: true,
        vertical_gap: Some(20),
        contracts: vec![
            fate("c1", Fate::Bid, Some(20), 740),
            fate("c2", Fate::Dropped(Checkpoint::VerticalRepeat), None, 0),
            fate("c3", Fate::Ineligible(Ineligible::CapReached), None, 0),
        ],
    }
}

async fn a_batch_is_written_once_however_often_it_is_sent_and_whole_or_not_at_all(pg: &PostgresServer) {
    let events = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    events.upkeep(day(7), 1, day(1)).await.unwrap();
    let batch = [event("ping-1", 7), event("ping-2", 8), LeadEvent { contracts: vec![], ..event("ping-3", 8) }];
    assert_eq!(events.append(&batch, &[]).await.unwrap(), 3);
    assert_eq!(events.append(&batch, &[]).await.unwrap(), 0, "a re-sent batch writes nothing again");
    type Row = (Vec<String>, Vec<i16>, Vec<Option<i16>>, Vec<i64>, String, Option<i16>);
    let (contracts, checkpoint, gaps, price, email, vertical_gap): Row = sqlx::query_as(
        "SELECT contracts, checkpoint, gap_days, price, encode(email, 'hex'), vertical_gap \
             FROM lead_events WHERE ping_id = 'ping-1'",
    )
    .fetch_one(events.pool())
    .await
    .unwrap();
    assert_eq!(contracts, ["c1", "c2", "c3"]);
    assert_eq!(
        checkpoint.iter().map(|c| Fate::of_code(*c).unwrap()).collect::<Vec<_>>(),
        [Fate::Bid, Fate::Dropped(Checkpoint::VerticalRepeat), Fate::Ineligible(Ineligible::CapReached)]
    );
    assert_eq!((gaps, price, vertical_gap), (vec![Some(20), None, None], vec![740, 0, 0], Some(20)));
    assert_eq!(email, Sha256Hex::digest("jane@example.com").as_str(), "the hash, never the address");

    let with_a_day_unmade = [event("ping-4", 8), event("ping-5", 20)];
    assert!(events.append(&with_a_day_unmade, &[]).await.is_err(), "no partition for the 20th");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events").fetch_one(events.pool()).await.unwrap();
    assert_eq!(rows, 3, "nothing of a refused batch is written");
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

fn queued(i: usize) -> QueuedEvent {
    let mut e = event(&format!("ping-{i:05}"), 7);
    e.at += chrono::Duration::milliseconds(i64::try_from(i).unwrap());
    QueuedEvent::of(std::sync::Arc::new(pingpost_events::LogEvent::Lead(e)))
}

async fn rows(log: &PgEvents) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT ping_id) FROM lead_events").fetch_one(log.pool()).await.unwrap()
}

/// Events wait in the store's outbox while PostgreSQL is stopped, then arrive, none lost
/// or doubled; a batch written but not removed (a lost answer) is written again as nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_store_while_postgresql_is_stopped_then_arrive_once() {
    let mut pg = PostgresServer::start_own();
    let log = PgEvents::connect(&pg.fresh_database()).await.unwrap();
    log.upkeep(day(7), 1, day(1)).await.unwrap();
    let store = MemoryStore::new();
    store.queue_events((0..2500).map(queued).collect()).await.unwrap();
    let first = relay_events(&store, &log, 1000).await.unwrap();
    assert_eq!((first.moved, first.new, first.oldest_waiting), (2500, 2500, None));

    pg.stop();
    store.queue_events((2500..4000).map(queued).collect()).await.unwrap();
    assert!(relay_events(&store, &log, 1000).await.is_err(), "PostgreSQL is stopped");
    assert_eq!(store.queued_events(10_000).await.unwrap().len(), 1500, "every event still waits");
    pg.restart();
    let mut moved = 0;
    for _ in 0..20 {
        match relay_events(&store, &log, 1000).await {
            Ok(r) => {
                moved += r.moved;
                if store.queued_events(1).await.unwrap().is_empty() {
                    break;
                }
            }
            // The pool's connections to the stopped server are found broken one by one: each
            // failed pass drops one, as a relay's next pass would.
            Err(_) => continue,
        }
    }
    assert_eq!(moved, 1500);
    assert_eq!(rows(&log).await, (4000, 4000));

    store.queue_events((100..200).map(queued).collect()).await.unwrap();
    let again = relay_events(&store, &log, 1000).await.unwrap();
    assert_eq!((again.moved, again.new), (100, 0), "written before, written again as nothing");
    assert_eq!(rows(&log).await, (4000, 4000), "none lost, none doubled");
}
