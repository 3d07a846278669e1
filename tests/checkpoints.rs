//! One test per checkpoint, each showing it drops exactly what it should and nothing else.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use serde_json::json;

fn two_buyers() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract("c2", "b2", "auto-excl", "10.00", "dedup = { window_days = 30 }"));
    c
}

#[tokio::test]
async fn suppression_stops_the_lead_by_email_or_phone_and_nothing_else() {
    let h = Harness::start(&two_buyers()).await;
    let hashes = vec![
        pingpost_core::identity::Sha256Hex::digest("opted.out@example.com"),
        pingpost_core::identity::Sha256Hex::digest("15559990000"),
    ];
    h.engine.store().suppress(hashes, h.engine.now()).await.expect("suppress");

    let by_email = h.ping("auto-excl", lead(Some(" Opted.Out@Example.com "), Some("555-111-2222"))).await;
    assert_eq!((by_email["status"].as_str(), by_email["reason"].as_str()), (Some("rejected"), Some("suppressed")));
    assert_eq!(by_email["bids"], json!([]));
    let by_phone = h.ping("auto-excl", lead(Some("fine@example.com"), Some("(555) 999-0000"))).await;
    assert_eq!(by_phone["reason"], "suppressed");
    let other = h.ping("auto-excl", lead(Some("someone@example.com"), Some("555-111-3333"))).await;
    assert_eq!(other["status"], "accepted");
    assert_eq!(h.buyers.count("b1", "bid") + h.buyers.count("b1", "dq"), 0, "suppressed leads reach no buyer");

    let audit = h.audit().await;
    let suppressed: Vec<_> = audit.iter().filter(|e| e.checkpoint.as_str() == "suppressed").collect();
    assert_eq!(suppressed.len(), 2);
    assert!(suppressed.iter().all(|e| e.buyer.is_none() && e.prior_at == Some(start_time())));
    let kinds: Vec<_> = suppressed.iter().map(|e| e.matched.map(|m| m.as_str())).collect();
    assert!(kinds.contains(&Some("email")) && kinds.contains(&Some("phone")), "{kinds:?}");
}

#[tokio::test]
async fn vertical_dedup_matches_email_only_or_phone_only_across_partners_and_offers() {
    let h = Harness::start(&two_buyers()).await;
    assert_eq!(h.ping("auto-excl", lead(Some("jane@example.com"), Some("555-123-4567"))).await["status"], "accepted");

    // Same email, other phone, other partner, other offer of the vertical.
    let (_, by_email) = h.ping_as(KEY_P2, "auto-2", lead(Some("JANE@example.com"), Some("555-000-0001"))).await;
    assert_eq!(by_email["reason"], "vertical_duplicate");
    // Same phone, other email.
    let by_phone = h.ping("auto-excl", lead(Some("other@example.com"), Some("+1 555 123 4567"))).await;
    assert_eq!(by_phone["reason"], "vertical_duplicate");
    // Another vertical is not a duplicate.
    assert_eq!(h.ping("solar-excl", lead(Some("jane@example.com"), None)).await["reason"], "no_bids");

    let matched: Vec<_> = h
        .audit()
        .await
        .iter()
        .rev()
        .filter(|e| e.checkpoint.as_str() == "vertical_duplicate")
        .map(|e| (e.partner.to_string(), e.offer.to_string(), e.matched.map(|m| m.as_str())))
        .collect();
    assert_eq!(
        matched,
        [("p2".into(), "auto-2".into(), Some("email")), ("p1".into(), "auto-excl".into(), Some("phone"))]
    );
}

#[tokio::test]
async fn an_invisible_character_does_not_make_a_known_email_new_and_a_bidi_control_is_refused() {
    let h = Harness::start(&two_buyers()).await;
    assert_eq!(h.ping("auto-excl", email("jane@example.com")).await["status"], "accepted");
    let reached_buyers = h.buyers.received().len();

    let zero_width = h.ping("auto-excl", email("ja\u{200B}ne@example.com")).await;
    assert_eq!(
        (zero_width["status"].as_str(), zero_width["reason"].as_str()),
        (Some("rejected"), Some("vertical_duplicate"))
    );

    let (status, answer) = h.ping_as(KEY_P1, "auto-excl", email("jane@\u{202E}example.com")).await;
    let error = &answer["error"];
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (422, Some("invalid_field"), Some("lead.email"))
    );
    assert!(error["message"].as_str().is_some_and(|m| m.contains("lead.email") && m.contains("U+202E")), "{answer}");
    assert_eq!(h.buyers.received().len(), reached_buyers, "neither later ping reached a buyer");
}

