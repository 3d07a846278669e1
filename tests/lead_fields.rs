//! Typed leads through the real HTTP API, on the store `PINGPOST_TEST_STORE` names: a
//! vertical's declared fields are read in their types and kept in their normalized form
//! (what filters and buyers see), refused at `lead.<field>` with what was expected;
//! personal fields are refused on a ping and reach only the buyer that bought; the offer's
//! consent requirements hold on the ping and the post; a partner's aliases rename its
//! fields before anything else.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

const JORNAYA: &str = "1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D";

/// An auto vertical with the SPEC's fields, an offer requiring a LeadiD on the ping and a
/// true TCPA opt-in on the post, a fixed-price contract for young drivers and a real-time
/// one; p1 sends `zipcode` and `leadid_token` under its own names.
fn config() -> String {
    format!(
        r#"
[[verticals]]
id = "auto"
dedup_window_days = 30
fields = [
  {{ name = "zip", type = "zip", required = "ping" }},
  {{ name = "state", type = "state", required = "ping" }},
  {{ name = "age", type = "integer", min = 18, max = 120 }},
  {{ name = "gender", type = "enum", values = ["male", "female", "other"] }},
  {{ name = "first_name", type = "text", required = "post", pii = true, max_length = 100 }},
  {{ name = "birth_date", type = "date", pii = true }},
]

[[offers]]
id = "auto-excl"
vertical = "auto"
disclosure = "full"
ping_budget_ms = 1000
consent = {{ ping = ["jornaya_leadid"], post = ["tcpa_optin"] }}

[[offers]]
id = "auto-closed"
vertical = "auto"
ping_budget_ms = 1000

[[partners]]
id = "p1"
api_key_sha256 = "{}"
offers = ["auto-excl"]
field_aliases = {{ zipcode = "zip", leadid_token = "jornaya_leadid" }}

[[buyers]]
id = "b1"
post_url = "{{buyers}}/b1/post"
timeout_ms = 1000

[[buyers]]
id = "b2"
post_url = "{{buyers}}/b2/post"
timeout_ms = 1000
"#,
        sha(KEY_P1)
    ) + &contract("young", "b1", "auto-excl", "20.00", "filters = { age = { max = 25 } }")
        + &contract("rt", "b2", "auto-excl", "5.00", "bid_url = \"{buyers}/b2/bid\"\nbid_timeout_ms = 500")
}

fn ping_lead() -> Value {
    json!({"email": "typed@example.com", "zipcode": "90210-1234", "state": "california", "age": "24",
           "gender": "FEMALE", "leadid_token": JORNAYA, "source": "fb"})
}

fn post_lead() -> Value {
    let mut lead = ping_lead();
    lead["first_name"] = json!("Jane");
    lead["birth_date"] = json!("04/15/2002");
    lead["tcpa_optin"] = json!("yes");
    lead
}

