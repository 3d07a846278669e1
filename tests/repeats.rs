//! Repeat leads end to end (SPEC "Repeat leads, the window what-if and the lead event log"):
//! a buyer buys a returning consumer again at its repeat price once per `after_days`, a
//! vertical's `repeat_after_days` lets a consumer through checkpoint 2 as a repeat that only
//! contracts taking repeats bid on, and two repeat sales of one consumer to one buyer racing
//! through two offers sell once. Each shows the answers, the audit log, the statistics, the
//! ledger, the buyer's sales, the books' accounts, and the whole-store guarantees. On either
//! store (`PINGPOST_TEST_STORE`) and either books (`PINGPOST_TEST_BOOKS`).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

const KEY_B1: &str = "buyer-one-key-00001";

/// b1 with a buyer key; a `home` vertical and offer (1-day window, like `solar`) for a second
/// way to ping the same consumer; `auto` (30 days) with repeats after 14 days.
fn market(contracts: &str) -> String {
    let mut c = base_config()
        .replace("id = \"b1\"\npost_url", &format!("id = \"b1\"\napi_key = \"{KEY_B1}\"\npost_url"))
        .replace("\"solar-excl\", \"auto-fast\"]", "\"solar-excl\", \"auto-fast\", \"home-excl\"]")
        .replace(
            "id = \"auto\"\ndedup_window_days = 30",
            "id = \"auto\"\ndedup_window_days = 30\nrepeat_after_days = 14",
        );
    c.push_str(
        "\n[[verticals]]\nid = \"home\"\ndedup_window_days = 1\n\n[[offers]]\nid = \"home-excl\"\nvertical = \"home\"\ndisclosure = \"full\"\nping_budget_ms = 1000\n",
    );
    c.push_str(contracts);
    c
}

/// Repeats after 14 days at 40 % of the price, inside a 30-day window.
const REPEAT_40: &str = "dedup = { window_days = 30 }\nrepeat = { after_days = 14, price = { percent = \"40.00\" } }";

fn rejected_as(ping: &Value) -> (&Value, &Value) {
    (&ping["status"], &ping["reason"])
}

