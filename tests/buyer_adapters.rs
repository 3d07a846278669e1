//! Buyers in their own protocols through the operators' API: calls refused at the field that
//! is wrong (nothing half-applied), previews that are exactly what is sent, tests that send
//! and read but write nothing. Runs on the store `PINGPOST_TEST_STORE` names.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

fn config() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "10.00", ""));
    c
}

/// A buyer `id` posting to `post` (a call's description), on the simulated buyers.
fn buyer_with_post(h: &Harness, id: &str, post: Value) -> Value {
    let mut post = post;
    if post.get("url").is_none() {
        post["url"] = json!(format!("{}/{id}/post", h.buyers_url()));
    }
    json!({"id": id, "name": id, "calls": {"post": post}})
}

async fn refused_at(h: &Harness, id: &str, post: Value, field: &str) -> String {
    let (status, body) = h.admin("PUT", &format!("/buyers/{id}"), Some(buyer_with_post(h, id, post.clone()))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{post}: {body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_error_in_a_buyers_calls_is_refused_at_its_field_and_nothing_is_applied() {
    let h = Harness::start(&config()).await;
    let before = h.admin("GET", "/buyers/b1", None).await;
    let fields = |template: &str| json!({"encoding": "json", "fields": {"contact.dob": template}});
    refused_at(&h, "b1", fields("{{ lead.birth_date | date('%m/%d/%Y') "), "calls.post.fields.contact.dob").await;
    refused_at(&h, "b1", fields("{{ lead.zip | no_such_filter }}"), "calls.post.fields.contact.dob").await;
    refused_at(&h, "b1", fields("{{ lead.gender | map('gender') }}"), "calls.post.fields.contact.dob").await;
    let message = refused_at(&h, "b1", fields("{{ secret('never_set') }}"), "calls.post.fields.contact.dob").await;
    assert!(message.contains("never_set"), "{message}");
    let host = json!({"url": "http://{{ lead.zip }}.buyer.example/post", "fields": {"a": "b"}});
    refused_at(&h, "b1", host, "calls.post.url").await;
    let answer = json!({"fields": {"a": "b"}, "answer": {"format": "text", "accepted": {"matches": "(unclosed"}}});
    refused_at(&h, "b1", answer, "calls.post.answer.accepted.matches").await;
    // Nothing applied: the buyer is as it was, and a new one was not created.
    assert_eq!(h.admin("GET", "/buyers/b1", None).await, before);
    refused_at(&h, "b9", fields("{{ lead.zip | no_such_filter }}"), "calls.post.fields.contact.dob").await;
    assert_eq!(h.admin("GET", "/buyers/b9", None).await.0, 404);
    // Once the secret is set, the same buyer is taken.
    let (status, _) = h.admin("PUT", "/secrets/never_set", Some(json!({"value": "s3cr3t-value-0001"}))).await;
    assert_eq!(status, 201);
    let (status, body) =
        h.admin("PUT", "/buyers/b9", Some(buyer_with_post(&h, "b9", fields("{{ secret('never_set') }}")))).await;
    assert_eq!(status, 201, "{body}");
}

/// A secret the configuration already names may be unset (the example files name theirs
/// before anyone sets them, and a secret in use may be deleted): an edit of anything else is
/// taken, and so is the buyer naming it; only an edit bringing in a new unset name is refused.
#[tokio::test]
async fn an_unset_secret_the_configuration_already_names_refuses_no_other_edit() {
    let mut c = config();
    c.push_str(
        "\n[[buyers]]\nid = \"carrier\"\n\n[buyers.calls.post]\nurl = \"{buyers}/carrier/post\"\n\
         headers = { \"X-Api-Key\" = \"{{ secret('carrier_key') }}\" }\n",
    );
    c.push_str(&contract("c2", "carrier", "auto-excl", "12.00", ""));
    let h = Harness::start(&c).await;

    let (status, body) = h.admin("PATCH", "/contracts/c1", Some(json!({"price": "11.00"}))).await;
    assert_eq!(status, 200, "another resource's edit is taken: {body}");
    let (status, carrier) = h.admin("GET", "/buyers/carrier", None).await;
    assert_eq!(status, 200);
    let mut renamed = carrier.clone();
    renamed["name"] = json!("Carrier Inc.");
    let (status, body) = h.admin("PUT", "/buyers/carrier", Some(renamed.clone())).await;
    assert_eq!(status, 200, "the buyer naming it is edited: {body}");

    let mut new_name = renamed;
    new_name["calls"]["post"]["headers"] = json!({"X-Api-Key": "{{ secret('carrier_key_2') }}"});
    let (status, body) = h.admin("PUT", "/buyers/carrier", Some(new_name)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("calls.post.headers.X-Api-Key")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("carrier_key_2"), "{body}");

    // Deleting a secret in use is taken as well, and edits go on.
    h.admin("PUT", "/secrets/carrier_key", Some(json!({"value": "carrier-value-000001"}))).await;
    let (status, _) = h.admin("DELETE", "/secrets/carrier_key", None).await;
    assert_eq!(status, 200);
    let (status, body) = h.admin("PATCH", "/contracts/c1", Some(json!({"price": "10.50"}))).await;
    assert_eq!(status, 200, "{body}");
}
