//! The books: every money movement reaches them through the store's outbox, once; the
//! accounts and the partner's report add them up; top-ups raise a buyer's balance and are
//! in the books too.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::{json, Value};

/// Two offers with margins; b1 prepaid 30.00 on the first.
fn market() -> String {
    let mut c = base_config()
        .replace(
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"auto-2\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-2\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { fixed = \"2.50\" }",
        )
        .replace("id = \"b1\"\npost_url", "id = \"b1\"\nbalance = \"30.00\"\npost_url");
    c.push_str(&contract("x1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("x2", "b2", "auto-excl", "15.00", ""));
    c.push_str(&contract("y2", "b2", "auto-2", "12.00", ""));
    c
}

async fn get(h: &Harness, path: &str, key: &str, csv: bool) -> (u16, String) {
    let mut req =
        reqwest::Client::new().get(format!("{}{path}", h.base)).header("authorization", format!("Bearer {key}"));
    if csv {
        req = req.header("accept", "text/csv");
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn groups(body: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["groups"].as_array().unwrap().clone()
}

#[tokio::test]
async fn sales_reach_the_books_once_and_the_accounts_add_them_up_to_the_cent() {
    let h = Harness::start(&market()).await;
    h.sell("auto-excl", email("one@example.com")).await; // b1 at 20.00, payout 18.00
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    h.sell("auto-excl", email("two@example.com")).await; // b1 rolls back: b2 at 15.00, payout 13.50
    let (status, _) = h.ping_as(KEY_P2, "auto-2", email("three@example.com")).await; // p2: 12.00, payout 9.50
    assert_eq!(status, 200);
    let ping = h.ping_as(KEY_P2, "auto-2", email("four@example.com")).await.1;
    h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), email("four@example.com")).await;

    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!(relayed.relayed, 3, "three sales; a reservation rolled back from reserved moved no money");
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 0, "the outbox is empty once delivered");

    let (status, body) = get(&h, "/v1/admin/accounts?by=partner", ADMIN_TOKEN, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        groups(&body),
        [
            json!({"key": "p1", "sales": 2, "gross": "35.00", "refunds": "0.00", "net_revenue": "35.00",
                   "payouts": "31.50", "clawbacks": "0.00", "net_payout": "31.50", "margin": "3.50"}),
            json!({"key": "p2", "sales": 1, "gross": "12.00", "refunds": "0.00", "net_revenue": "12.00",
                   "payouts": "9.50", "clawbacks": "0.00", "net_payout": "9.50", "margin": "2.50"}),
        ]
    );
    let (_, body) = get(&h, "/v1/admin/accounts?by=buyer", ADMIN_TOKEN, false).await;
    let buyers: Vec<(String, String)> = groups(&body)
        .iter()
        .map(|g| (g["key"].as_str().unwrap().into(), g["gross"].as_str().unwrap().into()))
        .collect();
    assert_eq!(buyers, [("b1".into(), "20.00".into()), ("b2".into(), "27.00".into())]);
    let (_, csv) = get(&h, "/v1/admin/accounts?by=offer", ADMIN_TOKEN, true).await;
    assert_eq!(
        csv,
        "key,sales,gross,refunds,net_revenue,payouts,clawbacks,net_payout,margin\n\
         auto-2,1,12.00,0.00,12.00,9.50,0.00,9.50,2.50\n\
         auto-excl,2,35.00,0.00,35.00,31.50,0.00,31.50,3.50\n"
    );

    // A partner reads its own account, never another's; a range before the sales is empty.
    let (status, mine) = get(&h, "/v1/partner/report", KEY_P2, false).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(groups(&mine).iter().map(|g| g["key"].as_str().unwrap()).collect::<Vec<_>>(), ["p2"]);
    let (_, mine_csv) = get(&h, "/v1/partner/report", KEY_P2, true).await;
    assert_eq!(mine_csv, "key,sales,payouts,clawbacks,net_payout\np2,1,9.50,0.00,9.50\n");
    assert_eq!(
        groups(&mine),
        [json!({"key": "p2", "sales": 1, "payouts": "9.50", "clawbacks": "0.00", "net_payout": "9.50"})],
        "a partner sees its own side only: no gross price, no margin"
    );
    let (_, before) = get(&h, "/v1/partner/report?until=2026-11-23T14:00:00Z", KEY_P1, false).await;
    assert!(groups(&before).is_empty(), "{before}");
    let (status, _) = get(&h, "/v1/partner/report", ADMIN_TOKEN, false).await;
    assert_eq!(status, 401, "the operator token is not a partner key");
    let (status, _) = get(&h, "/v1/admin/accounts?by=partner", KEY_P1, false).await;
    assert_eq!(status, 401, "a partner key opens no admin report");
    let (status, err) = get(&h, "/v1/admin/accounts?by=vertical", ADMIN_TOKEN, false).await;
    assert_eq!(status, 422, "{err}");
}

#[tokio::test]
async fn a_top_up_raises_the_balance_once_and_is_in_the_books() {
    let h = Harness::start(&market()).await;
    // 30.00 prepaid: one 20.00 sale fits, a second does not.
    h.sell("auto-excl", email("first@example.com")).await;
    let ping = h.ping("auto-excl", email("second@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["x2"], "b1's balance has 10.00 left: {ping}");

    let (status, topped) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "25.00", "id": "t-1"}))).await;
    assert_eq!((status, topped["balance"].as_str()), (200, Some("35.00")), "{topped}");
    let (_, again) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "25.00", "id": "t-1"}))).await;
    assert_eq!(again["balance"], "35.00", "a retried top-up applies once: {again}");
    let ping = h.ping("auto-excl", email("third@example.com")).await;
    assert_eq!(bid_contracts(&ping)[0], "x1", "b1 bids again: {ping}");

    for (body, field) in
        [(json!({"add": "0"}), "add"), (json!({"add": "-5.00"}), "add"), (json!({"add": "1.005"}), "add")]
    {
        let (status, err) = h.admin("POST", "/buyers/b1/balance", Some(body)).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{err}");
    }
    let (status, err) = h.admin("POST", "/buyers/b2/balance", Some(json!({"add": "5.00"}))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("add")), "b2 has no prepaid balance: {err}");
    let (status, _) = h.admin("POST", "/buyers/nobody/balance", Some(json!({"add": "5.00"}))).await;
    assert_eq!(status, 404);

    h.engine.relay_books().await.unwrap();
    let money = h.engine.books().buyer_money(Some(pingpost_core::ids::BuyerId::new("b1"))).await.unwrap();
    assert_eq!((money[0].top_ups.to_string(), money[0].charges.to_string()), ("25.00".into(), "20.00".into()));
}

