//! Real Redis for tests: each [`RedisServer`] is a `redis-server` process this test
//! started on a free loopback port, in its own directory, killed when dropped. Tests never
//! touch a Redis they did not start (the machine's own on 6379 included). A server can be
//! given replicas ([`RedisServer::start_replica`]), which a test may freeze and thaw to
//! play a replica that stopped acknowledging.
//!
//! Crash tests start one with persistence ([`RedisServer::start_persistent`]), `kill -9` it
//! and restart it from its append-only file, or freeze it (`SIGSTOP`) and thaw it, so a
//! client sees a Redis that hangs rather than one that is gone.
//!
//! `redis-server` and `redis-cli` must be on the PATH; `scripts/test.sh` installs Debian's
//! `redis-server` package when they are missing.
//!
//! Real PostgreSQL too: [`PostgresServer`] (in [`postgres`]) is the server the operator
//! names in `PINGPOST_TEST_POSTGRES`, in which a test creates and drops databases of its
//! own, or else a server the test starts itself, as an unprivileged user when run as root.

#![allow(clippy::expect_used, clippy::panic)]
// Waiting for an external process is wall-clock business: tokio's paused time must not
// apply to it, so std's Instant is the right clock here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod postgres;
pub use postgres::PostgresServer;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const START_ATTEMPTS: usize = 8;
const READY_WITHIN: Duration = Duration::from_secs(10);

/// One `redis-server` process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    cluster: bool,
    persistent: bool,
    /// The master's port, for a replica.
    replica_of: Option<u16>,
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pingpost-redis-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory for redis-server");
    dir
}

/// A loopback port nobody listens on now (and, for cluster nodes, whose bus port
/// `port + 10000` is free too).
fn free_port(cluster: bool) -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = l.local_addr().expect("local address").port();
        if !cluster {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Sends one inline command and reads the first reply line (and a bulk body, if any).
fn command(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if let Some(len) = line.strip_prefix('$').and_then(|l| l.trim().parse::<usize>().ok()) {
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        return Some(String::from_utf8_lossy(&body).into_owned());
    }
    Some(line.trim().to_string())
}

/// The process id of the server answering on `port`.
fn process_id(port: u16) -> Option<u32> {
    let info = command(port, "INFO server")?;
    info.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|pid| pid.trim().parse().ok())
}

impl RedisServer {
    /// A standalone server, ready to answer.
    pub fn start() -> Self {
        Self::start_mode(false, false)
    }

    /// A standalone server that writes every command to its append-only file and fsyncs it
    /// before answering (`appendonly yes`, `appendfsync always`): whatever a client was told
    /// is done survives [`RedisServer::kill`] and [`RedisServer::restart`]. Slower per write,
    /// so only the tests that kill Redis use it.
    pub fn start_persistent() -> Self {
        Self::start_mode(false, true)
    }

