//! `GET /openapi.json`: the API document the binary serves, generated from the handlers.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::Value;

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