async fn refused(h: &Harness, path: &str, body: Value) -> (String, String) {
    let (status, answer) = h.call(path, Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!(status, 422, "{body}: {answer}");
    (answer["error"]["field"].as_str().unwrap().to_string(), answer["error"]["message"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_read_in_its_fields_types_and_buyers_and_filters_see_the_kept_form() {
    let h = Harness::start(&config()).await;
    h.buyers.update("b2", |b| b.bid = Some("30.00".into()));
    let ping = h.ping("auto-excl", ping_lead()).await;
    assert_eq!(ping["status"], "accepted", "{ping}");
    // "24" read as the integer 24 passes the young drivers' `age <= 25`.
    assert_eq!(bid_contracts(&ping), ["rt", "young"], "{ping}");
    let bid_request = h.buyers.received().into_iter().find(|r| r.buyer == "b2" && r.kind == "bid").unwrap();
    let asked = &bid_request.body["lead"];
    assert_eq!(
        (&asked["zip"], &asked["state"], &asked["age"], &asked["gender"], &asked["jornaya_leadid"]),
        (&json!("90210"), &json!("CA"), &json!(24), &json!("female"), &json!(JORNAYA)),
        "the bidder sees the kept form, in the vertical's names: {bid_request:?}"
    );
    assert!(asked.get("zipcode").is_none() && asked.get("leadid_token").is_none(), "{asked}");

    let post = h.post(ping["ping_id"].as_str().unwrap(), post_lead()).await;
    assert_eq!(sold_to(&post), ["b2"], "{post}");
    let delivered = h.buyers.received().into_iter().find(|r| r.buyer == "b2" && r.kind == "post").unwrap();
    let lead = &delivered.body["lead"];
    assert_eq!(
        (&lead["first_name"], &lead["birth_date"], &lead["tcpa_optin"], &lead["zip"], &lead["age"]),
        (&json!("Jane"), &json!("2002-04-15"), &json!(true), &json!("90210"), &json!(24)),
        "the buyer that bought gets the personal fields, kept: {delivered:?}"
    );
    assert_eq!(lead["source"], "fb", "an undeclared field is passed on as it came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_read_as_its_type_is_refused_at_its_field_and_nothing_is_written() {
    let h = Harness::start(&config()).await;
    let before = h.dump_store().await;
    let with = |field: &str, value: Value| {
        let mut lead = ping_lead();
        lead[field] = value;
        json!({"offer": "auto-excl", "lead": lead})
    };
    for (body, field, expected) in [
        (with("age", json!("abc")), "lead.age", "whole number"),
        (with("age", json!(17)), "lead.age", "at least 18"),
        (with("age", json!(34.5)), "lead.age", "whole number"),
        (with("gender", json!("x")), "lead.gender", "one of: male, female, other"),
        (with("zipcode", json!("9021")), "lead.zip", "ZIP"),
        (with("state", json!("Atlantis")), "lead.state", "state"),
        (with("leadid_token", json!("not-a-token")), "lead.jornaya_leadid", "36"),
        (with("leadid_token", Value::Null), "lead.jornaya_leadid", "requires it on the ping"),
        (with("zipcode", Value::Null), "lead.zip", "required on the ping"),
        (with("first_name", json!("Jane")), "lead.first_name", "personal field; send it on the post"),
        (with("birth_date", json!("2002-04-15")), "lead.birth_date", "personal field"),
    ] {
        let (got_field, message) = refused(&h, "/v1/ping", body.clone()).await;
        assert_eq!(got_field, field, "{body}: {message}");
        assert!(message.contains(expected), "{body}: {message:?} should say {expected:?}");
    }
    assert_eq!(h.dump_store().await, before, "a refused ping writes nothing");
    // An offer the partner may not ping tells it nothing of its fields: 403 before any.
    let (status, answer) = h.ping_as(KEY_P1, "auto-closed", json!({"email": "x@example.com", "age": "abc"})).await;
    assert_eq!(status, 403, "{answer}");

    let ping = h.ping("auto-excl", ping_lead()).await;
    let ping_id = ping["ping_id"].as_str().unwrap();
    let post_with = |field: &str, value: Value| {
        let mut lead = post_lead();
        lead[field] = value;
        json!({"ping_id": ping_id, "lead": lead})
    };
    for (body, field, expected) in [
        (post_with("first_name", Value::Null), "lead.first_name", "required on the post"),
        (post_with("tcpa_optin", json!("no")), "lead.tcpa_optin", "must be true"),
        (post_with("tcpa_optin", Value::Null), "lead.tcpa_optin", "requires it on the post"),
        (post_with("birth_date", json!("15/04/2002")), "lead.birth_date", "date"),
    ] {
        let (got_field, message) = refused(&h, "/v1/post", body.clone()).await;
        assert_eq!(got_field, field, "{body}: {message}");
        assert!(message.contains(expected), "{body}: {message:?} should say {expected:?}");
    }
    assert!(h.buyers.received().iter().all(|r| r.kind != "post"), "no refused post reached a buyer");
    let post = h.post(ping_id, post_lead()).await;
    assert_eq!(post["status"], "sold", "the ping is still there to post once the lead is right: {post}");
    h.assert_guarantees("typed refusals", None).await;
}

/// The personal fields of a sold lead are in what its buyer received and nowhere else: not
/// in the bid request, any key or value of the store, or the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_fields_reach_only_the_buyer_that_bought() {
    let h = Harness::start(&config()).await;
    h.buyers.update("b2", |b| b.bid = Some("30.00".into()));
    let (first, birth) = ("Zebediah", "1999-12-31");
    let mut lead = post_lead();
    lead["first_name"] = json!(first);
    lead["birth_date"] = json!(birth);
    let ping = h.ping("auto-excl", ping_lead()).await;
    let post = h.post(ping["ping_id"].as_str().unwrap(), lead).await;
    assert_eq!(post["status"], "sold", "{post}");
    h.ping("auto-excl", ping_lead()).await; // a duplicate, audited

    for r in h.buyers.received() {
        let text = r.body.to_string();
        let sold_to_this = r.buyer == "b2" && r.kind == "post";
        assert_eq!(text.contains(first) && text.contains(birth), sold_to_this, "{} {}: {text}", r.buyer, r.kind);
    }
    let dump = h.dump_store().await;
    let audit = serde_json::to_string(&h.audit().await).unwrap();
    for (what, text) in [("the store", &dump), ("the audit log", &audit)] {
        assert!(!text.contains(first) && !text.contains(birth), "{what} holds a personal field:\n{text}");
    }
}

/// The real binary on Redis, logging at `debug`: a lead's personal fields, posted to the
/// buyer that bought it, are in no log line, metric, key or value of the store, audit entry,
/// or request a real-time bidder received; and a ping carrying one is refused at the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_fields_are_in_no_log_metric_store_key_or_audit_entry_of_the_real_binary() {
    use common::process::{start_engine_logged_with, temp_dir, SharedBooks, E2E_ADMIN_TOKEN};
    let (first, birth) = ("Quintavius", "1961-07-04");
    let redis = pingpost_testkit::RedisServer::start();
    let books = tokio::task::block_in_place(SharedBooks::start);
    let buyers = pingpost_buyersim::Buyers::new();
    buyers.update("b2", |b| b.bid = Some("30.00".into()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let buyers_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, std::sync::Arc::clone(&buyers), std::future::pending()));
    let dir = temp_dir("lead-fields-pii");
    std::fs::write(dir.join("market.toml"), config().replace("{buyers}", &buyers_url)).unwrap();
    let mut env = books.env().to_vec();
    env.push(("PINGPOST_LOG", "debug"));
    let (mut engine, base, metrics, log) = start_engine_logged_with(&dir, &redis.url(), &env);

    let http = reqwest::Client::new();
    let send = async |path: &str, body: Value| {
        let resp = http.post(format!("{base}{path}")).bearer_auth(KEY_P1).body(body.to_string()).send().await.unwrap();
        (resp.status().as_u16(), serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap())
    };
    let mut leaky = ping_lead();
    leaky["first_name"] = json!(first);
    let (status, refused) = send("/v1/ping", json!({"offer": "auto-excl", "lead": leaky})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("lead.first_name")), "{refused}");
    let (status, ping) = send("/v1/ping", json!({"offer": "auto-excl", "lead": ping_lead()})).await;
    assert_eq!(status, 200, "{ping}");
    let mut lead = post_lead();
    lead["first_name"] = json!(first);
    lead["birth_date"] = json!(birth);
    let (status, post) = send("/v1/post", json!({"ping_id": ping["ping_id"], "lead": lead})).await;
    assert_eq!((status, post["status"].as_str()), (200, Some("sold")), "{post}");
    let delivered = buyers.received().into_iter().find(|r| r.kind == "post").unwrap();
    assert!(delivered.body.to_string().contains(first), "the buyer that bought has it: {delivered:?}");

    let mut seen: Vec<(String, String)> = Vec::new();
    for r in buyers.received().into_iter().filter(|r| r.kind != "post") {
        seen.push((format!("{}'s {} request", r.buyer, r.kind), r.body.to_string()));
    }
    seen.push((
        "the metrics".into(),
        http.get(format!("{metrics}/metrics")).send().await.unwrap().text().await.unwrap(),
    ));
    let audit = http
        .get(format!("{base}/v1/admin/audit?limit=1000"))
        .bearer_auth(E2E_ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    seen.push(("the audit log".into(), audit));
    seen.push(("the store".into(), pingpost_testkit::dump(&redis.url(), "*").await));
    let pid = engine.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::task::block_in_place(|| engine.0.wait().unwrap());
    assert!(exit.success(), "pingpost exits cleanly: {exit}");
    let lines: Vec<String> = log.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("post")), "the log has the post's lines");
    seen.push(("the log".into(), lines.join("\n")));
    for (what, text) in &seen {
        assert!(!text.contains(first) && !text.contains(birth), "{what} holds a personal field:\n{text}");
    }
}
