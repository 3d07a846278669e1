//! The post: delivery, classification, rollback, waterfall, multisell, identity binding,
//! expiry and idempotency.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::{json, Value};

fn ledger_config(extra_contracts: &str) -> String {
    let mut c = base_config();
    c.push_str(extra_contracts);
    c
}

fn capped(id: &str, buyer: &str, offer: &str, price: &str) -> String {
    contract(id, buyer, offer, price, "caps = { daily = 5, daily_spend = \"100.00\", time_zone = \"America/New_York\" }\ndedup = { window_days = 90 }")
}

// 15:00 UTC on 2026-11-23 is 10:00 in New York.
const DAY_CAP: &str = "b1/cap:c1:d:2026-11-23";
const DAY_SPEND: &str = "b1/spend:c1:d:2026-11-23";

#[tokio::test]
async fn accepted_sale_stands_with_caps_spend_and_ledger_updated() {
    let h = Harness::start(&ledger_config(&capped("c1", "b1", "auto-excl", "18.50"))).await;
    let full_lead = json!({"email": "buyer.gets.this@example.com", "first_name": "Jane", "state": "CA"});
    let ping = h.ping("auto-excl", full_lead.clone()).await;
    let post = h.post(ping["ping_id"].as_str().unwrap(), full_lead.clone()).await;
    assert_eq!(post["status"], "sold");
    assert_eq!(post["total_price"], "18.50");
    assert_eq!(outcomes(&post), [("b1".into(), "accepted".into())]);
    assert_eq!((h.counter(DAY_CAP).await, h.counter(DAY_SPEND).await), (1, 1850));

    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    let ledger = h.engine.store().ledger(pingpost_store::LedgerQuery::Sale(sale_id.clone())).await.unwrap();
    let sale = ledger.first().expect("ledger entry");
    assert_eq!(sale.state, pingpost_store::LedgerState::Sold);
    let delivered = h.buyers.received().into_iter().find(|r| r.kind == "post").expect("delivered");
    assert_eq!(delivered.body["lead"], full_lead, "the buyer gets the full posted lead");
    assert_eq!(
        (delivered.body["sale_id"].as_str(), delivered.body["price"].as_str()),
        (Some(sale_id.as_str()), Some("18.50"))
    );
}

#[tokio::test]
async fn rejected_falls_through_to_the_next_bid_which_accepts() {
    let mut c = capped("c1", "b1", "auto-excl", "20.00");
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", ""));
    let h = Harness::start(&ledger_config(&c)).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    let (_, post) = h.sell("auto-excl", email("waterfall@example.com")).await;
    assert_eq!(outcomes(&post), [("b1".into(), "rejected".into()), ("b2".into(), "accepted".into())]);
    assert_eq!(sold_to(&post), ["b2"]);
    assert_eq!(post["total_price"], "15.00");
    assert_eq!((h.counter(DAY_CAP).await, h.counter(DAY_SPEND).await), (0, 0), "the rejection charged nothing");
}

#[tokio::test]
async fn duplicate_answer_rolls_the_sale_back_and_the_next_ping_skips_that_buyer() {
    let mut c = capped("c1", "b1", "auto-excl", "20.00");
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", ""));
    let h = Harness::start(&ledger_config(&c)).await;
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let (_, post) = h.sell("auto-excl", lead(Some("dup@example.com"), Some("555-321-0000"))).await;
    assert_eq!(outcomes(&post), [("b1".into(), "duplicate".into()), ("b2".into(), "accepted".into())]);
    assert_eq!((h.counter(DAY_CAP).await, h.counter(DAY_SPEND).await), (0, 0), "cap and spend given back");
    let rolled_back = h.audit().await.into_iter().find(|e| e.checkpoint.as_str() == "post_duplicate").expect("audited");
    assert_eq!(rolled_back.contract.map(|c| c.to_string()), Some("c1".into()));

    // Next ping of the same consumer (by phone only, past the vertical window): b1 is skipped
    // at checkpoint 4 although it never paid for the lead.
    h.advance_days(31).await;
    let ping = h.ping("auto-excl", lead(None, Some("555-321-0000"))).await;
    assert_eq!(bid_contracts(&ping), ["c2"]);
    assert_eq!(h.audit().await[0].checkpoint.as_str(), "contract_duplicate");
}

