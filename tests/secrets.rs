//! Secrets, the write-only resource buyers' calls are rendered with: `PUT`/`DELETE
//! /v1/admin/secrets/{name}`, `GET /v1/admin/secrets` (names and times, never a value), in
//! force on the node that wrote one at once and on every other within a poll; and a value
//! that appears in no answer, document, metric, audit entry or store key but its own.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::wait::within;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A value no answer, document or log line could hold by chance.
const VALUE: &str = "sk_live_Zq7Xv3Kp9Wm2Tn5R";
const VALUE_2: &str = "pw-Yh4Jd8Lc1Bf6Gs0U";

fn view_value(h: &Harness, name: &str) -> Option<String> {
    h.engine.secrets().get(name).map(|v| v.expose().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_created_replaced_listed_and_deleted_and_no_answer_holds_its_value() {
    let h = Harness::start(&base_config()).await;
    let (status, list) = h.admin("GET", "/secrets", None).await;
    assert_eq!((status, &list), (200, &json!({"items": []})));

    let (status, created) = h.admin("PUT", "/secrets/Carrier_X_Key", Some(json!({"value": VALUE}))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "carrier_x_key", "names are kept in lower case");
    assert_eq!(created["source"], "store");
    assert_eq!(created["updated_at"], "2026-11-23T15:00:00Z");
    assert_eq!(view_value(&h, "carrier_x_key").as_deref(), Some(VALUE), "in force on this node at once");

    h.advance_secs(60).await;
    let (status, replaced) = h.admin("PUT", "/secrets/carrier_x_key", Some(json!({"value": VALUE_2}))).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["updated_at"], "2026-11-23T15:01:00Z");
    assert_eq!(view_value(&h, "CARRIER_X_KEY").as_deref(), Some(VALUE_2));

    let (status, list) = h.admin("GET", "/secrets", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"items": [{"name": "carrier_x_key", "updated_at": "2026-11-23T15:01:00Z", "source": "store"}]})
    );

    let (status, deleted) = h.admin("DELETE", "/secrets/carrier_x_key", None).await;
    assert_eq!((status, &deleted), (200, &json!({"deleted": "carrier_x_key"})));
    assert_eq!(view_value(&h, "carrier_x_key"), None, "gone from this node at once");
    let (status, again) = h.admin("DELETE", "/secrets/carrier_x_key", None).await;
    assert_eq!((status, again["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(h.admin("GET", "/secrets", None).await.1, json!({"items": []}));

    for answer in [created, replaced, list, deleted] {
        let text = answer.to_string();
        assert!(!text.contains(VALUE) && !text.contains(VALUE_2), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_token_opens_the_secrets() {
    let h = Harness::start(&base_config()).await;
    for token in [None, Some(KEY_P1), Some("not-the-token")] {
        for (method, path, body) in [
            ("GET", "/secrets", None),
            ("PUT", "/secrets/k", Some(json!({"value": VALUE}))),
            ("DELETE", "/secrets/k", None),
        ] {
            let (status, answer) = h.admin_with(token, method, path, body).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")), "{method} {token:?}");
        }
    }
    assert_eq!(h.admin("GET", "/secrets", None).await.1, json!({"items": []}), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_name_or_value_is_refused_at_its_field_without_quoting_the_value_and_nothing_is_written() {
    let h = Harness::start(&base_config()).await;
    let long_name = "n".repeat(65);
    let too_long = "v".repeat(8 * 1024 + 1);
    let cases: Vec<(String, Value, &str)> = vec![
        ("/secrets/carrier-x".into(), json!({"value": VALUE}), "name"),
        ("/secrets/carrier.x".into(), json!({"value": VALUE}), "name"),
        (format!("/secrets/{long_name}"), json!({"value": VALUE}), "name"),
        ("/secrets/k".into(), json!({}), "value"),
        ("/secrets/k".into(), json!({"value": ""}), "value"),
        ("/secrets/k".into(), json!({"value": null}), "value"),
        ("/secrets/k".into(), json!({"value": 987654321}), "value"),
        ("/secrets/k".into(), json!({"value": [VALUE]}), "value"),
        ("/secrets/k".into(), json!({"value": too_long}), "value"),
        ("/secrets/k".into(), json!({"value": VALUE, "name": "other"}), "name"),
        ("/secrets/k".into(), json!([VALUE]), "body"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = h.admin("PUT", &path, Some(body.clone())).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (422, Some(field)), "{path} {body}: {answer}");
        let text = answer.to_string();
        for quoted in [VALUE, "987654321", "vvvvvvvv"] {
            assert!(!text.contains(quoted), "{text}");
        }
    }
    let resp = reqwest::Client::new()
        .put(format!("{}/v1/admin/secrets/k", h.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"value\": \"{VALUE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(!resp.text().await.unwrap().contains(VALUE));
    let (status, answer) = h.admin("DELETE", "/secrets/carrier-x", None).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("name")));

    assert_eq!(h.admin("GET", "/secrets", None).await.1, json!({"items": []}), "nothing written");
    assert!(h.engine.secrets().is_empty());
}

/// Two engine nodes on one Redis: a write through one is in force on the other once it
/// polls, and a delete too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_written_through_one_node_is_in_force_on_another_after_its_next_poll() {
    let a = Harness::start_on(Backend::Redis, &base_config()).await;
    let b = a.another_node().await;
    assert_eq!(a.admin("PUT", "/secrets/carrier_x_key", Some(json!({"value": VALUE}))).await.0, 201);
    assert_eq!(view_value(&b, "carrier_x_key"), None, "b has not polled yet");
    assert_eq!(b.admin("GET", "/secrets", None).await.1["items"][0]["name"], "carrier_x_key", "b lists the store's");

    assert!(b.engine.refresh_secrets().await.unwrap(), "b's poll finds another set");
    assert_eq!(view_value(&b, "carrier_x_key").as_deref(), Some(VALUE));
    assert!(!b.engine.refresh_secrets().await.unwrap(), "and nothing more to take");

    assert_eq!(b.admin("DELETE", "/secrets/carrier_x_key", None).await.0, 200);
    assert!(a.engine.refresh_secrets().await.unwrap());
    assert_eq!(view_value(&a, "carrier_x_key"), None);
}

/// The promise: every node sees a write within a second. Node b runs its poller, as the
/// binary does; the time is measured from the write's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_written_through_one_node_is_in_force_on_another_within_a_second() {
    let a = Harness::start_on(Backend::Redis, &base_config()).await;
    let b = a.another_node().await;
    let poller = tokio::spawn(pingpost_engine::secrets::follow(std::sync::Arc::clone(&b.engine)));
    assert_eq!(a.admin("PUT", "/secrets/carrier_x_key", Some(json!({"value": VALUE}))).await.0, 201);
    let written = tokio::time::Instant::now();
    within(Duration::from_secs(10), "b to take the secret", async {
        while view_value(&b, "carrier_x_key").is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await; // poll pacing, not synchronization
        }
    })
    .await;
    let seen = written.elapsed();
    assert!(seen <= Duration::from_secs(1), "b took the secret after {seen:?}");
    poller.abort();
}

/// The value written is in the store, under the secrets' own key (it must be kept), and in
/// nothing else: no answer of the secrets' endpoints (errors included), the API document,
/// the metrics, the audit log, the configuration, or any other key of the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_value_is_kept_only_under_its_own_key_and_shown_nowhere() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", ""));
    let h = Harness::start(&c).await;
    let mut answers = Vec::new();
    answers.push(h.admin("PUT", "/secrets/carrier_x_key", Some(json!({"value": VALUE}))).await);
    answers.push(h.admin("PUT", "/secrets/carrier_x_key", Some(json!({"value": VALUE}))).await);
    answers.push(h.admin("PUT", "/secrets/carrier-x", Some(json!({"value": VALUE}))).await);
    answers.push(h.admin("PUT", "/secrets/k", Some(json!({"value": VALUE, "extra": VALUE}))).await);
    answers.push(h.admin("GET", "/secrets", None).await);
    answers.push(h.admin_with(Some(VALUE), "GET", "/secrets", None).await);
    answers.push(h.admin("DELETE", "/secrets/absent", None).await);
    answers.push(h.admin("GET", "/buyers", None).await);
    h.sell("auto-excl", email("leak-check@example.com")).await;
    h.ping("auto-excl", email("leak-check@example.com")).await; // a duplicate, audited

    let mut shown: Vec<(String, String)> =
        answers.into_iter().map(|(status, body)| (format!("answer {status}"), body.to_string())).collect();
    shown.push(("the API document".into(), h.get_text("/openapi.json").await.1));
    shown.push(("the metrics".into(), h.scrape_metrics().await.1));
    shown.push(("the audit log".into(), serde_json::to_string(&h.audit().await).unwrap()));
    shown.push(("the audit API".into(), h.admin("GET", "/audit?limit=1000", None).await.1.to_string()));
    shown.push(("a debug print of the view".into(), format!("{:?}", h.engine.secrets())));
    for (what, text) in &shown {
        assert!(!text.contains(VALUE), "{what} holds the secret's value: {text}");
    }

    let dump = h.dump_store().await;
    let (own, rest): (Vec<&str>, Vec<&str>) = dump.lines().partition(|l| l.contains(":{secrets} "));
    assert!(rest.iter().all(|l| !l.contains(VALUE)), "a key other than the secrets' holds the value:\n{dump}");
    if !own.is_empty() {
        assert!(own.iter().any(|l| l.contains(VALUE)), "the secrets' key keeps it");
    }
    assert!(dump.contains("carrier_x_key"), "the store holds the secret");
}

/// The real binary on Redis, its logs captured at `debug`, a secret from its environment
/// and one written through the API, both sent to a buyer in its call's header, credentials
/// and body, then everything an operator, a partner or a scraper can see — every answer of
/// the secrets' endpoints and their refusals, a preview, a test whose buyer echoes the values
/// back, the console's pages (the buyer's among them), the API document, the metrics, the audit log, the log lines up to the engine's exit — and
/// every key of the store but the secrets' own: no value is in any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secrets_value_reaches_a_log_line_an_answer_a_console_page_the_document_a_metric_or_another_key() {
    use common::process::{start_engine_logged_with, temp_dir, SharedBooks, E2E_ADMIN_TOKEN};
    const FROM_ENV: &str = "env_Hq2Wn7Rd4Tc9Mv6K";
    const PARTNER: &str = "secrets-e2e-partner-key-01";
    let redis = pingpost_testkit::RedisServer::start();
    let books = tokio::task::block_in_place(SharedBooks::start);
    let buyers = pingpost_buyersim::Buyers::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let buyers_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, std::sync::Arc::clone(&buyers), std::future::pending()));
    let dir = temp_dir("secrets-leak");
    let key_hash = pingpost_core::identity::Sha256Hex::digest(PARTNER);
    std::fs::write(
        dir.join("market.toml"),
        format!(
            "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n\n\
             [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
             [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{}\"\noffers = [\"auto-excl\"]\n\n\
             [[buyers]]\nid = \"b1\"\n\n\
             [buyers.calls.post]\nurl = \"{buyers_url}/b1/post\"\nsandbox_url = \"{buyers_url}/b1/post\"\n\
             encoding = \"json\"\nauth = {{ bearer = \"{{{{ secret('from_env') }}}}\" }}\n\
             headers = {{ \"X-Api-Key\" = \"{{{{ secret('carrier_x_key') }}}}\" }}\n\n\
             [buyers.calls.post.fields]\napi_key = \"{{{{ secret('carrier_x_key') }}}}\"\n\
             env_key = \"{{{{ secret('from_env') }}}}\"\nemail = \"{{{{ lead.email }}}}\"\n\n\
             [buyers.calls.post.answer]\nformat = \"json\"\n\
             accepted = {{ path = \"/status\", equals = \"accepted\" }}\n\
             duplicate = {{ path = \"/status\", equals = \"duplicate\" }}\n\
             reason = \"/echo\"\nprice_missing = \"contract_price\"\n\n\
             [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\n",
            key_hash.as_str()
        ),
    )
    .unwrap();
    let mut env = books.env().to_vec();
    env.extend([("PINGPOST_SECRET_FROM_ENV", FROM_ENV), ("PINGPOST_LOG", "debug")]);
    let (mut engine, base, metrics, log) = start_engine_logged_with(&dir, &redis.url(), &env);

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    let admin = async |method: &str, path: &str, token: &str, body: Option<Value>| {
        let mut req = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}/v1/admin{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let calls: Vec<(&str, String, &str, Option<Value>, u16)> = vec![
        ("PUT", "/secrets/carrier_x_key".into(), E2E_ADMIN_TOKEN, Some(json!({"value": VALUE})), 201),
        ("PUT", "/secrets/carrier_x_key".into(), E2E_ADMIN_TOKEN, Some(json!({"value": VALUE})), 200),
        ("PUT", "/secrets/from_env".into(), E2E_ADMIN_TOKEN, Some(json!({"value": FROM_ENV})), 409),
        ("DELETE", "/secrets/FROM_ENV".into(), E2E_ADMIN_TOKEN, None, 409),
        ("PUT", "/secrets/carrier-x".into(), E2E_ADMIN_TOKEN, Some(json!({"value": VALUE})), 422),
        ("PUT", "/secrets/k".into(), E2E_ADMIN_TOKEN, Some(json!({"value": VALUE, "extra": VALUE})), 422),
        ("PUT", "/secrets/k".into(), VALUE, Some(json!({"value": VALUE})), 401),
        ("GET", "/secrets".into(), E2E_ADMIN_TOKEN, None, 200),
        ("DELETE", "/secrets/absent".into(), E2E_ADMIN_TOKEN, None, 404),
        ("PUT", "/secrets/to_delete".into(), E2E_ADMIN_TOKEN, Some(json!({"value": VALUE_2})), 201),
        ("DELETE", "/secrets/to_delete".into(), E2E_ADMIN_TOKEN, None, 200),
    ];
    for (method, path, token, body, want) in calls {
        let (status, text) = admin(method, &path, token, body).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        seen.push((format!("{method} {path}"), text));
    }
    let (_, list) = admin("GET", "/secrets", E2E_ADMIN_TOKEN, None).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["items"][1], json!({"name": "from_env", "updated_at": null, "source": "environment"}));

    // A sale and a duplicate, so that the audit log and the metrics have entries.
    let partner = async |path: &str, body: Value| {
        let resp = http.post(format!("{base}{path}")).bearer_auth(PARTNER).body(body.to_string()).send().await.unwrap();
        serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap()
    };
    let lead = json!({"email": "secrets-e2e@example.com"});
    let ping = partner("/v1/ping", json!({"offer": "auto-excl", "lead": lead})).await;
    let post = partner("/v1/post", json!({"ping_id": ping["ping_id"], "lead": lead})).await;
    assert_eq!(post["status"], "sold", "{post}");
    partner("/v1/ping", json!({"offer": "auto-excl", "lead": lead})).await;
    // The values were used: the buyer's call carried them (the check below is not vacuous).
    let sent = buyers.received().into_iter().find(|r| r.buyer == "b1" && r.kind == "post").unwrap();
    assert_eq!((sent.body["api_key"].as_str(), sent.body["env_key"].as_str()), (Some(VALUE), Some(FROM_ENV)));

    // A preview, and a test whose buyer echoes a secret back in its answer and its reason.
    let try_call = json!({"call": "post", "offer": "auto-excl", "lead": {"email": "try@example.com"}});
    let (status, preview) = admin("POST", "/buyers/b1/preview", E2E_ADMIN_TOKEN, Some(try_call.clone())).await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview.contains("X-Api-Key") && preview.contains(pingpost_core::adapter::MASK), "{preview}");
    seen.push(("the preview".into(), preview));
    let echo = format!(r#"{{"status":"duplicate","echo":"{VALUE} {FROM_ENV}"}}"#);
    buyers.update("b1", |b| b.post = pingpost_buyersim::PostReply::Raw(200, echo));
    let (status, tested) = admin("POST", "/buyers/b1/test", E2E_ADMIN_TOKEN, Some(try_call)).await;
    assert_eq!(status, 200, "{tested}");
    assert!(tested.contains("duplicate"), "the answer was read: {tested}");
    seen.push(("the test's answer".into(), tested));
    // The same echo on a real post: its reason goes to the audit log and the post's attempts.
    let echoed = json!({"email": "secrets-e2e-echo@example.com"});
    let ping = partner("/v1/ping", json!({"offer": "auto-excl", "lead": echoed})).await;
    let post = partner("/v1/post", json!({"ping_id": ping["ping_id"], "lead": echoed})).await;
    assert_eq!(post["attempts"][0]["outcome"], "duplicate", "{post}");
    assert!(post["attempts"][0]["buyer_reason"].is_string(), "the reason is shown, masked: {post}");
    seen.push(("a post's answer".into(), post.to_string()));

    let signed_in =
        http.post(format!("{base}/console/sign-in")).form(&[("token", E2E_ADMIN_TOKEN)]).send().await.unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    for page in [
        "/console/secrets",
        "/console/buyers",
        "/console/buyers/b1",
        "/console/contracts",
        "/console/audit",
        "/console/money",
        "/console/stats",
    ] {
        let resp = http.get(format!("{base}{page}")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{page}");
        seen.push((page.to_string(), resp.text().await.unwrap()));
    }
    for (what, url) in
        [("the API document", format!("{base}/openapi.json")), ("the metrics", format!("{metrics}/metrics"))]
    {
        seen.push((what.to_string(), http.get(url).send().await.unwrap().text().await.unwrap()));
    }
    let (_, audit) = admin("GET", "/audit?limit=1000", E2E_ADMIN_TOKEN, None).await;
    assert!(audit.contains("vertical_duplicate"), "the audit log has the duplicate: {audit}");
    assert!(audit.contains("post_duplicate"), "the audit log has the buyer's duplicate: {audit}");
    seen.push(("the audit log".into(), audit));

    let dump = pingpost_testkit::dump(&redis.url(), "pp:*").await;
    let (own, rest): (Vec<&str>, Vec<&str>) = dump.lines().partition(|l| l.starts_with("pp:{secrets} "));
    assert!(own.iter().any(|l| l.contains(VALUE)), "the store keeps the written secret:\n{dump}");
    seen.push(("the store's other keys".into(), rest.join("\n")));
    seen.push(("the secrets' key".into(), own.join("\n").replace(VALUE, "")));

    let pid = engine.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::task::block_in_place(|| engine.0.wait().unwrap());
    assert!(exit.success(), "pingpost exits cleanly: {exit}");
    let lines: Vec<String> = log.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("secret stored")), "the writes are logged, by name");
    assert!(lines.iter().any(|l| l.contains("secrets from the environment") && l.contains("from_env")));
    assert!(lines.iter().any(|l| l.contains("pingpost stopped")), "the log runs to the exit");
    seen.push(("the log".into(), lines.join("\n")));

    for (what, text) in &seen {
        for value in [VALUE, VALUE_2, FROM_ENV] {
            assert!(!text.contains(value), "{what} holds a secret's value:\n{text}");
        }
    }
}
