//! The connection loop: what a client may hold of the server, and how the server stops.
//!
//! `axum::serve` sets no timer, so hyper never applies its header-read timeout, and it
//! accepts connections without limit: a client without any key could hold thousands of
//! half-sent requests open (the console's sign-in form is read before anyone is
//! authenticated), exhausting file descriptors for every partner, and a graceful shutdown
//! would wait on them forever. This loop bounds each of those:
//! - **a request's head** must arrive within [`Limits::header_read`]. hyper starts that timer
//!   when the connection begins to wait for a request, so the same bound is also how long a
//!   kept-alive connection may sit idle between requests;
//! - **a request's body** may not stall: each of its chunks must arrive within
//!   [`Limits::body_read`] of the one before (a slow but steady upload, such as a large
//!   suppression import, is not cut off);
//! - **open connections** are at most [`Limits::max_connections`]: past it the loop stops
//!   accepting, and new clients wait in the kernel's backlog until one closes;
//! - **shutting down** stops accepting at once, asks every connection to finish its request
//!   in flight and close, and gives up on those still open after [`Limits::shutdown`].

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;

/// Gauge of the connections open, labelled `address` = `api` | `metrics`.
pub const HTTP_CONNECTIONS: &str = "pingpost_http_connections";

/// What a client may hold of the server (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_read: Duration,
    pub body_read: Duration,
    pub max_connections: usize,
    pub shutdown: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A partner's request head is a few hundred bytes: seconds are generous, and a
            // load balancer's pooled connection reconnects after this long idle.
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            // Far below the file descriptors a process is usually given (and what the
            // engine raises its own limit to), far above what a node's partners hold.
            max_connections: 4096,
            // Under a container's usual 30 s between SIGTERM and SIGKILL, with time left for
            // the flushes that follow.
            shutdown: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves, then lets the
/// connections finish for at most `limits.shutdown`. `address` names the listener in the
/// connections gauge.
pub async fn serve(
    listener: TcpListener,
    address: &'static str,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: the
                    // listener itself is fine. A pause keeps a lasting failure from spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Nagle would hold small answers back for the client's delayed ACK, adding up to
        // milliseconds to a sub-millisecond ping.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
        // Each body bounded between chunks, and the peer's address available to handlers
        // (`ConnectInfo`), as `axum::serve` would give it.
        let (router, body_read) = (router.clone(), limits.body_read);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(|body| axum::body::Body::new(StallBounded::new(body_read, body)));
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(req).await }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .serve_connection(TokioIo::new(tcp), service);
        let connection = graceful.watch(connection);
        metrics::gauge!(HTTP_CONNECTIONS, "address" => address).increment(1.0);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            metrics::gauge!(HTTP_CONNECTIONS, "address" => address).decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            deadline_ms = limits.shutdown.as_millis() as u64,
            "connections still open at the shutdown deadline are abandoned"
        );
    }
    Ok(())
}

/// A request body that fails with [`BodyStalled`] when its next chunk does not arrive within
/// its bound of the one before. Unlike tower-http's `TimeoutBody` it keeps the body's size
/// hint, by which a declared length over a route's limit is refused before it is read.
struct StallBounded {
    body: Incoming,
    bound: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error of a body that stalled (see [`StallBounded`]).
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: no data within the body-read timeout")]
pub struct BodyStalled;

impl StallBounded {
    fn new(bound: Duration, body: Incoming) -> Self {
        StallBounded { body, bound, sleep: None }
    }
}

impl Body for StallBounded {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // The clock starts only once the body keeps us waiting: a body that arrived with its
        // headers (every ping's) costs no timer at all.
        let bound = this.bound;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
