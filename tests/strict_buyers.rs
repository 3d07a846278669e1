//! The example configuration (`contracts/`) selling through the strict simulated buyers over
//! real HTTP on loopback, on the store `PINGPOST_TEST_STORE` names: each buyer receives
//! exactly the bytes its spec demands (checked here byte for byte, and by the buyer itself,
//! which refuses anything else), the bid's token comes back on the post, the buyer's lead id
//! is kept with the sale (ledger, books, buyers' API), its redirect URL reaches the partner
//! and its reason the audit log and the post's attempts; a preview is what a sale sends, and
//! a test goes to the buyer's sandbox and leaves the whole store as it was.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use base64::Engine as _;
use common::*;
use pingpost_books::EntryQuery;
use pingpost_buyersim::strict::{Exchange, CRESTLINE, PINECREST, RIDGELINE, SECRET_NAMES};
use pingpost_buyersim::PostReply;
use pingpost_core::adapter::MASK;
use serde_json::{json, Value};

/// Acme's demo key (contracts/partners.toml).
const PARTNER_KEY: &str = "demo-key-acme-0001";
const CRESTLINE_BUYER_KEY: &str = "crestline-buyer-key-0001";

/// The example `contracts/`, Crestline given a buyers' API key.
fn example_market() -> String {
    let text = example_configuration();
    assert!(text.contains("id = \"crestline\"\n"), "contracts/ holds the strict buyers");
    text.replace(
        "id = \"crestline\"\n",
        &format!("id = \"crestline\"\napi_key_sha256 = \"{}\"\n", sha(CRESTLINE_BUYER_KEY)),
    )
}

/// The example market, its strict buyers' secrets written through the API (the values the
/// simulated buyers expect).
async fn market() -> Harness {
    let h = Harness::start(&example_market()).await;
    for name in SECRET_NAMES {
        let value = h.buyers.credentials().secret(name).unwrap().to_string();
        let (status, answer) = h.admin("PUT", &format!("/secrets/{name}"), Some(json!({"value": value}))).await;
        assert_eq!(status, 201, "{answer}");
    }
    h
}

fn jane() -> Value {
    json!({
        "email": "jane.doe@example.com", "phone": "+15551234567",
        "first_name": "Jane", "last_name": "O'Neil & <Doe>", "birth_date": "1990-04-15",
        "gender": "female", "zip": "90210", "state": "CA", "age": 34,
    })
}

/// The one exchange of `buyer`'s `call` (`bid` or `post`).
fn exchange(h: &Harness, buyer: &str, call: &str) -> Exchange {
    let all: Vec<Exchange> = h.buyers.exchanges().into_iter().filter(|e| e.buyer == buyer && e.call == call).collect();
    assert_eq!(all.len(), 1, "{buyer} {call}: {all:#?}");
    all.into_iter().next().unwrap()
}

/// As the engine writes a form value: every byte but the unreserved ones percent-encoded, a
/// space as `%20` (which every form reader takes, as it does `+`).
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// What of Jane a ping may carry: the example vertical's personal fields go on the post only.
fn jane_on_the_ping() -> Value {
    let mut lead = jane();
    for personal in ["first_name", "last_name", "birth_date"] {
        lead.as_object_mut().unwrap().remove(personal);
    }
    lead
}

