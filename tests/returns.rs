//! Buyers' returns over HTTP: a buyer lists its own sales and returns a bad lead; the
//! refund goes back to its balance and the partner's payout is clawed back when the reason
//! says so; every refusal is a 422 naming its reason; a sale is returned once however many
//! requests race for it, on one node or two; concurrent returns never pass a buyer's cap.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use serde_json::{json, Value};

const KEY_B1: &str = "buyer-one-key-00001";
const KEY_B2: &str = "buyer-two-key-00002";

/// b1 (key, prepaid 500.00, returns up to 100 % and approved at once) buys on auto-excl at
/// 20.00 with a 10 % margin; b2 (key, returns left pending) buys on auto-2 at 15.00.
fn market(b1_returns: &str, reasons: &str) -> String {
    let mut c = base_config()
        .replace(
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"b1\"\npost_url",
            &format!("id = \"b1\"\napi_key = \"{KEY_B1}\"\nbalance = \"500.00\"\nreturns = {b1_returns}\npost_url"),
        )
        .replace(
            "id = \"b2\"\npost_url",
            &format!("id = \"b2\"\napi_key = \"{KEY_B2}\"\nreturns = {{ auto_approve = false, max_rate_percent = \"100.00\" }}\npost_url"),
        );
    c.push_str(&contract("x1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("y2", "b2", "auto-2", "15.00", ""));
    c.push_str(reasons);
    c
}

fn default_market() -> String {
    market("{ max_rate_percent = \"100.00\" }", "")
}

async fn request(h: &Harness, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", h.base)).bearer_auth(key);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}")))
}

async fn buyer_return(h: &Harness, key: &str, sale_id: &str, reason: &str) -> (u16, Value) {
    request(h, "POST", "/v1/buyer/returns", key, Some(json!({"sale_id": sale_id, "reason": reason}))).await
}

/// Sells a fresh lead on `offer` and answers its sale id.
async fn sale(h: &Harness, offer: &str, who: &str) -> String {
    let lead = email(&format!("{who}@example.com"));
    let ping = h.ping(offer, lead.clone()).await;
    let post = h.post(ping["ping_id"].as_str().unwrap(), lead).await;
    post["sales"][0]["sale_id"].as_str().unwrap_or_else(|| panic!("sold: {post}")).to_string()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("an error: {body}"))
}

async fn credit(h: &Harness, buyer: &str) -> Money {
    h.engine.store().buyer_money(BuyerId::new(buyer)).await.unwrap().credit
}

