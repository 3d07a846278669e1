//! Every bad input gets the spec's JSON error with the right status; nothing panics.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

async fn harness() -> Harness {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", ""));
    harness_with(&c).await
}

async fn harness_with(config: &str) -> Harness {
    Harness::start(config).await
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or("<no code>"))
}

#[tokio::test]
async fn authentication_and_authorization() {
    let h = harness().await;
    let body = json!({"offer": "auto-excl", "lead": email("a@example.com")}).to_string().into_bytes();
    assert_eq!(code(&h.call("/v1/ping", None, body.clone()).await), (401, "unauthorized"));
    assert_eq!(code(&h.call("/v1/ping", Some("not-a-key"), body.clone()).await), (401, "unauthorized"));
    assert_eq!(code(&h.call("/v1/post", None, b"{}".to_vec()).await), (401, "unauthorized"));
    assert_eq!(code(&h.ping_as(KEY_P2, "auto-multi", email("a@example.com")).await), (403, "offer_not_allowed"));
    assert_eq!(code(&h.ping_as(KEY_P1, "no-such-offer", email("a@example.com")).await), (404, "unknown_offer"));
}

#[tokio::test]
async fn malformed_too_large_and_invalid_bodies() {
    let h = harness().await;
    assert_eq!(code(&h.call("/v1/ping", Some(KEY_P1), b"{not json".to_vec()).await), (400, "malformed_json"));
    assert_eq!(code(&h.call("/v1/post", Some(KEY_P1), b"[1,2]".to_vec()).await), (400, "malformed_json"));
    let huge = json!({"offer": "auto-excl", "lead": {"email": "a@example.com", "blob": "x".repeat(100_000)}});
    assert_eq!(code(&h.call("/v1/ping", Some(KEY_P1), huge.to_string().into_bytes()).await), (413, "body_too_large"));

    let invalid = |lead: Value| json!({"offer": "auto-excl", "lead": lead}).to_string().into_bytes();
    for (lead, field) in [
        (json!({"email": "not-an-email"}), "lead.email"),
        (json!({"phone": "12345"}), "lead.phone"),
        (json!({"email_sha256": "abc"}), "lead.email_sha256"),
        (json!({"state": "CA"}), "lead.email"),
        (json!({"email": 42}), "lead.email"),
    ] {
        let answer = h.call("/v1/ping", Some(KEY_P1), invalid(lead.clone())).await;
        assert_eq!(code(&answer), (422, "invalid_field"), "{lead}");
        assert_eq!(answer.1["error"]["field"], field, "{lead}");
        assert!(answer.1["error"]["message"].as_str().is_some_and(|m| m.contains(field)), "{}", answer.1);
    }
    let no_offer = json!({"lead": email("a@example.com")}).to_string().into_bytes();
    assert_eq!(h.call("/v1/ping", Some(KEY_P1), no_offer).await.1["error"]["field"], "offer");
    let no_ping = json!({"lead": email("a@example.com")}).to_string().into_bytes();
    assert_eq!(h.call("/v1/post", Some(KEY_P1), no_ping).await.1["error"]["field"], "ping_id");
    assert_eq!(h.buyers.received().len(), 0, "no bad request reached a buyer");
}

