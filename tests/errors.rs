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

/// Oversized bodies: the 413 must reach the client whatever its HTTP stack does.
mod body_limits {
    use super::*;
    use common::raw_http::{chunked, head, Conn};
    use std::time::Duration;

    const PING_LIMIT: usize = pingpost_server::DEFAULT_BODY_LIMIT;
    const ADMIN_LIMIT: usize = pingpost_server::admin::body::ADMIN_BODY_LIMIT;
    const IMPORT_LIMIT: u64 = 1 << 30;

    fn partner() -> (&'static str, String) {
        ("authorization", format!("Bearer {KEY_P1}"))
    }

    fn operator() -> (&'static str, String) {
        ("authorization", format!("Bearer {ADMIN_TOKEN}"))
    }

    /// The server must answer without waiting for a body the client will never send; a
    /// server that does wait fails here instead of hanging the test.
    async fn answer_without_the_body(conn: &mut Conn) -> common::raw_http::Response {
        tokio::time::timeout(Duration::from_secs(10), conn.response())
            .await
            .expect("the server waited for a body instead of answering")
            .expect("a complete answer")
    }

    /// A 3 MB ping (the limit is 64 KiB) from a client that writes all of it before reading,
    /// as Python's urllib and many partner stacks do. A server that answers at the limit and
    /// closes resets the connection under the upload, and the client gets a broken pipe
    /// instead of its 413: on every upload with a small send buffer, on about one in two with
    /// loopback's megabytes of buffer. Twenty uploads of each framing leave it no chance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_body_written_whole_before_reading_gets_its_413() {
        let h = harness().await;
        let lead = json!({"email": "big@example.com", "blob": "x".repeat(3_000_000)});
        let body = json!({"offer": "auto-excl", "lead": lead}).to_string().into_bytes();
        for i in 0..20 {
            for framing in ["content-length", "chunked"] {
                let mut request = match framing {
                    "chunked" => head("POST", "/v1/ping", &[partner(), ("transfer-encoding", "chunked".into())]),
                    _ => head("POST", "/v1/ping", &[partner(), ("content-length", body.len().to_string())]),
                };
                request.extend(if framing == "chunked" { chunked(&body, 32 * 1024) } else { body.clone() });
                let mut conn = Conn::open_with_send_buffer(&h.base, 64 * 1024).await.unwrap();
                conn.send(&request).await.unwrap_or_else(|e| panic!("upload {i} ({framing}) was cut off: {e}"));
                let answer = conn.response().await.unwrap_or_else(|e| panic!("upload {i} ({framing}): no answer: {e}"));
                assert_eq!((answer.status, answer.error_code().as_str()), (413, "body_too_large"), "upload {i}");
                // Read to its end, the body leaves the connection fit for the next request.
                conn.send(&head("GET", "/healthz", &[])).await.unwrap();
                assert_eq!(conn.response().await.unwrap().status, 200, "upload {i} ({framing})");
            }
        }
        assert_eq!(h.buyers.received().len(), 0, "no oversized ping reached a buyer");
    }

    /// With `Expect: 100-continue` the client waits for the server's word before sending its
    /// body; a length over the route's limit is answered 413 there and then (hyper sends
    /// `100 Continue` only when a handler starts reading the body).
    #[tokio::test]
    async fn an_oversized_length_with_expect_100_continue_is_refused_before_the_body_is_sent() {
        let h = harness().await;
        for (method, path, auth, length) in [
            ("POST", "/v1/ping", partner(), PING_LIMIT as u64 + 1),
            ("POST", "/v1/post", partner(), 3_000_000),
            ("PUT", "/v1/admin/contracts/c1", operator(), ADMIN_LIMIT as u64 + 1),
            ("POST", "/v1/admin/suppression/import", operator(), IMPORT_LIMIT + 1),
        ] {
            let mut conn = Conn::open(&h.base).await.unwrap();
            let headers = [auth, ("content-length", length.to_string()), ("expect", "100-continue".into())];
            conn.send(&head(method, path, &headers)).await.unwrap();
            let answer = answer_without_the_body(&mut conn).await;
            assert_eq!((answer.status, answer.error_code().as_str()), (413, "body_too_large"), "{path}");
            assert_eq!(answer.header("connection"), Some("close"), "{path}: the announced body was never read");
            assert!(conn.at_eof().await.unwrap(), "{path}: the server closed the connection");
        }
    }

    /// A length past what the server would read and discard is refused at once, Expect or
    /// not: reading it would cost more than the client's clean answer is worth.
    #[tokio::test]
    async fn a_length_past_the_drain_bound_is_refused_without_reading_the_body() {
        let h = harness().await;
        for (method, path, auth, length) in [
            ("POST", "/v1/ping", partner(), 1u64 << 30),
            ("PUT", "/v1/admin/contracts/c1", operator(), 1u64 << 30),
            ("POST", "/v1/admin/suppression/import", operator(), 2 * IMPORT_LIMIT),
        ] {
            let mut conn = Conn::open(&h.base).await.unwrap();
            conn.send(&head(method, path, &[auth, ("content-length", length.to_string())])).await.unwrap();
            let answer = answer_without_the_body(&mut conn).await;
            assert_eq!((answer.status, answer.error_code().as_str()), (413, "body_too_large"), "{path}");
            assert_eq!(answer.header("connection"), Some("close"), "{path}");
        }
    }

    /// Within the limit (up to exactly the limit), `Expect: 100-continue` gets its `100
    /// Continue`, then its normal answer; the streamed import too.
    #[tokio::test]
    async fn expect_100_continue_within_the_limit_gets_100_continue_then_its_answer() {
        let h = harness().await;
        let mut ping = json!({"offer": "auto-excl", "lead": email("expect@example.com")}).to_string();
        ping.push_str(&" ".repeat(PING_LIMIT - ping.len()));
        let csv = "email\nexpect.suppressed@example.com\n".to_string();
        for (path, auth, body, field, value) in [
            ("/v1/ping", partner(), ping, "status", json!("accepted")),
            ("/v1/admin/suppression/import", operator(), csv, "added", json!(1)),
        ] {
            let mut conn = Conn::open(&h.base).await.unwrap();
            let headers = [auth, ("content-length", body.len().to_string()), ("expect", "100-continue".into())];
            conn.send(&head("POST", path, &headers)).await.unwrap();
            assert_eq!(answer_without_the_body(&mut conn).await.status, 100, "{path}");
            conn.send(body.as_bytes()).await.unwrap();
            let answer = conn.response().await.unwrap();
            assert_eq!((answer.status, &answer.json()[field]), (200, &value), "{path}: {:?}", answer.json());
        }
    }
}
