//! The marketplace's money as partners see it: margins and payouts, the three disclosure
//! modes (what each shows and hides), and `min_payout` at the ping and through the waterfall.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::{json, Value};

/// Every object key anywhere in `v`.
fn keys(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m.iter().flat_map(|(k, x)| std::iter::once(k.clone()).chain(keys(x))).collect(),
        Value::Array(xs) => xs.iter().flat_map(keys).collect(),
        _ => Vec::new(),
    }
}

/// Every string anywhere in `v`.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Object(m) => m.values().flat_map(strings).collect(),
        Value::Array(xs) => xs.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Offers of every disclosure with a 10 % margin; buyer b2 keeps a fixed 3.00 instead; partner
/// p2 has a 5 % margin of its own and wants at least 12.00.
fn market(extra: &str) -> String {
    let mut c = base_config()
        .replace(
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"auto-2\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-2\"\nvertical = \"auto\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"solar-excl\"\nvertical = \"solar\"\ndisclosure = \"full\"",
            "id = \"solar-excl\"\nvertical = \"solar\"\ndisclosure = \"consent\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"p2\"\napi_key_sha256",
            "id = \"p2\"\nmargin = { percent = \"5.00\" }\nmin_payout = \"12.00\"\napi_key_sha256",
        )
        .replace(
            "id = \"b2\"\npost_url = \"{buyers}/b2/post\"",
            "id = \"b2\"\nname = \"Bee Two\"\nlegal_name = \"Bee Two Insurance LLC\"\nmargin = { fixed = \"3.00\" }\npost_url = \"{buyers}/b2/post\"",
        )
        .replace("id = \"b3\"\npost_url", "id = \"b3\"\nname = \"Bee Three\"\npost_url");
    for (offer, tag) in [("auto-excl", "ax"), ("auto-2", "a2"), ("solar-excl", "sx")] {
        c.push_str(&contract(&format!("{tag}-b1"), "b1", offer, "18.50", ""));
        c.push_str(&contract(&format!("{tag}-b2"), "b2", offer, "16.00", ""));
        c.push_str(&contract(&format!("{tag}-b3"), "b3", offer, "14.05", ""));
    }
    c.push_str(extra);
    c
}