#[tokio::test]
async fn buyer_timeout_and_server_error_are_errors_that_charge_nothing() {
    let mut c = base_config();
    c.push_str("\n[[buyers]]\nid = \"slow\"\npost_url = \"{buyers}/slow/post\"\ntimeout_ms = 100\n");
    c.push_str(&contract("c1", "slow", "auto-excl", "30.00", "caps = { daily = 5 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "20.00", ""));
    c.push_str(&contract("c3", "b3", "auto-excl", "10.00", ""));
    let h = Harness::start(&c).await;
    h.buyers.update("slow", |b| b.delay = std::time::Duration::from_secs(5));
    h.buyers.update("b2", |b| b.post = PostReply::Raw(503, "busy".into()));
    let (_, post) = h.sell("auto-excl", email("timeout@example.com")).await;
    assert_eq!(
        outcomes(&post),
        [("slow".into(), "error".into()), ("b2".into(), "error".into()), ("b3".into(), "accepted".into())]
    );
    assert_eq!(h.counter("b1/cap:c1:d:2026-11-23").await, 0);
    let reasons: Vec<_> = post["attempts"].as_array().unwrap().iter().map(|a| a["reason"].clone()).collect();
    assert_eq!(reasons, [json!("timeout"), json!("http_503"), Value::Null], "codes, never the buyer's URL");
}

/// A buyer's redirect would have the engine re-send the full plaintext lead wherever the
/// buyer's server points (internal addresses included): it is never followed, and the lead,
/// not taken, falls to the next bid; nothing is charged.
#[tokio::test]
async fn a_buyer_answering_a_redirect_has_refused_and_the_lead_goes_nowhere_else() {
    let mut c = capped("c1", "b1", "auto-excl", "20.00");
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", ""));
    let h = Harness::start(&ledger_config(&c)).await;
    // b1 points the engine at b5's address, which no contract of the offer uses.
    let elsewhere = format!("{}/b5/post", h.buyers_url());
    h.buyers.update("b1", |b| b.post = PostReply::Redirect(elsewhere));
    let (_, post) = h.sell("auto-excl", email("redirected@example.com")).await;
    assert_eq!(outcomes(&post), [("b1".into(), "rejected".into()), ("b2".into(), "accepted".into())]);
    assert_eq!(h.buyers.count("b5", "post"), 0, "the lead followed the redirect");
    assert_eq!((h.counter(DAY_CAP).await, h.counter(DAY_SPEND).await), (0, 0));
}

#[tokio::test]
async fn all_bids_failing_leaves_the_lead_unsold() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    let (_, post) = h.sell("auto-excl", email("nobody@example.com")).await;
    assert_eq!((post["status"].as_str(), post["total_price"].as_str()), (Some("unsold"), Some("0.00")));
    assert_eq!(post["sales"], json!([]));
}

#[tokio::test]
async fn multisell_sells_to_up_to_max_buyers_distinct_buyers_filling_after_a_rejection() {
    let mut c = base_config();
    for (i, price) in ["9.00", "8.00", "7.00", "6.00"].iter().enumerate() {
        c.push_str(&contract(&format!("m{}", i + 1), &format!("b{}", i + 1), "auto-multi", price, ""));
    }
    c.push_str(&contract("m1-second", "b1", "auto-multi", "5.00", ""));
    let h = Harness::start(&c).await;
    h.buyers.update("b2", |b| b.post = PostReply::Reject);
    let (ping, post) = h.sell("auto-multi", email("shared@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["m1", "m2", "m3", "m4"]);
    assert_eq!(sold_to(&post), ["b1", "b3", "b4"]);
    assert_eq!(post["total_price"], "22.00");
    for b in ["b1", "b2", "b3", "b4"] {
        assert_eq!(h.buyers.count(b, "post"), 1, "{b} received the lead once");
    }
}

#[tokio::test]
async fn a_post_must_carry_the_pinged_consumer() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    let ping = h.ping("auto-excl", email("pinged@example.com")).await;
    let id = ping["ping_id"].as_str().unwrap();
    let (status, err) = h.post_as(KEY_P1, id, email("someone.else@example.com")).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("lead.email")));
    let (status, err) = h.post_as(KEY_P1, id, lead(Some("pinged@example.com"), Some("555-000-1234"))).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("lead.phone")),
        "a phone the ping never deduplicated"
    );
    assert_eq!(h.buyers.count("b1", "post"), 0);
    // The refused posts did not use up the ping.
    let post = h.post(id, email(" Pinged@Example.com")).await;
    assert_eq!(post["status"], "sold");
}

