//! The real `pingpost` binary, started on a contracts/ directory the test writes, driven
//! over HTTP, selling to simulated buyers on loopback.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine, temp_dir};
use pingpost_buyersim::{Buyers, PostReply};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tokio::net::TcpListener;

const KEY: &str = "e2e-partner-key-000001";

/// Every object key anywhere in `v`.
fn keys(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m.iter().flat_map(|(k, x)| std::iter::once(k.clone()).chain(keys(x))).collect(),
        Value::Array(xs) => xs.iter().flat_map(keys).collect(),
        _ => Vec::new(),
    }
}

fn write_contracts(dir: &Path, buyers_url: &str) {
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    std::fs::write(
        dir.join("market.toml"),
        format!(
            "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n\n\
             [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\nmargin = {{ percent = \"10.00\" }}\n\n\
             [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\"]\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("buyers.toml"),
        format!(
            "[[buyers]]\nid = \"b1\"\npost_url = \"{buyers_url}/b1/post\"\n\n\
             [[buyers]]\nid = \"b2\"\npost_url = \"{buyers_url}/b2/post\"\n\n\
             [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"18.50\"\n\n\
             [[contracts]]\nid = \"c2\"\nbuyer = \"b2\"\noffer = \"auto-excl\"\nprice = \"12.00\"\n\
             dq = {{ url = \"{buyers_url}/b2/dq\", window_days = 30, timeout_ms = 500 }}\n"
        ),
    )
    .expect("write");
}

async fn call(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = http
        .post(url)
        .header("authorization", format!("Bearer {KEY}"))
        .body(body.to_string())
        .send()
        .await
        .expect("engine answers");
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_sells_a_lead_end_to_end() {
    let buyers = Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let buyers_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
    buyers.update("b1", |b| b.post = PostReply::Duplicate);

    let dir = temp_dir("sell");
    write_contracts(&dir, &buyers_url);
    let (_engine, base) = start_engine(&dir, "memory");
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/readyz")).send().await.expect("readyz");
    assert_eq!(health.status().as_u16(), 200);

    let lead = json!({"email": "e2e@example.com", "phone": "555-010-2030", "state": "CA"});
    let (status, ping) = call(&http, format!("{base}/v1/ping"), json!({"offer": "auto-excl", "lead": lead})).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(ping["status"], "accepted");
    // The offer shows payouts only (its default disclosure), net of its 10% margin.
    let bids = ping["bids"].as_array().unwrap();
    let payouts: Vec<&str> = bids.iter().map(|b| b["payout"].as_str().unwrap()).collect();
    assert_eq!(payouts, ["16.65", "10.80"]);
    assert!(bids.iter().all(|b| b.as_object().unwrap().len() == 2), "bid_id and payout only: {ping}");
    assert!(ping["decision_us"].as_u64().is_some());

    // b1 answers "duplicate": rolled back, waterfall to b2.
    let (status, post) =
        call(&http, format!("{base}/v1/post"), json!({"ping_id": ping["ping_id"], "lead": lead})).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!(post["status"], "sold");
    assert_eq!((buyers.count("b1", "post"), buyers.count("b2", "post")), (1, 1));
    assert_eq!(post["attempts"][0]["outcome"], "duplicate");
    assert_eq!(post["attempts"][0]["bid_id"], bids[0]["bid_id"]);
    assert_eq!((post["sales"][0]["payout"].as_str(), post["total_payout"].as_str()), (Some("10.80"), Some("10.80")));
    for hidden in ["buyer", "contract", "price", "total_price"] {
        assert!(!keys(&post).contains(&hidden.to_string()), "the partner must not see {hidden}: {post}");
    }
    assert_eq!(buyers.count("b2", "dq"), 1);

    let (_, again) = call(&http, format!("{base}/v1/ping"), json!({"offer": "auto-excl", "lead": lead})).await;
    assert_eq!(again["reason"], "vertical_duplicate");
    let (status, err) =
        call(&http, format!("{base}/v1/ping"), json!({"offer": "auto-excl", "lead": {"email": "x"}})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("lead.email")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_names_file_line_table_id_and_field_and_serve_refuses_the_config() {
    let dir = temp_dir("check");
    std::fs::write(
        dir.join("bad.toml"),
        "[[verticals]]\nid = \"auto\"\ndedup_window_days = 366\n\n\
         [[contracts]]\nid = \"c1\"\nbuyer = \"ghost\"\noffer = \"auto-excl\"\nprice = \"-3.00\"\n\
         caps = { time_zone = \"Nowhere/City\" }\ndedup = { window_days = 0 }\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pingpost")).arg("check").arg(&dir).output().expect("run check");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.join("bad.toml").display().to_string();
    for expected in [
        format!("{file}:1: [[verticals]] id \"auto\", field \"dedup_window_days\""),
        format!("{file}:5: [[contracts]] id \"c1\", field \"buyer\": unknown buyer \"ghost\""),
        format!("{file}:5: [[contracts]] id \"c1\", field \"offer\": unknown offer \"auto-excl\""),
        "field \"price\": must not be negative".to_string(),
        "field \"caps.time_zone\": unknown time zone \"Nowhere/City\"".to_string(),
        "field \"dedup.window_days\": must be a whole number of days in 1..=365, got 0".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }

    let serve = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--contracts"])
        .arg(&dir)
        .output()
        .expect("run serve");
    assert!(!serve.status.success(), "serve must refuse an invalid config");
    assert!(String::from_utf8_lossy(&serve.stderr).contains("refusing to start"));

    let good = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["check", concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts")])
        .output()
        .expect("run check");
    assert!(
        good.status.success(),
        "the shipped example contracts are valid: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `pingpost serve` with `args` and answers its stderr, expecting it to refuse to start:
/// an engine that starts instead is killed and fails the test.
fn refused_to_start(args: &[&str]) -> String {
    let dir = temp_dir("refused");
    write_contracts(&dir, "http://127.0.0.1:9");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--contracts"])
        .arg(&dir)
        .args(args)
        .env_remove("PINGPOST_BOOKS")
        .env_remove("PINGPOST_ADMIN_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Polled for up to 30 s: a refusal comes in milliseconds, a started engine never exits.
    for polled in 0.. {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if polled == 1500 {
            let _ = child.kill();
            panic!("pingpost started with {args:?} instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{args:?}");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A shared store with books in the process would keep each node's money entries in its own
/// memory: lost on a restart, and different on every node.
#[test]
fn serve_refuses_a_shared_store_with_books_in_its_process() {
    let token = "a-long-enough-operator-token-0001";
    // Nothing listens on port 1: the refusal comes before any connection is tried.
    let stderr = refused_to_start(&["--store", "redis://127.0.0.1:1", "--admin-token", token]);
    assert!(stderr.contains("give --books postgres://"), "{stderr}");
    let stderr = refused_to_start(&["--store", "redis://127.0.0.1:1,redis://127.0.0.1:2", "--admin-token", token]);
    assert!(stderr.contains("give --books postgres://"), "{stderr}");
}

/// The operator token opens everything, and the console's sign-in form is open to anyone who
/// reaches the port: a short one is refused (unset, one is generated).
#[test]
fn serve_refuses_an_operator_token_shorter_than_24_characters() {
    let stderr = refused_to_start(&["--admin-token", "change-me"]);
    assert!(stderr.contains("at least 24 characters"), "{stderr}");
    let stderr = refused_to_start(&["--admin-token", "twenty-three-characters"]);
    assert!(stderr.contains("at least 24 characters"), "{stderr}");
}

/// `pingpost check` names a buyer's call errors as the API does, with the file and line.
#[test]
fn check_names_a_buyers_call_errors_by_file_line_and_field_path() {
    let dir = temp_dir("check-calls");
    std::fs::write(
        dir.join("buyers.toml"),
        "[[buyers]]\nid = \"carrier\"\n\n\
         [buyers.calls.post]\nurl = \"http://{{ lead.zip }}.example/post\"\nencoding = \"xml\"\nxml_root = \"lead\"\n\n\
         [buyers.calls.post.fields]\n\"contact.dob\" = \"{{ lead.birth_date | date('%m/%d/%Y') \"\n\
         \"contact.zip\" = \"{{ lead.zip | no_such_filter }}\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pingpost")).arg("check").arg(&dir).output().expect("run check");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.join("buyers.toml").display().to_string();
    for field in ["calls.post.url", "calls.post.fields.contact.dob", "calls.post.fields.contact.zip"] {
        let expected = format!("{file}:1: [[buyers]] id \"carrier\", field \"{field}\"");
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example `contracts/` as the README's first command serves them (embedded store), its
/// buyers' URLs pointed at this test's simulated buyers and the strict buyers' secrets in the
/// environment: a form ping and post sell with the vertical's typed fields; a personal field
/// on the ping is refused at its field; a test lead goes to the buyers' sandboxes only and
/// says so; and the partner's posting instructions list its offers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_market_takes_forms_typed_fields_and_test_leads_and_documents_itself() {
    use pingpost_buyersim::strict::SECRET_NAMES;
    const ACME: &str = "demo-key-acme-0001";
    let buyers = Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let buyers_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
    let dir = temp_dir("example-market");
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().replace("http://127.0.0.1:9001", &buyers_url);
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
    let env: Vec<(String, String)> = SECRET_NAMES
        .iter()
        .map(|n| (pingpost_buyersim::Credentials::env_var(n), buyers.credentials().secret(n).unwrap().to_string()))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_engine, base) = common::process::start_engine_with(&dir, "memory", &env);
    let http = reqwest::Client::new();
    let form = async |path: &str, body: &str| {
        let resp = http
            .post(format!("{base}{path}"))
            .bearer_auth(ACME)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap())
    };

    let (status, ping) =
        form("/v1/ping", "offer=auto-excl&email=ex%40example.com&state=california&zip=90210&age=34").await;
    assert_eq!((status, ping["status"].as_str()), (200, Some("accepted")), "{ping}");
    let post_body = format!(
        "ping_id={}&email=ex%40example.com&state=CA&zip=90210&age=34&first_name=Ex&birth_date=04%2F15%2F1990",
        ping["ping_id"].as_str().unwrap()
    );
    let (status, post) = form("/v1/post", &post_body).await;
    assert_eq!((status, post["status"].as_str()), (200, Some("sold")), "{post}");
    let sold = buyers.received().into_iter().find(|r| r.kind == "post").unwrap();
    assert_eq!((&sold.body["lead"]["state"], &sold.body["lead"]["birth_date"]), (&json!("CA"), &json!("1990-04-15")));

    let (status, refused) = form("/v1/ping", "offer=auto-excl&email=ex2%40example.com&state=CA&first_name=Ex").await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("lead.first_name")), "{refused}");

    let (status, test_ping) = form(
        "/v1/ping",
        "offer=auto-multi&test=true&email=t%40example.com&phone=5551234567&state=CA&zip=90210&age=34&gender=male",
    )
    .await;
    assert_eq!((status, test_ping["test"].as_bool()), (200, Some(true)), "{test_ping}");
    assert_eq!(test_ping["status"], "accepted", "the strict buyers have sandboxes: {test_ping}");
    let test_post = format!(
        "ping_id={}&test=true&email=t%40example.com&phone=5551234567&state=CA&zip=90210&age=34&gender=male\
         &first_name=Tess&last_name=Tee&birth_date=1990-04-15",
        test_ping["ping_id"].as_str().unwrap()
    );
    let (status, test_sold) = form("/v1/post", &test_post).await;
    assert_eq!(
        (status, test_sold["status"].as_str(), test_sold["test"].as_bool()),
        (200, Some("sold"), Some(true)),
        "{test_sold}"
    );
    let strict = buyers.exchanges();
    assert!(!strict.is_empty() && strict.iter().all(|e| e.sandbox), "a test lead reaches sandboxes only: {strict:#?}");

    let docs = http.get(format!("{base}/v1/partner/docs")).bearer_auth(ACME).send().await.unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    let docs: Value = serde_json::from_slice(&docs.bytes().await.unwrap()).unwrap();
    let offers: Vec<&str> = docs["offers"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(offers, ["auto-excl", "auto-multi", "solar-excl"], "{docs}");
    let _ = std::fs::remove_dir_all(&dir);
}
