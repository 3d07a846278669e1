//! Test leads (SPEC "Lead fields, partner intake, consent and test leads", bullet "Test
//! leads"), through the real server on the store under test: a ping with `"test": true`, or
//! any ping of a partner in test mode, runs every checkpoint and the auction, asks and posts
//! only the buyers' sandbox URLs, and leaves the store, the books and the statistics as they
//! were; its answers say `"test": true`, a live answer has no `test` key.
//!
//! The simulated buyers answer `/{buyer}/{kind}`, so a sandbox URL `{buyers}/sb1-sandbox/post`
//! shows up in `received()` as buyer `sb1-sandbox`: what reached a live URL and what reached a
//! sandbox are told apart by name.

mod common;

use common::*;
use pingpost_books::EntryQuery;
use serde_json::{json, Value};

const KEY_P3: &str = "partner-three-key-0003";
const FORM: &str = "application/x-www-form-urlencoded";
const DAY_0: &str = "since=2026-11-23T00:00:00Z&until=2026-11-24T00:00:00Z";

/// Buyers with described calls: `sb1` posts with a sandbox URL; `sb2` bids (real time) and
/// posts, both with sandbox URLs; `sb3` posts with one but its contract asks a DQ question in
/// pingpost's protocol, which has none. b1 (pingpost's protocol throughout) has no sandbox at
/// all. Partner p3 is in test mode.
fn market() -> String {
    let mut c = base_config();
    c.push_str(&format!(
        "\n[[partners]]\nid = \"p3\"\napi_key_sha256 = \"{}\"\noffers = [\"auto-excl\"]\nmode = \"test\"\n",
        sha(KEY_P3)
    ));
    let post = |id: &str| {
        format!(
            "\n[buyers.calls.post]\nurl = \"{{buyers}}/{id}/post\"\nsandbox_url = \"{{buyers}}/{id}-sandbox/post\"\n\
             [buyers.calls.post.fields]\nemail = \"{{{{ lead.email }}}}\"\n"
        )
    };
    c.push_str(&format!("\n[[buyers]]\nid = \"sb1\"\ntimeout_ms = 1000\n{}", post("sb1")));
    c.push_str(&format!(
        "\n[[buyers]]\nid = \"sb2\"\ntimeout_ms = 1000\n\n[buyers.calls.bid]\nsandbox_url = \"{{buyers}}/sb2-sandbox/bid\"\n\
         [buyers.calls.bid.fields]\nzip = \"{{{{ lead.zip }}}}\"\n{}",
        post("sb2")
    ));
    c.push_str(&format!("\n[[buyers]]\nid = \"sb3\"\ntimeout_ms = 1000\n{}", post("sb3")));
    c.push_str(&contract("c-b1", "b1", "auto-excl", "30.00", ""));
    c.push_str(&contract("c-sb1", "sb1", "auto-excl", "20.00", ""));
    c.push_str(&contract("c-sb2", "sb2", "auto-excl", "1.00", "bid_url = \"{buyers}/sb2/bid\"\nbid_timeout_ms = 500"));
    c.push_str(&contract(
        "c-sb3",
        "sb3",
        "auto-excl",
        "25.00",
        "dq = { url = \"{buyers}/sb3/dq\", window_days = 10, timeout_ms = 500 }",
    ));
    c
}

async fn ping_test(h: &Harness, key: &str, offer: &str, lead: Value) -> (u16, Value) {
    h.call("/v1/ping", Some(key), json!({"offer": offer, "lead": lead, "test": true}).to_string().into_bytes()).await
}

async fn post_test(h: &Harness, key: &str, ping_id: &str, lead: Value) -> (u16, Value) {
    h.call("/v1/post", Some(key), json!({"ping_id": ping_id, "lead": lead, "test": true}).to_string().into_bytes())
        .await
}

/// Where the buyers were called: (buyer path segment, kind), in arrival order.
fn calls(h: &Harness) -> Vec<(String, String)> {
    h.buyers.received().into_iter().map(|r| (r.buyer, r.kind)).collect()
}

/// What the store, the books and the statistics hold. The store's dump leaves out what a
/// test lead legitimately writes: its own ping record (`ping:<id>`, kept for its post as
/// every accepted ping's is) and its post's claim (which makes a repeated post answer the
/// first), both found by the ping's id, and on Redis the audit log's stream and batch
/// markers (the audit log records test leads, marked `test`). Everything else, dedup marks,
/// ledger, counters, outbox and statistics' hours included, must be byte for byte the same.
struct Everything {
    snapshot: pingpost_store::invariants::Snapshot,
    dump: Vec<String>,
    books: String,
    stats: Vec<Value>,
}