#[tokio::test]
async fn an_expired_ping_cannot_be_posted() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    let ping = h.ping("auto-excl", email("late@example.com")).await;
    h.advance_secs(300).await;
    let (status, err) = h.post_as(KEY_P1, ping["ping_id"].as_str().unwrap(), email("late@example.com")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (410, Some("ping_expired")));
    assert_eq!(h.buyers.count("b1", "post"), 0);
}

#[tokio::test]
async fn a_repeated_post_returns_the_first_result_and_never_sells_twice() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    let (ping, first) = h.sell("auto-excl", email("repeat@example.com")).await;
    let again = h.post(ping["ping_id"].as_str().unwrap(), email("repeat@example.com")).await;
    assert_eq!(first, again);
    assert_eq!(h.buyers.count("b1", "post"), 1);
    // Even after the ping expires, the answer is the first one (until the record's grace ends).
    h.advance_secs(600).await;
    assert_eq!(h.post(ping["ping_id"].as_str().unwrap(), email("repeat@example.com")).await, first);
}

#[tokio::test]
async fn only_the_pinging_partner_may_post_and_unknown_pings_are_404() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    let ping = h.ping("auto-excl", email("mine@example.com")).await;
    let id = ping["ping_id"].as_str().unwrap();
    // A post claims its ping while its record is read: a claim taken for a request that
    // fails is given up, so neither a repeat nor the owner finds a post in flight.
    for _ in 0..2 {
        let (status, err) = h.post_as(KEY_P2, id, email("mine@example.com")).await;
        assert_eq!((status, err["error"]["code"].as_str()), (404, Some("unknown_ping")));
        let (status, err) = h.post_as(KEY_P1, "0123456789abcdef0123456789abcdef", email("mine@example.com")).await;
        assert_eq!((status, err["error"]["code"].as_str()), (404, Some("unknown_ping")));
    }
    assert_eq!(h.buyers.count("b1", "post"), 0);
    assert_eq!(h.post(id, email("mine@example.com")).await["status"], "sold");
}

#[tokio::test]
async fn bid_ids_choose_which_bids_the_partner_posts() {
    let mut c = contract("c1", "b1", "auto-excl", "20.00", "");
    c.push_str(&contract("c2", "b2", "auto-excl", "10.00", ""));
    let h = Harness::start(&ledger_config(&c)).await;
    let ping = h.ping("auto-excl", email("choose@example.com")).await;
    let second = ping["bids"][1]["bid_id"].clone();
    let body = json!({"ping_id": ping["ping_id"], "lead": email("choose@example.com"), "bid_ids": [second]});
    let (status, post) = h.call("/v1/post", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!(sold_to(&post), ["b2"]);
    let bad = json!({"ping_id": ping["ping_id"], "lead": email("choose@example.com"), "bid_ids": ["nope"]});
    let (status, err) = h.call("/v1/post", Some(KEY_P1), bad.to_string().into_bytes()).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("bid_ids")));
}