#[tokio::test]
async fn a_missing_identifier_never_matches() {
    let h = Harness::start(&two_buyers()).await;
    assert_eq!(h.ping("auto-excl", lead(Some("a@example.com"), None)).await["status"], "accepted");
    assert_eq!(h.ping("auto-excl", lead(None, Some("555-222-3333"))).await["status"], "accepted");
    assert_eq!(h.ping("auto-excl", lead(Some("b@example.com"), Some(""))).await["status"], "accepted");
    assert_eq!(
        h.ping("auto-excl", json!({"email": "c@example.com", "phone": "  ", "state": "CA"})).await["status"],
        "accepted"
    );
}

#[tokio::test]
async fn vertical_window_edge_just_inside_and_just_outside() {
    let h = Harness::start(&two_buyers()).await;
    assert_eq!(h.ping("auto-excl", email("edge@example.com")).await["status"], "accepted");
    h.advance_secs(30 * DAY - 1).await;
    assert_eq!(h.ping("auto-excl", email("edge@example.com")).await["reason"], "vertical_duplicate");
    h.advance_secs(1).await;
    assert_eq!(h.ping("auto-excl", email("edge@example.com")).await["status"], "accepted");
}

#[tokio::test]
async fn in_auction_dedup_keeps_one_contract_per_buyer() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "12.00", ""));
    c.push_str(&contract("c2", "b1", "auto-excl", "15.00", ""));
    c.push_str(&contract("c3", "b2", "auto-excl", "11.00", ""));
    let h = Harness::start(&c).await;
    let ping = h.ping("auto-excl", email("one@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["c2", "c3"]);
    assert_eq!(h.audit_hits().await, [("c1".to_string(), "in_auction_duplicate".to_string())]);
}

#[tokio::test]
async fn contract_window_skips_the_buyer_that_bought_inside_its_window() {
    let h = Harness::start(&two_buyers()).await;
    let (_, post) = h.sell("auto-excl", email("sold@example.com")).await;
    assert_eq!(sold_to(&post), ["b1"]);

    // Past the vertical window (30 d), inside c1's 90 d window: c1 is dropped, c2 bids.
    h.advance_days(31).await;
    let ping = h.ping("auto-excl", lead(Some("sold@example.com"), Some("555-444-0000"))).await;
    assert_eq!(bid_contracts(&ping), ["c2"]);
    let last = h.audit().await.into_iter().next().expect("audit entry");
    assert_eq!(
        (last.contract.map(|c| c.to_string()), last.checkpoint.as_str()),
        (Some("c1".into()), "contract_duplicate")
    );
    assert_eq!(last.matched.map(|m| m.as_str()), Some("email"));
    assert_eq!(last.prior_at, Some(start_time()));
}

#[tokio::test]
async fn contract_window_matches_by_phone_and_edge_is_half_open() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 45 }"));
    let h = Harness::start(&c).await;
    let (_, post) = h.sell("auto-excl", lead(None, Some("555-777-0001"))).await;
    assert_eq!(sold_to(&post), ["b1"]);

    h.advance_secs(45 * DAY - 1).await;
    let inside = h.ping("auto-excl", lead(Some("new@example.com"), Some("5557770001"))).await;
    assert_eq!(inside["reason"], "no_bids", "bought by phone 1 s inside the window");
    assert_eq!(h.audit().await[0].matched.map(|m| m.as_str()), Some("phone"));

    // Long past both the contract and the vertical window, c1 bids again.
    h.advance_days(31).await;
    let outside = h.ping("auto-excl", lead(None, Some("5557770001"))).await;
    assert_eq!(bid_contracts(&outside), ["c1"]);
}