async fn everything(h: &Harness, test_ping: Option<&str>) -> Everything {
    // The statistics first: the handler flushes this node's pending counts into the store.
    let mut stats = Vec::new();
    for by in ["partner", "buyer", "vertical"] {
        let (status, body) = h.admin("GET", &format!("/stats?by={by}&{DAY_0}"), None).await;
        assert_eq!(status, 200, "{body}");
        stats.push(body);
    }
    h.engine.relay_books().await.expect("books relayed");
    let books = h.engine.books().entries(EntryQuery { limit: 1000, ..Default::default() }).await.expect("books");
    let snapshot = h.snapshot().await;
    let mut dump: Vec<String> = h
        .dump_store()
        .await
        .lines()
        .filter(|l| !test_ping.is_some_and(|id| l.contains(id)) && !l.contains("{audit}"))
        .map(String::from)
        .collect();
    dump.sort();
    Everything { snapshot, dump, books: format!("{:?}", books.entries), stats }
}

fn assert_same(before: &Everything, after: &Everything) {
    assert_eq!(before.snapshot, after.snapshot, "dedup marks, ledger and counters");
    assert_eq!(before.dump, after.dump, "the whole store");
    assert_eq!(before.books, after.books, "the books");
    assert_eq!(before.stats, after.stats, "the statistics");
}

#[tokio::test]
async fn a_test_lead_sells_in_the_sandbox_and_changes_nothing() {
    let h = Harness::start(&market()).await;
    // A live sale first, so there is something in every place to stay unchanged.
    let (_, sold) = h.sell("auto-excl", email("earlier@example.com")).await;
    assert_eq!(sold_to(&sold), ["b1"]);
    let before = everything(&h, None).await;
    let received_before = h.buyers.received().len();

    let lead = email("tess@example.com");
    let (status, ping) = ping_test(&h, KEY_P1, "auto-excl", lead.clone()).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!((ping["status"].as_str(), ping["test"].as_bool()), (Some("accepted"), Some(true)), "{ping}");
    assert_eq!(bid_contracts(&ping), ["c-sb1", "c-sb2"], "b1 and sb3 have no sandbox for a call they need");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let (status, post) = post_test(&h, KEY_P1, ping_id, lead.clone()).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!((post["status"].as_str(), post["test"].as_bool()), (Some("sold"), Some(true)), "{post}");
    assert_eq!(sold_to(&post), ["sb1"]);
    // Only sandbox URLs were called: sb2's bid and sb1's post.
    let called = calls(&h)[received_before..].to_vec();
    let expected = [("sb2-sandbox", "bid"), ("sb1-sandbox", "post")].map(|(b, k)| (b.to_string(), k.to_string()));
    assert_eq!(called, expected);
    let delivered = h.buyers.received().into_iter().rfind(|r| r.buyer == "sb1-sandbox").unwrap();
    assert_eq!(delivered.body["email"], "tess@example.com", "the sandbox gets the lead as a live post would");
    // A repeated post answers the first, and delivers nothing again.
    let (status, again) = post_test(&h, KEY_P1, ping_id, lead.clone()).await;
    assert_eq!((status, &again), (200, &post));
    assert_eq!(h.buyers.received().len(), received_before + 2);

    let after = everything(&h, Some(ping_id)).await;
    assert_same(&before, &after);
    // Its sale was never recorded, so it cannot be returned.
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap();
    assert!(h.engine.store().ledger(pingpost_store::LedgerQuery::Ping(ping_id.into())).await.unwrap().is_empty());
    assert!(!after.books.contains(sale_id));

    // The audit log has the contracts left out, marked test; the API shows the mark.
    let left_out: Vec<_> = h
        .audit()
        .await
        .into_iter()
        .filter(|e| &*e.ping_id == ping_id)
        .map(|e| (e.contract.unwrap().to_string(), e.checkpoint.as_str(), e.test))
        .collect();
    assert_eq!(left_out.len(), 2, "{left_out:?}");
    for c in ["c-b1", "c-sb3"] {
        assert!(left_out.contains(&(c.to_string(), "no_sandbox", true)), "{left_out:?}");
    }
    let (status, listed) = h.admin("GET", "/audit?checkpoint=no_sandbox", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["entries"].as_array().unwrap().len(), 2, "{listed}");
    assert!(listed["entries"].as_array().unwrap().iter().all(|e| e["test"] == true), "{listed}");

    // The same consumer pinged live is no duplicate: it sells, to where it really goes.
    let live = h.ping("auto-excl", lead.clone()).await;
    assert_eq!(live["status"], "accepted", "{live}");
    assert_eq!(bid_contracts(&live), ["c-b1", "c-sb3", "c-sb1", "c-sb2"]);
    let live_post = h.post(live["ping_id"].as_str().unwrap(), lead).await;
    assert_eq!(sold_to(&live_post), ["b1"]);
    assert!(live.get("test").is_none() && live_post.get("test").is_none(), "{live} {live_post}");
    let (_, live_audit) = h.admin("GET", "/audit", None).await;
    assert!(live_audit["entries"].as_array().unwrap().iter().all(|e| e.get("test").is_none() || e["test"] == true));
}

