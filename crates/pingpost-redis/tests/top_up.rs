//! A top-up's marker on Redis: the books keep a top-up's id for good, so the store must
//! recognise a retry as long as one can come (the ledger's retention, a year), not a day.

use chrono::{TimeZone, Utc};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{Balances, TopUp};
use pingpost_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_marker_is_kept_as_long_as_the_ledger() {
    let server = RedisServer::start();
    let opts = RedisOptions::default();
    let retention = opts.retention;
    let store = RedisStore::connect(&server.url(), opts).await.expect("connect to the test's Redis");
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("a valid time");
    let t = TopUp { id: "t-1".into(), buyer: BuyerId::new("b1"), amount: Money::from_minor(500), at };
    store.top_up(t).await.expect("top-up");

    let mut con = redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let year = chrono::Duration::days(365).num_milliseconds();
    // The id's claim for its buyer and amount, and the buyer's own marker.
    for key in [store.keys().top_up_id("t-1"), store.keys().top_up("b1", "t-1")] {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut con).await.expect("PTTL");
        assert!(ttl > year, "{key} expires in {ttl} ms, before a year (retention {retention})");
    }
}
