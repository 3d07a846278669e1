//! `POST /v1/admin/erasure`: every piece of dedup state of a consumer goes in one request,
//! after which the consumer passes checkpoints 2, 4 and 5 again; suppression stays unless
//! asked. Runs on the store `PINGPOST_TEST_STORE` names.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_core::identity::Sha256Hex;
use serde_json::json;

fn config() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "15.00", "dq = { url = \"{buyers}/b2/dq\", window_days = 30 }"));
    c
}

#[tokio::test]
async fn erasure_removes_submissions_sales_and_dq_records_so_the_consumer_passes_again() {
    let h = Harness::start(&config()).await;
    let lead = lead(Some("Erase.Me@Example.com"), Some("(555) 301-0001"));
    h.buyers.update("b2", |b| b.disqualify = true);
    let (ping, post) = h.sell("auto-excl", lead.clone()).await;
    assert_eq!((bid_contracts(&ping), sold_to(&post)), (vec!["c1".to_string()], vec!["b1".to_string()]));
    assert_eq!(h.ping("auto-excl", lead.clone()).await["reason"], "vertical_duplicate");

    let (status, answer) =
        h.admin("POST", "/erasure", Some(json!({"email": "erase.me@example.com", "phone": "555-301-0001"}))).await;
    assert_eq!(status, 200, "{answer}");
    // Two pings' events held the hashes (the sale's holds none).
    assert_eq!(
        answer["erased"],
        json!({"vertical_submissions": 2, "sales": 2, "dq": 2, "events": 2}),
        "email and phone each"
    );

    h.buyers.update("b2", |b| b.disqualify = false);
    let again = h.ping("auto-excl", lead).await;
    assert_eq!(again["status"], "accepted", "checkpoint 2 passes: {again}");
    assert_eq!(bid_contracts(&again), ["c1", "c2"], "checkpoint 4 passes for b1, checkpoint 5 for b2");
    assert_eq!(h.buyers.count("b2", "dq"), 2, "b2 is asked again: its DQ record is gone");
    let dump = h.dump_store().await;
    assert!(!dump.contains("erase.me@example.com") && !dump.contains("15553010001"));
}

#[tokio::test]
async fn erasure_by_hash_forgets_only_that_identifier() {
    let h = Harness::start(&config()).await;
    let lead = lead(Some("hash.only@example.com"), Some("555-301-0002"));
    h.sell("auto-excl", lead.clone()).await;
    let email_hash = Sha256Hex::digest("hash.only@example.com");
    let (status, answer) = h.admin("POST", "/erasure", Some(json!({"sha256": email_hash.as_str()}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["erased"], json!({"vertical_submissions": 1, "sales": 1, "dq": 0, "events": 1}));
    assert_eq!(h.ping("auto-excl", lead).await["reason"], "vertical_duplicate", "the phone still matches");
}

#[tokio::test]
async fn suppression_survives_erasure_unless_asked() {
    let h = Harness::start(&config()).await;
    let hash = Sha256Hex::digest("optout@example.com");
    h.engine.store().suppress(vec![hash], h.engine.now()).await.unwrap();
    let (status, answer) = h.admin("POST", "/erasure", Some(json!({"email": "optout@example.com"}))).await;
    assert_eq!((status, answer.get("suppression_removed")), (200, None));
    assert_eq!(h.ping("auto-excl", email("optout@example.com")).await["reason"], "suppressed");

    let body = json!({"email": "optout@example.com", "suppression": true});
    let (status, answer) = h.admin("POST", "/erasure", Some(body)).await;
    assert_eq!((status, answer["suppression_removed"].as_u64()), (200, Some(1)));
    assert_eq!(h.ping("auto-excl", email("optout@example.com")).await["status"], "accepted");
}

#[tokio::test]
async fn bad_erasure_requests_are_refused_with_their_field() {
    let h = Harness::start(&config()).await;
    for (body, field) in [
        (json!({}), "email"),
        (json!({"email": "not-an-address"}), "email"),
        (json!({"phone": "123"}), "phone"),
        (json!({"sha256": "zz"}), "sha256"),
        (json!({"name": "x"}), "name"),
    ] {
        let (status, answer) = h.admin("POST", "/erasure", Some(body.clone())).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (422, Some(field)), "{body}: {answer}");
    }
    let (status, _) = h.admin_with(Some(KEY_P1), "POST", "/erasure", Some(json!({"email": "a@b.co"}))).await;
    assert_eq!(status, 401, "a partner cannot erase");
}
