//! The walls between partners, and between partners and operators: another partner's ping
//! is indistinguishable from one that does not exist, credentials of one kind never open the
//! other's API. Runs on the store `PINGPOST_TEST_STORE` names.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_store::Fault;
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

#[tokio::test]
async fn the_bearer_scheme_is_read_without_regard_to_case_on_every_api() {
    let mut c = config();
    c.push_str("\n[[buyers]]\nid = \"b9\"\npost_url = \"{buyers}/b9/post\"\napi_key = \"buyer-nine-key-000000009\"\n");
    let h = Harness::start(&c).await;
    for (i, scheme) in ["bearer", "BEARER", "Bearer"].into_iter().enumerate() {
        let lead = json!({"offer": "auto-excl", "lead": email(&format!("scheme-{i}@example.com"))});
        let (status, body) = h.call_authorized("POST", "/v1/ping", &format!("{scheme} {KEY_P1}"), Some(lead)).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("accepted")), "{scheme}: {body}");
        let (status, body) =
            h.call_authorized("GET", "/v1/admin/contracts", &format!("{scheme} {ADMIN_TOKEN}"), None).await;
        assert_eq!(status, 200, "{scheme}: {body}");
        let (status, body) =
            h.call_authorized("GET", "/v1/buyer/sales", &format!("{scheme} buyer-nine-key-000000009"), None).await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, _) = h.call_authorized("GET", "/v1/admin/contracts", &format!("Basic {ADMIN_TOKEN}"), None).await;
    assert_eq!(status, 401, "another scheme is not a bearer");
}

#[tokio::test]
async fn a_lead_field_named_like_a_plaintext_email_or_phone_is_refused_on_the_ping() {
    let h = Harness::start(&config()).await;
    for key in ["Email", "EMAIL", "e-mail", "email_address", "phone_number", "mobile", "cell"] {
        let mut lead = email("named@example.com");
        lead[key] = json!("jane@example.com");
        let (status, body) = h.ping_as(KEY_P1, "auto-excl", lead).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(&*format!("lead.{key}"))), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("send it as `email`") || message.contains("send it as `phone`"), "{message}");
    }
    assert!(!h.dump_store().await.contains("jane@example.com"));
    // The exact names are identifiers, hashed; the post forwards what the buyer bought.
    let lead = json!({"email": "named@example.com", "state": "CA"});
    let ping = h.ping("auto-excl", lead).await;
    let posted = json!({"email": "named@example.com", "state": "CA", "mobile": "555-000-1111"});
    let sold = h.post(ping["ping_id"].as_str().unwrap(), posted).await;
    assert_eq!(sold["status"], "sold", "{sold}");
}

#[tokio::test]
async fn another_partners_posts_of_a_ping_never_hold_the_owners_post_off() {
    let h = Harness::start(&config()).await;
    let lead = email("held-off@example.com");
    let ping = h.ping("auto-excl", lead.clone()).await;
    let id = ping["ping_id"].as_str().unwrap();
    // The other partner's post dies between taking its claim and giving it up (its give-up
    // fails): had it claimed the ping itself, the owner's post would be "in flight" for the
    // claim's whole lease.
    h.faults.arm("store.abandon_claim", Fault::Error, 1, 0);
    let (status, _) = h.post_as(KEY_P2, id, lead.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(h.faults.fired("store.abandon_claim"), 1, "the other partner's claim was left in flight");
    let sold = h.post(id, lead).await;
    assert_eq!(sold["status"], "sold", "{sold}");
}

#[tokio::test]
async fn posts_of_unknown_pings_leave_nothing_in_the_store() {
    let h = Harness::start(&config()).await;
    let before = h.dump_store().await;
    for i in 0..20 {
        let id = format!("{i:02}unknownping0123456789abcdef0123");
        let (status, _) = h.post_as(KEY_P2, &id, email("nobody@example.com")).await;
        assert_eq!(status, 404);
        assert!(!h.dump_store().await.contains(&id), "a claim of {id} was left behind");
    }
    assert_eq!(h.dump_store().await, before);
}