async fn accounts(h: &Harness, by: &str) -> Vec<Value> {
    let (status, body) = h.admin("GET", &format!("/accounts?by={by}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["groups"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_buyer_returns_its_own_lead_refunded_with_the_payout_clawed_back_and_dedup_kept() {
    let h = Harness::start(&default_market()).await;
    let sale_id = sale(&h, "auto-excl", "bad").await;
    let (status, listed) = request(&h, "GET", "/v1/buyer/sales", KEY_B1, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["sales"][0]["sale_id"], sale_id.as_str());
    assert_eq!(
        (listed["sales"][0]["price"].as_str(), listed["sales"][0]["state"].as_str()),
        (Some("20.00"), Some("sold"))
    );

    let (status, ret) = buyer_return(&h, KEY_B1, &sale_id, "invalid_contact").await;
    assert_eq!(status, 201, "{ret}");
    assert_eq!(
        (ret["return_id"].as_str(), ret["sale_id"].as_str(), ret["status"].as_str(), ret["refund"].as_str()),
        (Some(format!("ret-{sale_id}").as_str()), Some(sale_id.as_str()), Some("approved"), Some("20.00"))
    );
    assert!(ret.get("clawback").is_none() && ret.get("buyer").is_none(), "a buyer never sees the payout: {ret}");
    assert_eq!(credit(&h, "b1").await, Money::from_minor(2000), "the price went back to the balance");

    let (_, listed) = request(&h, "GET", "/v1/buyer/sales", KEY_B1, None).await;
    assert_eq!(listed["sales"][0]["state"], "returned");
    let (_, ledger) = h.admin("GET", &format!("/ledger?sale_id={sale_id}"), None).await;
    assert_eq!(ledger["sales"][0]["state"], "returned");

    let partner = &accounts(&h, "partner").await[0];
    assert_eq!(
        (&partner["gross"], &partner["refunds"], &partner["net_revenue"]),
        (&json!("20.00"), &json!("20.00"), &json!("0.00"))
    );
    assert_eq!(
        (&partner["payouts"], &partner["clawbacks"], &partner["net_payout"], &partner["margin"]),
        (&json!("18.00"), &json!("18.00"), &json!("0.00"), &json!("0.00"))
    );

    // Dedup is left as it was: b1 still has the consumer, so it does not bid on it again.
    let again = h.ping("auto-excl", email("bad@example.com")).await;
    assert!(!bid_contracts(&again).contains(&"x1".to_string()), "{again}");
}

#[tokio::test]
async fn every_refusal_is_a_422_naming_its_reason_and_moves_no_money() {
    let h = Harness::start(&market("{ max_rate_percent = \"50.00\" }", "")).await;
    let first = sale(&h, "auto-excl", "r1").await;
    let (status, body) = buyer_return(&h, KEY_B1, &first, "no_such_reason").await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (422, "invalid_field", Some("reason")),
        "{body}"
    );
    let (status, body) = buyer_return(&h, KEY_B1, &first, "fraud").await;
    assert_eq!((status, code(&body)), (422, "return_rate_exceeded"), "1 return of 1 sale is over 50 %: {body}");

    let second = sale(&h, "auto-excl", "r2").await;
    let (status, body) = buyer_return(&h, KEY_B1, &second, "fraud").await;
    assert_eq!(status, 201, "1 return of 2 sales is 50 %: {body}");
    let (status, body) = buyer_return(&h, KEY_B1, &second, "fraud").await;
    assert_eq!((status, code(&body)), (409, "already_returned"), "{body}");

    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let lead = email("r3@example.com");
    let ping = h.ping("auto-excl", lead.clone()).await;
    h.post(ping["ping_id"].as_str().unwrap(), lead).await;
    let rolled_back = format!("{}-0", ping["ping_id"].as_str().unwrap());
    let (_, entry) = h.admin("GET", &format!("/ledger?sale_id={rolled_back}"), None).await;
    assert_eq!(entry["sales"][0]["state"], "rolled_back", "{entry}");
    let (status, body) = buyer_return(&h, KEY_B1, &rolled_back, "fraud").await;
    assert_eq!((status, code(&body)), (422, "not_returnable"), "{body}");

    h.advance_days(8).await;
    let (status, body) = buyer_return(&h, KEY_B1, &first, "fraud").await;
    assert_eq!((status, code(&body)), (422, "return_window_passed"), "{body}");

    let (status, body) = buyer_return(&h, KEY_B2, &first, "fraud").await;
    assert_eq!((status, code(&body)), (404, "unknown_sale"), "another buyer's sale is as good as unknown: {body}");
    let (status, body) = buyer_return(&h, KEY_B1, "no-such-sale", "fraud").await;
    assert_eq!((status, code(&body)), (404, "unknown_sale"), "{body}");
    let (status, body) = request(&h, "POST", "/v1/buyer/returns", KEY_B1, Some(json!({"sale_id": first}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("reason")), "{body}");

    assert_eq!(credit(&h, "b1").await, Money::from_minor(2000), "only the one approved return refunded");
}

#[tokio::test]
async fn a_buyer_key_opens_the_buyers_api_only_and_no_other_key_opens_it() {
    let h = Harness::start(&default_market()).await;
    for key in [KEY_P1, ADMIN_TOKEN, "not-a-key-at-all-00"] {
        let (status, body) = request(&h, "GET", "/v1/buyer/sales", key, None).await;
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{key}: {body}");
    }
    let (status, _) = h.ping_as(KEY_B1, "auto-excl", email("k@example.com")).await;
    assert_eq!(status, 401, "a buyer key is no partner key");
    let (status, _) = h.admin_with(Some(KEY_B1), "GET", "/returns", None).await;
    assert_eq!(status, 401, "a buyer key is no operator token");
    let (status, body) = request(&h, "GET", "/v1/buyer/sales", KEY_B2, None).await;
    assert_eq!((status, body["sales"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
}

#[tokio::test]
async fn a_buyers_sales_page_by_cursor_newest_first() {
    let h = Harness::start(&default_market()).await;
    let mut sold = Vec::new();
    for i in 0..5 {
        sold.push(sale(&h, "auto-excl", &format!("page{i}")).await);
        h.advance_secs(60).await;
    }
    sold.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/buyer/sales?limit=2".to_string();
    loop {
        let (status, page) = request(&h, "GET", &path, KEY_B1, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["sales"].as_array().unwrap().iter().map(|s| s["sale_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/buyer/sales?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, sold);
    let since = (start_time() + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (start_time() + chrono::Duration::seconds(180)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, page) = request(&h, "GET", &format!("/v1/buyer/sales?since={since}&until={until}"), KEY_B1, None).await;
    let ids: Vec<&str> = page["sales"].as_array().unwrap().iter().map(|s| s["sale_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [sold[2].as_str(), sold[3].as_str()]);
    let (status, body) = request(&h, "GET", "/v1/buyer/sales?cursor=garbage", KEY_B1, None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("cursor")), "{body}");
    let (_, ledger) = h.admin("GET", "/ledger?buyer=b1&limit=2", None).await;
    assert_eq!(ledger["sales"].as_array().unwrap().len(), 2, "{ledger}");
}

#[tokio::test]
async fn pending_returns_wait_for_one_final_decision_and_reasons_decide_the_clawback() {
    let reasons = "\n[[return_reasons]]\nid = \"not_interested\"\nname = \"Not interested\"\nclaw_back = false\n\
                   \n[[return_reasons]]\nid = \"fraud\"\nname = \"Fraud\"\nclaw_back = true\n";
    let h = Harness::start(&market("{ max_rate_percent = \"100.00\" }", reasons)).await;
    let (b2_first, b2_second) = (sale(&h, "auto-2", "p1").await, sale(&h, "auto-2", "p2").await);
    let (status, body) = buyer_return(&h, KEY_B2, &b2_first, "invalid_contact").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("reason")),
        "configured reasons replace the defaults"
    );

    let (status, pending) = buyer_return(&h, KEY_B2, &b2_first, "fraud").await;
    assert_eq!((status, pending["status"].as_str(), pending["refund"].as_str()), (201, Some("pending"), Some("15.00")));
    assert_eq!(credit(&h, "b2").await, Money::ZERO, "nothing moves before the decision");
    let (_, listed) = h.admin("GET", "/returns?status=pending", None).await;
    assert_eq!(listed["returns"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!((&listed["returns"][0]["buyer"], &listed["returns"][0]["clawback"]), (&json!("b2"), &json!("15.00")));
    let id = pending["return_id"].as_str().unwrap();
    let (status, denied) =
        h.admin("POST", &format!("/returns/{id}"), Some(json!({"decision": "deny", "note": "looks fine"}))).await;
    assert_eq!(
        (status, denied["status"].as_str(), denied["decision_note"].as_str()),
        (200, Some("denied"), Some("looks fine"))
    );
    let (status, body) = h.admin("POST", &format!("/returns/{id}"), Some(json!({"decision": "approve"}))).await;
    assert_eq!((status, code(&body)), (409, "already_decided"), "a decision is final: {body}");
    let (status, body) = h.admin("POST", "/returns/ret-nothing", Some(json!({"decision": "approve"}))).await;
    assert_eq!((status, code(&body)), (404, "unknown_return"), "{body}");
    let (status, body) = h.admin("POST", &format!("/returns/{id}"), Some(json!({"decision": "maybe"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("decision")), "{body}");

    // The operator files one for b2, without clawback, and approves it.
    let body = json!({"sale_id": b2_second, "reason": "not_interested", "note": "buyer called"});
    let (status, filed) = h.admin("POST", "/returns", Some(body)).await;
    assert_eq!(
        (status, filed["status"].as_str(), filed["buyer"].as_str()),
        (201, Some("pending"), Some("b2")),
        "{filed}"
    );
    let id = filed["return_id"].as_str().unwrap();
    let (status, approved) = h.admin("POST", &format!("/returns/{id}"), Some(json!({"decision": "approve"}))).await;
    assert_eq!((status, approved["status"].as_str()), (200, Some("approved")), "{approved}");
    assert_eq!(credit(&h, "b2").await, Money::from_minor(1500));
    let (_, listed) = h.admin("GET", "/returns?status=approved", None).await;
    assert_eq!(listed["returns"][0]["return_id"].as_str(), Some(id));
    let partner = &accounts(&h, "buyer").await[0];
    assert_eq!(
        (&partner["key"], &partner["refunds"], &partner["clawbacks"]),
        (&json!("b2"), &json!("15.00"), &json!("0.00"))
    );
}

/// Another node when the store can be shared (Redis), else the same node again.
async fn second_node(h: &Harness) -> Option<Harness> {
    match Backend::from_env() {
        Backend::Memory => None,
        _ => Some(h.another_node().await),
    }
}

#[tokio::test]
async fn concurrent_returns_of_one_sale_on_two_nodes_return_it_once() {
    let h = Harness::start(&default_market()).await;
    let other = second_node(&h).await;
    let nodes = [&h, other.as_ref().unwrap_or(&h)];
    let sale_id = sale(&h, "auto-excl", "race").await;
    let tries = (0..16).map(|i| buyer_return(nodes[i % 2], KEY_B1, &sale_id, "fraud"));
    let answers = futures_util::future::join_all(tries).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{answers:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 15, "{answers:?}");
    assert_eq!(credit(&h, "b1").await, Money::from_minor(2000), "refunded once");
}

#[tokio::test]
async fn concurrent_returns_of_different_sales_never_pass_the_rate_cap() {
    let h = Harness::start(&market("{ max_rate_percent = \"30.00\" }", "")).await;
    let other = second_node(&h).await;
    let nodes = [&h, other.as_ref().unwrap_or(&h)];
    let mut sales = Vec::new();
    for i in 0..10 {
        sales.push(sale(&h, "auto-excl", &format!("cap{i}")).await);
    }
    let tries = sales.iter().enumerate().map(|(i, s)| buyer_return(nodes[i % 2], KEY_B1, s, "fraud"));
    let answers = futures_util::future::join_all(tries).await;
    let taken = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, b)| *s == 422 && code(b) == "return_rate_exceeded").count();
    assert_eq!((taken, refused), (3, 7), "30 % of 10 sales: {answers:?}");
    assert_eq!(credit(&h, "b1").await, Money::from_minor(3 * 2000));
}

/// `pingpost reconcile` against a running node: its exit status and what it printed.
async fn reconcile_cli(h: &Harness) -> (i32, String) {
    let base = h.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pingpost"))
            .args(["reconcile", "--url", &base, "--admin-token", ADMIN_TOKEN])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn reconcile_finds_books_and_store_agreeing_and_names_every_difference_made_behind_their_backs() {
    let h = Harness::start(&default_market()).await;
    let (status, _) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "50.00", "id": "t1"}))).await;
    assert_eq!(status, 200);
    let returned = sale(&h, "auto-excl", "rc1").await;
    sale(&h, "auto-excl", "rc2").await;
    sale(&h, "auto-2", "rc3").await;
    assert_eq!(buyer_return(&h, KEY_B1, &returned, "fraud").await.0, 201);
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let lead = email("rc4@example.com");
    let ping = h.ping("auto-excl", lead.clone()).await;
    h.post(ping["ping_id"].as_str().unwrap(), lead).await;

    let (status, report) = h.admin("GET", "/reconcile", None).await;
    assert_eq!((status, &report["ok"], &report["differences"]), (200, &json!(true), &json!([])), "{report}");
    assert_eq!(report["sales"], 3, "{report}");
    assert_eq!(reconcile_cli(&h).await, (0, String::new()));

    // Behind the store's back: a sale entry the store never made, a top-up the store never saw.
    let stray = pingpost_books::Entry::sale(
        "sale:invented",
        start_time(),
        pingpost_books::SaleRef {
            sale_id: "invented".into(),
            ping_id: "nowhere".into(),
            partner: pingpost_core::ids::PartnerId::new("p1"),
            buyer: BuyerId::new("b1"),
            offer: pingpost_core::ids::OfferId::new("auto-excl"),
            contract: pingpost_core::ids::ContractId::new("x1"),
            repeat: false,
        },
        Money::from_minor(700),
        Money::from_minor(630),
    )
    .unwrap();
    h.engine.books().append(vec![stray]).await.unwrap();
    // Behind the books' back: a movement whose entry is dropped from the outbox unrelayed.
    h.engine.relay_books().await.unwrap();
    let top_up = pingpost_store::TopUp {
        id: "lost".into(),
        buyer: BuyerId::new("b1"),
        amount: Money::from_minor(1),
        at: start_time(),
    };
    h.engine.store().top_up(top_up).await.unwrap();
    h.engine.store().outbox_done(vec![(BuyerId::new("b1"), "top_up:lost".into())]).await.unwrap();

    let (status, report) = h.admin("GET", "/reconcile", None).await;
    assert_eq!((status, &report["ok"]), (200, &json!(false)), "{report}");
    let found: Vec<(&str, &str)> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [("entry_without_sale", "sale:invented"), ("balance_differs", "b1")], "{report}");
    let (code, printed) = reconcile_cli(&h).await;
    assert_eq!(code, 1, "{printed}");
    assert!(
        printed.contains("entry_without_sale\tsale:invented") && printed.contains("balance_differs\tb1"),
        "{printed}"
    );
}