#[tokio::test]
async fn a_refused_ping_leaves_no_state_behind() {
    let h = harness().await;
    let bad = json!({"offer": "auto-excl", "lead": {"email": "fine@example.com", "phone": "123"}});
    assert_eq!(h.call("/v1/ping", Some(KEY_P1), bad.to_string().into_bytes()).await.0, 422);
    assert_eq!(
        h.ping("auto-excl", email("fine@example.com")).await["status"],
        "accepted",
        "not a duplicate of the refused one"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let h = harness().await;
    assert_eq!(code(&h.call("/v1/nope", Some(KEY_P1), vec![]).await), (404, "not_found"));
    let resp = reqwest::Client::new().get(format!("{}/v1/ping", h.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = resp.json_body().await;
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn idempotency_key_returns_the_first_answer_and_refuses_reuse_for_another_lead() {
    let h = harness().await;
    let body = |e: &str| {
        json!({"offer": "auto-excl", "lead": email(e), "idempotency_key": "retry-1"}).to_string().into_bytes()
    };
    let first = h.call("/v1/ping", Some(KEY_P1), body("idem@example.com")).await;
    let retry = h.call("/v1/ping", Some(KEY_P1), body("idem@example.com")).await;
    assert_eq!(first.1["status"], "accepted");
    assert_eq!(first, retry, "the retry is the first answer, not a vertical duplicate");
    let reuse = h.call("/v1/ping", Some(KEY_P1), body("other@example.com")).await;
    assert_eq!((reuse.0, reuse.1["error"]["field"].as_str()), (422, Some("idempotency_key")));
    // Keys are per partner.
    let (_, p2) = h.call("/v1/ping", Some(KEY_P2), body("idem@example.com")).await;
    assert_eq!(p2["reason"], "vertical_duplicate");
}

trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_whose_partner_hangs_up_still_completes_and_its_retry_gets_the_answer() {
    let mut c = base_config();
    c.push_str(&contract("rt", "b1", "auto-excl", "1.00", "bid_url = \"{buyers}/b1/bid\"\nbid_timeout_ms = 800"));
    let h = harness_with(&c).await;
    h.buyers.update("b1", |b| b.delay = std::time::Duration::from_millis(300));
    let body = json!({"offer": "auto-excl", "lead": email("gone@example.com"), "idempotency_key": "k1"}).to_string();
    let hung_up = reqwest::Client::new()
        .post(format!("{}/v1/ping", h.base))
        .header("authorization", format!("Bearer {KEY_P1}"))
        .timeout(std::time::Duration::from_millis(50))
        .body(body.clone())
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up before the answer");

    // Retry until the first ping has finished (409 while it runs); it must finish well
    // within the 30 s lease a dropped ping would leave behind.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        let (status, answer) = h.call("/v1/ping", Some(KEY_P1), body.clone().into_bytes()).await;
        if status != 409 {
            break (status, answer);
        }
        assert!(tokio::time::Instant::now() < deadline, "the abandoned ping never completed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(answer.0, 200);
    assert_eq!(answer.1["status"], "accepted", "{}", answer.1);
    assert_eq!(h.buyers.count("b1", "bid"), 1, "the retry got the first answer, not a second auction");
}

/// A small deterministic generator, so a failure replays exactly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[tokio::test]
async fn mangled_bodies_never_make_the_server_fail() {
    let h = harness().await;
    let ping = h.ping("auto-excl", email("valid@example.com")).await;
    let ping_id = ping["ping_id"].as_str().unwrap().to_string();
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(""),
        json!("\u{0}\u{ffff}"),
        json!("x".repeat(5000)),
        json!([]),
        json!({}),
        json!({"nested": {"deeper": [1, {"a": null}]}}),
        json!("not-an-email@"),
        json!("++1 (555) 000-0000 ext 99"),
        json!("A".repeat(64)),
        json!(ping_id),
    ];
    let fields = [
        "offer",
        "lead",
        "idempotency_key",
        "ping_id",
        "bid_ids",
        "email",
        "phone",
        "email_sha256",
        "phone_sha256",
        "state",
        "age",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..400u32 {
        let mut lead = serde_json::Map::new();
        for _ in 0..(rng.next() % 5) {
            lead.insert(rng.pick(&fields).to_string(), rng.pick(&values).clone());
        }
        let mut body = serde_json::Map::new();
        body.insert("offer".into(), rng.pick(&[json!("auto-excl"), json!("nope"), json!(7)]).clone());
        body.insert("ping_id".into(), rng.pick(&[json!(ping_id), json!("zz"), json!(null)]).clone());
        body.insert(
            "lead".into(),
            if rng.next().is_multiple_of(5) { rng.pick(&values).clone() } else { Value::Object(lead) },
        );
        for _ in 0..(rng.next() % 3) {
            body.insert(rng.pick(&fields).to_string(), rng.pick(&values).clone());
        }
        let mut bytes = Value::Object(body).to_string().into_bytes();
        if i.is_multiple_of(7) {
            let cut = (rng.next() as usize) % bytes.len().max(1);
            bytes.truncate(cut);
        }
        let path = if i.is_multiple_of(2) { "/v1/ping" } else { "/v1/post" };
        let (status, answer) = h.call(path, Some(KEY_P1), bytes.clone()).await;
        assert!(
            status == 200 || (400..500).contains(&status),
            "{path} answered {status} {answer} to {}",
            String::from_utf8_lossy(&bytes)
        );
        if status != 200 {
            assert!(answer["error"]["code"].is_string(), "{answer}");
        }
    }
    let still = h.ping("auto-excl", email("after.fuzz@example.com")).await;
    assert_eq!(still["status"], "accepted");
}
