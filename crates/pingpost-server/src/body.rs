//! Request bodies read under a size limit, refused so that the refusal reaches the client.
//!
//! Answering 413 at the limit and closing while the client is still sending leaves unread
//! bytes in the kernel, which then resets the connection: a client that writes its whole body
//! before reading (Python's urllib, many partner stacks) gets a broken pipe or a reset instead
//! of its 413. hyper reads no more of a body than it is asked for (after the answer it reads
//! once more, then closes), and axum's and tower-http's limits refuse at the limit the same
//! way, so the lingering is ours: past the limit the handler keeps reading and dropping what
//! the client sends, within [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`], and answers then.
//!
//! A `Content-Length` over the limit is refused before reading anything when the client
//! awaits `100 Continue` (hyper sends it only when a handler first reads the body, so the
//! client never sends it) or when the body is longer than the drain bound.
//!
//! Handlers authenticate before reading a body, so only partners and operators are drained for.

use crate::error::ApiError;
use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

/// Most bytes of a refused body read and dropped. Honest mistakes (a 3 MB ping against
/// 64 KiB, a 10 MB admin upload against 4 MiB) fit with room to spare and still get a readable
/// 413; draining costs no memory, each chunk is dropped as it comes. Whoever sends more is
/// broken or hostile and gets the connection closed on them.
pub const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Longest a refused body is read for. 16 MiB takes well under a second on loopback or a LAN
/// and needs ~27 Mbit/s to fit; slower senders get the close. A client dripping bytes holds a
/// task no longer than this after its refusal (nginx lingers 5 s between reads by default).
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Longer than `limit`. `read_to_end`: what the client sent was drained to its end, so
    /// the connection can carry the answer and further requests.
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: u64, read_to_end: bool },
    /// The client broke off, or sent framing that contradicts itself.
    #[error("the request body could not be read")]
    Unreadable,
    /// The client stopped sending its body for longer than the body-read timeout.
    #[error("the request body stalled: nothing arrived within the body-read timeout")]
    Stalled,
}

impl BodyError {
    /// What a failed read of the body means: a stall (see [`crate::listen`]) or a broken body.
    fn of(e: &axum::Error) -> BodyError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if err.is::<crate::listen::BodyStalled>() {
                return BodyError::Stalled;
            }
            source = err.source();
        }
        BodyError::Unreadable
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { read_to_end: true, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.to_string())
            }
            // Bytes the client sent may still be unread: keeping the connection would read
            // them as the next request.
            BodyError::TooLarge { read_to_end: false, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.to_string()).closing_connection()
            }
            BodyError::Unreadable => {
                ApiError::new(StatusCode::BAD_REQUEST, "body_unreadable", e.to_string()).closing_connection()
            }
            BodyError::Stalled => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string()).closing_connection()
            }
        }
    }
}

/// A request's body, with what decides how it is refused: whether the client waits for
/// `100 Continue` before sending it. Handlers extract this instead of [`Body`].
pub struct RequestBody {
    body: Body,
    awaits_continue: bool,
}

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Infallible> {
        let awaits_continue =
            req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        Ok(RequestBody { body: req.into_body(), awaits_continue })
    }
}

impl RequestBody {
    /// The whole body, at most `limit` bytes.
    pub async fn bytes(self, limit: usize) -> Result<Bytes, BodyError> {
        let limit = limit as u64;
        let declared = self.body.size_hint().lower().min(limit);
        let mut chunks = self.chunks(limit).await?;
        let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = chunks.next_chunk().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(buf))
    }

    /// The body as chunks that end in [`BodyError::TooLarge`] past `limit`. A length declared
    /// over `limit` is refused here: at once if the client awaits `100 Continue` or the body
    /// is longer than the drain bound, else once it has been drained.
    pub async fn chunks(self, limit: u64) -> Result<Chunks, BodyError> {
        // Exact when the request has a Content-Length, 0 when it is chunked.
        let declared = self.body.size_hint().lower();
        let mut stream = self.body.into_data_stream();
        if declared > limit {
            let read_to_end = !self.awaits_continue
                && declared <= DRAIN_MAX_BYTES
                && drain(&mut stream, DRAIN_MAX_BYTES, DRAIN_MAX_TIME).await;
            return Err(BodyError::TooLarge { limit, read_to_end });
        }
        Ok(Chunks { stream, limit, read: 0, done: false })
    }
}

/// A body's chunks, up to its limit.
pub struct Chunks {
    stream: BodyDataStream,
    limit: u64,
    read: u64,
    done: bool,
}

