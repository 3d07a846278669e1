//! `pingpost-loadgen`: drives pings (or echo requests) open-loop at a fixed rate, or
//! closed-loop at maximum throughput, and reports latency percentiles, throughput and the
//! answers received. See `--help`.

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Parser, ValueEnum};
use pingpost_loadgen::mix::{suppressed_email, Mix};
use pingpost_loadgen::report::{Report, RunInfo};
use pingpost_loadgen::run::{self, ClosedLoop, OpenLoop, Suppression, Target};
use pingpost_loadgen::schedule::Schedule;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BodyKind {
    /// Pings with the consumer mix, sent with partner keys.
    Ping,
    /// The same bodies to a server that only echoes (no keys, no suppression step).
    Echo,
}

#[derive(Parser)]
#[command(
    name = "pingpost-loadgen",
    version,
    about = "Load generator for pingpost: open loop at a fixed rate (latency from each request's intended send time) or closed loop at maximum throughput",
    group(ArgGroup::new("mode").required(true).args(["rate", "connections"]))
)]
struct Cli {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Path the requests are POSTed to.
    #[arg(long, default_value = "/v1/ping")]
    endpoint: String,
    #[arg(long, value_enum, default_value_t = BodyKind::Ping)]
    body_kind: BodyKind,
    /// Partner API key; repeat it (or separate with commas) to spread pings over partners.
    #[arg(long = "key", env = "PINGPOST_LOADGEN_KEYS", value_delimiter = ',', hide_env_values = true)]
    keys: Vec<String>,
    #[arg(long, default_value = "auto-excl")]
    offer: String,
    /// Open loop: requests per second, on a fixed timetable.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: this many connections, each sending when its previous request is answered.
    #[arg(long)]
    connections: Option<usize>,
    /// Length of the measured phase (`10s`, `500ms`, `2m`, or seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load sent before measuring, not counted (connections opened, caches warm).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Closed loop: stop after this many measured requests instead of after --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Open loop: most requests in flight at once; beyond it requests wait (and count as late).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Open loop: a request sent more than this after its intended time counts as late.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    late_threshold: Duration,
    /// Share of pings reusing an earlier consumer (answered `vertical_duplicate`).
    #[arg(long, default_value_t = 0.0)]
    repeat_share: f64,
    /// Share of pings carrying a consumer from the suppression list (answered `suppressed`).
    #[arg(long, default_value_t = 0.0)]
    suppressed_share: f64,
    /// Size of the suppression list put on the engine before the run.
    #[arg(long, default_value_t = 100)]
    suppressed_list: u64,
    /// Operator token, to put the suppression list on the engine.
    #[arg(long, env = "PINGPOST_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Per-request timeout; a request without an answer by then counts as an error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Worker threads of the generator. One leaves the other cores to the server under test.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Names this run's consumers (so runs on one store never collide); random by default.
    #[arg(long)]
    run_id: Option<String>,
    /// Writes the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("{text:?} is not a duration (10s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "us" => n / 1e6,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use us, ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a duration"))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(run(&cli))?;
    print!("{}", report.to_text());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if report.requests > 0 && report.answered == 0 {
        bail!("no request was answered");
    }
    Ok(())
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:010x}", (nanos as u64 ^ (u64::from(std::process::id()) << 40)) & 0xff_ffff_ffff)
}

async fn run(cli: &Cli) -> Result<Report> {
    let ping = cli.body_kind == BodyKind::Ping;
    if ping && cli.keys.is_empty() {
        bail!("ping bodies need at least one partner key (--key or PINGPOST_LOADGEN_KEYS)");
    }
    let run_id = cli.run_id.clone().unwrap_or_else(run_id);
    let seed = run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut mix =
        Mix::new(cli.repeat_share, cli.suppressed_share, cli.suppressed_list, seed).map_err(anyhow::Error::msg)?;
    let base = cli.url.trim_end_matches('/').to_string();
    let pool = cli.connections.unwrap_or(cli.max_in_flight).max(1);
    let client = run::client(pool, cli.timeout)?;

    let suppression = if !ping {
        mix = mix.without_suppressed();
        "not used".to_string()
    } else if cli.suppressed_share > 0.0 {
        let Some(token) = cli.admin_token.as_deref() else {
            bail!("--suppressed-share needs --admin-token (or PINGPOST_ADMIN_TOKEN) to put the list on the engine");
        };
        let emails: Vec<String> = (0..cli.suppressed_list).map(|k| suppressed_email(&run_id, k)).collect();
        match run::suppress(&client, &base, token, &emails).await? {
            Suppression::Applied { added } => format!("applied ({added} added)"),
            Suppression::Unavailable => {
                eprintln!(
                    "warning: {base}/v1/admin/suppression answered 404 (no suppression endpoint on this engine); \
                     sending fresh consumers instead of suppressed ones"
                );
                mix = mix.without_suppressed();
                "skipped: the engine answered 404".to_string()
            }
        }
    } else {
        "not used".to_string()
    };

    let url = format!("{base}{}", cli.endpoint);
    let target = Arc::new(Target::new(client, url.clone(), &cli.keys, cli.offer.clone(), run_id, mix, ping)?);
    let mut info = RunInfo {
        url,
        body_kind: if ping { "ping" } else { "echo" }.into(),
        warmup_s: cli.warmup.as_secs_f64(),
        suppression,
        ..RunInfo::default()
    };
    if let Some(rate) = cli.rate {
        let Some(schedule) = Schedule::new(rate) else {
            bail!("--rate must be a number of requests per second above 0")
        };
        if cli.requests.is_some() {
            bail!("--requests is for closed loop (--connections); open loop runs for --duration");
        }
        info.mode = "open".into();
        info.target_rate = Some(rate);
        info.max_in_flight = Some(cli.max_in_flight);
        let cfg = OpenLoop {
            schedule,
            duration: cli.duration,
            warmup: cli.warmup,
            max_in_flight: cli.max_in_flight,
            late_threshold: cli.late_threshold,
            drain: cli.timeout + Duration::from_secs(1),
            progress: !cli.quiet,
        };
        run::open_loop(target, cfg, info).await
    } else {
        let connections = cli.connections.unwrap_or(1);
        if connections == 0 {
            bail!("--connections must be at least 1");
        }
        info.mode = "closed".into();
        info.connections = Some(connections);
        let cfg = ClosedLoop {
            connections,
            duration: cli.duration,
            warmup: cli.warmup,
            requests: cli.requests,
            progress: !cli.quiet,
        };
        run::closed_loop(target, cfg, info).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
