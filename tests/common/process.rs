//! The real `pingpost` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// A child process killed when the test ends, pass or fail.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    // One per call: tests of one binary run at once in one process, and a helper called by
    // several of them (`refused_to_start`) must not remove another's directory.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pingpost-e2e-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes into `dir` the smallest market a binary test sells in: vertical `auto` (30 days),
/// offer `auto-excl`, partner `p1` with API key `key`, buyer `b1` posting nowhere, and its
/// contract `c1` at $20.
pub fn write_one_contract_market(dir: &Path, key: &str) {
    let key_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    std::fs::write(
        dir.join("market.toml"),
        format!(
            "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n\n\
             [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
             [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\"]\n\n\
             [[buyers]]\nid = \"b1\"\npost_url = \"http://127.0.0.1:9/post\"\n\n\
             [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\n"
        ),
    )
    .expect("the market file");
}

/// Books in PostgreSQL for engines on a shared store, which refuse books in their own process:
/// a database of their own, in a server kept as long as this value.
pub struct SharedBooks {
    _server: pingpost_testkit::PostgresServer,
    pub url: String,
}

impl SharedBooks {
    pub fn start() -> Self {
        let server = pingpost_testkit::PostgresServer::start();
        let url = server.fresh_database();
        SharedBooks { _server: server, url }
    }

    /// The environment that points an engine at these books.
    pub fn env(&self) -> [(&str, &str); 1] {
        [("PINGPOST_BOOKS", self.url.as_str())]
    }
}

/// Starts `pingpost serve` on port 0 with `store` and answers its base URL, read from the
/// line it prints once listening.
pub fn start_engine(contracts: &Path, store: &str) -> (Running, String) {
    start_engine_with(contracts, store, &[])
}

/// Like [`start_engine`], with more environment variables (`PINGPOST_LEASE_SLACK_MS`,
/// `PINGPOST_FAILPOINTS`, or a `PINGPOST_LOG` of its own: a later value of one name wins).
pub fn start_engine_with(contracts: &Path, store: &str, env: &[(&str, &str)]) -> (Running, String) {
    listening(spawn_with(contracts, store, env))
}

/// `pingpost serve` at log level `warn` with more environment variables.
fn spawn_with(contracts: &Path, store: &str, env: &[(&str, &str)]) -> Child {
    engine_command(contracts, store)
        .env("PINGPOST_LOG", "warn")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pingpost")
}

/// Like [`start_engine`], with more `serve` flags.
pub fn start_engine_with_flags(contracts: &Path, store: &str, flags: &[&str]) -> (Running, String) {
    let child = engine_command(contracts, store)
        .args(flags)
        .env("PINGPOST_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pingpost");
    listening(child)
}

/// Like [`start_engine`] at log level `info`, also answering the engine's log lines as they
/// come (each is echoed to the test's stderr too), so a test can await one.
pub fn start_engine_logged(contracts: &Path, store: &str) -> (Running, String, Receiver<String>) {
    start_engine_logged_with_flags(contracts, store, &[])
}

/// Like [`start_engine_logged`], with more `serve` flags.
pub fn start_engine_logged_with_flags(
    contracts: &Path,
    store: &str,
    flags: &[&str],
) -> (Running, String, Receiver<String>) {
    let mut child = engine_command(contracts, store)
        .args(flags)
        .env("PINGPOST_LOG", "info")
        .env_remove("PINGPOST_LOG_FORMAT")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pingpost");
    let rx = echoed_lines(&mut child);
    let (running, base) = listening(child);
    (running, base, rx)
}

/// Like [`start_engine_logged`], with more environment variables (a `PINGPOST_LOG` of its own
/// among them: a later value of one name wins), also answering the metrics address's base URL.
pub fn start_engine_logged_with(
    contracts: &Path,
    store: &str,
    env: &[(&str, &str)],
) -> (Running, String, String, Receiver<String>) {
    let mut child = engine_command(contracts, store)
        .env("PINGPOST_LOG", "info")
        .env_remove("PINGPOST_LOG_FORMAT")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pingpost");
    let rx = echoed_lines(&mut child);
    let (running, base, metrics) = listening_with_metrics(child);
    (running, base, metrics.expect("the engine serves metrics"), rx)
}

/// The child's log lines (stderr) as they come, each echoed to the test's stderr too.
fn echoed_lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let _ = tx.send(line);
        }
    });
    rx
}

/// The operator token of the engines these helpers start.
pub const E2E_ADMIN_TOKEN: &str = "e2e-admin-token-000000000000";

fn engine_command(contracts: &Path, store: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pingpost"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--store", store])
        .args(["--admin-token", E2E_ADMIN_TOKEN])
        .arg("--contracts")
        .arg(contracts)
        .stdout(Stdio::piped());
    command
}

/// Like [`start_engine_with`], also answering the base URL of the engine's metrics address.
pub fn start_engine_with_metrics(contracts: &Path, store: &str, env: &[(&str, &str)]) -> (Running, String, String) {
    let (running, base, metrics) = listening_with_metrics(spawn_with(contracts, store, env));
    (running, base, metrics.expect("the engine serves metrics"))
}

/// How long the engine may take to start listening (a Redis connection included) before the
/// test fails instead of waiting forever.
const STARTUP: Duration = Duration::from_secs(60);

fn listening(child: Child) -> (Running, String) {
    let (running, base, _) = listening_with_metrics(child);
    (running, base)
}

/// The engine's base URL, and its metrics address's base URL when it serves one (printed
/// before the listening line).
fn listening_with_metrics(mut child: Child) -> (Running, String, Option<String>) {
    let stdout = child.stdout.take().expect("stdout");
    // Killed if the engine never gets to listen.
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout to its end, not just to the listening line: closing the pipe early would
    // make anything the engine prints later a broken pipe, and `println!` panics on that.
    std::thread::spawn(move || {
        let mut metrics = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("pingpost metrics on ") {
                metrics = Some(url.trim_end_matches("/metrics").to_string());
            }
            if let Some(url) = line.strip_prefix("pingpost listening on ") {
                let _ = tx.send((url.to_string(), metrics.clone()));
            }
        }
    });
    match rx.recv_timeout(STARTUP) {
        Ok((base, metrics)) => (running, base, metrics),
        Err(RecvTimeoutError::Disconnected) => panic!("pingpost exited before listening"),
        Err(RecvTimeoutError::Timeout) => panic!("pingpost did not listen within {STARTUP:?}"),
    }
}

/// A test tool from PyPI: the path in the environment variable `var`, else `name` in the
/// virtual environment `scripts/test.sh` installs. A missing tool fails the test (it never
/// passes without having run).
pub fn test_tool(var: &str, name: &str) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/test-tools/venv/bin").join(name));
    assert!(
        path.exists(),
        "{name} not found at {}: run scripts/test.sh (it installs it), or name one in {var}",
        path.display()
    );
    path
}
