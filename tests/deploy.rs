//! No Docker engine runs in CI: these tests read `docker-compose.yml` and the `Dockerfile`
//! and check what a mistake there would break silently — persistence, health checks,
//! start-up order, and paths that exist in the repository.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use serde_norway::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compose() -> Value {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
        Value::String(s) => s.split_whitespace().map(String::from).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn compose_runs_redis_with_persistence_and_the_engine_on_it() {
    let c = compose();
    let services = c["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
    assert!(names.contains(&"redis") && names.contains(&"engine"), "services: {names:?}");

    let redis = &c["services"]["redis"];
    let command = strings(&redis["command"]);
    assert_eq!(command.first().map(String::as_str), Some("redis-server"));
    let appendonly = command.iter().position(|a| a == "--appendonly").unwrap();
    assert_eq!(command[appendonly + 1], "yes", "{command:?}");
    let volume = strings(&redis["volumes"]);
    assert!(volume.iter().any(|v| v.ends_with(":/data")), "{volume:?}");
    let named = volume[0].split(':').next().unwrap();
    assert!(c["volumes"].as_mapping().unwrap().contains_key(named), "volume {named} must be declared");
    assert!(strings(&redis["healthcheck"]["test"]).join(" ").contains("redis-cli ping"));

    let engine = &c["services"]["engine"];
    assert_eq!(engine["build"].as_str(), Some("."));
    assert_eq!(engine["environment"]["PINGPOST_STORE"].as_str(), Some("redis://redis:6379"));
    assert!(strings(&engine["healthcheck"]["test"]).join(" ").contains("/readyz"));
    assert_eq!(engine["depends_on"]["redis"]["condition"].as_str(), Some("service_healthy"));
    let mounts = strings(&engine["volumes"]);
    assert!(mounts.iter().any(|m| m.starts_with("./contracts:") && m.ends_with(":ro")), "{mounts:?}");
    let contracts_in = engine["environment"]["PINGPOST_CONTRACTS"].as_str().unwrap();
    assert!(mounts.iter().any(|m| m.split(':').nth(1) == Some(contracts_in)), "{contracts_in} not mounted");
}

/// With Redis the books must be shared: the engine refuses books in its process, so the
/// demo keeps them in a PostgreSQL of its own, with its data on a volume.
#[test]
fn compose_keeps_the_books_in_postgresql_beside_the_shared_store() {
    let c = compose();
    let postgres = &c["services"]["postgres"];
    assert!(postgres["image"].as_str().unwrap().starts_with("postgres:"), "{postgres:?}");
    let volume = strings(&postgres["volumes"]);
    assert!(volume.iter().any(|v| v.ends_with(":/var/lib/postgresql/data")), "{volume:?}");
    let named = volume[0].split(':').next().unwrap();
    assert!(c["volumes"].as_mapping().unwrap().contains_key(named), "volume {named} must be declared");
    assert!(strings(&postgres["healthcheck"]["test"]).join(" ").contains("pg_isready"));
    let engine = &c["services"]["engine"];
    let books = engine["environment"]["PINGPOST_BOOKS"].as_str().unwrap();
    assert!(books.starts_with("postgres://") && books.contains("@postgres:5432/"), "{books}");
    assert_eq!(engine["depends_on"]["postgres"]["condition"].as_str(), Some("service_healthy"));
}

/// The demo must not open the admin API to the network with a default token: the token has
/// no default (compose refuses to start without one), and every published port is bound to
/// the host's loopback.
#[test]
fn compose_requires_the_operator_token_and_publishes_on_loopback_only() {
    let c = compose();
    let engine = &c["services"]["engine"];
    let token = engine["environment"]["PINGPOST_ADMIN_TOKEN"].as_str().unwrap();
    assert!(token.starts_with("${PINGPOST_ADMIN_TOKEN:?"), "the token must be required, not defaulted: {token}");
    for (name, service) in c["services"].as_mapping().unwrap() {
        for port in strings(&service["ports"]) {
            assert!(port.starts_with("127.0.0.1:"), "{name:?} publishes {port} beyond the loopback");
        }
    }
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    assert!(!text.contains("change-me"), "no default token anywhere");
}

/// The run image's process has no privilege to lose: a non-root user, by name and number.
#[test]
fn the_image_runs_the_engine_as_a_non_root_user() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let run_stage = text.split("AS build").nth(1).unwrap();
    let user = run_stage.lines().rfind(|l| l.starts_with("USER ")).expect("a USER in the run stage");
    let name = user.trim_start_matches("USER ").trim();
    assert!(name != "root" && name != "0", "{user}");
    assert!(
        run_stage.contains(&format!("useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin {name}"))
    );
    let entry = run_stage.find("ENTRYPOINT").unwrap();
    assert!(run_stage.find(user).unwrap() < entry, "USER comes before the entry point");
}

#[test]
fn every_build_context_and_bind_mount_exists_in_the_repository() {
    let c = compose();
    for (name, service) in c["services"].as_mapping().unwrap() {
        if let Some(context) = service["build"].as_str() {
            assert!(repo().join(context).join("Dockerfile").is_file(), "{name:?}: no Dockerfile in {context}");
        }
        for mount in strings(&service["volumes"]) {
            let source = mount.split(':').next().unwrap();
            if source.starts_with('.') || source.starts_with('/') {
                assert!(repo().join(source).exists(), "{name:?}: {source} does not exist");
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_the_binary_from_a_slim_one() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(froms[1].contains("-slim"), "{}", froms[1]);
    assert!(text.contains("cargo build --release --locked -p pingpost"));
    assert!(text.contains("COPY --from=build /src/target/release/pingpost /usr/local/bin/pingpost"));
    // The engine's health check runs curl inside the run image.
    assert!(text.contains("curl"));
    let entry = text.lines().find(|l| l.starts_with("ENTRYPOINT")).unwrap();
    assert!(entry.contains("pingpost"), "{entry}");
}
