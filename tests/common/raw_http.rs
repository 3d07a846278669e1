//! HTTP/1.1 spoken by hand over a `TcpStream`, for what an HTTP client library hides: a client
//! that writes its whole body before reading a byte, an `Expect: 100-continue` that waits for
//! the server's word, a body announced and never sent.

use serde_json::Value;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One response: an interim `100 Continue` or a final answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body's text when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{} answered non-JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// The `error.code` of a JSON error answer, or what stands in its place.
    pub fn error_code(&self) -> String {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => v["error"]["code"].as_str().unwrap_or("<no code>").to_string(),
            Err(_) => format!("<not JSON: {:?}>", String::from_utf8_lossy(&self.body)),
        }
    }
}

/// A client connection that keeps what it read past the end of one response for the next.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `base` (`http://host:port`).
    pub async fn open(base: &str) -> io::Result<Conn> {
        let addr = base.trim_start_matches("http://");
        Ok(Conn { stream: TcpStream::connect(addr).await?, buf: Vec::new() })
    }

    /// Connects with a send buffer of about `bytes`. On loopback the kernel grows a send
    /// buffer to megabytes, so a whole multi-megabyte body can land in it before the server
    /// has read anything and the client never learns what the server did with it; with a
    /// small buffer, writing the body completes only once the server has read nearly all of
    /// it, as over a real network.
    pub async fn open_with_send_buffer(base: &str, bytes: u32) -> io::Result<Conn> {
        let addr = base.trim_start_matches("http://").parse().map_err(io::Error::other)?;
        let socket = TcpSocket::new_v4()?;
        socket.set_send_buffer_size(bytes)?;
        Ok(Conn { stream: socket.connect(addr).await?, buf: Vec::new() })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response: its head, then a body of its `Content-Length` (none for 1xx).
    pub async fn response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status =
            status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}"))
            })?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut response = Response { status, headers, body: Vec::new() };
        if (100..200).contains(&status) {
            return Ok(response);
        }
        let length: usize = response.header("content-length").and_then(|v| v.parse().ok()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{status} answered without a Content-Length"))
        })?;
        while self.buf.len() < length {
            self.fill().await?;
        }
        response.body = self.buf.drain(..length).collect();
        Ok(response)
    }

    /// True when the server has closed the connection (nothing more to read).
    pub async fn at_eof(&mut self) -> io::Result<bool> {
        Ok(self.buf.is_empty() && self.stream.read(&mut [0u8; 1]).await? == 0)
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection mid-response")),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }
}

/// A request head for `method path` with `headers` (name, value) and the `Host` every
/// HTTP/1.1 request carries.
pub fn head(method: &str, path: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: pingpost.test\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// `body` in chunked transfer coding, in pieces of `piece` bytes.
pub fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / piece * 12 + 8);
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