#[tokio::test]
async fn contract_window_edge_at_exactly_n_days_is_outside() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "solar-excl", "20.00", "dedup = { window_days = 3 }"));
    let h = Harness::start(&c).await;
    h.sell("solar-excl", lead(Some("edge@example.com"), Some("555-888-0001"))).await;
    // Each probe uses one of the two identifiers, so the probe before cannot make the next
    // one a vertical duplicate: only c1's own window decides.
    h.advance_secs(3 * DAY - 1).await;
    assert_eq!(h.ping("solar-excl", lead(None, Some("555-888-0001"))).await["reason"], "no_bids");
    h.advance_secs(1).await;
    assert_eq!(bid_contracts(&h.ping("solar-excl", lead(Some("edge@example.com"), None)).await), ["c1"]);
}

#[tokio::test]
async fn dedup_disabled_contract_still_bids_for_a_consumer_it_bought() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "solar-excl", "20.00", "dedup = { enabled = false }"));
    c.push_str(&contract("c2", "b2", "solar-excl", "10.00", "dedup = { window_days = 30 }"));
    let h = Harness::start(&c).await;
    assert_eq!(sold_to(&h.sell("solar-excl", email("nurture@example.com")).await.1), ["b1"]);
    h.advance_days(2).await;
    let (_, post) = h.sell("solar-excl", email("nurture@example.com")).await;
    assert_eq!(sold_to(&post), ["b1"], "the remarketing buyer buys the same consumer again");
    assert!(h.audit().await.is_empty(), "{:?}", h.audit().await);
}

