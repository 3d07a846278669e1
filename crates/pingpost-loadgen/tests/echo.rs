//! The real `pingpost-loadgen` binary against the real `pingpost-echo` binary, briefly:
//! the JSON report must account for every request of the timetable.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_echo() -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingpost-echo"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pingpost-echo");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next().expect("a line").expect("read stdout");
    let url = line.strip_prefix("pingpost-echo listening on ").expect("the listening line").to_string();
    (Running(child), url)
}

fn loadgen(name: &str, args: &[&str]) -> Value {
    let json = std::env::temp_dir().join(format!("pingpost-loadgen-{name}-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_pingpost-loadgen"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run pingpost-loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "loadgen failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("p99.9"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("JSON");
    let _ = std::fs::remove_file(&json);
    report
}

#[test]
fn open_loop_against_the_echo_server_sends_the_whole_timetable() {
    let (_echo, url) = start_echo();
    let r = loadgen(
        "echo-open",
        &["--url", &url, "--body-kind", "echo", "--rate", "40", "--duration", "1s", "--warmup", "200ms"],
    );
    assert_eq!(r["run"]["mode"], "open");
    assert_eq!(r["run"]["body_kind"], "echo");
    assert_eq!(r["requests"], 40, "{r:#}");
    assert_eq!(r["answered"], 40);
    assert_eq!(r["errors"], 0);
    assert_eq!(r["unfinished"], 0);
    assert_eq!(r["answers"]["accepted"], 40);
    assert!((r["throughput_rps"].as_f64().unwrap() - 40.0).abs() < 1e-6);
    let l = &r["latency_us"];
    let (p50, p99, max) = (l["p50"].as_u64().unwrap(), l["p99"].as_u64().unwrap(), l["max"].as_u64().unwrap());
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{l}");
}

#[test]
fn closed_loop_with_a_request_count_stops_at_that_count() {
    let (_echo, url) = start_echo();
    let r = loadgen(
        "echo-closed",
        &["--url", &url, "--body-kind", "echo", "--connections", "4", "--requests", "200", "--warmup", "0", "--quiet"],
    );
    assert_eq!(r["run"]["mode"], "closed");
    assert_eq!(r["run"]["connections"], 4);
    assert_eq!(r["requests"], 200, "{r:#}");
    assert_eq!(r["answers"]["accepted"], 200);
    assert!(r["throughput_rps"].as_f64().unwrap() > 0.0);
}

#[test]
fn pings_without_a_partner_key_are_refused_before_any_load() {
    let out = Command::new(env!("CARGO_BIN_EXE_pingpost-loadgen"))
        .args(["--url", "http://127.0.0.1:9", "--rate", "10", "--duration", "1s"])
        .env_remove("PINGPOST_LOADGEN_KEYS")
        .output()
        .expect("run pingpost-loadgen");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("partner key"));
}
