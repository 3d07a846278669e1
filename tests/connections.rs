//! What a client may hold of the real binary: a request head or body that stalls is cut off,
//! a kept-alive connection left idle is closed, connections beyond the limit wait, and 500
//! half-sent requests neither keep a partner's ping out nor hold a SIGTERM past its deadline.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_logged_with_flags, start_engine_with_flags, temp_dir};
use common::raw_http::{head, Conn};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const KEY: &str = "connections-partner-key-0001";

/// One offer, one fixed-price contract whose buyer is never reached (nothing here posts).
fn market(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    std::fs::write(
        dir.join("market.toml"),
        format!(
            "[[verticals]]\nid = \"auto\"\n\n\
             [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\n\n\
             [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\"]\n\n\
             [[buyers]]\nid = \"b1\"\npost_url = \"http://127.0.0.1:9/post\"\n\n\
             [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"18.50\"\n"
        ),
    )
    .unwrap();
    dir
}

async fn ping(http: &reqwest::Client, base: &str, email: &str) -> (u16, Value) {
    let body = json!({"offer": "auto-excl", "lead": {"email": email}});
    let resp = http
        .post(format!("{base}/v1/ping"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(body.to_string())
        .send()
        .await
        .expect("the engine answers");
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
}

/// Half a request head: the request line and one header, never the blank line.
const HALF_A_HEAD: &[u8] = b"POST /v1/ping HTTP/1.1\r\nhost: pingpost.test\r\n";

/// How long a test waits for something the server must do by itself before it fails
/// instead of hanging; far above every bound the engines here are given.
const FAILS_AFTER: Duration = Duration::from_secs(30);

async fn closed_by_the_server(conn: &mut Conn, what: &str) {
    match tokio::time::timeout(FAILS_AFTER, conn.at_eof()).await {
        Ok(Ok(true)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{what}: the server did not close the connection ({other:?})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_keep_no_partner_out_and_sigterm_exits_by_its_deadline() {
    let dir = market("half-open");
    // Heads may take a minute here, so the half-sent requests are all still held when the
    // signal comes: only the shutdown deadline can end them.
    let flags = ["--header-read-timeout-ms", "60000", "--shutdown-timeout-ms", "1000"];
    let (mut engine, base, log) = start_engine_logged_with_flags(&dir, "memory", &flags);
    let addr = base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..500 {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(HALF_A_HEAD).await.unwrap();
        held.push(tcp);
    }
    let http = reqwest::Client::new();
    let (status, answer) = ping(&http, &base, "through@example.com").await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")), "{answer}");

    let pid = engine.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::task::spawn_blocking(move || {
        let status = engine.0.wait().unwrap();
        (engine, status)
    });
    let (_engine, status) = match tokio::time::timeout(FAILS_AFTER, exit).await {
        Ok(done) => done.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
            panic!("pingpost did not exit after SIGTERM with 500 half-sent requests open");
        }
    };
    assert!(status.success(), "pingpost exited with {status}");
    // The flushes ran: the last line is written after the audit log and statistics are.
    let lines: Vec<String> = log.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("connections still open at the shutdown deadline")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("pingpost stopped")), "{lines:#?}");
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_and_an_idle_kept_alive_connection_are_closed() {
    let dir = market("stalled-head");
    let (_engine, base) = start_engine_with_flags(&dir, "memory", &["--header-read-timeout-ms", "300"]);

    let mut stalled = Conn::open(&base).await.unwrap();
    stalled.send(HALF_A_HEAD).await.unwrap();
    closed_by_the_server(&mut stalled, "a head half sent").await;

    let mut idle = Conn::open(&base).await.unwrap();
    idle.send(&head("GET", "/healthz", &[])).await.unwrap();
    assert_eq!(idle.response().await.unwrap().status, 200);
    closed_by_the_server(&mut idle, "a kept-alive connection left idle").await;

    // Nothing of the engine was held: it answers as before.
    let (status, _) = ping(&reqwest::Client::new(), &base, "after@example.com").await;
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_answered_408_and_its_connection_closed() {
    let dir = market("stalled-body");
    let (_engine, base) = start_engine_with_flags(&dir, "memory", &["--body-read-timeout-ms", "300"]);
    let mut conn = Conn::open(&base).await.unwrap();
    let headers = [("authorization", format!("Bearer {KEY}")), ("content-length", "100".to_string())];
    conn.send(&head("POST", "/v1/ping", &headers)).await.unwrap();
    conn.send(br#"{"offer": "#).await.unwrap();
    let answer = tokio::time::timeout(FAILS_AFTER, conn.response()).await.expect("an answer").unwrap();
    assert_eq!((answer.status, answer.error_code().as_str()), (408, "body_timeout"));
    assert_eq!(answer.header("connection"), Some("close"));
    closed_by_the_server(&mut conn, "a stalled body").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let dir = market("connection-limit");
    let (_engine, base) = start_engine_with_flags(&dir, "memory", &["--max-connections", "4"]);
    // Four connections, each proven accepted by an answer, then kept open and idle.
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut conn = Conn::open(&base).await.unwrap();
        conn.send(&head("GET", "/healthz", &[])).await.unwrap();
        assert_eq!(conn.response().await.unwrap().status, 200);
        open.push(conn);
    }
    // A fifth gets through the kernel's handshake but is not accepted: its request waits.
    // (Half a second is no bound on the server: an engine that ignored the limit would have
    // answered /healthz long before, on any machine.)
    let mut fifth = Conn::open(&base).await.unwrap();
    fifth.send(&head("GET", "/healthz", &[])).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), fifth.response()).await;
    assert!(early.is_err(), "a fifth connection was served past the limit of 4: {early:?}");
    // One closes: the fifth is accepted and answered.
    drop(open.pop());
    let answer = tokio::time::timeout(FAILS_AFTER, fifth.response()).await.expect("served once a slot freed");
    assert_eq!(answer.unwrap().status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
