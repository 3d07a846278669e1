//! The small market the ping's and the post's unit tests plan against: one vertical, one
//! offer `o` (pings kept 120 s), partner `p1` and buyer `b1`; each test module adds its own
//! contracts.

use pingpost_core::config::{load_files, Config, SourceFile};
use pingpost_core::Timestamp;

/// The unit tests' "now".
pub(crate) fn t0() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z").expect("a time").into()
}

/// The market with `contracts` (TOML `[[contracts]]` tables of buyer `b1`, offer `o`).
pub(crate) fn market(contracts: &str) -> Config {
    let text = format!(
        r#"
[[verticals]]
id = "auto"
dedup_window_days = 30

[[offers]]
id = "o"
vertical = "auto"
ping_ttl_s = 120

[[partners]]
id = "p1"
api_key = "partner-key-for-unit-tests"
offers = ["o"]

[[buyers]]
id = "b1"
post_url = "http://127.0.0.1:1/post"
timeout_ms = 2000
{contracts}"#
    );
    load_files(&[SourceFile { name: "unit.toml".into(), text }]).expect("a valid configuration")
}
