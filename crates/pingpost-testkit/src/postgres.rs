//! Real PostgreSQL for tests, provided by the tests themselves. A [`PostgresServer`] is
//! either the server the operator names in `PINGPOST_TEST_POSTGRES` (a `postgres://` URL),
//! in which the test creates databases of its own and drops them when done, or a server the
//! test starts: `initdb` into a temporary directory, `postgres` on a free loopback port with
//! its unix socket in that directory, trust authentication, killed and removed on drop.
//! Either way a test only ever touches databases it created: the machine's own PostgreSQL on
//! 5432 is never used unless the operator names it.
//!
//! PostgreSQL refuses to run as root. As root, the testkit runs `initdb` and `postgres` as
//! the unprivileged system user `pingpost-test` (created with `useradd --system` when
//! missing), through `setpriv`, which changes user and then *execs* the program: the child
//! process the test holds is `postgres` itself, so killing it stops the server. (`runuser`
//! and `su` fork and wait for the command instead, to close a PAM session; killing them
//! would leave the server running.)
//!
//! The binaries are looked for in `/usr/lib/postgresql/<version>/bin` (Debian, newest
//! first), then on the PATH; `scripts/test.sh` installs Debian's `postgresql` package when
//! they are missing. `psql` creates and drops the databases.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The operator's server, when set: tests create their databases in it.
pub const ENV_URL: &str = "PINGPOST_TEST_POSTGRES";

/// The unprivileged user a root test runs PostgreSQL as.
pub const TEST_USER: &str = "pingpost-test";

const START_ATTEMPTS: usize = 8;
const READY_WITHIN: Duration = Duration::from_secs(30);
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// A PostgreSQL to create test databases in.
pub struct PostgresServer {
    /// Where databases are created and dropped from (the operator's URL, or our server's
    /// `postgres` database).
    admin_url: String,
    own: Option<OwnServer>,
    /// Databases created in the operator's server, dropped on drop.
    created: Mutex<Vec<String>>,
}

/// A server this test started.
struct OwnServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// The user the server runs as, when the test runs as root.
    user: Option<Account>,
}

#[derive(Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

impl PostgresServer {
    /// The operator's server when `PINGPOST_TEST_POSTGRES` is set, else one of our own.
    pub fn start() -> Self {
        match std::env::var(ENV_URL) {
            Ok(url) if !url.trim().is_empty() => Self::in_server(url.trim()),
            _ => Self::start_own(),
        }
    }

    /// Databases of our own in the server at `admin_url` (any database of it the URL's user
    /// may connect to and create databases from). Nothing else in it is touched.
    pub fn in_server(admin_url: &str) -> Self {
        psql(admin_url, "SELECT 1").unwrap_or_else(|e| panic!("the named PostgreSQL does not answer: {e}"));
        PostgresServer { admin_url: admin_url.to_string(), own: None, created: Mutex::new(Vec::new()) }
    }