#[tokio::test]
async fn prepaid_balance_limits_sales_at_ping_and_post() {
    let mut c = base_config();
    c.push_str("\n[[buyers]]\nid = \"prepaid\"\npost_url = \"{buyers}/prepaid/post\"\nbalance = \"25.00\"\n");
    c.push_str(&contract("c1", "prepaid", "auto-excl", "20.00", ""));
    let h = Harness::start(&c).await;
    assert_eq!(sold_to(&h.sell("auto-excl", email("first@example.com")).await.1), ["prepaid"]);
    assert_eq!(h.ping("auto-excl", email("second@example.com")).await["reason"], "no_bids", "5.00 left");
    assert_eq!(h.counter("prepaid/balance").await, 2000);
}

#[tokio::test]
async fn a_lower_price_reported_by_the_buyer_is_charged_and_the_difference_given_back() {
    let mut c = base_config();
    c.push_str(
        "\n[[buyers]]\nid = \"pricey\"\npost_url = \"{buyers}/pricey/post\"\nresponse = { price = \"/paid\" }\n",
    );
    c.push_str(&contract(
        "c1",
        "pricey",
        "auto-excl",
        "20.00",
        "caps = { daily_spend = \"100.00\", time_zone = \"America/New_York\" }",
    ));
    let h = Harness::start(&c).await;
    h.buyers.update("pricey", |b| b.post = PostReply::Raw(200, r#"{"status":"accepted","paid":"12.00"}"#.into()));
    let (_, post) = h.sell("auto-excl", email("cheap@example.com")).await;
    assert_eq!(post["total_price"], "12.00");
    assert_eq!(h.counter("pricey/spend:c1:d:2026-11-23").await, 1200);
}

#[tokio::test]
async fn a_rejected_ping_cannot_be_posted() {
    let h = Harness::start(&ledger_config(&contract("c1", "b1", "auto-excl", "10.00", ""))).await;
    h.sell("auto-excl", email("twice@example.com")).await;
    let dup = h.ping("auto-excl", email("twice@example.com")).await;
    assert_eq!(dup["reason"], "vertical_duplicate");
    let (status, err) = h.post_as(KEY_P1, dup["ping_id"].as_str().unwrap(), email("twice@example.com")).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("unknown_ping")));
    assert_eq!(h.buyers.count("b1", "post"), 1);
}

#[tokio::test]
async fn an_hourly_cap_in_the_contract_time_zone_opens_again_the_next_hour() {
    let c = ledger_config(&contract(
        "c1",
        "b1",
        "auto-excl",
        "10.00",
        "caps = { hourly = 1, time_zone = \"Asia/Kolkata\" }",
    ));
    let h = Harness::start(&c).await;
    assert_eq!(sold_to(&h.sell("auto-excl", email("h1@example.com")).await.1), ["b1"]);
    // 15:00 UTC is 20:30 in Kolkata: the bucket is the local hour 20.
    assert_eq!(h.counter("b1/cap:c1:h:2026-11-23T20").await, 1);
    assert_eq!(h.ping("auto-excl", email("h2@example.com")).await["reason"], "no_bids");
    h.advance_secs(30 * 60).await;
    assert_eq!(bid_contracts(&h.ping("auto-excl", email("h3@example.com")).await), ["c1"], "21:00 local: a new hour");
}

#[tokio::test]
async fn an_unreachable_buyer_is_an_error_and_the_waterfall_goes_on() {
    let mut c = base_config();
    // Nothing listens on port 1 of loopback: the connection is refused at once.
    c.push_str("\n[[buyers]]\nid = \"gone\"\npost_url = \"http://127.0.0.1:1/gone/post\"\n");
    c.push_str(&contract("c1", "gone", "auto-excl", "30.00", ""));
    c.push_str(&contract("c2", "b2", "auto-excl", "20.00", ""));
    let h = Harness::start(&c).await;
    let (_, post) = h.sell("auto-excl", email("unreachable@example.com")).await;
    assert_eq!(outcomes(&post), [("gone".into(), "error".into()), ("b2".into(), "accepted".into())]);
    assert_eq!(post["attempts"][0]["reason"], "unreachable");
}