impl Chunks {
    /// The next chunk. Past the limit, what the client still sends is drained first and the
    /// answer is [`BodyError::TooLarge`]; nothing follows an error.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        if self.done {
            return None;
        }
        let item = match self.stream.next().await {
            None => None,
            Some(Err(e)) => Some(Err(BodyError::of(&e))),
            Some(Ok(chunk)) => {
                self.read += chunk.len() as u64;
                if self.read <= self.limit {
                    return Some(Ok(chunk));
                }
                let read_to_end = drain(&mut self.stream, DRAIN_MAX_BYTES, DRAIN_MAX_TIME).await;
                Some(Err(BodyError::TooLarge { limit: self.limit, read_to_end }))
            }
        };
        self.done = true;
        item
    }

    /// The chunks as a [`futures_util::Stream`], for readers built on one.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, BodyError>> {
        futures_util::stream::unfold(self, |mut chunks| async move { chunks.next_chunk().await.map(|c| (c, chunks)) })
            .boxed()
    }
}

/// Reads and drops the rest of a refused body, up to `max_bytes` and for at most `max_time`;
/// answers whether it reached the end.
async fn drain(stream: &mut BodyDataStream, max_bytes: u64, max_time: Duration) -> bool {
    let to_end = async {
        let mut left = max_bytes;
        while let Some(chunk) = stream.next().await {
            match chunk.ok().and_then(|c| left.checked_sub(c.len() as u64)) {
                Some(rest) => left = rest,
                None => return false,
            }
        }
        true
    };
    tokio::time::timeout(max_time, to_end).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(chunks: usize, size: usize) -> Body {
        Body::from_stream(futures_util::stream::iter((0..chunks).map(move |_| Ok::<_, Infallible>(vec![b'x'; size]))))
    }

    fn body(body: Body, awaits_continue: bool) -> RequestBody {
        RequestBody { body, awaits_continue }
    }

    #[tokio::test]
    async fn a_body_up_to_its_limit_is_read_whole() {
        assert_eq!(body(Body::from(vec![b'x'; 10]), false).bytes(10).await.map(|b| b.len()), Ok(10));
        assert_eq!(body(streamed(10, 1024), false).bytes(10 * 1024).await.map(|b| b.len()), Ok(10 * 1024));
    }

    #[tokio::test]
    async fn a_body_past_its_limit_is_drained_then_refused() {
        let too_large = Err(BodyError::TooLarge { limit: 4096, read_to_end: true });
        assert_eq!(body(streamed(10, 1024), false).bytes(4096).await, too_large, "streamed");
        assert_eq!(body(Body::from(vec![b'x'; 5000]), false).bytes(4096).await, too_large, "declared");
    }

    #[tokio::test]
    async fn a_declared_length_is_refused_unread_when_the_client_awaits_continue_or_it_passes_the_bound() {
        let unread = |limit| Err(BodyError::TooLarge { limit, read_to_end: false });
        assert_eq!(body(Body::from(vec![b'x'; 5000]), true).bytes(4096).await, unread(4096));
        // A chunked body declares nothing: it is read as it comes, and refused at its limit.
        let endless = Body::from_stream(futures_util::stream::pending::<Result<Bytes, Infallible>>());
        assert!(body(endless, true).chunks(10).await.is_ok());
        assert_eq!(body(Body::from(vec![b'x'; DRAIN_MAX_BYTES as usize + 1]), false).bytes(10).await, unread(10));
    }

    #[tokio::test]
    async fn a_drain_stops_at_its_byte_bound_its_time_bound_or_an_error() {
        let bounded = |chunks, size, max_bytes| async move {
            drain(&mut streamed(chunks, size).into_data_stream(), max_bytes, Duration::from_secs(60)).await
        };
        assert!(bounded(10, 1024, 10 * 1024).await, "exactly the bound");
        assert!(!bounded(10, 1024, 10 * 1024 - 1).await, "one byte past it");
        let endless = Body::from_stream(futures_util::stream::pending::<Result<Bytes, Infallible>>());
        assert!(!drain(&mut endless.into_data_stream(), u64::MAX, Duration::from_millis(10)).await);
        let broken = Body::from_stream(futures_util::stream::iter([Err::<Bytes, _>(std::io::Error::other("gone"))]));
        assert!(!drain(&mut broken.into_data_stream(), u64::MAX, Duration::from_secs(60)).await);
    }

    #[tokio::test]
    async fn nothing_follows_a_refusal() {
        let mut chunks = body(streamed(3, 1024), false).chunks(1024).await.unwrap();
        assert_eq!(chunks.next_chunk().await.map(|c| c.map(|b| b.len())), Some(Ok(1024)));
        assert_eq!(chunks.next_chunk().await, Some(Err(BodyError::TooLarge { limit: 1024, read_to_end: true })));
        assert_eq!(chunks.next_chunk().await, None);
    }
}
