//! Drives real HTTP: the open-loop pacer, the closed-loop workers, the suppression setup,
//! and the progress line.

use crate::mix::{self, Consumer, Mix};
use crate::report::{classify, Outcome, Recorder, Report, RunInfo};
use crate::schedule::{Schedule, Timing};
use anyhow::{bail, Context, Result};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What every request is sent to, and how its body is made.
pub struct Target {
    client: reqwest::Client,
    url: String,
    /// `Bearer <key>` for each partner key, used in turn.
    auth: Vec<HeaderValue>,
    offer: String,
    run_id: String,
    mix: Mix,
    /// Echo bodies carry fresh consumers and are not counted in the mix.
    count_mix: bool,
}

impl Target {
    pub fn new(
        client: reqwest::Client,
        url: String,
        keys: &[String],
        offer: String,
        run_id: String,
        mix: Mix,
        count_mix: bool,
    ) -> Result<Self> {
        let auth = keys
            .iter()
            .map(|k| HeaderValue::from_str(&format!("Bearer {k}")).context("a partner key is not a valid header value"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Target { client, url, auth, offer, run_id, mix, count_mix })
    }

    /// Sends request `seq` and waits for its whole answer.
    pub async fn send(&self, seq: u64) -> (Option<Consumer>, Outcome) {
        let consumer = self.mix.consumer(seq);
        let body = mix::ping_body(&self.offer, &mix::email(&self.run_id, consumer));
        let mut req = self.client.post(&self.url).header(CONTENT_TYPE, "application/json").body(body);
        if !self.auth.is_empty() {
            req = req.header(AUTHORIZATION, self.auth[(seq % self.auth.len() as u64) as usize].clone());
        }
        let outcome = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(body) => Outcome::Answered(classify(status, &body)),
                    Err(e) => Outcome::Failed(error_kind(&e)),
                }
            }
            Err(e) => Outcome::Failed(error_kind(&e)),
        };
        (self.count_mix.then_some(consumer), outcome)
    }
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// A client tuned for load: kept-alive pooled connections, Nagle off, and a pool as large
/// as the concurrency so no request waits for a connection to be opened twice.
pub fn client(pool: usize, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(pool)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// What the suppression step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suppression {
    Applied {
        added: u64,
    },
    /// The engine has no suppression endpoint (404): suppressed consumers are not sent.
    Unavailable,
}

/// Puts the suppression list on the engine through `POST /v1/admin/suppression`.
pub async fn suppress(client: &reqwest::Client, base: &str, token: &str, emails: &[String]) -> Result<Suppression> {
    let url = format!("{}/v1/admin/suppression", base.trim_end_matches('/'));
    let mut added = 0;
    for chunk in emails.chunks(1000) {
        let resp = client
            .post(&url)
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({"emails": chunk}).to_string())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Suppression::Unavailable);
        }
        let body = resp.bytes().await.with_context(|| format!("reading the answer of POST {url}"))?;
        if !status.is_success() {
            bail!("POST {url} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("POST {url} answered non-JSON"))?;
        added += answer.get("added").and_then(|v| v.as_u64()).unwrap_or(0);
    }
    Ok(Suppression::Applied { added })
}

pub struct OpenLoop {
    pub schedule: Schedule,
    pub duration: Duration,
    pub warmup: Duration,
    pub max_in_flight: usize,
    pub late_threshold: Duration,
    /// How long to wait for the last answers once the timetable is over.
    pub drain: Duration,
    pub progress: bool,
}

pub struct ClosedLoop {
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Stop after this many measured requests instead of after `duration`.
    pub requests: Option<u64>,
    pub progress: bool,
}

fn lock(rec: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    // A panic while recording cannot leave the counts half-updated in a harmful way.
    rec.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counters for the progress line, covering warm-up too.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    done: AtomicU64,
}

fn spawn_progress(
    live: Arc<Live>,
    rec: Arc<Mutex<Recorder>>,
    started: Instant,
    measure_start: Instant,
    in_flight: impl Fn() -> usize + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
        let (mut last_sent, mut last_done) = (0, 0);
        loop {
            tick.tick().await;
            let (sent, done) = (live.sent.load(Ordering::Relaxed), live.done.load(Ordering::Relaxed));
            let (p99, late, errors) = {
                let mut r = lock(&rec);
                (r.take_window_p99(), r.late(), r.error_count())
            };
            let now = Instant::now();
            let phase = if now < measure_start { "warm-up" } else { "measuring" };
            let p99 = p99.map(|us| format!("{:.2} ms", us as f64 / 1000.0)).unwrap_or_else(|| "-".into());
            eprintln!(
                "[{:>4}s] {phase}: sent {}/s, answered {}/s, in flight {}, late {late}, errors {errors}, p99 {p99}",
                now.duration_since(started).as_secs(),
                sent - last_sent,
                done - last_done,
                in_flight(),
            );
            (last_sent, last_done) = (sent, done);
        }
    })
}