    /// A server of our own, whatever `PINGPOST_TEST_POSTGRES` says: for tests that stop
    /// and restart it, which no test may do to the operator's.
    pub fn start_own() -> Self {
        let dir = fresh_dir();
        let user = if running_as_root() { Some(test_account()) } else { None };
        if let Some(a) = user {
            std::os::unix::fs::chown(&dir, Some(a.uid), Some(a.gid)).expect("give the directory to the test user");
        }
        let initdb = command_as(user, bin("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("initdb (scripts/test.sh installs Debian's postgresql package)");
        assert!(
            initdb.status.success(),
            "initdb in {} failed (as root, every parent directory must be searchable by {TEST_USER}: \
             set TMPDIR elsewhere if not): {}",
            dir.display(),
            text(&initdb)
        );
        for _ in 0..START_ATTEMPTS {
            let mut own = OwnServer { child: None, port: free_port(), dir: dir.clone(), user };
            if own.spawn() {
                let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", own.port);
                return PostgresServer { admin_url, own: Some(own), created: Mutex::new(Vec::new()) };
            }
        }
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        panic!("postgres did not start after {START_ATTEMPTS} attempts; its log:\n{log}");
    }

    /// The URL of a new, empty database, dropped with the server (ours) or when this
    /// value is dropped (the operator's).
    pub fn fresh_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        // The time keeps names apart across runs: a run that died before dropping its
        // databases must not make the next one fail on an existing name.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!("pingpost_test_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos);
        // template0 has no connections, so creating from it never fails because another
        // session is using the template; C collation so that text sorts by bytes.
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
        psql(&self.admin_url, &sql).unwrap_or_else(|e| panic!("create a test database: {e}"));
        if self.own.is_none() {
            self.created.lock().unwrap_or_else(|p| p.into_inner()).push(name.clone());
        }
        with_database(&self.admin_url, &name)
    }

    /// Whether this is a server the test started (which it may stop and restart).
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// The port of a server of our own.
    pub fn port(&self) -> Option<u16> {
        self.own.as_ref().map(|o| o.port)
    }

    /// Stops a server of our own (an outage, as its clients see it); its data stays for
    /// [`PostgresServer::restart`].
    pub fn stop(&mut self) {
        self.own_mut().stop(Signal::Fast);
    }

    /// Starts a stopped server of our own again, on the same port with the same data.
    pub fn restart(&mut self) {
        let own = self.own_mut();
        own.stop(Signal::Fast);
        assert!(own.spawn(), "postgres did not restart on port {}", own.port);
    }

    fn own_mut(&mut self) -> &mut OwnServer {
        self.own.as_mut().expect("only a server the test started can be stopped (see PostgresServer::start_own)")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        match self.own.as_mut() {
            Some(own) => {
                own.stop(Signal::Immediate);
                let _ = std::fs::remove_dir_all(&own.dir);
            }
            None => {
                let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
                for name in names {
                    // FORCE (PostgreSQL 13+) ends connections a test left open (a pool
                    // still alive in a leaked task) instead of failing on them.
                    let _ = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Signal {
    /// SIGINT: connections are ended and the server shuts down cleanly, ready to restart.
    Fast,
    /// SIGQUIT: the server ends its processes and exits at once, freeing its shared memory
    /// (which SIGKILL would leave behind); nothing is kept anyway.
    Immediate,
}

impl OwnServer {
    /// Starts `postgres` on `self.port`; false when it exited (the port was taken meanwhile).
    fn spawn(&mut self) -> bool {
        let log = File::create(self.dir.join("log")).expect("a log file for postgres");
        let child = command_as(self.user, bin("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Test data need not survive a crash of the machine: no waiting on the disk.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("postgres (scripts/test.sh installs Debian's postgresql package)");
        self.child = Some(child);
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let deadline = Instant::now() + READY_WITHIN;
        let data = self.dir.join("data");
        while Instant::now() < deadline {
            if let Ok(serving) = psql(&url, "SHOW data_directory") {
                // The port may have gone to another test's server between `free_port` and
                // this one binding it: that server answers, but it is not ours.
                if std::path::Path::new(&serving) == data {
                    return true;
                }
                self.stop(Signal::Immediate);
                return false;
            }
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop(Signal::Immediate);
        false
    }

    fn stop(&mut self, how: Signal) {
        let Some(mut child) = self.child.take() else { return };
        let sig = match how {
            Signal::Fast => "-INT",
            Signal::Immediate => "-QUIT",
        };
        let _ = Command::new("kill").args([sig, &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `program` to be run as the test user (when there is one): through `setpriv`, which
/// switches user and execs `program`, so the child process is `program` itself.
fn command_as(user: Option<Account>, program: PathBuf) -> Command {
    let Some(a) = user else { return Command::new(program) };
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={}", a.uid)).arg(format!("--regid={}", a.gid)).args(["--clear-groups", "--"]).arg(program);
    cmd
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user: no libc call needed.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The test user's ids, creating the user first if it does not exist.
fn test_account() -> Account {
    if lookup_account().is_none() {
        let created = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER])
            .output()
            .expect("useradd, to create the user PostgreSQL runs as");
        // Another test process may have created it meanwhile: only its absence is an error.
        if !created.status.success() && lookup_account().is_none() {
            panic!("useradd {TEST_USER} failed: {}", text(&created));
        }
    }
    lookup_account().expect("the test user exists")
}

fn lookup_account() -> Option<Account> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, TEST_USER]).stderr(Stdio::null()).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some(Account { uid: id("-u")?, gid: id("-g")? })
}

/// A PostgreSQL program: Debian's newest version first, then the PATH.
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| {
                    let major = e.file_name().to_string_lossy().split('.').next()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin").join(name)))
                })
                .filter(|(_, p)| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, p)| p).unwrap_or_else(|| PathBuf::from(name))
}

/// Runs one statement with `psql`; answers its output (unaligned, tuples only), or what
/// psql said when it failed.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new(bin("psql"))
        .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        // A server not listening yet must fail fast, not wait libpq's default.
        .env("PGCONNECT_TIMEOUT", "2")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql could not run ({e}); scripts/test.sh installs Debian's postgresql package"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(text(&out))
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_string()
}

/// `url` with its database replaced by `database`, its user, host and parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{database}{query}")
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pingpost-postgres-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory for postgres");
    dir
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The directory a server of our own keeps its data and socket in.
    fn dir_of(server: &PostgresServer) -> Option<&Path> {
        server.own.as_ref().map(|o| o.dir.as_path())
    }

    #[test]
    fn a_database_url_keeps_everything_but_the_database() {
        let check = |url: &str, expected: &str| assert_eq!(with_database(url, "db2"), expected, "{url}");
        check("postgres://u:p@h:5433/db1", "postgres://u:p@h:5433/db2");
        check("postgres://u@h/db1?sslmode=disable", "postgres://u@h/db2?sslmode=disable");
        check("postgresql://h:5432", "postgresql://h:5432/db2");
        check("postgres://h?sslmode=require", "postgres://h/db2?sslmode=require");
    }

    fn query(url: &str, sql: &str) -> String {
        psql(url, sql).expect("psql")
    }

    #[test]
    fn an_own_server_runs_unprivileged_in_its_directory_and_is_gone_after_drop() {
        let server = PostgresServer::start_own();
        let port = server.port().expect("our own server");
        let dir = dir_of(&server).expect("a directory").to_path_buf();
        let pid: u32 = std::fs::read_to_string(dir.join("data/postmaster.pid"))
            .expect("postmaster.pid")
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the postmaster's pid");
        let owner = std::fs::metadata(format!("/proc/{pid}")).expect("the postmaster runs").uid();
        assert_ne!(owner, 0, "PostgreSQL never runs as root");
        assert!(dir.join(format!(".s.PGSQL.{port}")).exists(), "its unix socket is in its directory");
        let url = server.fresh_database();
        assert!(url.starts_with(&format!("postgres://postgres@127.0.0.1:{port}/pingpost_test_")), "{url}");
        assert_eq!(
            query(&url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"),
            "0"
        );
        drop(server);
        assert!(!dir.exists(), "its directory is removed");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the server is gone");
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok(), "its port is free again");
    }

    #[test]
    fn in_a_named_server_only_the_databases_it_created_are_dropped() {
        // The operator's server, played by one of our own.
        let operator = PostgresServer::start_own();
        let theirs = operator.fresh_database();
        let admin = with_database(&theirs, "postgres");
        let list = || {
            query(&admin, "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database WHERE datname LIKE 'pingpost_test_%'")
        };
        let tests = PostgresServer::in_server(&theirs);
        assert!(!tests.is_own());
        let (a, b) = (tests.fresh_database(), tests.fresh_database());
        let name = |url: &str| url.rsplit('/').next().unwrap_or_default().to_string();
        assert_eq!(list().split(' ').count(), 3, "{}", list());
        drop(tests);
        assert_eq!(list(), name(&theirs), "ours ({} and {}) are dropped; theirs stays", name(&a), name(&b));
    }

    #[test]
    fn an_own_server_stops_and_restarts_with_its_data() {
        let mut server = PostgresServer::start_own();
        let url = server.fresh_database();
        query(&url, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)");
        server.stop();
        assert!(psql(&url, "SELECT 1").is_err(), "a stopped server answers nothing");
        server.restart();
        assert_eq!(query(&url, "SELECT v FROM kept"), "7");
    }
}
