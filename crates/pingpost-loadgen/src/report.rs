//! What a run measured: an HDR histogram of latencies, counts of answers by status and
//! reason, transport errors, and how far the generator itself fell behind.

use crate::mix::{Consumer, MixCounts};
use crate::schedule::Timing;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Highest latency the histogram holds (µs); anything slower is clamped to it.
const MAX_TRACKED_US: u64 = 3_600_000_000;

/// How one request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered; `answer` is `status` or `status:reason` for a 2xx, and
    /// `http_<code>:<error code>` otherwise.
    Answered(String),
    /// No HTTP answer: `timeout`, `connect`, `body` or `request`.
    Failed(&'static str),
}

/// Classifies an HTTP answer from its status code and body.
pub fn classify(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Answer {
        status: Option<String>,
        reason: Option<String>,
        error: Option<ErrorBody>,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        code: Option<String>,
    }
    let parsed: Option<Answer> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        match parsed {
            Some(Answer { status: Some(s), reason: Some(r), .. }) => format!("{s}:{r}"),
            Some(Answer { status: Some(s), .. }) => s,
            _ => format!("http_{status}:unparsed"),
        }
    } else {
        let code = parsed.and_then(|a| a.error).and_then(|e| e.code).unwrap_or_else(|| "unparsed".into());
        format!("http_{status}:{code}")
    }
}

/// Accumulates results; one per run, shared by all in-flight requests.
pub struct Recorder {
    total: Histogram<u64>,
    /// Since the last progress line.
    window: Histogram<u64>,
    answers: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    mix: MixCounts,
    late: u64,
    max_send_delay: Duration,
    late_threshold: Duration,
}

impl Recorder {
    pub fn new(late_threshold: Duration) -> Self {
        let hist = || Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("constant histogram bounds are valid");
        Recorder {
            total: hist(),
            window: hist(),
            answers: BTreeMap::new(),
            errors: BTreeMap::new(),
            mix: MixCounts::default(),
            late: 0,
            max_send_delay: Duration::ZERO,
            late_threshold,
        }
    }

    /// Records one request of the measured phase.
    pub fn record(&mut self, timing: Timing, consumer: Option<Consumer>, outcome: Outcome) {
        if let Some(c) = consumer {
            self.mix.add(c);
        }
        let delay = timing.send_delay();
        self.max_send_delay = self.max_send_delay.max(delay);
        if timing.is_late(self.late_threshold) {
            self.late += 1;
        }
        match outcome {
            Outcome::Answered(answer) => {
                let us = (timing.latency().as_micros() as u64).clamp(1, MAX_TRACKED_US);
                self.total.saturating_record(us);
                self.window.saturating_record(us);
                *self.answers.entry(answer).or_default() += 1;
            }
            Outcome::Failed(kind) => *self.errors.entry(kind.to_string()).or_default() += 1,
        }
    }

    /// Answers the p99 (µs) since the last call, and starts a new window.
    pub fn take_window_p99(&mut self) -> Option<u64> {
        let p99 = (!self.window.is_empty()).then(|| self.window.value_at_quantile(0.99));
        self.window.reset();
        p99
    }

