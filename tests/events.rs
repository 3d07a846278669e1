//! The lead event log end to end (SPEC "Repeat leads, the window what-if and the lead event
//! log"): every answered live ping — accepted, suppressed, a vertical duplicate, without bids —
//! becomes one event, queued in the store off the answer's path and relayed to the log, with
//! each contract's fate, bid and gap, hashes only; a sale one more; a test lead none; a relay
//! re-run writes nothing twice. On either store (`PINGPOST_TEST_STORE`); the log is the harness's in-process
//! one (PostgreSQL's is tested in `crates/pingpost-events/tests/pg.rs`).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_core::checkpoint::{Checkpoint, Ineligible};
use pingpost_core::events::{Fate, LeadEvent, Outcome};
use pingpost_core::money::Money;

fn market() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("c2", "b1", "auto-excl", "15.00", ""));
    c.push_str(&contract("c3", "b2", "auto-excl", "12.00", "filters = { state = { in = [\"TX\"] } }"));
    c.push_str(&contract("c4", "b3", "auto-excl", "10.00", ""));
    c
}

fn by_ping<'a>(events: &'a [LeadEvent], ping: &serde_json::Value) -> &'a LeadEvent {
    let id = ping["ping_id"].as_str().unwrap();
    events.iter().find(|e| e.ping_id == id).unwrap_or_else(|| panic!("no event for {id}: {events:?}"))
}

#[tokio::test]
async fn every_answered_live_ping_is_one_event_with_each_contracts_fate_and_gap() {
    let h = Harness::start(&market()).await;
    let jane = lead(Some("jane@example.com"), Some("(415) 555-0100"));
    let (sold, _) = h.sell("auto-excl", jane.clone()).await;
    h.advance_days(3).await;
    let duplicate = h.ping("auto-excl", jane).await;
    assert_eq!(duplicate["reason"], "vertical_duplicate");
    // On another vertical's offer with no contract: no bids.
    let nobody = h.ping("solar-excl", email("sam@example.com")).await;
    let body = serde_json::json!({"offer": "auto-excl", "lead": email("test@example.com"), "test": true});
    let (status, test) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!((status, &test["test"]), (200, &serde_json::json!(true)), "{test}");
    let (status, suppressed) =
        h.admin("POST", "/suppression", Some(serde_json::json!({"emails": ["gone@example.com"]}))).await;
    assert!(status < 300, "{suppressed}");
    let gone = h.ping("auto-excl", email("gone@example.com")).await;
    assert_eq!(gone["reason"], "suppressed");

    h.engine.quiesce().await;
    let relayed = h.engine.relay_events().await.unwrap();
    assert_eq!((relayed.moved, relayed.new), (5, 5), "four live pings and the sale; the test lead is in no log");
    let sales = h.events.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!((sales[0].ping_id.as_str(), sales[0].contract.as_str()), (sold["ping_id"].as_str().unwrap(), "c1"));
    assert_eq!((sales[0].price, sales[0].repeat), (Money::from_minor(2000), false));
    assert_eq!(h.engine.relay_events().await.unwrap().moved, 0, "nothing waits once relayed");
    let events = h.events.all();
    assert_eq!(events.len(), 4);
    assert!(!events.iter().any(|e| e.ping_id == test["ping_id"].as_str().unwrap_or_default()));

    let first = by_ping(&events, &sold);
    assert_eq!((first.outcome, first.repeat, first.vertical_gap), (Outcome::Accepted, false, None));
    assert_eq!(first.email.as_ref().map(|h| h.as_str().len()), Some(64), "the email's hash");
    let fates: Vec<(&str, Fate, Option<u16>, Money)> =
        first.contracts.iter().map(|c| (c.contract.as_str(), c.fate, c.gap, c.price)).collect();
    assert_eq!(
        fates,
        [
            ("c1", Fate::Bid, None, Money::from_minor(2000)),
            ("c2", Fate::Dropped(Checkpoint::InAuctionDuplicate), None, Money::ZERO),
            ("c3", Fate::Ineligible(Ineligible::Filtered), None, Money::ZERO),
            ("c4", Fate::Bid, None, Money::from_minor(1000)),
        ]
    );
    let dup = by_ping(&events, &duplicate);
    assert_eq!((dup.outcome, dup.vertical_gap, dup.contracts.len()), (Outcome::VerticalDuplicate, Some(3), 0));
    assert_eq!(by_ping(&events, &nobody).outcome, Outcome::NoBids);
    assert_eq!(by_ping(&events, &gone).outcome, Outcome::Suppressed);

    // A month on, b1's purchase is 33 days old: the gap a longer window would judge by.
    h.advance_days(30).await;
    let back = h.ping("auto-excl", lead(Some("jane@example.com"), None)).await;
    h.engine.quiesce().await;
    h.engine.relay_events().await.unwrap();
    let events = h.events.all();
    let again = by_ping(&events, &back);
    assert_eq!((again.outcome, again.vertical_gap), (Outcome::Accepted, Some(33)));
    let c1 = again.contracts.iter().find(|c| c.contract.as_str() == "c1").unwrap();
    assert_eq!((c1.fate, c1.gap), (Fate::Bid, Some(33)));
}