    fn start_mode(cluster: bool, persistent: bool) -> Self {
        let dir = fresh_dir();
        for _ in 0..START_ATTEMPTS {
            let mut server = RedisServer {
                child: None,
                port: free_port(cluster),
                dir: dir.clone(),
                cluster,
                persistent,
                replica_of: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start after {START_ATTEMPTS} attempts (is it installed? see scripts/test.sh)");
    }

    /// A replica of this (standalone) server, on a free port and in a directory of its own,
    /// answered once it is in sync: the master counts one more online replica and the
    /// replica's link to it is up.
    pub fn start_replica(&self) -> RedisServer {
        assert!(!self.cluster, "replicas are for standalone servers");
        let online_before = self.online_replicas();
        let dir = fresh_dir();
        for _ in 0..START_ATTEMPTS {
            let mut replica = RedisServer {
                child: None,
                port: free_port(false),
                dir: dir.clone(),
                cluster: false,
                persistent: false,
                replica_of: Some(self.port),
            };
            if replica.spawn() {
                let deadline = Instant::now() + READY_WITHIN;
                while !(self.online_replicas() > online_before && replica.link_up()) {
                    assert!(Instant::now() < deadline, "replica on port {} did not get in sync", replica.port);
                    std::thread::sleep(Duration::from_millis(10));
                }
                return replica;
            }
        }
        panic!("the replica did not start after {START_ATTEMPTS} attempts");
    }

    /// The master's `INFO replication` counts of replicas that are `connected_slaves` and,
    /// of those, done with their initial sync (`state=online`; a replica still loading the
    /// master's snapshot is connected but not online, and acknowledges nothing yet).
    fn online_replicas(&self) -> usize {
        let info = command(self.port, "INFO replication").unwrap_or_default();
        let connected = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_slaves:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let online = info.lines().filter(|l| l.starts_with("slave") && l.contains("state=online")).count();
        connected.min(online)
    }

    /// A replica's link to its master is up (`master_link_status:up`).
    fn link_up(&self) -> bool {
        command(self.port, "INFO replication").is_some_and(|i| i.contains("master_link_status:up"))
    }

    /// Waits until this replica has everything its master wrote so far: its link is up and
    /// its replication offset has reached the master's (a thawed replica catching up).
    pub fn wait_in_sync(&self) {
        let master = self.replica_of.expect("wait_in_sync is for replicas");
        let offset = |port: u16, field: &str| {
            command(port, "INFO replication")
                .and_then(|i| i.lines().find_map(|l| l.strip_prefix(field)).and_then(|n| n.trim().parse::<u64>().ok()))
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let target = offset(master, "master_repl_offset:");
            let here = offset(self.port, "slave_repl_offset:");
            if self.link_up() && target.is_some() && here >= target {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica on port {} did not catch up ({here:?} of {target:?})",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the process where it stands (SIGSTOP): it keeps its connections open but
    /// neither reads nor answers. The kernel still accepts connections and buffers what
    /// clients send, so they see a Redis that hangs (every call times out) rather than one
    /// that refuses; what they sent runs on [`RedisServer::thaw`]. A frozen replica's master
    /// still counts it as connected. The testkit's own commands to it would hang: send none.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen process run on (SIGCONT), working through what was sent meanwhile.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Sends a signal with kill(1), which needs no unsafe code or libc binding.
    fn signal(&self, which: &str) {
        let child = self.child.as_ref().expect("a running redis-server");
        let status = Command::new("kill").args([which, &child.id().to_string()]).status().expect("kill(1) on the PATH");
        assert!(status.success(), "kill {which} {} failed", child.id());
    }

    /// Starts the process on `self.port`; false when it exited (the port was taken meanwhile).
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            // A replica's first sync starts at once, not after Redis's default 5 s wait
            // for more replicas to share the snapshot.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "5000"]);
        }
        if let Some(master) = self.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
        let child = cmd.spawn().expect("redis-server on the PATH (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            // A server still loading its append-only file answers `-LOADING`: not ready yet.
            if command(self.port, "PING").as_deref() == Some("+PONG") {
                // The port may have gone to another test's server between `free_port` and
                // this one binding it (which then fails): its PONG is not ours, and two
                // harnesses on one server would read each other's configuration.
                let ours = self.child.as_ref().map(Child::id);
                if ours.is_some() && process_id(self.port) == ours {
                    return true;
                }
                self.stop();
                return false;
            }
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (an outage, as far as its clients can tell). A frozen one too:
    /// SIGKILL ends a stopped process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -9`: the process dies on the spot, with no chance to answer, flush or close
    /// anything (`Child::kill` sends SIGKILL on Unix). Its directory stays, so a persistent
    /// server's [`RedisServer::restart`] finds its append-only file. The same as
    /// [`RedisServer::stop`], named for what crash tests mean by it.
    pub fn kill(&mut self) {
        self.stop();
    }

    /// Starts the server again on the same port and in the same directory: a persistent
    /// server reloads its append-only file (and answers only once it has), any other starts
    /// empty, as it kept nothing on disk.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "redis-server did not restart on port {}", self.port);
    }

    /// The `INFO commandstats` total of calls, `info` itself excluded.
    pub fn commands_executed(&self) -> u64 {
        let info = command(self.port, "INFO commandstats").expect("INFO commandstats");
        info.lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    /// How often this server ran `name` (lower case, as `INFO commandstats` spells it).
    pub fn calls_of(&self, name: &str) -> u64 {
        let info = command(self.port, "INFO commandstats").expect("INFO commandstats");
        let prefix = format!("cmdstat_{name}:calls=");
        info.lines().find_map(|l| l.strip_prefix(&prefix)?.split(',').next()?.parse::<u64>().ok()).unwrap_or(0)
    }

    /// How many clients wait in a blocking command (`WAIT` among them) right now.
    pub fn blocked_clients(&self) -> u64 {
        let info = command(self.port, "INFO clients").expect("INFO clients");
        info.lines().find_map(|l| l.strip_prefix("blocked_clients:")?.trim().parse::<u64>().ok()).unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_mode(true, false)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli on the PATH (Debian's redis-tools, a dependency of redis-server)");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + READY_WITHIN;
        while !nodes.iter().all(|n| command(n.port, "CLUSTER INFO").is_some_and(|i| i.contains("cluster_state:ok"))) {
            assert!(Instant::now() < deadline, "the cluster did not reach cluster_state:ok");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisCluster { nodes }
    }

    /// The comma-separated URL list pingpost takes for a cluster.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(RedisServer::url).collect::<Vec<_>>().join(",")
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    pub fn commands_executed(&self) -> u64 {
        self.nodes.iter().map(RedisServer::commands_executed).sum()
    }
}

/// Each node of `urls` (one URL, or a cluster's list), connected, with its keys matching `pattern`.
async fn keys_by_node(urls: &str, pattern: &str) -> Vec<(redis::aio::MultiplexedConnection, Vec<String>)> {
    use redis::AsyncCommands;
    let mut out = Vec::new();
    for url in urls.split(',') {
        let client = redis::Client::open(url).expect("a redis:// URL");
        let mut con = client.get_multiplexed_async_connection().await.expect("connect to the test's Redis");
        let keys: Vec<String> = {
            let mut iter: redis::AsyncIter<String> = con.scan_match(pattern).await.expect("SCAN");
            let mut keys = Vec::new();
            while let Some(k) = iter.next_item().await {
                keys.push(k.expect("a key"));
            }
            keys
        };
        out.push((con, keys));
    }
    out
}

/// Deletes every key matching `pattern` whose time to live ends within `within`: what Redis's
/// own expiry will have removed once that much time has passed. Redis expires keys by its own
/// clock, which a test cannot move; a test that moves the engine's clock on calls this to let
/// the store age as far. Answers how many keys went.
pub async fn expire_within(urls: &str, pattern: &str, within: std::time::Duration) -> usize {
    use redis::AsyncCommands;
    let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
    let mut removed = 0;
    for (mut con, keys) in keys_by_node(urls, pattern).await {
        for key in keys {
            let ttl: i64 = con.pttl(&key).await.expect("PTTL");
            if ttl >= 0 && ttl <= within_ms {
                let _: i64 = con.del(&key).await.expect("DEL");
                removed += 1;
            }
        }
    }
    removed
}

/// Every key matching `pattern` on every node of `urls`, with its value rendered as text,
/// so a test can prove what is *not* stored (no plaintext email or phone).
pub async fn dump(urls: &str, pattern: &str) -> String {
    use redis::AsyncCommands;
    let mut out = String::new();
    for (mut con, keys) in keys_by_node(urls, pattern).await {
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut con).await.expect("TYPE");
            let value = match kind.as_str() {
                "string" => con.get::<_, Vec<u8>>(&key).await.map(|v| String::from_utf8_lossy(&v).into_owned()),
                "hash" => con.hgetall::<_, Vec<(String, Vec<u8>)>>(&key).await.map(|v| {
                    v.iter().map(|(f, x)| format!("{f}={}", String::from_utf8_lossy(x))).collect::<Vec<_>>().join(" ")
                }),
                "zset" => con.zrange::<_, Vec<String>>(&key, 0, -1).await.map(|v| v.join(" ")),
                "stream" => redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async::<redis::Value>(&mut con)
                    .await
                    .map(|v| format!("{v:?}")),
                other => Ok(format!("<{other}>")),
            }
            .expect("read a value");
            out.push_str(&format!("{key} {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persistent_server_keeps_what_it_acknowledged_across_a_kill_and_a_restart() {
        let mut redis = RedisServer::start_persistent();
        assert_eq!(command(redis.port(), "SET kept yes").as_deref(), Some("+OK"));
        redis.kill();
        assert_eq!(command(redis.port(), "PING"), None, "a killed server answers nothing");
        redis.restart();
        assert_eq!(command(redis.port(), "GET kept").as_deref(), Some("yes"), "reloaded from its append-only file");
    }

    #[test]
    fn a_server_whose_port_another_server_took_first_does_not_take_that_server_for_its_own() {
        // What two tests starting at once can meet: the same free port handed to both.
        let first = RedisServer::start();
        let mut second = RedisServer {
            child: None,
            port: first.port(),
            dir: fresh_dir(),
            cluster: false,
            persistent: false,
            replica_of: None,
        };
        assert!(!second.spawn(), "the first server's PONG is not the second's");
        assert!(second.child.is_none(), "nothing of the second is left running");
        assert_eq!(command(first.port(), "PING").as_deref(), Some("+PONG"), "the first is untouched");
    }

    #[test]
    fn a_server_without_persistence_restarts_empty() {
        let mut redis = RedisServer::start();
        assert_eq!(command(redis.port(), "SET lost yes").as_deref(), Some("+OK"));
        redis.kill();
        redis.restart();
        assert_eq!(command(redis.port(), "EXISTS lost").as_deref(), Some(":0"));
    }

    #[test]
    fn a_frozen_server_hangs_then_runs_what_was_sent_once_thawed() {
        let redis = RedisServer::start();
        redis.freeze();
        let mut s = TcpStream::connect(("127.0.0.1", redis.port())).expect("the kernel still accepts");
        s.set_read_timeout(Some(Duration::from_millis(300))).expect("read timeout");
        s.write_all(b"SET during freeze\r\n").expect("the kernel buffers the command");
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        let hung = reader.read_line(&mut line);
        assert!(hung.is_err() && line.is_empty(), "a frozen server answers nothing: {hung:?} {line:?}");
        redis.thaw();
        reader.get_ref().set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
        reader.read_line(&mut line).expect("the answer once thawed");
        assert_eq!(line.trim(), "+OK");
        assert_eq!(command(redis.port(), "GET during").as_deref(), Some("freeze"));
    }
}
