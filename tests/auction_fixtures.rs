//! Whole auctions pinned as data, as Prebid Server's `exchange/exchangetest/*.json` pin its
//! own: every `tests/fixtures/auction/*.json` is a configuration, the store's prior state
//! (as earlier requests), a ping, what each buyer answers, the expected answer and audit
//! entries, and — for a post — the post, the expected answer and the expected ledger. The
//! format is in that folder's README. Each runs against the real server (HTTP in, the
//! simulated buyers on loopback out), on the store `PINGPOST_TEST_STORE` names, with the
//! clock and the ids pinned (`Harness::start_deterministic`), so answers compare exactly.
//!
//! `PINGPOST_BLESS_FIXTURES=1` writes what the engine answered into the fixtures' expected
//! parts (keeping their `"*"` markers) instead of comparing: for a new fixture, read the
//! diff before committing it.

mod common;

use common::{Backend, Harness};
use pingpost_buyersim::{Behaviour, PostReply};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The expected parts of a fixture, in the order they are compared.
const EXPECTED: [&str; 5] = ["expected_ping", "expected_post", "expected_audit", "expected_ledger", "expected_calls"];

#[tokio::test]
async fn every_auction_fixture_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/auction");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/auction")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the fixtures are gone: {files:?}");
    let only = std::env::var("PINGPOST_FIXTURE").ok();
    let bless = std::env::var("PINGPOST_BLESS_FIXTURES").as_deref() == Ok("1");
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a fixture");
        let mut fixture: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        let actual = run(&name, &fixture).await;
        if bless {
            for part in EXPECTED {
                if let Some(value) = actual.get(part) {
                    let blessed = keep_markers(fixture.get(part), value);
                    fixture[part] = blessed;
                }
            }
            std::fs::write(&file, in_reading_order(&fixture)).expect("fixture written");
            continue;
        }
        for part in EXPECTED {
            let (expected, got) = (fixture.get(part), actual.get(part));
            match (expected, got) {
                (Some(e), Some(a)) => {
                    let mut diffs = Vec::new();
                    compare(e, a, part, &mut diffs);
                    if !diffs.is_empty() {
                        failures.push(format!("{name}: {}\n  answered: {a}", diffs.join("\n  ")));
                    }
                }
                (None, Some(_)) if part == "expected_audit" || part == "expected_ping" => {
                    failures.push(format!("{name}: {part} is missing"));
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{} fixture(s) failed:\n{}", failures.len(), failures.join("\n\n"));
}

/// Runs one fixture; answers what its expected parts are compared with.
async fn run(name: &str, fixture: &Value) -> Value {
    let config = toml::to_string(&fixture["config"]).unwrap_or_else(|e| panic!("{name}: config not TOML: {e}"));
    let h = Harness::start_deterministic(Backend::from_env(), &config).await;
    let key = fixture["config"]["partners"][0]["api_key"].as_str().expect("the first partner's api_key").to_string();
    set_buyers(&h, &fixture["buyers"]);
    for (n, step) in fixture["history"].as_array().into_iter().flatten().enumerate() {
        history_step(&h, &key, step).await.unwrap_or_else(|e| panic!("{name}: history step {n}: {e}"));
    }
    let audited_before = h.audit().await.len();
    let received_before = h.buyers.received().len();
    let ping_key = fixture["ping_key"].as_str().unwrap_or(&key);
    let (status, ping) = h.call("/v1/ping", Some(ping_key), fixture["ping"].to_string().into_bytes()).await;
    let mut actual = json!({"expected_ping": {"status": status, "body": ping}});
    let ping_id = ping["ping_id"].as_str().unwrap_or_default().to_string();
    if let Some(post) = fixture.get("post") {
        for (n, step) in fixture["before_post"].as_array().into_iter().flatten().enumerate() {
            history_step(&h, &key, step).await.unwrap_or_else(|e| panic!("{name}: before_post step {n}: {e}"));
        }
        set_buyers(&h, &fixture["post_buyers"]);
        let mut body = post.clone();
        body["ping_id"] = json!(ping_id);
        let (status, answer) = h.call("/v1/post", Some(ping_key), body.to_string().into_bytes()).await;
        actual["expected_post"] = json!({"status": status, "body": answer});
    }
    // What the answers left to do in the background (confirmations, marks) is done first.
    h.engine.quiesce().await;
    // The calls the buyers received from the ping and the post (`before_post`'s included).
    let mut calls = Map::new();
    for r in &h.buyers.received()[received_before..] {
        let buyer = calls.entry(r.buyer.clone()).or_insert_with(|| json!({}));
        let count = buyer[r.kind.as_str()].as_u64().unwrap_or(0);
        buyer[r.kind.as_str()] = json!(count + 1);
    }
    actual["expected_calls"] = Value::Object(calls);
    let mut audit = h.audit().await;
    audit.truncate(audit.len() - audited_before);
    audit.reverse();
    actual["expected_audit"] = serde_json::to_value(&audit).expect("audit entries as JSON");
    if !ping_id.is_empty() {
        let (status, ledger) = h.admin("GET", &format!("/ledger?ping_id={ping_id}"), None).await;
        assert_eq!(status, 200, "{name}: ledger: {ledger}");
        actual["expected_ledger"] = ledger["sales"].clone();
    }
    actual
}

/// One earlier event, through the public API: a ping (posted too with `"post": true`), a
/// suppression, time passing, buyers answering otherwise from then on, or an operator's
/// admin API call (a configuration edit between a ping and its post).
async fn history_step(h: &Harness, key: &str, step: &Value) -> Result<(), String> {
    if let Some(ping) = step.get("ping") {
        let (status, answer) = h.call("/v1/ping", Some(key), ping.to_string().into_bytes()).await;
        if status != 200 {
            return Err(format!("ping answered {status}: {answer}"));
        }
        if step["post"] == json!(true) {
            let id = answer["ping_id"].as_str().ok_or(format!("no ping id: {answer}"))?;
            let (status, answer) = h.post_as(key, id, ping["lead"].clone()).await;
            if status != 200 {
                return Err(format!("post answered {status}: {answer}"));
            }
        }
    } else if let Some(body) = step.get("suppress") {
        let (status, answer) = h.admin("POST", "/suppression", Some(body.clone())).await;
        if status != 200 {
            return Err(format!("suppression answered {status}: {answer}"));
        }
    } else if let Some(secs) = step.get("advance_secs").and_then(Value::as_i64) {
        h.advance_secs(secs).await;
    } else if let Some(buyers) = step.get("buyers") {
        set_buyers(h, buyers);
    } else if let Some(call) = step.get("admin") {
        let method = call["method"].as_str().unwrap_or("PUT");
        let path = call["path"].as_str().ok_or(format!("an admin step names its path: {step}"))?;
        let body = call.get("body").cloned();
        let (status, answer) = h.admin(method, path, body).await;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path} answered {status}: {answer}"));
        }
    } else {
        return Err(format!("not a history step: {step}"));
    }
    h.engine.quiesce().await;
    Ok(())
}

