//! `GET /openapi.json`: the API document the binary serves, generated from the handlers,
//! and valid OpenAPI 3.1 by `openapi-spec-validator` (PyPI; installed by `scripts/test.sh`
//! into the tests' virtual environment, or named by `PINGPOST_OPENAPI_SPEC_VALIDATOR`).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine, temp_dir, test_tool};
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

#[tokio::test]
async fn the_engine_serves_its_api_document_without_a_credential() {
    let h = Harness::start(&base_config()).await;
    let (status, text) = h.get_text("/openapi.json").await;
    assert_eq!(status, 200, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for path in ["/v1/ping", "/v1/post", "/v1/partner/report", "/v1/buyer/sales", "/v1/buyer/returns", "/healthz"] {
        assert!(paths.contains_key(path), "{path} undocumented: {:?}", paths.keys().collect::<Vec<_>>());
    }
    let ping = &doc["paths"]["/v1/ping"]["post"];
    assert_eq!(ping["security"], serde_json::json!([{"partner_key": []}]));
    assert_eq!(
        ping["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PingView"
    );
}

/// The document the release binary serves, checked by a validator of its own (client
/// generators refuse what it refuses): it once named six operations `list`.
#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let (_engine, base) = start_engine(&contracts, "memory");
    let answer = reqwest::get(format!("{base}/openapi.json")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    let dir = temp_dir("openapi-valid");
    let file = dir.join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(test_tool("PINGPOST_OPENAPI_SPEC_VALIDATOR", "openapi-spec-validator"))
        .args(["--schema", "3.1", "--validation-errors", "all", "--subschema-errors", "all"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.contains(": OK"), "the served document is not valid OpenAPI 3.1:\n{report}");
}