    pub fn completed(&self) -> u64 {
        self.total.len() + self.errors.values().sum::<u64>()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn late(&self) -> u64 {
        self.late
    }

    pub fn report(&self, run: RunInfo, measured: Duration, unfinished: u64) -> Report {
        let h = &self.total;
        let q = |p: f64| if h.is_empty() { 0 } else { h.value_at_quantile(p) };
        let errors = self.error_count();
        let answered = h.len();
        let secs = measured.as_secs_f64();
        Report {
            run,
            measured_s: secs,
            requests: answered + errors,
            answered,
            errors,
            late: self.late,
            late_threshold_us: self.late_threshold.as_micros() as u64,
            max_send_delay_us: self.max_send_delay.as_micros() as u64,
            unfinished,
            throughput_rps: if secs > 0.0 { answered as f64 / secs } else { 0.0 },
            latency_us: Latency {
                min: if h.is_empty() { 0 } else { h.min() },
                mean: if h.is_empty() { 0.0 } else { h.mean() },
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p99_9: q(0.999),
                max: if h.is_empty() { 0 } else { h.max() },
            },
            answers: self.answers.clone(),
            errors_by_kind: self.errors.clone(),
            mix: self.mix,
        }
    }
}

/// How the run was set up, copied into its report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `open` or `closed`.
    pub mode: String,
    pub url: String,
    /// `ping` or `echo`.
    pub body_kind: String,
    pub target_rate: Option<f64>,
    pub max_in_flight: Option<usize>,
    pub connections: Option<usize>,
    pub warmup_s: f64,
    /// What happened to the suppression list: `applied (n added)`, `skipped: ...`, or
    /// `not used`.
    pub suppression: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
}

/// The summary written with `--json` and printed at the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    /// Length of the measured phase (warm-up excluded).
    pub measured_s: f64,
    /// Answered plus failed, measured phase only.
    pub requests: u64,
    pub answered: u64,
    pub errors: u64,
    /// Sent more than `late_threshold_us` after their intended time (open loop): the
    /// generator or the in-flight limit could not keep the timetable. Their latency still
    /// counts from the intended time.
    pub late: u64,
    pub late_threshold_us: u64,
    pub max_send_delay_us: u64,
    /// Requests still in flight when the run gave up waiting for them.
    pub unfinished: u64,
    /// Answers per second over the measured phase.
    pub throughput_rps: f64,
    /// From the intended send time (open loop) or the send time (closed loop).
    pub latency_us: Latency,
    /// Answers by `status[:reason]` or `http_<code>:<error code>`.
    pub answers: BTreeMap<String, u64>,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub mix: MixCounts,
}

