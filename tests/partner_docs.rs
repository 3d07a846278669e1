//! A partner's posting instructions (`GET /v1/partner/docs`) through the real HTTP API, on
//! the store `PINGPOST_TEST_STORE` names: its example ping and post are sent as they stand
//! and sell (so they pass every check a real lead goes through), for a vertical with typed,
//! personal and required fields, an offer requiring consent and a partner with aliases, and
//! for every offer of the example configuration (`contracts/`); the JSON and the page show
//! nothing of buyers, contracts, prices, margins or other partners, never a key, and each
//! partner only its own offers.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::{json, Value};

/// Strings of the configuration a partner must never read in its instructions.
const SECRETS_OF_THE_MARKET: [&str; 9] = [
    "quillbuyer",
    "Quillfeather Insurance",
    "hidden-contract-77",
    "43.21",
    "17.50",
    "rival-partner",
    "Rival Media",
    "rival-offer",
    "Rival offer name",
];

/// An auto vertical with typed fields (a personal name and birth date, an enum whose third
/// value needs escaping, a field required on the post), an offer requiring a LeadiD on the
/// ping and a true TCPA opt-in and a TrustedForm certificate on the post; acme sends its own
/// names for two fields. A rival partner has an offer of its own.
fn config() -> String {
    format!(
        r#"
[[verticals]]
id = "auto"
name = "Auto insurance"
dedup_window_days = 30
fields = [
  {{ name = "zip", type = "zip", required = "ping" }},
  {{ name = "state", type = "state", required = "ping" }},
  {{ name = "age", type = "integer", min = 18, max = 120 }},
  {{ name = "gender", type = "enum", values = ["male", "female", "<b>other</b>"] }},
  {{ name = "vehicles", type = "integer", min = 1, max = 9, required = "post" }},
  {{ name = "first_name", type = "text", required = "post", pii = true, max_length = 100 }},
  {{ name = "birth_date", type = "date", pii = true }},
]
unknown_fields = "refuse"

[[offers]]
id = "auto-excl"
name = "Auto, exclusive"
vertical = "auto"
ping_budget_ms = 1000
margin = {{ percent = "17.50" }}
consent = {{ ping = ["jornaya_leadid"], post = ["tcpa_optin", "trustedform_cert_url"] }}

[[offers]]
id = "rival-offer"
name = "Rival offer name"
vertical = "auto"
ping_budget_ms = 1000

[[partners]]
id = "acme-docs"
name = "Acme & <Sons>"
api_key_sha256 = "{}"
offers = ["auto-excl"]
field_aliases = {{ zipcode = "zip", leadid_token = "jornaya_leadid" }}

[[partners]]
id = "rival-partner"
name = "Rival Media"
api_key_sha256 = "{}"
offers = ["rival-offer"]

[[buyers]]
id = "quillbuyer"
name = "Quillfeather Insurance"
post_url = "{{buyers}}/quillbuyer/post"
timeout_ms = 1000
"#,
        sha(KEY_P1),
        sha(KEY_P2)
    ) + &contract("hidden-contract-77", "quillbuyer", "auto-excl", "43.21", "")
        + &contract("rival-contract", "quillbuyer", "rival-offer", "43.21", "")
}

/// The docs as JSON with `key`: (status, body).
async fn docs(h: &Harness, key: &str) -> (u16, Value) {
    h.call_authorized("GET", "/v1/partner/docs", &format!("Bearer {key}"), None).await
}

/// The docs as a page: (status, content type, CSP, body).
async fn page(h: &Harness, key: &str) -> (u16, String, String, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/partner/docs", h.base))
        .bearer_auth(key)
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (status, content_type, csp) =
        (resp.status().as_u16(), header("content-type"), header("content-security-policy"));
    (status, content_type, csp, resp.text().await.unwrap())
}

