//! The sale guarantees seen through the API, each followed by the whole-store check: a sale,
//! a rollback and a DQ record stand under every identifier of the ping, whatever the post
//! repeated; posts resumed after a lost answer never sell again; the ledger lists sales
//! whose outcome is unknown.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::{json, Value};

/// b1 buys on both verticals; b2 is the lower bid on auto.
fn two_verticals() -> String {
    let mut c = base_config();
    c.push_str(&contract("auto-b1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("auto-b2", "b2", "auto-excl", "10.00", ""));
    c.push_str(&contract("solar-b1", "b1", "solar-excl", "20.00", ""));
    c
}

fn both() -> Value {
    lead(Some("jane.roe@example.com"), Some("(415) 555-0101"))
}

fn phone_only() -> Value {
    lead(None, Some("(415) 555-0101"))
}

fn email_only() -> Value {
    lead(Some("jane.roe@example.com"), None)
}

/// The reproduction: ping {email, phone} on one vertical, post it with the email
/// only → sold to b1; a ping of the same phone alone on another vertical must not reach b1.
#[tokio::test]
async fn a_post_repeating_fewer_identifiers_sells_under_every_identifier_of_the_ping() {
    let h = Harness::start(&two_verticals()).await;
    let ping = h.ping("auto-excl", both()).await;
    let post = h.post(ping["ping_id"].as_str().unwrap(), email_only()).await;
    assert_eq!(sold_to(&post), ["b1"]);

    let by_phone = h.ping("solar-excl", phone_only()).await;
    assert_eq!(by_phone["status"], "rejected", "b1 already bought this phone: {by_phone}");
    assert_eq!(by_phone["reason"], "no_bids");
    let hits = h.audit_hits().await;
    assert!(hits.contains(&("solar-b1".to_string(), "contract_duplicate".to_string())), "{hits:?}");
    h.assert_guarantees("after the sale", None).await;
}

/// A buyer's "duplicate" answer to a post that repeated only the email marks the phone too.
#[tokio::test]
async fn a_rollback_stands_under_every_identifier_of_the_ping() {
    let h = Harness::start(&two_verticals()).await;
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let ping = h.ping("auto-excl", both()).await;
    let post = h.post(ping["ping_id"].as_str().unwrap(), email_only()).await;
    assert_eq!(outcomes(&post), [("b1".into(), "duplicate".into()), ("b2".into(), "accepted".into())]);

    h.buyers.update("b1", |b| b.post = PostReply::Accept);
    let by_phone = h.ping("solar-excl", phone_only()).await;
    assert_eq!(by_phone["reason"], "no_bids", "b1 said it has this consumer: {by_phone}");
    h.assert_guarantees("after the rollback", None).await;
}

/// The post's answer could not be stored: a repeat resumes from the ledger once the claim's
/// lease ran out, and answers the same sale without delivering again.
#[tokio::test]
async fn a_repeat_of_a_post_whose_answer_was_lost_answers_from_the_ledger() {
    let h = Harness::start(&two_verticals()).await;
    h.faults.arm("store.complete_claim", pingpost_store::Fault::Error, 1, 0);
    let ping = h.ping("auto-excl", both()).await;
    let ping_id = ping["ping_id"].as_str().unwrap();
    let first = h.post(ping_id, both()).await;
    assert_eq!(h.faults.fired("store.complete_claim"), 1);
    let (status, again) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("in_flight")),
        "inside the claim's lease: {again}"
    );

    h.advance_secs(40).await;
    let (status, resumed) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["sales"], first["sales"], "the same sale, read back from the ledger");
    assert_eq!(h.buyers.count("b1", "post"), 1, "delivered once");
    assert_eq!(h.buyers.count("b2", "post"), 0);
    h.assert_guarantees("after the resumed post", None).await;
}

/// The engine died while its buyer had the lead: the resumed post keeps the slot for that
/// sale as unconfirmed, tries no other buyer, and the sweep lists it.
#[tokio::test]
async fn a_post_whose_engine_died_after_delivery_resumes_as_unconfirmed_and_is_listed() {
    let h = Harness::start(&two_verticals()).await;
    h.faults.arm("post.delivered", pingpost_store::Fault::Abort, 1, 0);
    let ping = h.ping("auto-excl", both()).await;
    let ping_id = ping["ping_id"].as_str().unwrap();
    let (status, crashed) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!((status, crashed["error"]["code"].as_str()), (500, Some("internal")), "the request died");

    h.advance_secs(40).await;
    let (status, resumed) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["sales"][0]["status"], "unconfirmed", "{resumed}");
    assert_eq!(outcomes(&resumed), [("b1".into(), "unconfirmed".into())]);
    assert_eq!((h.buyers.count("b1", "post"), h.buyers.count("b2", "post")), (1, 0), "no other buyer tried");

    let report = h.engine.sweep().await.unwrap();
    assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (1, 1));
    let (status, listed) = h.admin("GET", "/ledger?state=unconfirmed", None).await;
    assert_eq!(status, 200, "{listed}");
    let sale_id = resumed["sales"][0]["sale_id"].as_str().unwrap();
    assert_eq!(listed["sales"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (listed["sales"][0]["sale_id"].as_str(), listed["sales"][0]["state"].as_str()),
        (Some(sale_id), Some("unconfirmed"))
    );
    let (_, by_ping) = h.admin("GET", &format!("/ledger?ping_id={ping_id}"), None).await;
    assert_eq!(by_ping["sales"][0]["state"], "unconfirmed");
    h.assert_guarantees("after the sweep", Some(h.engine.now())).await;

    // The consumer counts as b1's from then on.
    let again = h.ping("solar-excl", phone_only()).await;
    assert_eq!(again["reason"], "no_bids", "{again}");
}

