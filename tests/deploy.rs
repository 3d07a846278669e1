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