/// Sends each of `docs`' offers' example ping, then its example post with the ping's id,
/// with `key`: each ping is accepted and each post sells. Between offers the clock moves a
/// year and a week on (to the same weekday), past every dedup window: the examples share one
/// consumer.
async fn examples_sell(h: &Harness, key: &str, docs: &Value) {
    let offers = docs["offers"].as_array().unwrap();
    assert!(!offers.is_empty(), "{docs}");
    for (i, offer) in offers.iter().enumerate() {
        if i > 0 {
            h.advance_days(371).await;
        }
        let id = &offer["id"];
        let (status, ping) = h.call("/v1/ping", Some(key), offer["example_ping"].to_string().into_bytes()).await;
        assert_eq!((status, &ping["status"]), (200, &json!("accepted")), "{id}'s example ping: {ping}");
        let mut post = offer["example_post"].clone();
        assert_eq!(post["ping_id"], "PING_ID_FROM_THE_PING", "{post}");
        post["ping_id"] = ping["ping_id"].clone();
        let (status, sold) = h.call("/v1/post", Some(key), post.to_string().into_bytes()).await;
        assert_eq!((status, &sold["status"]), (200, &json!("sold")), "{id}'s example post: {sold}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_sell_and_the_docs_show_only_the_partners_own_side() {
    let h = Harness::start(&config()).await;
    let (status, d) = docs(&h, KEY_P1).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["partner"], json!({"id": "acme-docs", "name": "Acme & <Sons>"}));
    assert_eq!(d["aliases"], json!({"leadid_token": "jornaya_leadid", "zipcode": "zip"}));
    assert_eq!(d["base_url"], json!(h.base));
    let offers = d["offers"].as_array().unwrap();
    assert_eq!(offers.iter().map(|o| o["id"].as_str().unwrap()).collect::<Vec<_>>(), ["auto-excl"]);
    let offer = &offers[0];
    assert_eq!(
        (&offer["name"], &offer["vertical"], &offer["unknown_fields"]),
        (&json!("Auto, exclusive"), &json!("auto"), &json!("refuse"))
    );
    let field = |name: &str| offer["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(field("zip"), json!({"name": "zip", "type": "zip", "required": "ping", "personal": false}));
    assert_eq!(
        field("gender"),
        json!({"name": "gender", "type": "enum", "required": null, "values": ["male", "female", "<b>other</b>"], "personal": false})
    );
    assert_eq!((&field("age")["min"], &field("age")["max"]), (&json!(18), &json!(120)));
    assert_eq!(
        field("first_name"),
        json!({"name": "first_name", "type": "text", "required": "post", "max_length": 100, "personal": true})
    );
    assert_eq!(field("birth_date")["personal"], json!(true));
    let names = |list: &Value| {
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&offer["consent"]["ping"]), ["jornaya_leadid"]);
    assert_eq!(names(&offer["consent"]["post"]), ["trustedform_cert_url", "jornaya_leadid", "tcpa_optin"]);
    assert_eq!(names(&offer["identifiers"]), ["email", "phone", "email_sha256", "phone_sha256"]);

    // The ping: the vertical's names (not the aliases), no personal field, the ping's consent.
    let ping_lead = &offer["example_ping"]["lead"];
    for absent in
        ["first_name", "birth_date", "vehicles", "tcpa_optin", "trustedform_cert_url", "zipcode", "leadid_token"]
    {
        assert!(ping_lead.get(absent).is_none(), "{absent} on the example ping: {ping_lead}");
    }
    for present in ["email", "zip", "state", "age", "gender", "jornaya_leadid"] {
        assert!(ping_lead.get(present).is_some(), "{present} missing from the example ping: {ping_lead}");
    }
    let post_lead = &offer["example_post"]["lead"];
    assert!(
        post_lead["trustedform_cert_url"].as_str().unwrap().starts_with("https://cert.trustedform.com/"),
        "{post_lead}"
    );
    for present in
        ["first_name", "birth_date", "vehicles", "tcpa_optin", "trustedform_cert_url", "jornaya_leadid", "zip"]
    {
        assert!(post_lead.get(present).is_some(), "{present} missing from the example post: {post_lead}");
    }

    // Sent as they stand, they sell: they pass every check a real ping and post go through.
    examples_sell(&h, KEY_P1, &d).await;
    assert_eq!(h.buyers.received().iter().filter(|r| r.kind == "post").count(), 1);

    // The page: the same, escaped, under the console's protections, a placeholder for the key.
    let (status, content_type, csp, html) = page(&h, KEY_P1).await;
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!html.contains("<script"), "no script at all: {html}");
    for shown in [
        "Acme &amp; &lt;Sons&gt;",
        "&lt;b&gt;other&lt;/b&gt;",
        "YOUR_API_KEY",
        "zipcode",
        "leadid_token",
        "auto-excl",
        "jornaya_leadid",
        "--data-urlencode",
        "invalid_field",
    ] {
        assert!(html.contains(shown), "the page lacks {shown:?}: {html}");
    }
    assert!(!html.contains("<b>other</b>") && !html.contains("<Sons>"), "a value reached the page unescaped: {html}");

    let json_text = d.to_string();
    for (what, text) in [("the JSON", &json_text), ("the page", &html)] {
        for secret in SECRETS_OF_THE_MARKET.iter().chain([&KEY_P1, &KEY_P2]) {
            assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
        }
    }

    // The rival reads its own offer only; no key (or a wrong one) reads nothing.
    let (status, rival) = docs(&h, KEY_P2).await;
    assert_eq!(status, 200, "{rival}");
    assert_eq!(
        rival["offers"].as_array().unwrap().iter().map(|o| o["id"].clone()).collect::<Vec<_>>(),
        [json!("rival-offer")]
    );
    assert!(!rival.to_string().contains("auto-excl") && !rival.to_string().contains("acme"), "{rival}");
    assert!(rival["aliases"].as_object().unwrap().is_empty(), "{rival}");
    let (status, refused) = h.get_text("/v1/partner/docs").await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused.contains("\"unauthorized\""), "{refused}");
    let (status, _) = docs(&h, "not-a-partner-key").await;
    assert_eq!(status, 401);
}

/// The demo market's instructions for acme: each offer's examples sell, the strict buyers
/// among them taking what their own specs demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configurations_examples_sell_on_every_offer() {
    const ACME: &str = "demo-key-acme-0001";
    let h = Harness::start(&example_configuration()).await;
    for name in pingpost_buyersim::strict::SECRET_NAMES {
        let value = h.buyers.credentials().secret(name).unwrap().to_string();
        let (status, answer) = h.admin("PUT", &format!("/secrets/{name}"), Some(json!({"value": value}))).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, d) = docs(&h, ACME).await;
    assert_eq!(status, 200, "{d}");
    let ids: Vec<&str> = d["offers"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["auto-excl", "auto-multi", "solar-excl"]);
    examples_sell(&h, ACME, &d).await;
    let text = d.to_string();
    for never in ["b01", "crestline", "Crestline", "auto-01", "19.25", "15.00", "margin", "demo-key"] {
        assert!(!text.contains(never), "the docs show {never:?}: {text}");
    }
}