async fn sell_jane(h: &Harness) -> (Value, Value) {
    let (status, ping) = h.ping_as(PARTNER_KEY, "auto-multi", jane_on_the_ping()).await;
    assert_eq!(status, 200, "{ping}");
    let (status, post) = h.post_as(PARTNER_KEY, ping["ping_id"].as_str().unwrap(), jane()).await;
    assert_eq!(status, 200, "{post}");
    (ping, post)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_sold_to_three_buyers_each_sent_exactly_what_its_own_spec_demands() {
    let h = market().await;
    h.buyers.update(CRESTLINE, |b| {
        b.bid = Some("31.50".into());
        b.redirect_url = Some("https://crestline.example/quote/1?src=pp".into());
    });
    let (ping, post) = sell_jane(&h).await;
    let crestline_bid = ping["bids"].as_array().unwrap().iter().find(|b| b["buyer"] == "crestline").unwrap();
    assert_eq!(crestline_bid["price"], "31.50", "Crestline's own bid prices its contract: {ping}");
    assert_eq!(post["status"], "sold", "{post}");
    let mut sold = sold_to(&post);
    sold.sort();
    assert_eq!(sold, ["crestline", "pinecrest", "ridgeline"], "{post}");

    // Crestline: JSON, its key and campaign in the body, gender coded, only what qualifies
    // the lead on the ping; its auction id back on the post.
    let bid = exchange(&h, CRESTLINE, "bid");
    assert_eq!((bid.method.as_str(), bid.target.as_str(), bid.sandbox), ("POST", "/crestline/v2/ping", false));
    assert_eq!(bid.header("content-type"), Some("application/json"));
    assert_eq!(
        bid.body_text(),
        r#"{"ApiToken":"demo-crestline-api-token","tagId":4417,"Lead":{"ZipCode":"90210","State":"CA","Age":34,"Gender":2}}"#
    );
    assert_eq!(bid.answer, r#"{"leadAuctionId":"LA-000001","price":31.50,"status":"success"}"#);
    let post_sent = exchange(&h, CRESTLINE, "post");
    assert_eq!((post_sent.status, post_sent.target.as_str()), (200, "/crestline/v2/post"));
    assert_eq!(
        post_sent.body_text(),
        r#"{"ApiToken":"demo-crestline-api-token","tagId":4417,"leadAuctionId":"LA-000001","Lead":{"FirstName":"Jane","LastName":"O'Neil & <Doe>","Email":"jane.doe@example.com","Phone":"+15551234567","DateOfBirth":"1990-04-15","ZipCode":"90210","State":"CA"}}"#
    );

    // Ridgeline: a form with dotted names, HTTP Basic, ten-digit phone, MM/DD/YYYY.
    let ridgeline = exchange(&h, RIDGELINE, "post");
    assert_eq!((ridgeline.status, ridgeline.target.as_str()), (200, "/ridgeline/api/leads"));
    assert_eq!(ridgeline.header("content-type"), Some("application/x-www-form-urlencoded"));
    let basic = base64::engine::general_purpose::STANDARD.encode("pingpost:demo-ridgeline-password");
    assert_eq!(ridgeline.header("authorization"), Some(format!("Basic {basic}").as_str()));
    assert_eq!(
        ridgeline.body_text(),
        "Lead.FirstName=Jane&Lead.LastName=O%27Neil%20%26%20%3CDoe%3E&Lead.Email=jane.doe%40example.com\
         &Lead.Phone=5551234567&Lead.DOB=04%2F15%2F1990&Lead.ZipCode=90210&Lead.State=CA&Lead.Gender=F"
    );

    // Pinecrest: XML inside the form field `xml`, its key inside the XML, escaped.
    let pinecrest = exchange(&h, PINECREST, "post");
    assert_eq!((pinecrest.status, pinecrest.target.as_str()), (200, "/pinecrest/api/post"));
    assert_eq!(pinecrest.header("content-type"), Some("application/x-www-form-urlencoded"));
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><lead><source><vendor_id>PP-2207</vendor_id><api_key>demo-pinecrest-api-key</api_key></source>\
               <contact><first_name>Jane</first_name><last_name>O&apos;Neil &amp; &lt;Doe&gt;</last_name>\
               <email>jane.doe@example.com</email><phone>555-123-4567</phone><zip>90210</zip><state>CA</state>\
               </contact><applicant><dob>04/15/1990</dob></applicant></lead>";
    assert_eq!(pinecrest.body_text(), format!("xml={}", form_encode(xml)));

    // What each buyer answered, as the partner and the operator see it.
    let sale = |buyer: &str| post["sales"].as_array().unwrap().iter().find(|s| s["buyer"] == buyer).unwrap().clone();
    assert_eq!(sale(CRESTLINE)["redirect_url"], "https://crestline.example/quote/1?src=pp");
    assert_eq!(sale(CRESTLINE)["price"], "31.50");
    assert!(sale(RIDGELINE).get("redirect_url").is_none(), "{post}");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let (status, ledger) = h.admin("GET", &format!("/ledger?ping_id={ping_id}"), None).await;
    assert_eq!(status, 200, "{ledger}");
    let mut lead_ids: Vec<(String, String)> = ledger["sales"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["lead_id"].is_string())
        .map(|s| (s["buyer"].as_str().unwrap().to_string(), s["lead_id"].as_str().unwrap().to_string()))
        .collect();
    lead_ids.sort();
    let expected: Vec<(String, String)> =
        [("crestline", "CL-000001"), ("pinecrest", "PC-000001"), ("ridgeline", "RL-000001")]
            .iter()
            .map(|(b, l)| (b.to_string(), l.to_string()))
            .collect();
    assert_eq!(lead_ids, expected, "the ledger keeps each buyer's lead id: {ledger}");

    h.engine.relay_books().await.unwrap();
    let page = h
        .engine
        .books()
        .entries(EntryQuery { ping_id: Some(ping_id.to_string()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    let mut booked: Vec<(String, String)> =
        page.entries.iter().filter_map(|e| e.lead_id.clone().map(|l| (e.buyer.to_string(), l))).collect();
    booked.sort();
    assert_eq!(booked, expected, "the books' sale entries keep the lead ids: {:#?}", page.entries);

    let (status, sales) =
        h.call_authorized("GET", "/v1/buyer/sales", &format!("Bearer {CRESTLINE_BUYER_KEY}"), None).await;
    assert_eq!(status, 200, "{sales}");
    assert_eq!(sales["sales"][0]["lead_id"], "CL-000001", "{sales}");
    h.assert_guarantees("three strict buyers", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyers_own_reason_reaches_the_audit_log_and_the_posts_attempts() {
    let h = market().await;
    h.buyers.update(CRESTLINE, |b| b.post = PostReply::Duplicate);
    h.buyers.update(RIDGELINE, |b| b.post = PostReply::Reject);
    let (ping, post) = sell_jane(&h).await;

    let said = |buyer: &str| exchange(&h, buyer, "post").answer;
    let crestline_said: Value = serde_json::from_str(&said(CRESTLINE)).unwrap();
    let crestline_reason = crestline_said["message"].as_str().unwrap().to_string();
    let ridgeline_said = said(RIDGELINE);
    let ridgeline_reason = ridgeline_said.strip_prefix("REJECTED|").unwrap().to_string();
    assert!(!crestline_reason.is_empty() && !ridgeline_reason.is_empty());

    let attempt = |buyer: &str| {
        post["attempts"].as_array().unwrap().iter().find(|a| a["buyer"] == buyer).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(attempt(CRESTLINE)["outcome"], "duplicate", "{post}");
    assert_eq!(attempt(CRESTLINE)["buyer_reason"], crestline_reason.as_str(), "{post}");
    assert_eq!(attempt(RIDGELINE)["outcome"], "rejected", "{post}");
    assert_eq!(attempt(RIDGELINE)["buyer_reason"], ridgeline_reason.as_str(), "{post}");
    let mut sold = sold_to(&post);
    sold.sort();
    assert_eq!(sold, ["b01", "b02", "pinecrest"], "the next buyers down take their places: {post}");

    let audited: Vec<_> = h
        .audit()
        .await
        .into_iter()
        .filter(|e| e.checkpoint.as_str() == "post_duplicate" && Some(&*e.ping_id) == ping["ping_id"].as_str())
        .collect();
    assert_eq!(audited.len(), 1, "{audited:#?}");
    assert_eq!(audited[0].contract.as_ref().map(|c| c.to_string()).as_deref(), Some("multi-crestline"));
    assert_eq!(audited[0].reason.as_deref(), Some(crestline_reason.as_str()));
    let (_, api) = h.admin("GET", "/audit?limit=100", None).await;
    assert!(api.to_string().contains(&crestline_reason), "the audit API shows the reason: {api}");
    h.assert_guarantees("a duplicate and a rejection", None).await;
}

/// What preview answers is what a sale sends: the same bytes, every secret shown masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_byte_for_byte_what_a_sale_sends_with_each_secret_masked() {
    let h = market().await;
    let preview = async |buyer: &str| {
        let (status, answer) = h
            .admin(
                "POST",
                &format!("/buyers/{buyer}/preview"),
                Some(json!({"call": "post", "offer": "auto-multi", "lead": jane()})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let ridgeline_preview = preview(RIDGELINE).await;
    let pinecrest_preview = preview(PINECREST).await;
    assert!(h.buyers.exchanges().is_empty(), "a preview sends nothing");
    sell_jane(&h).await;

    let ridgeline = exchange(&h, RIDGELINE, "post");
    assert_eq!(ridgeline_preview["body"], ridgeline.body_text());
    assert_eq!(ridgeline_preview["method"], "POST");
    assert_eq!(ridgeline_preview["url"], format!("{}/ridgeline/api/leads", h.buyers_url()));
    let headers: Vec<(String, String)> = serde_json::from_value(ridgeline_preview["headers"].clone()).unwrap();
    let authorization = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("authorization")).unwrap();
    let masked = base64::engine::general_purpose::STANDARD.encode(format!("pingpost:{MASK}"));
    assert_eq!(authorization.1, format!("Basic {masked}"), "the password is masked, the user shown");
    assert!(ridgeline.header("authorization").unwrap().starts_with("Basic "));

    let pinecrest = exchange(&h, PINECREST, "post");
    let shown = pinecrest_preview["body"].as_str().unwrap();
    assert!(!shown.contains("demo-pinecrest-api-key") && shown.contains(&form_encode(MASK)), "{shown}");
    assert_eq!(shown.replace(&form_encode(MASK), "demo-pinecrest-api-key"), pinecrest.body_text());
}

/// A test sends each call to the buyer's sandbox and answers how pingpost read it, and
/// leaves everything as it was: every key of the store, the sale guarantees' snapshot, the
/// audit log and the books.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_goes_to_the_buyers_sandbox_and_leaves_the_whole_store_as_it_was() {
    let h = market().await;
    sell_jane(&h).await; // state worth keeping: marks, caps, a sale, an outbox
    h.engine.relay_books().await.unwrap();
    let books =
        async || h.engine.books().entries(EntryQuery { limit: 1000, ..Default::default() }).await.unwrap().entries;
    let before = (h.snapshot().await, h.dump_store().await, h.audit().await.len(), books().await);
    let sent_before = h.buyers.exchanges().len();

    let test = async |buyer: &str, call: &str| {
        let (status, answer) = h
            .admin(
                "POST",
                &format!("/buyers/{buyer}/test"),
                Some(json!({"call": call, "offer": "auto-multi", "lead": jane()})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    };
    h.buyers.update(CRESTLINE, |b| b.bid = Some("22.00".into()));
    let crestline = test(CRESTLINE, "bid").await;
    assert_eq!((crestline["status"].as_u64(), crestline["reading"]["outcome"].as_str()), (Some(200), Some("bid")));
    assert_eq!(crestline["reading"]["price"], "22.00", "{crestline}");
    let token = crestline["reading"]["token"].as_str().unwrap();
    assert!(token.starts_with("TLA-"), "a sandbox auction's: {crestline}");
    let ridgeline = test(RIDGELINE, "post").await;
    assert_eq!(ridgeline["reading"]["outcome"], "accepted", "{ridgeline}");
    assert!(ridgeline["reading"]["lead_id"].as_str().unwrap().starts_with("TRL-"), "a sandbox lead: {ridgeline}");
    let pinecrest = test(PINECREST, "post").await;
    assert_eq!(pinecrest["reading"]["outcome"], "accepted", "{pinecrest}");
    assert!(!pinecrest.to_string().contains("demo-pinecrest-api-key"), "{pinecrest}");

    let sent: Vec<Exchange> = h.buyers.exchanges().into_iter().skip(sent_before).collect();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|e| e.sandbox && e.status == 200), "{sent:#?}");

    let after = (h.snapshot().await, h.dump_store().await, h.audit().await.len(), books().await);
    assert!(before.0 == after.0, "the sale guarantees' snapshot changed:\n{:#?}\n{:#?}", before.0, after.0);
    assert_eq!(before.1, after.1, "a key of the store changed");
    assert_eq!(before.2, after.2, "the audit log changed");
    assert_eq!(before.3, after.3, "the books changed");
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 0, "nothing waits for the books");
}
