//! Suppression: add, remove, check and bulk import, through the admin API and the CLI, and
//! what a suppressed consumer's ping gets.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine, temp_dir};
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn config() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", ""));
    c
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A ping of a fresh lead on its own vertical window: the solar vertical's is one day, so
/// moving the clock two days between pings keeps vertical dedup out of the way.
async fn ping_reason(h: &Harness, lead: Value) -> String {
    h.advance_days(2).await;
    let answer = h.ping("solar-excl", lead).await;
    answer["reason"].as_str().unwrap_or(answer["status"].as_str().unwrap_or_default()).to_string()
}

async fn check(h: &Harness, query: &str) -> Value {
    let (status, body) = h.admin("GET", &format!("/suppression/check?{query}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An import through the endpoint: (status, answer).
async fn import(h: &Harness, token: Option<&str>, csv: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/admin/suppression/import", h.base))
        .header("content-type", "text/csv")
        .body(csv.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
}

#[tokio::test]
async fn added_by_email_the_consumer_is_refused_and_removed_it_passes_again() {
    let h = Harness::start(&config()).await;
    let jane = lead(Some("jane@example.com"), Some("555-201-0001"));
    assert_eq!(ping_reason(&h, jane.clone()).await, "no_bids", "solar has no contract: the lead passes dedup");

    let (status, body) = h.admin("POST", "/suppression", Some(json!({"emails": [" Jane@Example.COM "]}))).await;
    assert_eq!((status, body), (200, json!({"added": 1})));
    let (_, again) = h.admin("POST", "/suppression", Some(json!({"emails": ["jane@example.com"]}))).await;
    assert_eq!(again, json!({"added": 0}), "already suppressed");
    assert_eq!(ping_reason(&h, jane.clone()).await, "suppressed");

    let status = check(&h, "email=JANE@example.com").await;
    assert_eq!(status["suppressed"], true);
    assert_eq!(status["since"], json!(start_time() + chrono::Duration::days(2)), "{status}");

    let (status, body) = h.admin("DELETE", "/suppression", Some(json!({"emails": ["jane@example.com"]}))).await;
    assert_eq!((status, body), (200, json!({"removed": 1})));
    assert_eq!(check(&h, "email=jane@example.com").await, json!({"suppressed": false, "since": null}));
    assert_eq!(ping_reason(&h, jane).await, "no_bids");
}

#[tokio::test]
async fn phones_and_hashes_are_added_checked_and_removed_like_emails() {
    let h = Harness::start(&config()).await;
    let phone_hash = sha("15552010002");
    let email_hash = sha("hashed@example.com");
    let body = json!({"phones": ["(555) 201-0002"], "sha256": [email_hash.to_uppercase()]});
    assert_eq!(h.admin("POST", "/suppression", Some(body)).await, (200, json!({"added": 2})));

    assert_eq!(ping_reason(&h, lead(Some("other@example.com"), Some("+1 555 201 0002"))).await, "suppressed");
    assert_eq!(ping_reason(&h, lead(Some("hashed@example.com"), None)).await, "suppressed");
    assert_eq!(check(&h, &format!("sha256={phone_hash}")).await["suppressed"], true);
    assert_eq!(check(&h, "phone=5552010002").await["suppressed"], true);
    assert_eq!(check(&h, "email=hashed@example.com").await["suppressed"], true);

    let body = json!({"sha256": [phone_hash], "phones": ["5550000000"]});
    assert_eq!(h.admin("DELETE", "/suppression", Some(body)).await, (200, json!({"removed": 1})));
    assert_eq!(ping_reason(&h, lead(None, Some("555-201-0002"))).await, "no_bids");
}

#[tokio::test]
async fn an_invalid_identifier_is_named_and_nothing_is_applied() {
    let h = Harness::start(&config()).await;
    let body = json!({"emails": ["a@example.com", "b@example.com", "c@example.com", "not-an-email"]});
    let (status, err) = h.admin("POST", "/suppression", Some(body)).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "emails[3]");
    assert!(!err.to_string().contains("not-an-email"), "the answer does not repeat the identifier: {err}");
    assert_eq!(check(&h, "email=a@example.com").await["suppressed"], false, "nothing half-applied");

    for (body, field) in [
        (json!({"phones": ["5552010001", "12"]}), "phones[1]"),
        (json!({"sha256": ["xyz"]}), "sha256[0]"),
        (json!({"sha256": [sha("")]}), "sha256[0]"),
        (json!({"email": ["a@example.com"]}), "email"),
    ] {
        let (status, err) = h.admin("POST", "/suppression", Some(body)).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{err}");
    }
    let (status, err) = h.admin("GET", "/suppression/check?email=a@example.com&phone=5552010001", None).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("query")));
    let (status, err) = h.admin("GET", "/suppression/check?phone=12", None).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("phone")));
}

#[tokio::test]
async fn only_the_operator_token_is_accepted() {
    let h = Harness::start(&config()).await;
    let body = json!({"emails": ["a@example.com"]});
    for token in [None, Some(KEY_P1), Some("wrong")] {
        for (method, path) in
            [("POST", "/suppression"), ("DELETE", "/suppression"), ("GET", "/suppression/check?email=a@example.com")]
        {
            let (status, err) = h.admin_with(token, method, path, Some(body.clone())).await;
            assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthorized")), "{method} {path}");
        }
        assert_eq!(import(&h, token, "a@example.com\n").await.0, 401);
    }
    assert_eq!(check(&h, "email=a@example.com").await["suppressed"], false);
}

