//! Partners' bodies as forms (`application/x-www-form-urlencoded`) through the real HTTP
//! server: a form ping and post sell the lead as JSON ones do, a form's text fields pass the
//! same filters, and a body in any other content type is refused with a JSON 415 that
//! writes nothing.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

/// `POST path` as partner p1 with this `Content-Type` (or none): (status, the answer's
/// content type, its JSON body).
async fn send(h: &Harness, path: &str, content_type: Option<&str>, body: &str) -> (u16, String, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", h.base))
        .header("authorization", format!("Bearer {KEY_P1}"))
        .body(body.to_string());
    if let Some(c) = content_type {
        req = req.header("content-type", c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let answered_as = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = resp.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("non-JSON answer {status}: {bytes:?}"));
    (status, answered_as, value)
}

/// A form body, each value percent-encoded.
fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

#[tokio::test]
async fn a_form_ping_and_post_sell_the_lead_and_the_buyer_gets_its_fields() {
    let h = Harness::start(&(base_config() + &contract("c1", "b1", "auto-excl", "20.00", ""))).await;
    let lead = [("email", "Form.Jo@Example.com"), ("zip", "90210"), ("age", "34")];
    let ping_form =
        form(&[&[("offer", "auto-excl"), ("idempotency_key", "form-1"), ("test", "no")], &lead[..]].concat());
    let (status, answered_as, ping) = send(&h, "/v1/ping", Some(FORM), &ping_form).await;
    assert_eq!((status, answered_as.as_str()), (200, "application/json"), "{ping}");
    assert_eq!(bid_contracts(&ping), ["c1"], "{ping}");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let bid_id = ping["bids"][0]["bid_id"].as_str().unwrap();

    let post_form = form(&[&[("ping_id", ping_id), ("bid_ids", bid_id)], &lead[..], &[("first_name", "Jo")]].concat());
    let (status, answered_as, post) = send(&h, "/v1/post", Some(&format!("{FORM}; charset=UTF-8")), &post_form).await;
    assert_eq!((status, answered_as.as_str()), (200, "application/json"), "{post}");
    assert_eq!(sold_to(&post), ["b1"], "{post}");
    let sent = h.buyers.received().into_iter().find(|r| r.kind == "post").unwrap();
    // The lead as the form sent it, the request's own fields left out.
    assert_eq!(
        sent.body["lead"],
        json!({"email": "Form.Jo@Example.com", "zip": "90210", "age": "34", "first_name": "Jo"}),
        "{}",
        sent.body
    );

    // The same consumer as JSON is the same consumer: the vertical's dedup turns it away.
    let again = h.ping("auto-excl", email("form.jo@example.com")).await;
    assert_eq!(again["reason"], "vertical_duplicate", "{again}");
}

#[tokio::test]
async fn a_forms_numeric_text_passes_a_range_filter_as_a_json_number_does() {
    let mut config = base_config();
    config.push_str(&contract("adults", "b1", "auto-excl", "20.00", "filters = { age = { min = 18, max = 64 } }"));
    config.push_str(&contract("young", "b2", "auto-excl", "25.00", "filters = { age = { max = 25 } }"));
    let h = Harness::start(&config).await;
    let (status, _, from_form) = send(
        &h,
        "/v1/ping",
        Some(FORM),
        &form(&[("offer", "auto-excl"), ("email", "age-form@example.com"), ("age", "34")]),
    )
    .await;
    assert_eq!(status, 200, "{from_form}");
    let from_json = h.ping("auto-excl", json!({"email": "age-json@example.com", "age": 34})).await;
    assert_eq!(bid_contracts(&from_form), ["adults"], "{from_form}");
    assert_eq!(bid_contracts(&from_json), bid_contracts(&from_form), "{from_json}");
}

#[tokio::test]
async fn any_other_content_type_is_a_json_415_that_writes_nothing() {
    let h = Harness::start(&(base_config() + &contract("c1", "b1", "auto-excl", "20.00", ""))).await;
    let json_ping = json!({"offer": "auto-excl", "lead": email("typed@example.com")}).to_string();
    let before = h.dump_store().await;
    for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x"] {
        for (path, body) in
            [("/v1/ping", json_ping.clone()), ("/v1/post", form(&[("ping_id", "p"), ("email", "a@b.co")]))]
        {
            let (status, answered_as, answer) = send(&h, path, Some(content_type), &body).await;
            assert_eq!((status, answered_as.as_str()), (415, "application/json"), "{path} {content_type}: {answer}");
            assert_eq!(answer["error"]["code"], "unsupported_media_type", "{answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains("application/x-www-form-urlencoded"));
        }
    }
    assert_eq!(h.dump_store().await, before, "a refused body writes nothing");
    assert!(h.buyers.received().is_empty());

    // No Content-Type, or curl's `-d` label on a JSON body, is JSON, as it always was.
    for (i, content_type) in [None, Some(FORM), Some("application/json; charset=utf-8")].into_iter().enumerate() {
        let lead = json!({"email": format!("typed-{i}@example.com")});
        let body = json!({"offer": "auto-excl", "lead": lead}).to_string();
        let (status, _, answer) = send(&h, "/v1/ping", content_type, &body).await;
        assert_eq!((status, bid_contracts(&answer)), (200, vec!["c1".to_string()]), "{content_type:?}: {answer}");
    }
}

#[tokio::test]
async fn a_forms_field_given_twice_is_refused_naming_it() {
    let h = Harness::start(&base_config()).await;
    let before = h.dump_store().await;
    let body = "offer=auto-excl&email=twice%40example.com&zip=90210&zip=10001";
    let (status, _, answer) = send(&h, "/v1/ping", Some(FORM), body).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("lead.zip")), "{answer}");
    let (status, _, answer) = send(&h, "/v1/ping", Some(FORM), "offer=auto-excl&email=a%40b.co&test=maybe").await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("test")), "{answer}");
    assert_eq!(h.dump_store().await, before);
}
