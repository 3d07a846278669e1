//! The sales spread over a Redis Cluster by buyer (issue 22, item 1): ten buyers sell on a
//! 3-master cluster, and their ledger keys sit on more than one master while no master runs
//! more than 60% of the sale scripts.
//!
//! A buyer's sales live in the slot of its tag `{b:<buyer>}`, so where they land is CRC16 of
//! the buyer's id: ten buyers on three masters spread as their ids hash (here 3, 3 and 4). The
//! sale scripts are counted with `INFO commandstats` per master: a sale is two scripts
//! (`reserve_sale`, `settle_sale`), both on its buyer's slot, and this run sends nothing else
//! as a script.

use futures_util::future::join_all;
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_store::{LedgerState, ReserveOutcome, SaleEnd, SaleRecord, SaleReservation, Sales};
use pingpost_testkit::RedisCluster;
use redis::AsyncCommands;

const BUYERS: usize = 10;
const SALES_PER_BUYER: usize = 30;

fn buyer(i: usize) -> BuyerId {
    BuyerId::new(format!("buyer-{i:02}"))
}

fn reservation(b: usize, n: usize) -> SaleReservation {
    let at = chrono::Utc::now();
    let sale_id = format!("p{b}-{n}-0");
    let ident = Ident { kind: IdentKind::Email, hash: Sha256Hex::digest(&format!("c{b}-{n}@example.com")) };
    SaleReservation {
        idents: vec![ident],
        window: WindowDays::new(30).ok(),
        debits: vec![],
        slots: 1,
        record: SaleRecord {
            sale_id,
            ping_id: format!("p{b}-{n}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: buyer(b),
            contract: ContractId::new(format!("c{b}")),
            price: Money::from_minor(1000),
            payout: Money::from_minor(900),
            reserved_at: at,
            state: LedgerState::Reserved,
            holder: "h".into(),
            lease_until: at + chrono::Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    }
}

async fn sell(store: &RedisStore, r: SaleReservation) {
    assert_eq!(store.reserve_sale(r.clone()).await.expect("reserve"), ReserveOutcome::Reserved);
    let end = SaleEnd::Sold { final_price: r.record.price, final_payout: r.record.payout, reason: None, lead_id: None };
    let settled = r.settlement(end, r.record.reserved_at, chrono::Duration::days(7));
    assert_eq!(store.settle_sale(settled).await.expect("settle"), Some(LedgerState::Sold));
}

/// How many keys of `pattern` a master holds.
async fn keys_on(url: &str, pattern: &str) -> usize {
    let client = redis::Client::open(url).expect("url");
    let mut con = client.get_multiplexed_async_connection().await.expect("connect");
    let mut iter: redis::AsyncIter<String> = con.scan_match(pattern).await.expect("scan");
    let mut n = 0;
    while let Some(k) = iter.next_item().await {
        k.expect("key");
        n += 1;
    }
    n
}

/// Scripts a master ran, from `INFO commandstats`: its `EVALSHA` calls less those refused
/// with `NOSCRIPT` (failed: the script was not loaded there yet), plus the `EVAL`s that
/// loaded and ran them.
async fn scripts_run(url: &str) -> u64 {
    let client = redis::Client::open(url).expect("url");
    let mut con = client.get_multiplexed_async_connection().await.expect("connect");
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut con).await.expect("INFO");
    let stat = |cmd: &str, field: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:")))
            .and_then(|l| l.split(',').find_map(|kv| kv.strip_prefix(&format!("{field}="))))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    stat("evalsha", "calls") - stat("evalsha", "failed_calls") + stat("eval", "calls") - stat("eval", "failed_calls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_buyers_sales_spread_over_the_masters_and_none_runs_more_than_60_percent_of_the_sale_scripts() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let opts = RedisOptions { namespace: "spread".into(), ..RedisOptions::default() };
    let store = RedisStore::connect(&urls, opts).await.expect("connect to the test's cluster");
    for node in cluster.nodes() {
        let client = redis::Client::open(node.url()).expect("url");
        let mut con = client.get_multiplexed_async_connection().await.expect("connect");
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut con).await.expect("RESETSTAT");
    }

    // Every buyer's sales side by side, a round at a time.
    for n in 0..SALES_PER_BUYER {
        join_all((0..BUYERS).map(|b| sell(&store, reservation(b, n)))).await;
    }

    let mut entries_per_master = Vec::new();
    let mut ledger_scripts_per_master = Vec::new();
    for node in cluster.nodes() {
        entries_per_master.push(keys_on(&node.url(), "spread:{b:*}:sale:*").await);
        ledger_scripts_per_master.push(scripts_run(&node.url()).await);
    }
    let sales = BUYERS * SALES_PER_BUYER;
    assert_eq!(entries_per_master.iter().sum::<usize>(), sales, "every sale's entry found: {entries_per_master:?}");
    let masters_with_sales = entries_per_master.iter().filter(|&&n| n > 0).count();
    assert!(
        masters_with_sales >= 2,
        "ten buyers' ledger keys on {masters_with_sales} master(s): {entries_per_master:?}"
    );
    let total: u64 = ledger_scripts_per_master.iter().sum();
    assert_eq!(total, 2 * sales as u64, "two scripts per sale: {ledger_scripts_per_master:?}");
    for (i, n) in ledger_scripts_per_master.iter().enumerate() {
        let share = *n as f64 / total as f64;
        assert!(
            share <= 0.6,
            "master {i} ran {:.0}% of the sale scripts: {ledger_scripts_per_master:?}",
            share * 100.0
        );
    }
    eprintln!("sale entries per master {entries_per_master:?}; sale scripts per master {ledger_scripts_per_master:?}");
}