fn payouts(ping: &Value) -> Vec<String> {
    ping["bids"].as_array().unwrap().iter().map(|b| b["payout"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn payouts_follow_the_partners_margin_over_the_buyers_over_the_offers_and_rank_the_bids() {
    let h = Harness::start(&market("")).await;
    // p1: the offer's 10 % (half-up) for b1 and b3, b2's own fixed 3.00.
    let ping = h.ping("auto-excl", email("rank@example.com")).await;
    let got: Vec<(String, String, String)> = ping["bids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["buyer"].as_str().unwrap().into(),
                b["price"].as_str().unwrap().into(),
                b["payout"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [("b1", "18.50", "16.65"), ("b2", "16.00", "13.00"), ("b3", "14.05", "12.64")];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(got, want, "ranked by payout: {ping}");

    // p2's own 5 % overrides both, and its 12.00 minimum removes what pays less.
    let (_, ping) = h.ping_as(KEY_P2, "auto-excl", email("p2@example.com")).await;
    assert_eq!(payouts(&ping), ["17.57", "15.20", "13.35"], "18.50 × 5 % = 0.925, kept as 0.93");
}

#[tokio::test]
async fn a_payout_offer_never_shows_a_buyer_or_a_gross_price_in_any_answer() {
    let h = Harness::start(&market("")).await;
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    let (status, ping) = h.ping_as(KEY_P1, "auto-2", lead(Some("hidden@example.com"), Some("555-101-0001"))).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(payouts(&ping), ["16.65", "13.00", "12.64"]);
    let ping_id = ping["ping_id"].as_str().unwrap().to_string();
    let (status, post) = h.post_as(KEY_P1, &ping_id, lead(Some("hidden@example.com"), None)).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!((post["status"].as_str(), post["total_payout"].as_str()), (Some("sold"), Some("13.00")));
    assert_eq!(post["attempts"][0]["bid_id"], ping["bids"][0]["bid_id"]);
    assert_eq!(post["attempts"][0]["outcome"], "duplicate");
    let (_, repeat) = h.post_as(KEY_P1, &ping_id, lead(Some("hidden@example.com"), None)).await;
    assert_eq!(repeat, post, "a repeat shows the same, and no more");
    // Errors a partner can provoke on this offer.
    let (_, wrong_bid) = h
        .call(
            "/v1/post",
            Some(KEY_P1),
            json!({"ping_id": ping_id, "lead": {"email": "hidden@example.com"}, "bid_ids": ["nope"]})
                .to_string()
                .into_bytes(),
        )
        .await;
    let (_, other_lead) = h.post_as(KEY_P1, &ping_id, lead(Some("other@example.com"), None)).await;
    for answer in [&ping, &post, &repeat, &wrong_bid, &other_lead] {
        let ks = keys(answer);
        for hidden in ["buyer", "contract", "price", "total_price", "buyer_name"] {
            assert!(!ks.contains(&hidden.to_string()), "{hidden} shown: {answer}");
        }
        let texts = strings(answer);
        for hidden in ["b1", "b2", "b3", "a2-b1", "a2-b2", "a2-b3", "18.50", "16.00", "14.05", "Bee Two", "Bee Three"] {
            assert!(!texts.iter().any(|t| t == hidden), "{hidden} shown: {answer}");
        }
    }
    assert_eq!(h.buyers.count("b2", "post"), 1, "sold to b2 all the same");
}

#[tokio::test]
async fn a_consent_offer_names_each_buyer_and_tries_the_bids_in_the_partners_order() {
    let h = Harness::start(&market("")).await;
    let ping = h.ping("solar-excl", email("consent@example.com")).await;
    let names: Vec<&str> = ping["bids"].as_array().unwrap().iter().map(|b| b["buyer_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["b1", "Bee Two Insurance LLC", "Bee Three"], "legal name, else name, else id: {ping}");
    for hidden in ["buyer", "contract", "price"] {
        assert!(!keys(&ping).contains(&hidden.to_string()), "{ping}");
    }
    // The consumer consented to Bee Three, then Bee Two: that order, whatever the ranking.
    h.buyers.update("b3", |b| b.post = PostReply::Reject);
    let ids = [ping["bids"][2]["bid_id"].clone(), ping["bids"][1]["bid_id"].clone()];
    let body = json!({"ping_id": ping["ping_id"], "lead": email("consent@example.com"), "bid_ids": ids});
    let (status, post) = h.call("/v1/post", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{post}");
    let tried: Vec<&Value> = post["attempts"].as_array().unwrap().iter().map(|a| &a["bid_id"]).collect();
    assert_eq!(tried, [&ids[0], &ids[1]], "{post}");
    assert_eq!(post["sales"][0]["payout"], "13.00");
    assert_eq!((h.buyers.count("b1", "post"), h.buyers.count("b3", "post")), (0, 1), "b1 was not chosen");
}

#[tokio::test]
async fn a_full_offer_shows_buyer_contract_price_and_payout() {
    let h = Harness::start(&market("")).await;
    let (ping, post) = h.sell("auto-excl", email("full@example.com")).await;
    assert_eq!(
        ping["bids"][0],
        json!({"bid_id": ping["bids"][0]["bid_id"], "buyer": "b1", "contract": "ax-b1", "price": "18.50", "payout": "16.65"})
    );
    let sale = &post["sales"][0];
    assert_eq!(
        (sale["buyer"].as_str(), sale["contract"].as_str(), sale["price"].as_str(), sale["payout"].as_str()),
        (Some("b1"), Some("ax-b1"), Some("18.50"), Some("16.65"))
    );
    assert_eq!((post["total_price"].as_str(), post["total_payout"].as_str()), (Some("18.50"), Some("16.65")));
    assert_eq!(post["attempts"][0], json!({"buyer": "b1", "contract": "ax-b1", "outcome": "accepted"}));
    let ledger = h
        .engine
        .store()
        .ledger(pingpost_store::LedgerQuery::Ping(ping["ping_id"].as_str().unwrap().into()))
        .await
        .unwrap();
    assert_eq!((ledger[0].price.to_string(), ledger[0].payout.to_string()), ("18.50".into(), "16.65".into()));
}

#[tokio::test]
async fn the_waterfall_never_sells_below_the_partners_minimum_payout() {
    let h = Harness::start(&market("")).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    // p2 (5 %, min 12.00) sees all three; then the operator raises its minimum to 14.00.
    let (_, ping) = h.ping_as(KEY_P2, "auto-excl", email("minimum@example.com")).await;
    assert_eq!(payouts(&ping), ["17.57", "15.20", "13.35"]);
    let (status, edited) = h
        .admin(
            "PUT",
            "/partners/p2",
            Some(json!({
                "name": "Partner Two", "api_key": KEY_P2, "offers": ["auto-excl", "auto-2"],
                "margin": {"percent": "5.00"}, "min_payout": "15.50"
            })),
        )
        .await;
    assert!(status == 200, "{edited}");
    h.buyers.update("b2", |b| b.post = PostReply::Reject);
    let (status, post) = h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), email("minimum@example.com")).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!(
        outcomes(&post),
        [("b1".into(), "rejected".into()), ("b2".into(), "skipped".into()), ("b3".into(), "skipped".into())],
        "{post}"
    );
    assert_eq!(post["attempts"][1]["reason"], "below_min_payout");
    assert_eq!(post["status"], "unsold");
    assert_eq!((h.buyers.count("b2", "post"), h.buyers.count("b3", "post")), (0, 0));
}

#[tokio::test]
async fn a_lower_price_reported_by_the_buyer_lowers_the_payout_by_the_same_margin() {
    let mut c = market("");
    c = c.replace(
        "id = \"b1\"\npost_url = \"{buyers}/b1/post\"",
        "id = \"b1\"\npost_url = \"{buyers}/b1/post\"\nresponse = { price = \"/price\" }",
    );
    let h = Harness::start(&c).await;
    h.buyers.update("b1", |b| b.post = PostReply::Raw(200, r#"{"status": "accepted", "price": "10.00"}"#.into()));
    let (_, post) = h.sell("auto-excl", email("lower@example.com")).await;
    assert_eq!((post["total_price"].as_str(), post["total_payout"].as_str()), (Some("10.00"), Some("9.00")), "{post}");
}

/// `market` with b2 (fixed 3.00 margin) reporting the price it pays (`/price`) and b1 refusing
/// every lead, so b2 buys.
fn reporting_market() -> String {
    market("").replace(
        "post_url = \"{buyers}/b2/post\"",
        "post_url = \"{buyers}/b2/post\"\nresponse = { price = \"/price\" }",
    )
}

/// The ledger entry of the post's one sale.
async fn ledger_of(h: &Harness, post: &Value) -> pingpost_store::SaleRecord {
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    h.engine.store().ledger(pingpost_store::LedgerQuery::Sale(sale_id)).await.unwrap().pop().unwrap()
}

#[tokio::test]
async fn a_buyer_reporting_less_than_its_fixed_margin_leaves_the_partner_nothing_and_the_sale_in_the_books() {
    let h = Harness::start(&reporting_market()).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    h.buyers.update("b2", |b| b.post = PostReply::Raw(200, r#"{"status": "accepted", "price": "2.00"}"#.into()));
    let (_, post) = h.sell("auto-excl", email("cheap@example.com")).await;
    let sale = &post["sales"][0];
    assert_eq!(
        (sale["buyer"].as_str(), sale["price"].as_str(), sale["payout"].as_str()),
        (Some("b2"), Some("2.00"), Some("0.00")),
        "2.00 less a fixed 3.00 margin is nothing, never a debt: {post}"
    );
    assert_eq!(post["total_payout"], "0.00");
    let entry = ledger_of(&h, &post).await;
    assert_eq!((entry.price.to_string(), entry.payout.to_string()), ("2.00".into(), "0.00".into()));
    assert_eq!(entry.reason.as_deref(), Some("below_min_payout"), "flagged for an operator");

    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!((relayed.relayed, relayed.refused), (1, 0), "the books take the sale");
    let (status, reconciled) = h.admin("GET", "/reconcile", None).await;
    assert_eq!((status, &reconciled["differences"]), (200, &json!([])), "{reconciled}");
    let (_, accounts) = h.admin("GET", "/accounts?by=partner", None).await;
    assert_eq!(
        accounts["groups"][0],
        json!({"key": "p1", "sales": 1, "repeat_sales": 0, "gross": "2.00", "repeat_gross": "0.00",
               "refunds": "0.00", "net_revenue": "2.00", "payouts": "0.00", "clawbacks": "0.00",
               "net_payout": "0.00", "margin": "2.00"})
    );
}

#[tokio::test]
async fn a_sale_whose_reported_price_takes_the_payout_below_the_partners_minimum_stands_and_is_flagged() {
    let h = Harness::start(&reporting_market()).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    // p2 keeps 5 % and wants 12.00: b2's 16.00 bid pays it 15.20; 12.50 would pay 11.87.
    h.buyers.update("b2", |b| b.post = PostReply::Raw(200, r#"{"status": "accepted", "price": "12.50"}"#.into()));
    let lead = email("below-minimum@example.com");
    let (_, ping) = h.ping_as(KEY_P2, "auto-excl", lead.clone()).await;
    let (status, post) = h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), lead).await;
    assert_eq!(status, 200, "{post}");
    assert_eq!(post["status"], "sold", "delivered and accepted: the sale stands");
    assert_eq!((post["sales"][0]["price"].as_str(), post["total_payout"].as_str()), (Some("12.50"), Some("11.87")));
    assert_eq!(h.buyers.count("b3", "post"), 0, "nothing else was tried");
    let entry = ledger_of(&h, &post).await;
    assert_eq!(entry.reason.as_deref(), Some("below_min_payout"), "{entry:?}");
    let (_, listed) = h.admin("GET", &format!("/ledger?sale_id={}", entry.sale_id), None).await;
    assert_eq!(listed["sales"][0]["reason"], "below_min_payout", "an operator sees why: {listed}");

    // A price that still leaves the partner its minimum is no flag.
    h.buyers.update("b2", |b| b.post = PostReply::Raw(200, r#"{"status": "accepted", "price": "13.00"}"#.into()));
    let lead = email("above-minimum@example.com");
    let (_, ping) = h.ping_as(KEY_P2, "auto-excl", lead.clone()).await;
    let (_, post) = h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), lead).await;
    assert_eq!(post["total_payout"], "12.35", "{post}");
    assert_eq!(ledger_of(&h, &post).await.reason, None);
}