#[tokio::test]
async fn an_import_counts_rows_added_skipped_and_invalid_with_their_lines() {
    let h = Harness::start(&config()).await;
    h.admin("POST", "/suppression", Some(json!({"emails": ["old@example.com"]}))).await;
    let csv = format!(
        "Email,Phone,email_sha256\n\
         new@example.com,555-201-0101,\n\
         old@example.com,,\n\
         not-an-email,555-201-0102,\n\
         \"quoted, \"\"name\"\"\"@example.com,,\n\
         ,,{}\n\
         new@example.com,,\n\
         ,,\n\
         old@example.com,555-201-0103,\n\
         \"multi\nline\",,\n",
        sha("hashed@example.com")
    );
    let (status, report) = import(&h, Some(ADMIN_TOKEN), &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({"rows": 9, "added": 3, "skipped": 2, "invalid": 4, "invalid_rows": [
            {"line": 4, "error": "email (column 1) is not an email address"},
            {"line": 5, "error": "email (column 1) is not an email address"},
            {"line": 8, "error": "no email or phone in this row"},
            {"line": 10, "error": "email (column 1) is not an email address"},
        ]})
    );
    assert_eq!(check(&h, "phone=5552010101").await["suppressed"], true);
    assert_eq!(check(&h, "phone=5552010103").await["suppressed"], true, "a row with one new identifier is added");
    assert_eq!(check(&h, "phone=5552010102").await["suppressed"], false, "nothing of an invalid row is applied");
    assert_eq!(ping_reason(&h, lead(Some("hashed@example.com"), None)).await, "suppressed");
}

#[tokio::test]
async fn an_import_without_a_header_guesses_each_cell_and_lists_at_most_100_invalid_rows() {
    let h = Harness::start(&config()).await;
    let mut csv = String::from("a@example.com,5552010201\n5552010202\n");
    for i in 0..150 {
        csv.push_str(&format!("bad{i}\n"));
    }
    csv.push_str("b@example.com\n");
    let (status, report) = import(&h, Some(ADMIN_TOKEN), &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["rows"].as_u64(), report["added"].as_u64()), (Some(153), Some(3)));
    assert_eq!(report["invalid"], 150);
    let listed = report["invalid_rows"].as_array().unwrap();
    assert_eq!((listed.len(), listed[0]["line"].as_u64(), listed[99]["line"].as_u64()), (100, Some(3), Some(102)));
    assert_eq!(check(&h, "phone=5552010202").await["suppressed"], true);
}

#[tokio::test]
async fn an_import_larger_than_one_batch_counts_repeats_across_batches_as_skipped() {
    let h = Harness::start(&config()).await;
    let mut csv = String::from("email\n");
    for i in 0..25_000 {
        csv.push_str(&format!("person{i}@example.com\n"));
    }
    for i in 0..100 {
        csv.push_str(&format!("person{i}@example.com\n"));
    }
    let (status, report) = import(&h, Some(ADMIN_TOKEN), &csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, json!({"rows": 25_100, "added": 25_000, "skipped": 100, "invalid": 0, "invalid_rows": []}));
    assert_eq!(check(&h, "email=person24999@example.com").await["suppressed"], true);
}

#[tokio::test]
async fn no_plaintext_identifier_of_an_import_or_a_list_reaches_the_store() {
    let h = Harness::start(&config()).await;
    let csv = "email,phone\nSecret.Person@Example.com,(555) 201-0301\nhidden@example.org,\n";
    assert_eq!(import(&h, Some(ADMIN_TOKEN), csv).await.0, 200);
    h.admin("POST", "/suppression", Some(json!({"emails": ["listed@example.net"], "phones": ["555-201-0302"]}))).await;

    let store = h.dump_store().await;
    assert!(store.contains(&sha("secret.person@example.com")), "identifiers are there, hashed");
    for form in [
        "secret.person",
        "Secret.Person",
        "hidden@",
        "listed@",
        "5552010301",
        "15552010301",
        "201-0301",
        "5552010302",
        "15552010302",
    ] {
        assert!(!store.contains(form), "store holds {form:?}");
    }
}

fn contracts_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts"))
}

#[tokio::test]
async fn the_cli_hashes_a_file_locally_and_imports_it() {
    let dir = temp_dir("suppress-cli");
    let (_engine, base) = start_engine(contracts_dir(), "memory");
    let file = dir.join("list.csv");
    std::fs::write(&file, "email,phone\na@example.com,5552010401\nnope,\nb@example.com,\na@example.com,\n").unwrap();

    let run = || {
        Command::new(env!("CARGO_BIN_EXE_pingpost"))
            .args(["suppress", "import"])
            .arg(&file)
            .args(["--url", &base, "--batch-rows", "2"])
            .env("PINGPOST_ADMIN_TOKEN", "e2e-admin-token-000000000000")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("4 rows, 2 added, 1 skipped, 1 invalid"), "{stdout}");
    assert!(stdout.contains("line 3: email (column 1) is not an email address"), "{stdout}");

    let client = reqwest::Client::new();
    let check = |q: &str| {
        client.get(format!("{base}/v1/admin/suppression/check?{q}")).bearer_auth("e2e-admin-token-000000000000").send()
    };
    let body: Value =
        serde_json::from_slice(&check("email=b@example.com").await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(body["suppressed"], true);
    let body: Value =
        serde_json::from_slice(&check("phone=555-201-0401").await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(body["suppressed"], true);

    let again = run();
    assert!(String::from_utf8_lossy(&again.stdout).contains("4 rows, 0 added, 3 skipped, 1 invalid"));

    let refused = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["suppress", "import"])
        .arg(&file)
        .args(["--url", &base, "--admin-token", "wrong-token"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
}
