//! Graceful shutdown of the real binary: SIGTERM while a post is being delivered stops new
//! connections at once, lets the post finish with the buyer's real answer, and exits 0.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_logged, temp_dir};
use pingpost_buyersim::Buyers;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "shutdown-partner-key-0001";

async fn call(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = http.post(url).header("authorization", format!("Bearer {KEY}")).body(body.to_string()).send().await;
    let resp = resp.expect("engine answers");
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON"))
}

/// Waits (off the runtime) for the engine to log a line containing `text`.
async fn logged(lines: std::sync::mpsc::Receiver<String>, text: &'static str) -> std::sync::mpsc::Receiver<String> {
    tokio::task::spawn_blocking(move || {
        loop {
            match lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(text) => break,
                Ok(_) => {}
                Err(e) => panic!("the engine never logged {text:?}: {e}"),
            }
        }
        lines
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_post_in_flight_refuses_new_connections_and_exits_cleanly() {
    let buyers = Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let buyers_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));

    let dir = temp_dir("shutdown");
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    std::fs::write(
        dir.join("market.toml"),
        format!(
            "[[verticals]]\nid = \"auto\"\n\n\
             [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
             [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\"]\n\n\
             [[buyers]]\nid = \"b1\"\npost_url = \"{buyers_url}/b1/post\"\ntimeout_ms = 60000\n\n\
             [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"18.50\"\n"
        ),
    )
    .unwrap();
    let (mut engine, base, log) = start_engine_logged(&dir, "memory");
    let addr = base.trim_start_matches("http://").to_string();
    let http = reqwest::Client::new();

    let lead = json!({"email": "shutdown@example.com", "state": "CA"});
    let (status, ping) = call(&http, format!("{base}/v1/ping"), json!({"offer": "auto-excl", "lead": lead})).await;
    assert_eq!((status, ping["status"].as_str()), (200, Some("accepted")), "{ping}");

    // The buyer takes the post and thinks until released: the post is in flight.
    buyers.hold();
    let post = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/v1/post"));
        async move { call(&http, url, json!({"ping_id": ping["ping_id"], "lead": lead})).await }
    });
    buyers.received_at_least("b1", "post", 1).await;

    let pid = engine.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let _log = logged(log, "shutdown signal received").await;

    // The accept loop stops when it sees the signal and drops the listener. Until then a
    // connect may still succeed, so those are retried. A connection the kernel had queued in
    // the backlog when the listener closed is reset, and `connect` reports that reset instead
    // of success when it lands before the handshake's completion is read: refused as well.
    // A listener that is still open never resets a connect (its backlog is far from full:
    // one attempt at a time), so accepting resets cannot let a missing feature pass.
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match TcpStream::connect(&addr).await {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset) => break,
                Err(e) => panic!("unexpected connect error: {e}"),
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "new connections still accepted after SIGTERM");
    // Closed for good, not a passing hiccup: with no socket left on the port, the next
    // attempt is refused outright.
    let again = TcpStream::connect(&addr).await.map(|_| ()).map_err(|e| e.kind());
    assert_eq!(again, Err(ErrorKind::ConnectionRefused), "the listener is closed once and for all");
    assert!(!post.is_finished(), "the post must still be waiting for its buyer");

    buyers.release();
    let (status, answer) = post.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "sold", "{answer}");
    assert_eq!(answer["sales"][0]["buyer"], "b1");

    let exit = tokio::task::spawn_blocking(move || {
        let status = engine.0.wait().unwrap();
        (engine, status)
    });
    let (_engine, status) = match tokio::time::timeout(Duration::from_secs(30), exit).await {
        Ok(done) => done.unwrap(),
        Err(_) => {
            // The blocking wait holds the child: kill it by pid, or the runtime would wait for
            // that task forever and the test would hang instead of failing.
            let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
            panic!("pingpost did not exit within 30 s of SIGTERM");
        }
    };
    assert!(status.success(), "pingpost exited with {status}");
    let _ = std::fs::remove_dir_all(&dir);
}