/// Erasing a consumer while its sale is in flight keeps the reservation, and says so.
#[tokio::test]
async fn erasure_during_a_post_in_flight_keeps_the_reservation() {
    let h = std::sync::Arc::new(Harness::start(&two_verticals()).await);
    let ping = h.ping("auto-excl", both()).await;
    let ping_id = ping["ping_id"].as_str().unwrap().to_string();
    h.buyers.hold();
    let posting = {
        let h = std::sync::Arc::clone(&h);
        tokio::spawn(async move { h.post(&ping_id, both()).await })
    };
    h.buyers.received_at_least("b1", "post", 1).await;
    let (status, erased) = h.admin("POST", "/erasure", Some(json!({"phone": "(415) 555-0101"}))).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["kept_in_flight"], 1, "{erased}");
    // A second ping of the consumer by phone, on another vertical, while b1 holds the lead.
    let other = h.ping("solar-excl", phone_only()).await;
    assert_eq!(other["reason"], "no_bids", "b1's reservation survived the erasure: {other}");
    h.buyers.release();
    let post = posting.await.unwrap();
    assert_eq!(sold_to(&post), ["b1"]);
    h.assert_guarantees("after the post", None).await;
}

/// A reservation whose every send failed is given up for this ping: released with a
/// tombstone, so a retried post reports it as an error and sells to the next bid at once.
#[tokio::test]
async fn a_reservation_that_cannot_be_confirmed_is_given_up_and_the_retry_goes_on() {
    let h = Harness::start(&two_verticals()).await;
    let ping = h.ping("auto-excl", both()).await;
    let ping_id = ping["ping_id"].as_str().unwrap();
    h.faults.arm("store.reserve_sale", pingpost_store::Fault::DropReply, 3, 0);
    let (status, failed) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!((status, failed["error"]["code"].as_str()), (503, Some("store_unavailable")), "{failed}");
    assert_eq!(h.buyers.count("b1", "post"), 0, "nothing delivered without a confirmed reservation");

    let retried = h.post(ping_id, both()).await;
    assert_eq!(outcomes(&retried), [("b1".into(), "error".into()), ("b2".into(), "accepted".into())], "{retried}");
    assert_eq!(retried["attempts"][0]["reason"], "store_unavailable");
    assert_eq!((h.buyers.count("b1", "post"), h.buyers.count("b2", "post")), (0, 1));
    h.assert_guarantees("after the retry", None).await;
}

/// When even the release cannot be stored, the post keeps its claim until the lease runs
/// out; the resumed post then finds nothing reserved and sells normally.
#[tokio::test]
async fn a_reservation_in_doubt_that_cannot_be_released_keeps_the_claim_until_its_lease() {
    let h = Harness::start(&two_verticals()).await;
    let ping = h.ping("auto-excl", both()).await;
    let ping_id = ping["ping_id"].as_str().unwrap();
    h.faults.arm("store.reserve_sale", pingpost_store::Fault::Error, 3, 0);
    h.faults.arm("store.settle_sale", pingpost_store::Fault::Error, 3, 0);
    let (status, _) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!(status, 503);
    let (status, again) = h.post_as(KEY_P1, ping_id, both()).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("in_flight")), "{again}");
    h.advance_secs(40).await;
    let resumed = h.post(ping_id, both()).await;
    assert_eq!(outcomes(&resumed), [("b1".into(), "accepted".into())], "{resumed}");
    h.assert_guarantees("after the resumed post", None).await;
}

/// A ping that fails after its admission, when even its release cannot be stored, leaves a
/// pending submission that lapses: the partner's retry is accepted after 60 s, not turned
/// away for the vertical's window.
#[tokio::test]
async fn a_ping_answered_with_an_error_never_turns_its_retry_away_for_longer_than_a_minute() {
    let h = Harness::start(&two_verticals()).await;
    h.faults.arm("store.put_blob", pingpost_store::Fault::DropReply, 1, 0);
    h.faults.arm("store.release_admission", pingpost_store::Fault::Error, 1, 0);
    let (status, failed) = h.ping_as(KEY_P1, "auto-excl", both()).await;
    assert_eq!((status, failed["error"]["code"].as_str()), (503, Some("store_unavailable")), "{failed}");
    assert_eq!(h.faults.fired("store.release_admission"), 1, "the release could not be stored");

    let soon = h.ping("auto-excl", both()).await;
    assert_eq!(soon["reason"], "vertical_duplicate", "the failed ping might still be running: {soon}");
    h.advance_secs(60).await;
    let retry = h.ping("auto-excl", both()).await;
    assert_eq!(retry["status"], "accepted", "{retry}");
    // Answered, and confirmed in the background: it now counts for the whole window.
    h.engine.quiesce().await;
    h.advance_days(29).await;
    let later = h.ping("auto-excl", phone_only()).await;
    assert_eq!(later["reason"], "vertical_duplicate", "{later}");
}