/// Each named buyer answers as described from now on (see the README); a buyer not named
/// keeps answering as before (at first: bids 10.00, accepts posts).
fn set_buyers(h: &Harness, buyers: &Value) {
    for (id, b) in buyers.as_object().into_iter().flatten() {
        h.buyers.update(id, |behaviour| apply(behaviour, b));
    }
}

fn apply(behaviour: &mut Behaviour, b: &Value) {
    if let Some(bid) = b.get("bid") {
        behaviour.bid = bid.as_str().map(String::from);
    }
    if let Some(dq) = b.get("disqualified").and_then(Value::as_bool) {
        behaviour.disqualify = dq;
    }
    if let Some(ms) = b.get("delay_ms").and_then(Value::as_u64) {
        behaviour.delay = Duration::from_millis(ms);
    }
    match b.get("post") {
        None => {}
        Some(Value::String(s)) => {
            behaviour.post = match s.as_str() {
                "accept" => PostReply::Accept,
                "reject" => PostReply::Reject,
                "duplicate" => PostReply::Duplicate,
                other => panic!("post answer {other:?}: accept, reject, duplicate or {{status, body}}"),
            }
        }
        Some(raw) => {
            let status = raw["status"].as_u64().and_then(|s| u16::try_from(s).ok()).expect("a post answer's status");
            behaviour.post = PostReply::Raw(status, raw["body"].as_str().unwrap_or_default().to_string());
        }
    }
}

/// A fixture's parts in the order a reader wants them (the README's), pretty-printed; the
/// objects inside them keep serde_json's order (sorted).
const ORDER: [&str; 16] = [
    "description",
    "covers",
    "config",
    "buyers",
    "history",
    "ping_key",
    "ping",
    "expected_ping",
    "before_post",
    "post_buyers",
    "post",
    "expected_post",
    "expected_audit",
    "expected_ledger",
    "expected_calls",
    "notes",
];

fn in_reading_order(fixture: &Value) -> String {
    let object = fixture.as_object().expect("a fixture is an object");
    if let Some(unknown) = object.keys().find(|k| !ORDER.contains(&k.as_str())) {
        panic!("{unknown:?} is not a part of a fixture (see the README)");
    }
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|k| object.get(*k).map(|v| (k, v)))
        .map(|(k, v)| {
            let pretty = serde_json::to_string_pretty(v).expect("JSON").replace('\n', "\n  ");
            format!("  {}: {pretty}", Value::from(*k))
        })
        .collect();
    format!("{{\n{}\n}}\n", parts.join(",\n"))
}

/// `actual` against `expected`: equal, except that `"*"` matches any value and an object's
/// keys must be the same set.
fn compare(expected: &Value, actual: &Value, at: &str, diffs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(s), _) if s == "*" => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    Some(av) => compare(v, av, &format!("{at}.{k}"), diffs),
                    None => diffs.push(format!("{at}.{k}: expected {v}, missing")),
                }
            }
            for k in a.keys().filter(|k| !e.contains_key(*k)) {
                diffs.push(format!("{at}.{k}: not expected, answered {}", a[k]));
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (n, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{at}[{n}]"), diffs);
            }
        }
        _ if expected == actual => {}
        _ => diffs.push(format!("{at}: expected {expected}, answered {actual}")),
    }
}

/// `actual`, with `"*"` wherever `old` had one (a ping's `decision_us` always).
fn keep_markers(old: Option<&Value>, actual: &Value) -> Value {
    match (old, actual) {
        (Some(Value::String(s)), _) if s == "*" => json!("*"),
        (old, Value::Object(a)) => {
            let mut out = Map::new();
            for (k, v) in a {
                let marked = k == "decision_us" && v.is_number();
                let kept = if marked { json!("*") } else { keep_markers(old.and_then(|o| o.get(k)), v) };
                out.insert(k.clone(), kept);
            }
            Value::Object(out)
        }
        (old, Value::Array(a)) => {
            Value::Array(a.iter().enumerate().map(|(n, v)| keep_markers(old.and_then(|o| o.get(n)), v)).collect())
        }
        _ => actual.clone(),
    }
}