impl Report {
    pub fn to_text(&self) -> String {
        let r = &self.run;
        let mut s = String::new();
        let how = match r.mode.as_str() {
            "open" => format!(
                "open loop at {}/s (at most {} in flight)",
                r.target_rate.unwrap_or(0.0),
                r.max_in_flight.unwrap_or(0)
            ),
            _ => format!("closed loop on {} connections", r.connections.unwrap_or(0)),
        };
        let _ = writeln!(s, "{how} -> {} ({} bodies), measured {:.1} s", r.url, r.body_kind, self.measured_s);
        let _ = write!(s, "requests {}  answered {}  errors {}", self.requests, self.answered, self.errors);
        if r.mode == "open" {
            let _ = write!(
                s,
                "  late {} (>{} us behind the timetable, worst {} us)  unfinished {}",
                self.late, self.late_threshold_us, self.max_send_delay_us, self.unfinished
            );
        }
        s.push('\n');
        let _ = writeln!(s, "throughput {:.1} answers/s", self.throughput_rps);
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "latency us  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.0}, min {})",
            l.p50, l.p90, l.p99, l.p99_9, l.max, l.mean, l.min
        );
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
            }
        };
        let _ = writeln!(s, "answers: {}", list(&self.answers));
        let _ = writeln!(s, "errors: {}", list(&self.errors_by_kind));
        if r.body_kind == "ping" {
            let _ = writeln!(
                s,
                "consumers: fresh {}, repeat {}, suppressed {} (suppression list: {})",
                self.mix.fresh, self.mix.repeat, self.mix.suppressed, r.suppression
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn timing(latency_us: u64, late_us: u64) -> Timing {
        let t0 = Instant::now();
        Timing { intended: t0, sent: t0 + Duration::from_micros(late_us), done: t0 + Duration::from_micros(latency_us) }
    }

    #[test]
    fn answers_are_named_by_status_reason_or_error_code() {
        assert_eq!(classify(200, br#"{"status":"accepted","reason":null,"bids":[]}"#), "accepted");
        assert_eq!(
            classify(200, br#"{"status":"rejected","reason":"vertical_duplicate"}"#),
            "rejected:vertical_duplicate"
        );
        assert_eq!(classify(401, br#"{"error":{"code":"unauthorized","message":"x"}}"#), "http_401:unauthorized");
        assert_eq!(classify(502, b"Bad Gateway"), "http_502:unparsed");
        assert_eq!(classify(200, b"not json"), "http_200:unparsed");
    }

    #[test]
    fn the_summary_json_has_every_figure() {
        let mut rec = Recorder::new(Duration::from_millis(1));
        for i in 1..=1000u64 {
            let late = if i % 100 == 0 { 5_000 } else { 0 };
            rec.record(timing(i * 10, late), Some(Consumer::Fresh(i)), Outcome::Answered("accepted".into()));
        }
        rec.record(timing(50, 0), Some(Consumer::Repeat(1)), Outcome::Answered("rejected:vertical_duplicate".into()));
        rec.record(timing(50, 0), Some(Consumer::Suppressed(0)), Outcome::Failed("timeout"));
        let info = RunInfo {
            mode: "open".into(),
            url: "http://x/v1/ping".into(),
            body_kind: "ping".into(),
            target_rate: Some(100.0),
            max_in_flight: Some(8),
            warmup_s: 1.0,
            suppression: "not used".into(),
            ..RunInfo::default()
        };
        let report = rec.report(info, Duration::from_secs(10), 0);
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["requests"], 1002);
        assert_eq!(json["answered"], 1001);
        assert_eq!(json["errors"], 1);
        assert_eq!(json["late"], 10);
        assert_eq!(json["late_threshold_us"], 1000);
        assert_eq!(json["max_send_delay_us"], 5000);
        assert_eq!(json["answers"]["accepted"], 1000);
        assert_eq!(json["answers"]["rejected:vertical_duplicate"], 1);
        assert_eq!(json["errors_by_kind"]["timeout"], 1);
        assert_eq!(json["mix"], serde_json::json!({"fresh": 1000, "repeat": 1, "suppressed": 1}));
        assert!((json["throughput_rps"].as_f64().unwrap() - 100.1).abs() < 1e-9);
        assert_eq!(json["run"]["mode"], "open");
        assert_eq!(json["run"]["target_rate"], 100.0);
        // Latencies 10 µs .. 10 ms in steps of 10 µs (and one of 50 µs): HDR keeps 3
        // significant digits.
        let l = &json["latency_us"];
        let near = |key: &str, want: f64| {
            let got = l[key].as_f64().unwrap();
            assert!((got - want).abs() / want < 0.01, "{key}: {got} vs {want}");
        };
        near("p50", 5_000.0);
        near("p90", 9_000.0);
        near("p99", 9_900.0);
        near("p99_9", 9_990.0);
        near("max", 10_000.0);
        assert_eq!(l["min"], 10);
        // It reads back as the same report (the bench script and tests parse it).
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        let text = report.to_text();
        assert!(text.contains("p99.9"), "{text}");
        assert!(text.contains("rejected:vertical_duplicate 1"), "{text}");
    }

    #[test]
    fn an_empty_run_reports_zeros_not_a_panic() {
        let rec = Recorder::new(Duration::from_millis(1));
        let report = rec.report(RunInfo::default(), Duration::ZERO, 3);
        assert_eq!(report.requests, 0);
        assert_eq!(report.unfinished, 3);
        assert_eq!(report.throughput_rps, 0.0);
        assert_eq!(report.latency_us.p99, 0);
    }

    #[test]
    fn the_window_p99_restarts_after_each_progress_line() {
        let mut rec = Recorder::new(Duration::from_millis(1));
        rec.record(timing(1000, 0), None, Outcome::Answered("accepted".into()));
        assert!(rec.take_window_p99().unwrap().abs_diff(1000) <= 1);
        assert_eq!(rec.take_window_p99(), None);
        assert_eq!(rec.completed(), 1);
    }
}
