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
