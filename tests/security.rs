//! The walls between partners, and between partners and operators: another partner's ping
//! is indistinguishable from one that does not exist, credentials of one kind never open the
//! other's API. Runs on the store `PINGPOST_TEST_STORE` names.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

fn config() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", ""));
    c
}

/// The error an answer carries, without the ping id the caller sent.
fn error_shape(answer: &(u16, Value), ping_id: &str) -> (u16, String, String) {
    let e = &answer.1["error"];
    let message = e["message"].as_str().unwrap_or_default().replace(ping_id, "<id>");
    (answer.0, e["code"].as_str().unwrap_or_default().to_string(), message)
}

#[tokio::test]
async fn another_partners_ping_answers_exactly_like_a_ping_that_does_not_exist() {
    let h = Harness::start(&config()).await;
    let lead = email("private@example.com");
    let ping = h.ping("auto-excl", lead.clone()).await;
    let id = ping["ping_id"].as_str().unwrap();
    let missing = "0123456789abcdef0123456789abcdef";
    let nobody = error_shape(&h.post_as(KEY_P2, missing, lead.clone()).await, missing);
    assert_eq!((nobody.0, nobody.1.as_str()), (404, "unknown_ping"));

    // Before the owner posts, with the right or a wrong consumer, and after it sold.
    assert_eq!(error_shape(&h.post_as(KEY_P2, id, lead.clone()).await, id), nobody);
    assert_eq!(error_shape(&h.post_as(KEY_P2, id, email("other@example.com")).await, id), nobody);
    let sold = h.post(id, lead.clone()).await;
    assert_eq!(sold["status"], "sold");
    assert_eq!(error_shape(&h.post_as(KEY_P2, id, lead).await, id), nobody, "the sale is not theirs to read");
    assert_eq!(h.buyers.count("b1", "post"), 1, "only the owner's post was delivered");
}

#[tokio::test]
async fn idempotency_keys_are_per_partner() {
    let h = Harness::start(&config()).await;
    let body =
        json!({"offer": "auto-excl", "lead": email("idem-private@example.com"), "idempotency_key": "shared-key"});
    let (_, first) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!(first["status"], "accepted");
    let (status, other) = h.call("/v1/ping", Some(KEY_P2), body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_ne!(other["ping_id"], first["ping_id"], "partner 2 never receives partner 1's answer");
    assert!(other["bids"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn credentials_never_cross_between_the_partner_and_operator_apis() {
    let h = Harness::start(&config()).await;
    for key in [KEY_P1, KEY_P2] {
        for path in ["/contracts", "/audit", "/stats?by=partner", "/partners/p1"] {
            let (status, _) = h.admin_with(Some(key), "GET", path, None).await;
            assert_eq!(status, 401, "partner key on {path}");
        }
    }
    let (status, _) = h.ping_as(ADMIN_TOKEN, "auto-excl", email("op@example.com")).await;
    assert_eq!(status, 401);
    let (status, _) = h.post_as(ADMIN_TOKEN, "0123456789abcdef0123456789abcdef", email("op@example.com")).await;
    assert_eq!(status, 401);
    let (status, _) = h.admin_with(Some(&format!("{ADMIN_TOKEN} ")), "GET", "/contracts", None).await;
    assert_eq!(status, 200, "surrounding blanks are not part of the token");
}

#[tokio::test]
async fn bodies_are_size_limited_on_both_apis() {
    let h = Harness::start(&config()).await;
    let big_lead = json!({"offer": "auto-excl", "lead": {"email": "big@example.com", "note": "x".repeat(70 * 1024)}});
    let (status, answer) = h.call("/v1/ping", Some(KEY_P1), big_lead.to_string().into_bytes()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("body_too_large")));
    let huge = json!({"id": "c1", "buyer": "b1", "offer": "auto-excl", "note": "x".repeat(5 * 1024 * 1024)});
    let (status, answer) = h.admin("PUT", "/contracts/c1", Some(huge)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("body_too_large")));
}
