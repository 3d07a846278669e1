//! What a store keeps does not depend on the windows in force: a window lowered by mistake
//! and raised again still finds the consumers it found before, and a sale older than every
//! dedup window stays returnable inside its buyer's return window. Both run on either store
//! (`PINGPOST_TEST_STORE`); the embedded one used to forget by the longest window of the day.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

const KEY_B1: &str = "buyer-one-key-00001";

/// Every window 3 days (the verticals' and the contract's), b1 with a buyer key and a return
/// window of 7 days.
fn three_day_windows() -> String {
    let mut c = base_config()
        .replace("dedup_window_days = 30", "dedup_window_days = 3")
        .replace("dedup_window_days = 1", "dedup_window_days = 3")
        .replace(
            "id = \"b1\"\npost_url",
            &format!("id = \"b1\"\napi_key = \"{KEY_B1}\"\nreturns = {{ window_days = 7, max_rate_percent = \"100.00\" }}\npost_url"),
        );
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 3 }"));
    c
}

async fn set_auto_window(h: &Harness, days: i64) {
    let (status, body) =
        h.admin("PUT", "/verticals/auto", Some(json!({"id": "auto", "dedup_window_days": days}))).await;
    assert_eq!(status, 200, "{body}");
}

async fn buyer_call(h: &Harness, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", h.base)).bearer_auth(KEY_B1);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}")))
}

#[tokio::test]
async fn a_window_lowered_by_mistake_and_raised_again_still_finds_the_duplicate() {
    let config = base_config() + &contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 3 }");
    let h = Harness::start(&config).await;
    let lead = email("typo@example.com");
    assert_eq!(h.ping("auto-excl", lead.clone()).await["status"], "accepted");

    // 3 typed for 30: for a sweep, every window in force is 3 days or less.
    set_auto_window(&h, 3).await;
    h.advance_days(4).await;
    h.engine.sweep().await.unwrap();
    set_auto_window(&h, 30).await;

    let again = h.ping("auto-excl", lead).await;
    assert_eq!((&again["status"], &again["reason"]), (&json!("rejected"), &json!("vertical_duplicate")), "{again}");
}

#[tokio::test]
async fn a_sale_older_than_every_dedup_window_is_returned_inside_its_return_window() {
    let h = Harness::start(&three_day_windows()).await;
    let lead = email("late-return@example.com");
    let (_, post) = h.sell("auto-excl", lead).await;
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap_or_else(|| panic!("sold: {post}")).to_string();

    h.advance_days(4).await;
    h.engine.sweep().await.unwrap();

    let (status, listed) = buyer_call(&h, "GET", "/v1/buyer/sales", None).await;
    assert_eq!((status, &listed["sales"][0]["sale_id"]), (200, &json!(sale_id)), "still in b1's sales list: {listed}");
    let ret = json!({"sale_id": sale_id, "reason": "invalid_contact"});
    let (status, body) = buyer_call(&h, "POST", "/v1/buyer/returns", Some(ret)).await;
    assert_eq!((status, &body["status"]), (201, &json!("approved")), "{body}");
}

/// The vertical dedups for 3 days, b1's contract for 90, b1's return window is 7 days.
fn a_long_contract_window() -> String {
    three_day_windows().replace("dedup = { window_days = 3 }", "dedup = { window_days = 90 }")
}

/// Sold on day 0, one of two sales returned at once: 7 days of return window and the 31 days
/// a settled sale is kept later (`pingpost_store::kept_after_settling`), the sales' entries
/// have left the store. The buyer's marks still refuse the consumer inside the contract's
/// 90 days, the buyer's sales list reads them from the books (page by page, across the
/// store's part and the books'), a late return is told its window passed, and reconciliation
/// finds the books and the store agreeing.
#[tokio::test]
async fn a_settled_sale_leaves_the_store_after_its_return_window_and_the_books_answer_for_it() {
    let h = Harness::start(&a_long_contract_window()).await;
    let sale_of =
        |post: &Value| post["sales"][0]["sale_id"].as_str().unwrap_or_else(|| panic!("sold: {post}")).to_string();
    let (_, post) = h.sell("auto-excl", email("kept-a@example.com")).await;
    let kept = sale_of(&post);
    h.advance_secs(1).await;
    let (_, post) = h.sell("auto-excl", email("returned-b@example.com")).await;
    let returned = sale_of(&post);
    let ret = json!({"sale_id": returned, "reason": "invalid_contact"});
    assert_eq!(buyer_call(&h, "POST", "/v1/buyer/returns", Some(ret)).await.0, 201);
    h.engine.relay_books().await.unwrap();

    h.let_days_pass(40).await;
    for id in [&kept, &returned] {
        let left = h.engine.store().ledger(pingpost_store::LedgerQuery::Sale(id.clone())).await.unwrap();
        assert_eq!(left, [], "{id} is only in the books now:\n{}", h.dump_store().await);
    }

    let again = h.ping("auto-excl", email("kept-a@example.com")).await;
    assert_eq!(again["status"], "rejected", "b1 bought this consumer 40 days ago, inside 90: {again}");
    assert_eq!(h.audit_hits().await.last().unwrap(), &("c1".to_string(), "contract_duplicate".to_string()));

    let (_, post) = h.sell("auto-excl", email("new-c@example.com")).await;
    let fresh = sale_of(&post);
    let (status, first) = buyer_call(&h, "GET", "/v1/buyer/sales?limit=2", None).await;
    assert_eq!(status, 200, "{first}");
    let listed = |page: &Value| -> Vec<(String, String)> {
        page["sales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["sale_id"].as_str().unwrap().to_string(), s["state"].as_str().unwrap().to_string()))
            .collect()
    };
    let state = |id: &str, st: &str| (id.to_string(), st.to_string());
    assert_eq!(listed(&first), [state(&fresh, "sold"), state(&returned, "returned")], "{first}");
    assert_eq!(first["sales"][1]["price"], "20.00", "{first}");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = buyer_call(&h, "GET", &format!("/v1/buyer/sales?limit=2&cursor={cursor}"), None).await;
    assert_eq!((listed(&second), &second["next_cursor"]), (vec![state(&kept, "sold")], &Value::Null), "{second}");

    let late = json!({"sale_id": kept, "reason": "invalid_contact"});
    let (status, body) = buyer_call(&h, "POST", "/v1/buyer/returns", Some(late)).await;
    assert_eq!((status, &body["error"]["code"]), (422, &json!("return_window_passed")), "{body}");

    h.engine.relay_books().await.unwrap();
    let (status, report) = h.admin("GET", "/reconcile", None).await;
    assert_eq!((status, &report["ok"], &report["differences"]), (200, &json!(true), &json!([])), "{report}");
    h.assert_guarantees("after the sales left the store", Some(h.engine.now())).await;
}
