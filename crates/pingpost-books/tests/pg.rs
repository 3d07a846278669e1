//! The books on PostgreSQL: the conformance suite, unchanged, plus what only a database
//! shows (migrations at every start, the append-only table, an unreachable server). One
//! server for the whole file, each check in a fresh database of its own.

#![allow(clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use pingpost_books::{Books, BooksError, Entry, EntryQuery, PgBooks, PgOptions};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_testkit::PostgresServer;
use std::sync::Arc;

async fn books(url: &str) -> PgBooks {
    PgBooks::connect(url).await.expect("connect to the test database")
}

// Multi-threaded, so that the concurrent appends of the suite really race on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_books() {
    let pg = PostgresServer::start();
    pingpost_books::conformance::run_all(|| async { Arc::new(books(&pg.fresh_database()).await) }).await;
    every_start_migrates_and_nodes_starting_together_migrate_once(&pg).await;
    the_entries_table_refuses_updates_and_deletes(&pg).await;
}

async fn every_start_migrates_and_nodes_starting_together_migrate_once(pg: &PostgresServer) {
    let url = pg.fresh_database();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { PgBooks::connect(&url).await });
    }
    let nodes: Vec<PgBooks> =
        starts.join_all().await.into_iter().collect::<Result<_, _>>().expect("every node starts on fresh books");
    let top_up = Entry::top_up("t1", Utc::now(), BuyerId::new("b1"), Money::from_minor(100)).expect("a top-up");
    assert_eq!(nodes[0].append(vec![top_up]).await.expect("append").new, 1);
    let again = books(&url).await;
    let listed = again.entries(EntryQuery::default()).await.expect("list");
    assert_eq!(listed.entries.len(), 1, "a later start keeps the books as they are");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.expect("migrations table");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).expect("migrations").count();
    assert_eq!(applied, i64::try_from(files).expect("a count"), "each migration applied once");
}

async fn the_entries_table_refuses_updates_and_deletes(pg: &PostgresServer) {
    let url = pg.fresh_database();
    let b = books(&url).await;
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("a time");
    b.append(vec![Entry::top_up("t1", at, BuyerId::new("b1"), Money::from_minor(100)).expect("a top-up")])
        .await
        .expect("append");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    for sql in ["UPDATE entries SET amount = 1", "DELETE FROM entries", "TRUNCATE entries"] {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let sql = "INSERT INTO entries (entry_id, at, kind, buyer, price, payout, margin) \
               VALUES ('x', now(), 'sale', 'b1', 100, 90, 5)";
    let err = sqlx::query(sql).execute(&pool).await.expect_err("a margin that is not price − payout");
    assert!(err.to_string().contains("margin_is_price_less_payout"), "{err}");
    assert_eq!(b.entries(EntryQuery::default()).await.expect("list").entries.len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_or_a_bad_url_is_an_error_not_a_hang() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let options = PgOptions { acquire_timeout: std::time::Duration::from_millis(300), ..PgOptions::default() };
    let err = PgBooks::connect_with(&format!("postgres://postgres@127.0.0.1:{port}/books"), options).await.err();
    assert!(matches!(err, Some(BooksError::Unavailable(_))), "{err:?}");
    let err = PgBooks::connect("postgres://u:secret@h:notaport/books").await.err();
    assert!(matches!(&err, Some(BooksError::BadUrl(m)) if !m.contains("secret")), "{err:?}");
}