#[tokio::test]
async fn a_test_leads_retry_is_not_its_duplicate_and_its_key_answers_it_again() {
    let h = Harness::start(&market()).await;
    let lead = email("retry@example.com");
    for _ in 0..2 {
        let (status, ping) = ping_test(&h, KEY_P1, "auto-excl", lead.clone()).await;
        assert_eq!((status, ping["status"].as_str()), (200, Some("accepted")), "{ping}");
    }
    // With an idempotency key, the retry gets the first answer, test mark included; the key
    // cannot then be used for a live ping.
    let body = json!({"offer": "auto-excl", "lead": lead.clone(), "test": true, "idempotency_key": "k-1"});
    let (_, first) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    let (_, again) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!(first["test"], true, "{first}");
    assert_eq!(again, first);
    let live_body = json!({"offer": "auto-excl", "lead": lead.clone(), "idempotency_key": "k-1"});
    let (status, refused) = h.call("/v1/ping", Some(KEY_P1), live_body.to_string().into_bytes()).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("idempotency_key")), "{refused}");
    // And the consumer was never submitted.
    let live = h.ping("auto-excl", lead).await;
    assert_eq!(live["status"], "accepted", "{live}");
}

#[tokio::test]
async fn a_partner_in_test_mode_sends_only_test_leads() {
    let h = Harness::start(&market()).await;
    let before = everything(&h, None).await;
    let lead = email("p3@example.com");
    let (status, ping) = h.ping_as(KEY_P3, "auto-excl", lead.clone()).await;
    assert_eq!((status, ping["test"].as_bool()), (200, Some(true)), "no test flag needed: {ping}");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let (status, post) = h.post_as(KEY_P3, ping_id, lead.clone()).await;
    assert_eq!((status, post["test"].as_bool(), sold_to(&post)), (200, Some(true), vec!["sb1".to_string()]), "{post}");
    assert!(calls(&h).iter().all(|(buyer, _)| buyer.ends_with("-sandbox")), "{:?}", calls(&h));
    assert_same(&before, &everything(&h, Some(ping_id)).await);
    // Its consumer is new to a live partner.
    let (status, live) = h.ping_as(KEY_P2, "auto-excl", lead.clone()).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("accepted")), "{live}");
    assert!(live.get("test").is_none(), "{live}");

    // An operator switches the partner to live: its pings are live from then on, and a test
    // ping it made before stays a test.
    let pending = email("p3-pending@example.com");
    let (_, earlier) = h.ping_as(KEY_P3, "auto-excl", pending.clone()).await;
    let earlier_id = earlier["ping_id"].as_str().unwrap();
    let (status, mut p3) = h.admin("GET", "/partners/p3", None).await;
    assert_eq!((status, p3["mode"].as_str()), (200, Some("test")), "{p3}");
    p3["mode"] = json!("live");
    let (status, body) = h.admin("PUT", "/partners/p3", Some(p3)).await;
    assert_eq!(status, 200, "{body}");
    let (status, ping) = h.ping_as(KEY_P3, "auto-excl", email("p3-live@example.com")).await;
    assert_eq!((status, ping["status"].as_str()), (200, Some("accepted")), "{ping}");
    assert!(ping.get("test").is_none(), "{ping}");
    let (status, refused) = h.post_as(KEY_P3, earlier_id, pending.clone()).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("test")), "{refused}");
    let (status, post) = post_test(&h, KEY_P3, earlier_id, pending).await;
    assert_eq!((status, post["test"].as_bool()), (200, Some(true)), "{post}");
}