#[tokio::test]
async fn two_contracts_of_one_buyer_in_one_auction_never_both_receive_the_lead() {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-multi", "9.00", ""));
    c.push_str(&contract("c2", "b1", "auto-multi", "8.00", ""));
    c.push_str(&contract("c3", "b2", "auto-multi", "7.00", ""));
    let h = Harness::start(&c).await;
    let (ping, post) = h.sell("auto-multi", email("multi@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["c1", "c3"]);
    assert_eq!(sold_to(&post), ["b1", "b2"]);
    assert_eq!(h.buyers.count("b1", "post"), 1);
}

#[tokio::test]
async fn dq_is_recorded_then_not_asked_again_inside_the_dq_window() {
    let mut c = base_config();
    c.push_str(&contract(
        "c1",
        "b1",
        "solar-excl",
        "20.00",
        "dq = { url = \"{buyers}/b1/dq\", window_days = 10, timeout_ms = 500 }",
    ));
    c.push_str(&contract("c2", "b2", "solar-excl", "10.00", ""));
    let h = Harness::start(&c).await;
    h.buyers.update("b1", |b| b.disqualify = true);

    let first = h.ping("solar-excl", email("dq@example.com")).await;
    assert_eq!(bid_contracts(&first), ["c2"]);
    assert_eq!(h.buyers.count("b1", "dq"), 1);
    let asked = &h.buyers.received()[0].body;
    assert!(asked["email_sha256"].is_string() && !asked.to_string().contains("dq@example.com"), "{asked}");
    // The buyer's answer dropped c1 at checkpoint 5: audited, with no prior event known.
    let live = h.audit().await;
    assert_eq!(h.audit_hits().await, [("c1".to_string(), "dq_duplicate".to_string())]);
    assert_eq!((live[0].prior_at, live[0].matched), (None, None));

    // Past the 1-day vertical window, inside the 10-day DQ window: dropped without asking.
    h.advance_days(2).await;
    let second = h.ping("solar-excl", email("dq@example.com")).await;
    assert_eq!(bid_contracts(&second), ["c2"]);
    assert_eq!(h.buyers.count("b1", "dq"), 1, "not asked again");
    assert_eq!(h.audit_hits().await, vec![("c1".to_string(), "dq_duplicate".to_string()); 2]);
    let recorded = &h.audit().await[0];
    assert_eq!(recorded.prior_at, Some(start_time()), "the drop from the record names when it was made");

    // After the DQ window the buyer is asked again, and this time it qualifies the consumer.
    h.buyers.update("b1", |b| b.disqualify = false);
    h.advance_days(9).await;
    let third = h.ping("solar-excl", email("dq@example.com")).await;
    assert_eq!(bid_contracts(&third), ["c1", "c2"]);
    assert_eq!(h.buyers.count("b1", "dq"), 2);
}

#[tokio::test]
async fn real_time_bids_late_or_empty_are_no_bids_and_high_ones_are_held_to_the_ceiling() {
    let mut c = base_config();
    c.push_str(&contract("fixed", "b1", "auto-excl", "10.00", ""));
    c.push_str(&contract(
        "rt-ok",
        "b2",
        "auto-excl",
        "1.00",
        "bid_url = \"{buyers}/b2/bid\"\nbid_timeout_ms = 500\nbid_ceiling = \"30.00\"",
    ));
    c.push_str(&contract("rt-none", "b3", "auto-excl", "1.00", "bid_url = \"{buyers}/b3/bid\"\nbid_timeout_ms = 500"));
    c.push_str(&contract("rt-slow", "b4", "auto-excl", "1.00", "bid_url = \"{buyers}/b4/bid\"\nbid_timeout_ms = 50"));
    let h = Harness::start(&c).await;
    h.buyers.update("b2", |b| b.bid = Some("45.00".into()));
    h.buyers.update("b3", |b| b.bid = None);
    h.buyers.update("b4", |b| {
        b.bid = Some("99.00".into());
        b.delay = std::time::Duration::from_millis(400);
    });
    let ping = h.ping("auto-excl", email("rtb@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["rt-ok", "fixed"]);
    assert_eq!(ping["bids"][0]["price"], "30.00", "held to the ceiling");
    let asked = h.buyers.received().into_iter().find(|r| r.buyer == "b2").expect("b2 asked");
    assert!(asked.body["lead"]["email"].is_null() && asked.body["lead"]["email_sha256"].is_string());
}

#[tokio::test]
async fn the_deadline_fixed_at_arrival_cuts_a_bidder_its_own_timeout_would_allow() {
    let mut c = base_config();
    c.push_str(&contract("fixed", "b1", "auto-fast", "5.00", ""));
    c.push_str(&contract("rt", "b2", "auto-fast", "1.00", "bid_url = \"{buyers}/b2/bid\"\nbid_timeout_ms = 5000"));
    let h = Harness::start(&c).await;
    // 1 s is inside the contract's 5 s bid timeout but far past the offer's 100 ms budget.
    h.buyers.update("b2", |b| {
        b.bid = Some("50.00".into());
        b.delay = std::time::Duration::from_secs(1);
    });
    let ping = h.ping("auto-fast", email("hurry@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["fixed"]);
    assert_eq!(h.buyers.count("b2", "bid"), 1, "the bidder was asked, its late answer ignored");
}

#[tokio::test]
async fn filters_schedules_and_paused_contracts_are_not_candidates_and_not_dedup_hits() {
    let mut c = base_config();
    c.push_str(&contract("tx-only", "b1", "auto-excl", "20.00", "filters = { state = { in = [\"TX\"] } }"));
    c.push_str(&contract("young", "b2", "auto-excl", "20.00", "filters = { age = { max = 25 } }"));
    c.push_str(&contract("zip9", "b3", "auto-excl", "20.00", "filters = { zip = { prefix = [\"9\"] } }"));
    c.push_str(&contract(
        "weekend",
        "b4",
        "auto-excl",
        "20.00",
        "schedule = { time_zone = \"America/New_York\", days = [\"sat\", \"sun\"], start = \"00:00\", end = \"24:00\" }",
    ));
    c.push_str(&contract("paused", "b5", "auto-excl", "20.00", "status = \"paused\""));
    let h = Harness::start(&c).await;
    assert_eq!(bid_contracts(&h.ping("auto-excl", email("f@example.com")).await), ["zip9"]);
    assert!(h.audit().await.is_empty());
    // Saturday 00:00 in New York: the weekend contract opens.
    h.advance_secs(4 * DAY + 14 * 3600).await;
    assert_eq!(bid_contracts(&h.ping("auto-excl", email("g@example.com")).await), ["weekend", "zip9"]);
}
