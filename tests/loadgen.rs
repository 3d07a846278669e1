//! The real `pingpost-loadgen` binary against a real `pingpost serve` (embedded store, a
//! temporary contracts dir, simulated buyers): the report's counts must match the consumer
//! mix the generator sent.
//!
//! The loadgen binary belongs to another package, so it is found next to this package's
//! binary; `cargo test --workspace` builds both.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine, temp_dir};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use tokio::net::TcpListener;

const KEYS: [&str; 2] = ["loadgen-partner-key-0001", "loadgen-partner-key-0002"];

fn loadgen_binary() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_pingpost")).with_file_name("pingpost-loadgen");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p pingpost-loadgen` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_against_the_engine_counts_every_answer_of_the_mix() {
    let buyers = pingpost_buyersim::Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let buyers_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));

    let dir = temp_dir("loadgen");
    let hash = |k: &str| hex::encode(Sha256::digest(k.as_bytes()));
    let mut config = format!(
        "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n\n\
         [[offers]]\nid = \"bench\"\nvertical = \"auto\"\n\n\
         [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{}\"\noffers = [\"bench\"]\n\n\
         [[partners]]\nid = \"p2\"\napi_key_sha256 = \"{}\"\noffers = [\"bench\"]\n\n",
        hash(KEYS[0]),
        hash(KEYS[1])
    );
    for b in 1..=3 {
        config += &format!("[[buyers]]\nid = \"b{b}\"\npost_url = \"{buyers_url}/b{b}/post\"\n\n");
        config +=
            &format!("[[contracts]]\nid = \"c{b}\"\nbuyer = \"b{b}\"\noffer = \"bench\"\nprice = \"1{b}.00\"\n\n");
    }
    std::fs::write(dir.join("market.toml"), config).unwrap();
    let (_engine, base) = start_engine(&dir, "memory");

    let json = dir.join("report.json");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(loadgen_binary())
            .args(["--url", &base, "--offer", "bench", "--key", KEYS[0], "--key", KEYS[1]])
            .args(["--rate", "60", "--duration", "1s", "--warmup", "0", "--quiet"])
            .args(["--repeat-share", "0.3", "--suppressed-share", "0.3", "--suppressed-list", "5"])
            .args(["--admin-token", "e2e-admin-token-000000000000", "--json"])
            .arg(&json)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed: {stdout}\n{stderr}");
    let r: Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();

    assert_eq!(r["requests"], 60, "{r:#}");
    assert_eq!(r["answered"], 60);
    assert_eq!(r["errors"], 0);
    let answer = |k: &str| r["answers"][k].as_u64().unwrap_or(0);
    let mix = |k: &str| r["mix"][k].as_u64().unwrap();
    assert_eq!(mix("fresh") + mix("repeat") + mix("suppressed"), 60);
    assert!(mix("repeat") > 0, "{r:#}");
    // Each repeat makes exactly one of its group (original plus repeats) a duplicate,
    // whichever arrives second.
    assert_eq!(answer("rejected:vertical_duplicate"), mix("repeat"), "{r:#}");
    // The engine has the suppression endpoint: the list must have been applied, or the
    // suppressed share would silently turn into fresh consumers.
    let suppression = r["run"]["suppression"].as_str().unwrap();
    assert!(suppression.starts_with("applied"), "{suppression}\n{stderr}");
    assert!(mix("suppressed") > 0, "{r:#}");
    assert_eq!(answer("rejected:suppressed"), mix("suppressed"), "{r:#}");
    assert_eq!(answer("accepted"), mix("fresh"), "{r:#}");
    assert!(r["latency_us"]["p99"].as_u64().unwrap() > 0);
    // Fixed-price contracts never call the buyers at ping time.
    assert!(buyers.received().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