#[tokio::test]
async fn a_test_ping_is_posted_only_as_a_test_and_a_live_one_never_as_one() {
    let h = Harness::start(&market()).await;
    let lead = email("mixed@example.com");
    let (_, test_ping) = ping_test(&h, KEY_P1, "auto-excl", lead.clone()).await;
    let test_id = test_ping["ping_id"].as_str().unwrap();
    let (status, refused) = h.post_as(KEY_P1, test_id, lead.clone()).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("test")), "{refused}");
    // A live ping (another consumer: the test ping left no mark, but keep them apart).
    let other = email("mixed-live@example.com");
    let live = h.ping("auto-excl", other.clone()).await;
    let live_id = live["ping_id"].as_str().unwrap();
    let (status, refused) = post_test(&h, KEY_P1, live_id, other.clone()).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("test")), "{refused}");
    let (status, refused) = h.post_as(KEY_P3, test_id, lead.clone()).await;
    assert_eq!(status, 404, "another partner's ping stays unknown, test or not: {refused}");
    assert!(h.buyers.received().iter().all(|r| r.kind != "post"), "nothing was delivered");
    // Refused posts took no claim: each ping is still posted as what it is.
    let (status, post) = post_test(&h, KEY_P1, test_id, lead).await;
    assert_eq!((status, post["test"].as_bool()), (200, Some(true)), "{post}");
    let post = h.post(live_id, other).await;
    assert_eq!(sold_to(&post), ["b1"]);
    assert!(post.get("test").is_none(), "{post}");
}

#[tokio::test]
async fn a_form_says_test_too() {
    let h = Harness::start(&market()).await;
    let send = |path: &'static str, body: String| {
        let url = format!("{}{path}", h.base);
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("authorization", format!("Bearer {KEY_P1}"))
                .header("content-type", FORM)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap())
        }
    };
    let (status, ping) = send("/v1/ping", "offer=auto-excl&test=yes&email=form%40example.com&zip=90210".into()).await;
    assert_eq!((status, ping["test"].as_bool()), (200, Some(true)), "{ping}");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let (status, post) = send("/v1/post", format!("ping_id={ping_id}&test=1&email=form%40example.com")).await;
    assert_eq!((status, post["test"].as_bool()), (200, Some(true)), "{post}");
    assert_eq!(calls(&h).last().map(|(b, k)| (b.as_str(), k.as_str())), Some(("sb1-sandbox", "post")));
}

#[tokio::test]
async fn a_test_sale_takes_no_cap() {
    let mut c = market();
    c = c.replace(
        "id = \"c-sb1\"\nbuyer = \"sb1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\n",
        "id = \"c-sb1\"\nbuyer = \"sb1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\ncaps = { daily = 1 }\n",
    );
    assert!(c.contains("daily = 1"));
    let h = Harness::start(&c).await;
    // Only sb1 on the offer: the others are paused.
    for other in ["c-b1", "c-sb2", "c-sb3"] {
        let (status, body) = h.admin("PATCH", &format!("/contracts/{other}"), Some(json!({"status": "paused"}))).await;
        assert_eq!(status, 200, "{body}");
    }
    for n in 0..2 {
        let lead = email(&format!("cap-test-{n}@example.com"));
        let (_, ping) = ping_test(&h, KEY_P1, "auto-excl", lead.clone()).await;
        let (status, post) = post_test(&h, KEY_P1, ping["ping_id"].as_str().unwrap(), lead).await;
        assert_eq!((status, sold_to(&post)), (200, vec!["sb1".to_string()]), "test sale {n}: {post}");
    }
    let (ping, post) = h.sell("auto-excl", email("cap-live@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["c-sb1"], "the cap is untouched: {ping}");
    assert_eq!(sold_to(&post), ["sb1"], "{post}");
    assert_eq!(calls(&h).last().map(|(b, k)| (b.as_str(), k.as_str())), Some(("sb1", "post")), "live, to the live URL");
    // Now the cap is taken.
    let ping = h.ping("auto-excl", email("cap-live-2@example.com")).await;
    assert_eq!(ping["status"], "rejected", "{ping}");
}