async fn stats_of(h: &Harness, by: &str, key: &str) -> Value {
    let since = (start_time() - chrono::Duration::days(1)).to_rfc3339();
    let until = (h.engine.now() + chrono::Duration::days(1)).to_rfc3339();
    let query = format!("/stats?by={by}&since={}&until={}", urlencode(&since), urlencode(&until));
    let (status, body) = h.admin("GET", &query, None).await;
    assert_eq!(status, 200, "{body}");
    body["groups"].as_array().unwrap().iter().find(|g| g["key"] == key).cloned().unwrap_or(json!({}))
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

async fn account_of(h: &Harness, by: &str, key: &str) -> Value {
    let (status, body) = h.admin("GET", &format!("/accounts?by={by}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["groups"].as_array().unwrap().iter().find(|g| g["key"] == key).cloned().unwrap_or(json!({}))
}

async fn buyer_sales(h: &Harness) -> Vec<Value> {
    let resp =
        reqwest::Client::new().get(format!("{}/v1/buyer/sales", h.base)).bearer_auth(KEY_B1).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    body["sales"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_buyer_buys_a_returning_consumer_again_at_its_repeat_price_once_per_after_days() {
    // solar's own window is a day: only the contract's window (30 days) stands in the way.
    let h = Harness::start(&market(&contract("c1", "b1", "solar-excl", "20.00", REPEAT_40))).await;
    let consumer = email("returning@example.com");

    let (first, post) = h.sell("solar-excl", consumer.clone()).await;
    assert_eq!((first.get("repeat"), &post["sales"][0]["price"]), (None, &json!("20.00")), "{first} {post}");

    h.advance_days(10).await;
    let early = h.ping("solar-excl", consumer.clone()).await;
    assert_eq!(rejected_as(&early), (&json!("rejected"), &json!("no_bids")), "bought 10 days ago: {early}");

    h.advance_days(5).await;
    let (repeat, post) = h.sell("solar-excl", consumer.clone()).await;
    assert_eq!(repeat["repeat"], json!(true), "{repeat}");
    assert_eq!((&repeat["bids"][0]["price"], &repeat["bids"][0]["repeat"]), (&json!("8.00"), &json!(true)));
    let sale = &post["sales"][0];
    assert_eq!((&sale["price"], &sale["repeat"], &sale["status"]), (&json!("8.00"), &json!(true), &json!("sold")));
    let sale_id = sale["sale_id"].as_str().unwrap().to_string();

    h.advance_days(5).await;
    let again = h.ping("solar-excl", consumer.clone()).await;
    assert_eq!(rejected_as(&again), (&json!("rejected"), &json!("no_bids")), "a repeat 5 days ago: {again}");
    h.advance_days(10).await;
    let (later, _) = h.sell("solar-excl", consumer).await;
    assert_eq!(later["repeat"], json!(true), "15 days after the last repeat: {later}");

    let hits: Vec<(String, String)> = h.audit_hits().await;
    assert_eq!(
        hits,
        [
            ("c1".into(), "contract_duplicate".into()),
            ("c1".into(), "contract_repeat".into()),
            ("c1".into(), "contract_duplicate".into()),
            ("c1".into(), "contract_repeat".into()),
        ]
    );
    let b1 = stats_of(&h, "buyer", "b1").await;
    assert_eq!((&b1["contract_repeat"], &b1["repeat_sales"], &b1["sales"]), (&json!(2), &json!(2), &json!(3)), "{b1}");

    let (status, ledger) = h.admin("GET", &format!("/ledger?sale_id={sale_id}"), None).await;
    assert_eq!((status, &ledger["sales"][0]["repeat_after_days"]), (200, &json!(14)), "{ledger}");
    let listed = buyer_sales(&h).await;
    let repeats: Vec<bool> = listed.iter().map(|s| s["repeat"].as_bool().unwrap()).collect();
    assert_eq!(repeats, [true, true, false], "newest first: {listed:?}");
    let account = account_of(&h, "buyer", "b1").await;
    assert_eq!(
        (&account["sales"], &account["repeat_sales"], &account["gross"], &account["repeat_gross"]),
        (&json!(3), &json!(2), &json!("36.00"), &json!("16.00")),
        "{account}"
    );
    let (status, reconciled) = h.admin("GET", "/reconcile", None).await;
    assert_eq!((status, &reconciled["ok"]), (200, &json!(true)), "{reconciled}");
    h.assert_guarantees("after repeat sales", None).await;
}

#[tokio::test]
async fn a_vertical_repeat_reaches_only_the_contracts_that_take_repeats() {
    pingpost_server::metrics::install().unwrap();
    let contracts = contract("c1", "b1", "auto-excl", "20.00", REPEAT_40)
        + &contract("c2", "b2", "auto-excl", "10.00", "dedup = { window_days = 30 }");
    let h = Harness::start(&market(&contracts)).await;
    let consumer = email("back-again@example.com");

    let (_, post) = h.sell("auto-excl", consumer.clone()).await;
    assert_eq!(sold_to(&post), ["b1"], "the dearer contract first: {post}");
    h.advance_days(5).await;
    let dup = h.ping("auto-excl", consumer.clone()).await;
    assert_eq!(rejected_as(&dup), (&json!("rejected"), &json!("vertical_duplicate")), "{dup}");

    h.advance_days(10).await;
    let (repeat, post) = h.sell("auto-excl", consumer.clone()).await;
    assert_eq!((&repeat["repeat"], bid_contracts(&repeat)), (&json!(true), vec!["c1".to_string()]), "{repeat}");
    assert_eq!((&repeat["bids"][0]["price"], sold_to(&post)), (&json!("8.00"), vec!["b1".to_string()]), "{post}");

    // b2 never bought the consumer: only the vertical's repeat drops it. The repeat is the
    // consumer's last submission now.
    h.advance_days(1).await;
    let dup = h.ping("auto-excl", consumer).await;
    assert_eq!(rejected_as(&dup), (&json!("rejected"), &json!("vertical_duplicate")), "{dup}");

    let hits = h.audit_hits().await;
    assert_eq!(
        hits,
        [
            (String::new(), "vertical_duplicate".into()),
            ("c2".into(), "vertical_repeat".into()),
            ("c1".into(), "contract_repeat".into()),
            (String::new(), "vertical_duplicate".into()),
        ]
    );
    let p1 = stats_of(&h, "partner", "p1").await;
    assert_eq!(
        (&p1["repeat_pings"], &p1["vertical_repeat"], &p1["repeat_sales"]),
        (&json!(1), &json!(1), &json!(1)),
        "{p1}"
    );
    let b2 = stats_of(&h, "buyer", "b2").await;
    assert_eq!(b2["vertical_repeat"], json!(1), "{b2}");
    // A repeat bid is no drop: counted apart (only this test pings auto-excl in this binary).
    let (_, metrics) = h.scrape_metrics().await;
    let series = |prefix: &str| metrics.lines().filter(|l| l.starts_with(prefix)).map(String::from).collect::<Vec<_>>();
    assert_eq!(
        series("pingpost_repeat_bids_total{offer=\"auto-excl\"}"),
        ["pingpost_repeat_bids_total{offer=\"auto-excl\"} 1"],
        "{metrics}"
    );
    assert!(series("pingpost_drops_total").iter().all(|l| !l.contains("contract_repeat")), "{metrics}");
    assert_eq!(
        series("pingpost_drops_total{checkpoint=\"vertical_repeat\",offer=\"auto-excl\"}").len(),
        1,
        "{metrics}"
    );
    h.assert_guarantees("after a vertical repeat", None).await;
}

/// Two pings of one consumer through two offers of different verticals, both bidding to b1
/// as repeats, posted at once: one repeat sale, the other refused at the sale as bought —
/// rounds of it, and the whole store holds the one-repeat-per-after_days rule.
#[tokio::test]
async fn two_repeat_sales_of_one_consumer_to_one_buyer_racing_sell_once() {
    let contracts =
        contract("c1", "b1", "solar-excl", "20.00", REPEAT_40) + &contract("h1", "b1", "home-excl", "20.00", REPEAT_40);
    let h = Harness::start(&market(&contracts)).await;
    for round in 0..5 {
        let consumer = email(&format!("racing-{round}@example.com"));
        let (_, post) = h.sell("solar-excl", consumer.clone()).await;
        assert_eq!(sold_to(&post), ["b1"]);
        h.advance_days(15).await;
        let (a, b) = tokio::join!(h.ping("solar-excl", consumer.clone()), h.ping("home-excl", consumer.clone()));
        assert_eq!((&a["repeat"], &b["repeat"]), (&json!(true), &json!(true)), "{a} {b}");
        let (pa, pb) = tokio::join!(
            h.post(a["ping_id"].as_str().unwrap(), consumer.clone()),
            h.post(b["ping_id"].as_str().unwrap(), consumer.clone())
        );
        let sold = sold_to(&pa).len() + sold_to(&pb).len();
        assert_eq!(sold, 1, "round {round}: {pa} {pb}");
        let skipped: Vec<(String, String)> =
            outcomes(&pa).into_iter().chain(outcomes(&pb)).filter(|(_, o)| o == "skipped").collect();
        assert_eq!(skipped.len(), 1, "round {round}: {skipped:?}");
    }
    h.assert_guarantees("after racing repeats", None).await;
}