/// Sends request `i` at its due time from a dedicated thread: tokio's timers tick in whole
/// milliseconds, which at 5 000/s would send requests in bursts of five and add up to a
/// millisecond to each measured latency. The thread's sleeps are accurate to tens of µs.
pub async fn open_loop(target: Arc<Target>, cfg: OpenLoop, info: RunInfo) -> Result<Report> {
    let permits = cfg.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
    let sem = Arc::new(Semaphore::new(permits));
    let rec = Arc::new(Mutex::new(Recorder::new(cfg.late_threshold)));
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let start = started + Duration::from_millis(20);
    let measure_start = start + cfg.warmup;
    let total = cfg.schedule.count_within(cfg.warmup + cfg.duration);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let schedule = cfg.schedule;
    let pacer = std::thread::Builder::new()
        .name("loadgen-pacer".into())
        .spawn(move || {
            for i in 0..total {
                let due = start + schedule.offset(i);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if tx.send((i, due)).is_err() {
                    break;
                }
            }
        })
        .context("starting the pacer thread")?;
    let progress = cfg.progress.then(|| {
        let sem = Arc::clone(&sem);
        spawn_progress(Arc::clone(&live), Arc::clone(&rec), started, measure_start, move || {
            permits - sem.available_permits()
        })
    });
    while let Some((seq, due)) = rx.recv().await {
        // Waiting here when the window is full keeps the timetable: the wait shows up in
        // this request's latency and in the late count, never as a request not sent.
        let Ok(permit) = Arc::clone(&sem).acquire_owned().await else { break };
        let sent = Instant::now();
        live.sent.fetch_add(1, Ordering::Relaxed);
        let (target, rec, live) = (Arc::clone(&target), Arc::clone(&rec), Arc::clone(&live));
        tokio::spawn(async move {
            let (consumer, outcome) = target.send(seq).await;
            let timing = Timing { intended: due, sent, done: Instant::now() };
            if due >= measure_start {
                lock(&rec).record(timing, consumer, outcome);
            }
            live.done.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    if pacer.join().is_err() {
        bail!("the pacer thread panicked");
    }
    let drained = tokio::time::timeout(cfg.drain, sem.acquire_many(permits as u32)).await;
    let unfinished = match drained {
        Ok(Ok(_all)) => 0,
        _ => (permits - sem.available_permits()) as u64,
    };
    if let Some(p) = progress {
        p.abort();
    }
    let report = lock(&rec).report(info, cfg.duration, unfinished);
    Ok(report)
}

/// `connections` workers, each sending its next request when the previous one is answered.
/// Latency is from the send time here: this mode measures throughput, and its latencies
/// are only those of a server never asked for more than it can do.
pub async fn closed_loop(target: Arc<Target>, cfg: ClosedLoop, info: RunInfo) -> Result<Report> {
    // Nothing is ever late in closed loop: each request is sent when it is intended.
    let rec = Arc::new(Mutex::new(Recorder::new(Duration::ZERO)));
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let measure_start = started + cfg.warmup;
    let end = measure_start + cfg.duration;
    let seq = Arc::new(AtomicU64::new(0));
    let measured_issued = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));
    let progress = cfg.progress.then(|| {
        let in_flight = Arc::clone(&in_flight);
        spawn_progress(Arc::clone(&live), Arc::clone(&rec), started, measure_start, move || {
            in_flight.load(Ordering::Relaxed) as usize
        })
    });
    let mut workers = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections.max(1) {
        let (target, rec, live, seq, issued, in_flight) = (
            Arc::clone(&target),
            Arc::clone(&rec),
            Arc::clone(&live),
            Arc::clone(&seq),
            Arc::clone(&measured_issued),
            Arc::clone(&in_flight),
        );
        let requests = cfg.requests;
        workers.push(tokio::spawn(async move {
            loop {
                let sent = Instant::now();
                let measured = sent >= measure_start;
                match requests {
                    // Counting only measured requests; warm-up ones are free.
                    Some(n) if measured && issued.fetch_add(1, Ordering::Relaxed) >= n => break,
                    None if sent >= end => break,
                    _ => {}
                }
                let i = seq.fetch_add(1, Ordering::Relaxed);
                live.sent.fetch_add(1, Ordering::Relaxed);
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (consumer, outcome) = target.send(i).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let timing = Timing { intended: sent, sent, done: Instant::now() };
                if measured {
                    lock(&rec).record(timing, consumer, outcome);
                }
                live.done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await.context("a closed-loop worker panicked")?;
    }
    if let Some(p) = progress {
        p.abort();
    }
    let measured = Instant::now().saturating_duration_since(measure_start);
    let report = lock(&rec).report(info, measured, 0);
    Ok(report)
}
