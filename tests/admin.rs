//! The operators' configuration API: CRUD for every kind, contract PATCH, validation that
//! names the field and applies nothing, partner keys kept only as digests, and the wall
//! between the operator token and partner keys. Runs on the store `PINGPOST_TEST_STORE` names.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

fn config_with(contracts: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut c = base_config();
    for (id, buyer, offer, price, extra) in contracts {
        c.push_str(&contract(id, buyer, offer, price, extra));
    }
    c
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn every_kind_can_be_listed_read_created_replaced_and_deleted() {
    let h = Harness::start(&config_with(&[("c1", "b1", "auto-excl", "10.00", "")])).await;
    let bodies = [
        ("verticals", "home", json!({"name": "Home insurance", "dedup_window_days": 45})),
        (
            "offers",
            "home-excl",
            json!({"vertical": "home", "mode": "exclusive", "ping_budget_ms": 500, "disclosure": "full"}),
        ),
        ("buyers", "b9", json!({"name": "Nine", "post_url": "http://127.0.0.1:9/post", "timeout_ms": 900})),
        ("partners", "p9", json!({"name": "Nine Media", "api_key": "partner-nine-key-0009", "offers": ["home-excl"]})),
        ("contracts", "c9", json!({"buyer": "b9", "offer": "home-excl", "price": "7.25"})),
    ];
    for (kind, id, body) in &bodies {
        let (status, created) = h.admin("PUT", &format!("/{kind}/{id}"), Some(body.clone())).await;
        assert_eq!(status, 201, "{kind}: {created}");
        assert_eq!(created["id"], *id);
        let (status, read) = h.admin("GET", &format!("/{kind}/{id}"), None).await;
        assert_eq!((status, &read), (200, &created));
        let (_, list) = h.admin("GET", &format!("/{kind}"), None).await;
        assert!(ids(&list).contains(&id.to_string()), "{kind} listed: {list}");
    }
    let (status, replaced) =
        h.admin("PUT", "/verticals/home", Some(json!({"id": "home", "dedup_window_days": 60}))).await;
    assert_eq!((status, replaced["dedup_window_days"].as_i64()), (200, Some(60)));

    // The new partner pings the new offer and the new contract bids.
    let (status, ping) = h.ping_as("partner-nine-key-0009", "home-excl", email("crud@example.com")).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(bid_contracts(&ping), ["c9"]);

    // Deleted in dependency order; each is gone afterwards.
    for (kind, id, _) in bodies.iter().rev() {
        let (status, body) = h.admin("DELETE", &format!("/{kind}/{id}"), None).await;
        assert_eq!((status, body["deleted"].as_str()), (200, Some(*id)), "{kind}");
        let (status, body) = h.admin("GET", &format!("/{kind}/{id}"), None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    }
    let (status, _) = h.admin("DELETE", "/contracts/c9", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn patching_a_contract_window_changes_what_the_next_ping_sees() {
    // solar's own vertical window is 1 day, so the contract's window is what decides.
    let h = Harness::start(&config_with(&[("c1", "b1", "solar-excl", "10.00", "dedup = { window_days = 30 }")])).await;
    let consumer = email("window@example.com");
    let (_, post) = h.sell("solar-excl", consumer.clone()).await;
    assert_eq!(sold_to(&post), ["b1"]);
    h.advance_days(5).await;
    let (status, patched) = h.admin("PATCH", "/contracts/c1", Some(json!({"dedup": {"window_days": 3}}))).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["dedup"]["window_days"], 3);
    assert_eq!(patched["price"], "10.00", "the rest of the contract is kept");
    let ping = h.ping("solar-excl", consumer.clone()).await;
    assert_eq!(bid_contracts(&ping), ["c1"], "bought 5 days ago, outside the new 3-day window: {ping}");

    h.advance_days(2).await;
    let (status, _) = h.admin("PATCH", "/contracts/c1", Some(json!({"dedup": {"window_days": 90}}))).await;
    assert_eq!(status, 200);
    let ping = h.ping("solar-excl", consumer).await;
    assert_eq!(ping["reason"], "no_bids", "inside the 90-day window again: {ping}");
}

#[tokio::test]
async fn dedup_can_be_switched_off_and_a_contract_paused() {
    let h =
        Harness::start(&config_with(&[("c1", "b1", "solar-excl", "10.00", ""), ("c2", "b2", "auto-excl", "5.00", "")]))
            .await;
    let consumer = email("remarketing@example.com");
    h.sell("solar-excl", consumer.clone()).await;
    h.advance_days(2).await;
    assert_eq!(h.ping("solar-excl", consumer.clone()).await["reason"], "no_bids");
    h.advance_days(2).await;
    let (status, patched) = h.admin("PATCH", "/contracts/c1", Some(json!({"dedup": {"enabled": false}}))).await;
    assert_eq!((status, &patched["dedup"]["enabled"]), (200, &json!(false)));
    assert_eq!(bid_contracts(&h.ping("solar-excl", consumer).await), ["c1"], "dedup off: the buyer bids again");

    let (status, _) = h.admin("PATCH", "/contracts/c2", Some(json!({"status": "paused"}))).await;
    assert_eq!(status, 200);
    assert_eq!(h.ping("auto-excl", email("paused@example.com")).await["reason"], "no_bids");
}

#[tokio::test]
async fn invalid_edits_name_the_field_and_change_nothing() {
    let h = Harness::start(&config_with(&[("c1", "b1", "auto-excl", "10.00", "")])).await;
    let (_, before) = h.admin("GET", "/contracts/c1", None).await;
    let cases = [
        ("PATCH", "/contracts/c1", json!({"dedup": {"window_days": 0}}), "dedup.window_days"),
        ("PATCH", "/contracts/c1", json!({"dedup": {"window_days": 366}}), "dedup.window_days"),
        ("PATCH", "/contracts/c1", json!({"buyer": "nobody"}), "buyer"),
        ("PATCH", "/contracts/c1", json!({"offer": "no-such-offer"}), "offer"),
        ("PATCH", "/contracts/c1", json!({"price": "-1.00"}), "price"),
        ("PATCH", "/contracts/c1", json!({"caps": {"daily": 5, "time_zone": "Mars/Olympus"}}), "caps.time_zone"),
        ("PATCH", "/contracts/c1", json!({"dedup": {"window_days": "ninety"}}), "dedup.window_days"),
        ("PATCH", "/contracts/c1", json!({"colour": "red"}), "colour"),
        ("PATCH", "/contracts/c1", json!({"id": "c2"}), "id"),
        ("PUT", "/contracts/c2", json!({"buyer": "b1", "offer": "auto-excl", "price": "-0.01"}), "price"),
        ("PUT", "/contracts/c2", json!({"id": "c3", "buyer": "b1", "offer": "auto-excl"}), "id"),
        ("PUT", "/verticals/v2", json!({"dedup_window_days": 366}), "dedup_window_days"),
        ("DELETE", "/buyers/b1", json!(null), "id"),
        ("DELETE", "/offers/auto-excl", json!(null), "id"),
    ];
    for (method, path, body, field) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = h.admin(method, path, body.clone()).await;
        assert_eq!(status, 422, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{method} {path} {body:?}: {answer}");
    }
    let (_, message) = h.admin("DELETE", "/buyers/b1", None).await;
    assert!(message["error"]["message"].as_str().unwrap().contains("\"c1\""), "names the contract: {message}");

    let (_, after) = h.admin("GET", "/contracts/c1", None).await;
    assert_eq!(before, after, "nothing was applied");
    assert_eq!(h.admin("GET", "/contracts/c2", None).await.0, 404);
    assert_eq!(h.admin("GET", "/buyers/b1", None).await.0, 200);
    assert_eq!(bid_contracts(&h.ping("auto-excl", email("still@example.com")).await), ["c1"]);
}

#[tokio::test]
async fn malformed_and_oversized_admin_bodies_are_refused() {
    let h = Harness::start(&base_config()).await;
    let url = format!("{}/v1/admin/verticals/v", h.base);
    let http = reqwest::Client::new();
    let send =
        |body: Vec<u8>| http.put(&url).header("authorization", format!("Bearer {ADMIN_TOKEN}")).body(body).send();
    let resp = send(b"{".to_vec()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = send(vec![b' '; 5 * 1024 * 1024]).await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let mut at_limit = br#"{"dedup_window_days": 30}"#.to_vec();
    at_limit.resize(pingpost_server::admin::body::ADMIN_BODY_LIMIT, b' ');
    let resp = send(at_limit).await.unwrap();
    assert!(resp.status().is_success(), "a body of exactly the limit is read: {}", resp.status());
}

#[tokio::test]
async fn partner_keys_are_stored_only_as_digests() {
    let h = Harness::start(&base_config()).await;
    let key = "a-brand-new-partner-key-42";
    let body = json!({"name": "New", "api_key": key, "offers": ["auto-excl"]});
    let (status, created) = h.admin("PUT", "/partners/p7", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("api_key").is_none());
    let digest = pingpost_core::identity::Sha256Hex::digest(key).to_string();
    assert_eq!(created["api_key_sha256"], digest);
    let (_, read) = h.admin("GET", "/partners/p7", None).await;
    assert!(!read.to_string().contains(key));
    assert!(!h.dump_store().await.contains(key), "the plaintext key is not in the store");
    assert!(h.dump_store().await.contains(&digest));
    assert_eq!(h.ping_as(key, "auto-excl", email("newpartner@example.com")).await.0, 200);

    let (status, answer) = h.admin("PUT", "/partners/p8", Some(json!({"api_key": ADMIN_TOKEN, "offers": []}))).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("api_key")), "{answer}");
    let digest = pingpost_core::identity::Sha256Hex::digest(ADMIN_TOKEN).to_string();
    let (status, _) = h.admin("PUT", "/partners/p8", Some(json!({"api_key_sha256": digest, "offers": []}))).await;
    assert_eq!(status, 422, "the operator token's digest is refused too");
}

#[tokio::test]
async fn the_operator_token_and_partner_keys_never_open_each_others_api() {
    let h = Harness::start(&config_with(&[("c1", "b1", "auto-excl", "10.00", "")])).await;
    for token in [None, Some(KEY_P1), Some("operator-token-000"), Some("")] {
        let (status, body) = h.admin_with(token, "GET", "/contracts", None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{token:?}");
    }
    let (status, _) = h.ping_as(ADMIN_TOKEN, "auto-excl", email("operator@example.com")).await;
    assert_eq!(status, 401, "the operator token is not a partner key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_are_all_applied_none_lost() {
    let h = Harness::start(&base_config()).await;
    let paths: Vec<String> = (0..20).map(|i| format!("/verticals/v{i}")).collect();
    let puts = paths.iter().map(|p| h.admin("PUT", p, Some(json!({"dedup_window_days": 10}))));
    let answers = futures_util::future::join_all(puts).await;
    assert!(answers.iter().all(|(status, _)| *status == 201), "{answers:?}");
    let (_, list) = h.admin("GET", "/verticals", None).await;
    let listed = ids(&list);
    for i in 0..20 {
        assert!(listed.contains(&format!("v{i}")), "v{i} lost to a concurrent edit: {listed:?}");
    }
}

/// Return reasons are a resource kind of their own; buyers' keys are kept as digests, and a
/// key opens one API only: no buyer may share a partner's key or the operator token.
#[tokio::test]
async fn return_reasons_are_managed_like_any_resource_and_buyer_keys_open_one_api_only() {
    let h = Harness::start(&config_with(&[])).await;
    let (status, reason) =
        h.admin("PUT", "/return_reasons/bad_phone", Some(json!({"name": "Bad phone", "claw_back": false}))).await;
    assert_eq!(status, 201, "{reason}");
    let (_, list) = h.admin("GET", "/return_reasons", None).await;
    assert_eq!(ids(&list), ["bad_phone"]);
    assert_eq!(
        h.engine.config().return_reasons.keys().collect::<Vec<_>>(),
        ["bad_phone"],
        "configured reasons replace the defaults"
    );
    let (status, _) = h.admin("DELETE", "/return_reasons/bad_phone", None).await;
    assert_eq!(status, 200);
    assert_eq!(h.engine.config().return_reasons.len(), 5, "none configured: the five defaults");

    let buyer = |key: &str| {
        json!({"name": "B one", "post_url": "http://127.0.0.1:9/b1/post", "api_key": key,
               "returns": {"window_days": 3, "auto_approve": false}})
    };
    let (status, stored) = h.admin("PUT", "/buyers/b1", Some(buyer("buyer-one-key-00001"))).await;
    assert_eq!(status, 200, "{stored}");
    assert!(
        stored.get("api_key").is_none() && stored["api_key_sha256"].as_str().is_some_and(|d| d.len() == 64),
        "{stored}"
    );
    let policy = h.engine.config().buyers[&pingpost_core::ids::BuyerId::new("b1")].returns;
    assert_eq!((policy.window.days(), policy.max_rate, policy.auto_approve), (3, 2000, false));
    let (status, err) = h.admin("PUT", "/buyers/b1", Some(buyer(KEY_P1))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("api_key_sha256")), "{err}");
    let (status, err) = h.admin("PUT", "/buyers/b1", Some(buyer(ADMIN_TOKEN))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("api_key")), "{err}");
    let (status, err) = h
        .admin(
            "PUT",
            "/buyers/b2",
            Some(json!({"post_url": "http://127.0.0.1:9/b2/post", "returns": {"max_rate_percent": "101"}})),
        )
        .await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("returns.max_rate_percent")), "{err}");
}
