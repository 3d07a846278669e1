//! What a buyer's server can make the engine's HTTP client do, against real servers on
//! loopback that misbehave on purpose: a redirect is never followed, an endless answer is
//! read no further than its bound, and a buyer that stops answering gets no more calls in
//! flight than its room.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use pingpost_core::ids::BuyerId;
use pingpost_engine::buyer::client::{CallKind, Target, MAX_ANSWER_BYTES};
use pingpost_engine::buyer::{BuyerClient, CallError};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How each connection is answered, once its request has been read.
#[derive(Clone)]
enum Answer {
    /// This status line and these headers, no body.
    Head(&'static str, String),
    /// A chunked body that never ends.
    Endless,
    /// `{}` once the server is released.
    WhenReleased,
}

/// A server on loopback: answers every request with `answer`; counts the requests.
struct Server {
    url: String,
    requests: watch::Receiver<usize>,
    release: watch::Sender<bool>,
}

async fn server(answer: Answer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (count, requests) = watch::channel(0usize);
    let (release, released) = watch::channel(false);
    let count = Arc::new(count);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (answer, count, mut released) = (answer.clone(), Arc::clone(&count), released.clone());
            tokio::spawn(async move {
                let mut tcp = tcp;
                if read_request(&mut tcp).await.is_none() {
                    return;
                }
                count.send_modify(|n| *n += 1);
                let _ = respond(&mut tcp, answer, &mut released).await;
            });
        }
    });
    Server { url, requests, release }
}

/// Reads a request's head and its `Content-Length` body.
async fn read_request(tcp: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

async fn respond(tcp: &mut TcpStream, answer: Answer, released: &mut watch::Receiver<bool>) -> std::io::Result<()> {
    match answer {
        Answer::Head(status, headers) => {
            tcp.write_all(format!("HTTP/1.1 {status}\r\n{headers}content-length: 0\r\n\r\n").as_bytes()).await
        }
        Answer::Endless => {
            tcp.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await?;
            let piece = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
            loop {
                tcp.write_all(piece.as_bytes()).await?;
            }
        }
        Answer::WhenReleased => {
            let _ = released.wait_for(|r| *r).await;
            tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await
        }
    }
}

async fn call(
    client: &BuyerClient,
    buyer: &BuyerId,
    url: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), CallError> {
    let to = Target { kind: CallKind::Post, buyer, url };
    client.post_bytes(to, b"{\"lead\": {}}".to_vec(), timeout, Instant::now() + timeout).await
}

#[tokio::test]
async fn a_redirect_is_the_buyers_answer_and_the_lead_goes_nowhere_else() {
    let elsewhere = server(Answer::Head("200 OK", String::new())).await;
    let location = format!("location: {}/internal\r\n", elsewhere.url);
    let buyer_server = server(Answer::Head("307 Temporary Redirect", location)).await;
    let client = BuyerClient::new().unwrap();
    let buyer = BuyerId::new("b1");
    let (status, _) =
        call(&client, &buyer, &format!("{}/post", buyer_server.url), Duration::from_secs(30)).await.unwrap();
    assert_eq!(status, 307);
    assert_eq!(*buyer_server.requests.borrow(), 1);
    assert_eq!(*elsewhere.requests.borrow(), 0, "the lead was re-sent where the redirect pointed");
}

#[tokio::test]
async fn an_endless_answer_is_refused_at_its_bound_not_read_until_the_deadline() {
    let endless = server(Answer::Endless).await;
    let client = BuyerClient::new().unwrap();
    let buyer = BuyerId::new("b1");
    // A deadline far beyond what 64 KiB takes on loopback: the refusal is the bound's, not
    // the clock's (a timeout would answer `Timeout`).
    let answer = call(&client, &buyer, &format!("{}/post", endless.url), Duration::from_secs(60)).await;
    assert_eq!(answer, Err(CallError::TooLarge), "more than {MAX_ANSWER_BYTES} bytes were read");
}

#[tokio::test]
async fn a_buyer_that_stops_answering_holds_no_more_calls_than_its_room() {
    let mut stuck = server(Answer::WhenReleased).await;
    let client = BuyerClient::with_calls_per_buyer(2).unwrap();
    let (b1, b2) = (BuyerId::new("b1"), BuyerId::new("b2"));
    let url = format!("{}/post", stuck.url);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (client, b1, url) = (client.clone(), b1.clone(), url.clone());
            tokio::spawn(async move { call(&client, &b1, &url, Duration::from_secs(60)).await })
        })
        .collect();
    let _ = stuck.requests.wait_for(|n| *n == 2).await;
    // The third call to b1 finds no room before its deadline and is not made.
    assert_eq!(call(&client, &b1, &url, Duration::from_millis(200)).await, Err(CallError::Busy));
    assert_eq!(*stuck.requests.borrow(), 2, "the third call reached the buyer");
    // Another buyer's room is its own.
    let other = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { call(&client, &b2, &url, Duration::from_secs(60)).await }
    });
    let _ = stuck.requests.wait_for(|n| *n == 3).await;
    stuck.release.send_replace(true);
    for call in held {
        assert_eq!(call.await.unwrap().map(|(status, _)| status), Ok(200));
    }
    assert_eq!(other.await.unwrap().map(|(status, _)| status), Ok(200));
    // Room is given back with each answer.
    assert_eq!(call(&client, &b1, &url, Duration::from_secs(60)).await.map(|(s, _)| s), Ok(200));
}
