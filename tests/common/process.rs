//! The real `pingpost` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
    let dir = std::env::temp_dir().join(format!("pingpost-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts `pingpost serve` on port 0 with `store` and answers its base URL, read from the
/// line it prints once listening.
pub fn start_engine(contracts: &Path, store: &str) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", store, "--admin-token", "e2e-admin-token"])
        .arg("--contracts")
        .arg(contracts)
        .env("PINGPOST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pingpost");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("pingpost exited before listening").expect("read stdout");
        if let Some(url) = line.strip_prefix("pingpost listening on ") {
            break url.to_string();
        }
    };
    (Running(child), base)
}