/// The books keep a top-up's id for good, so the store keeps it as long as a retry can come
/// (a year): a retry days later applies nothing again, and the id sent with another amount
/// or buyer is a client's mistake, answered 409 with nothing moved.
#[tokio::test]
async fn a_top_up_id_is_kept_past_a_day_and_refused_with_other_content() {
    let h =
        Harness::start(&market().replace("id = \"b2\"\npost_url", "id = \"b2\"\nbalance = \"0.00\"\npost_url")).await;
    let h = &h;
    let top_up = |buyer: &str, add: &str| {
        let path = format!("/buyers/{buyer}/balance");
        let body = json!({"add": add, "id": "t-1"});
        async move { h.admin("POST", &path, Some(body)).await }
    };
    let (status, topped) = top_up("b1", "25.00").await;
    assert_eq!((status, topped["balance"].as_str()), (200, Some("55.00")), "{topped}");

    h.advance_days(2).await;
    let (status, again) = top_up("b1", "25.00").await;
    assert_eq!((status, again["balance"].as_str()), (200, Some("55.00")), "a retry two days on applies once: {again}");
    for (buyer, add) in [("b1", "30.00"), ("b2", "25.00")] {
        let (status, err) = top_up(buyer, add).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("top_up_id_reused")), "{buyer} {add}: {err}");
    }
    let money = |b: &str| h.engine.store().buyer_money(pingpost_core::ids::BuyerId::new(b));
    assert_eq!(money("b1").await.unwrap().credit.to_string(), "25.00");
    assert_eq!(money("b2").await.unwrap().credit.to_string(), "0.00", "a refused top-up moves nothing");
    h.engine.relay_books().await.unwrap();
    let books = h.engine.books().buyer_money(None).await.unwrap();
    let top_ups: Vec<(&str, String)> = books.iter().map(|m| (m.buyer.as_str(), m.top_ups.to_string())).collect();
    assert_eq!(top_ups, [("b1", "25.00".to_string())], "one top-up in the books");
}

#[tokio::test]
async fn an_unconfirmed_sale_is_charged_in_the_books_when_swept() {
    let h = Harness::start(&market()).await;
    h.faults.arm("post.delivered", pingpost_store::Fault::Abort, 1, 0);
    let ping = h.ping("auto-excl", email("crash@example.com")).await;
    let (status, _) = h.post_as(KEY_P1, ping["ping_id"].as_str().unwrap(), email("crash@example.com")).await;
    assert_eq!(status, 500);
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 0, "a reservation in flight moved no money yet");
    h.advance_secs(120).await;
    h.engine.sweep().await.unwrap();
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 1);
    let (_, body) = get(&h, "/v1/admin/accounts?by=buyer", ADMIN_TOKEN, false).await;
    assert_eq!(groups(&body)[0]["gross"], "20.00", "its debits stay taken: it is charged");
}
