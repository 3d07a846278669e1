//! What the strict buyers' tests share: a simulator on loopback, and requests written to
//! each buyer's spec.
#![allow(dead_code)] // each test file uses its part

use pingpost_buyersim::strict::{crestline, CRESTLINE_PING_PATH, PINECREST_POST_PATH, RIDGELINE_POST_PATH};
use pingpost_buyersim::{Buyers, Credentials};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Credentials as `pingpost buyers` reads them from the environment, none of them the demo's.
pub fn credentials() -> Credentials {
    Credentials::from_lookup(|var| match var {
        "PINGPOST_SECRET_CRESTLINE_API_TOKEN" => Some("test-crestline-token".into()),
        "PINGPOST_SECRET_RIDGELINE_PASSWORD" => Some("test-ridgeline-password".into()),
        "PINGPOST_SECRET_PINECREST_API_KEY" => Some("test-pinecrest-key".into()),
        _ => None,
    })
}

pub struct Sim {
    pub buyers: Arc<Buyers>,
    pub base: String,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

pub async fn start() -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let buyers = Buyers::with_credentials(credentials());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(pingpost_buyersim::serve(listener, buyers.clone(), async {
        let _ = stopped.await;
    }));
    Sim { buyers, base, http: reqwest::Client::new(), _stop: stop }
}

/// An answer: status, content type, body.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Sim {
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Reply { status, content_type, headers, body: response.text().await.unwrap() }
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Reply {
        self.send(self.http.post(format!("{}{path}", self.base)).header("content-type", content_type).body(body)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, "application/json", body.to_string()).await
    }

    /// A form post to ridgeline with Basic auth as configured.
    pub async fn ridgeline(&self, fields: &[(&str, &str)]) -> Reply {
        let creds = credentials();
        let request = self
            .http
            .post(format!("{}{RIDGELINE_POST_PATH}", self.base))
            .basic_auth(&creds.ridgeline_username, Some(&creds.ridgeline_password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields));
        self.send(request).await
    }

    pub async fn pinecrest(&self, xml: &str) -> Reply {
        self.post_raw(PINECREST_POST_PATH, "application/x-www-form-urlencoded", form(&[("xml", xml)])).await
    }

    /// A good crestline ping, answered; its `leadAuctionId`.
    pub async fn crestline_auction(&self) -> String {
        let reply = self.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["leadAuctionId"].as_str().unwrap().to_string()
    }
}

pub fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

pub fn crestline_ping() -> Value {
    json!({"ApiToken": "test-crestline-token", "tagId": crestline::TAG_ID,
           "Lead": {"ZipCode": "90210", "State": "CA", "Age": 34, "Gender": 2}})
}

pub fn crestline_post(auction: &str) -> Value {
    json!({"ApiToken": "test-crestline-token", "tagId": crestline::TAG_ID, "leadAuctionId": auction,
           "Lead": {"FirstName": "Jane", "LastName": "Doe", "Email": "jane@example.com", "Phone": "+15551234567",
                    "DateOfBirth": "1990-04-15", "ZipCode": "90210", "State": "CA"}})
}

pub const RIDGELINE_LEAD: [(&str, &str); 8] = [
    ("Lead.FirstName", "Jane"),
    ("Lead.LastName", "Doe"),
    ("Lead.Email", "jane@example.com"),
    ("Lead.Phone", "5551234567"),
    ("Lead.DOB", "04/15/1990"),
    ("Lead.ZipCode", "90210"),
    ("Lead.State", "CA"),
    ("Lead.Gender", "F"),
];

/// The ridgeline lead with one field changed (`None`: left out).
pub fn ridgeline_with(name: &str, value: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    RIDGELINE_LEAD
        .iter()
        .filter_map(|&(n, v)| if n == name { value.map(|value| (n, value)) } else { Some((n, v)) })
        .collect()
}

/// A pinecrest lead; `swap` replaces one element's whole text (`<phone>…</phone>`).
pub fn pinecrest_xml(swap: Option<(&str, &str)>) -> String {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<lead><source><vendor_id>PP-2207</vendor_id>\
        <api_key>test-pinecrest-key</api_key></source><contact><first_name>Jane</first_name>\
        <last_name>O&apos;Brien &amp; &lt;Sons&gt;</last_name><email>jane@example.com</email>\
        <phone>555-123-4567</phone><zip>90210</zip><state>CA</state></contact>\
        <applicant><dob>04/15/1990</dob></applicant></lead>";
    match swap {
        Some((from, to)) => {
            assert!(xml.contains(from), "{from} is not in the lead");
            xml.replacen(from, to, 1)
        }
        None => xml.to_string(),
    }
}

pub fn assert_refused(reply: &Reply, status: u16, field: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body.contains(field), "the refusal names {field}: {}", reply.body);
}
