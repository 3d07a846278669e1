//! The books: every money movement reaches them through the store's outbox, once; the
//! accounts and the partner's report add them up; top-ups raise a buyer's balance and are
//! in the books too.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use serde_json::{json, Value};

const KEY_B1: &str = "buyer-one-key-00001";

/// Two offers with margins; b1 (with a key) prepaid 30.00 on the first.
fn market() -> String {
    let mut c = base_config()
        .replace(
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { percent = \"10.00\" }",
        )
        .replace(
            "id = \"auto-2\"\nvertical = \"auto\"\ndisclosure = \"full\"",
            "id = \"auto-2\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmargin = { fixed = \"2.50\" }",
        )
        .replace(
            "id = \"b1\"\npost_url",
            &format!("id = \"b1\"\napi_key = \"{KEY_B1}\"\nbalance = \"30.00\"\npost_url"),
        );
    c.push_str(&contract("x1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("x2", "b2", "auto-excl", "15.00", ""));
    c.push_str(&contract("y2", "b2", "auto-2", "12.00", ""));
    c
}

async fn get(h: &Harness, path: &str, key: &str, csv: bool) -> (u16, String) {
    let mut req =
        reqwest::Client::new().get(format!("{}{path}", h.base)).header("authorization", format!("Bearer {key}"));
    if csv {
        req = req.header("accept", "text/csv");
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn groups(body: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["groups"].as_array().unwrap().clone()
}

#[tokio::test]
async fn sales_reach_the_books_once_and_the_accounts_add_them_up_to_the_cent() {
    let h = Harness::start(&market()).await;
    h.sell("auto-excl", email("one@example.com")).await; // b1 at 20.00, payout 18.00
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    h.sell("auto-excl", email("two@example.com")).await; // b1 rolls back: b2 at 15.00, payout 13.50
    let (status, _) = h.ping_as(KEY_P2, "auto-2", email("three@example.com")).await; // p2: 12.00, payout 9.50
    assert_eq!(status, 200);
    let ping = h.ping_as(KEY_P2, "auto-2", email("four@example.com")).await.1;
    h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), email("four@example.com")).await;

    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!(relayed.relayed, 3, "three sales; a reservation rolled back from reserved moved no money");
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 0, "the outbox is empty once delivered");

    let (status, body) = get(&h, "/v1/admin/accounts?by=partner", ADMIN_TOKEN, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        groups(&body),
        [
            json!({"key": "p1", "sales": 2, "repeat_sales": 0, "gross": "35.00", "repeat_gross": "0.00",
                   "refunds": "0.00", "net_revenue": "35.00", "payouts": "31.50", "clawbacks": "0.00",
                   "net_payout": "31.50", "margin": "3.50"}),
            json!({"key": "p2", "sales": 1, "repeat_sales": 0, "gross": "12.00", "repeat_gross": "0.00",
                   "refunds": "0.00", "net_revenue": "12.00", "payouts": "9.50", "clawbacks": "0.00",
                   "net_payout": "9.50", "margin": "2.50"}),
        ]
    );
    let (_, body) = get(&h, "/v1/admin/accounts?by=buyer", ADMIN_TOKEN, false).await;
    let buyers: Vec<(String, String)> = groups(&body)
        .iter()
        .map(|g| (g["key"].as_str().unwrap().into(), g["gross"].as_str().unwrap().into()))
        .collect();
    assert_eq!(buyers, [("b1".into(), "20.00".into()), ("b2".into(), "27.00".into())]);
    let (_, csv) = get(&h, "/v1/admin/accounts?by=offer", ADMIN_TOKEN, true).await;
    assert_eq!(
        csv,
        "key,sales,repeat_sales,gross,repeat_gross,refunds,net_revenue,payouts,clawbacks,net_payout,margin\n\
         auto-2,1,0,12.00,0.00,0.00,12.00,9.50,0.00,9.50,2.50\n\
         auto-excl,2,0,35.00,0.00,0.00,35.00,31.50,0.00,31.50,3.50\n"
    );

    // A partner reads its own account, never another's; a range before the sales is empty.
    let (status, mine) = get(&h, "/v1/partner/report", KEY_P2, false).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(groups(&mine).iter().map(|g| g["key"].as_str().unwrap()).collect::<Vec<_>>(), ["p2"]);
    let (_, mine_csv) = get(&h, "/v1/partner/report", KEY_P2, true).await;
    assert_eq!(mine_csv, "key,sales,repeat_sales,payouts,clawbacks,net_payout\np2,1,0,9.50,0.00,9.50\n");
    assert_eq!(
        groups(&mine),
        [
            json!({"key": "p2", "sales": 1, "repeat_sales": 0, "payouts": "9.50", "clawbacks": "0.00", "net_payout": "9.50"})
        ],
        "a partner sees its own side only: no gross price, no margin"
    );
    let (_, before) = get(&h, "/v1/partner/report?until=2026-11-23T14:00:00Z", KEY_P1, false).await;
    assert!(groups(&before).is_empty(), "{before}");
    let (status, _) = get(&h, "/v1/partner/report", ADMIN_TOKEN, false).await;
    assert_eq!(status, 401, "the operator token is not a partner key");
    let (status, _) = get(&h, "/v1/admin/accounts?by=partner", KEY_P1, false).await;
    assert_eq!(status, 401, "a partner key opens no admin report");
    let (status, err) = get(&h, "/v1/admin/accounts?by=vertical", ADMIN_TOKEN, false).await;
    assert_eq!(status, 422, "{err}");
}

#[tokio::test]
async fn a_top_up_raises_the_balance_once_and_is_in_the_books() {
    let h = Harness::start(&market()).await;
    // 30.00 prepaid: one 20.00 sale fits, a second does not.
    h.sell("auto-excl", email("first@example.com")).await;
    let ping = h.ping("auto-excl", email("second@example.com")).await;
    assert_eq!(bid_contracts(&ping), ["x2"], "b1's balance has 10.00 left: {ping}");

    let (status, topped) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "25.00", "id": "t-1"}))).await;
    assert_eq!((status, topped["balance"].as_str()), (200, Some("35.00")), "{topped}");
    let (_, again) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "25.00", "id": "t-1"}))).await;
    assert_eq!(again["balance"], "35.00", "a retried top-up applies once: {again}");
    let ping = h.ping("auto-excl", email("third@example.com")).await;
    assert_eq!(bid_contracts(&ping)[0], "x1", "b1 bids again: {ping}");

    for (body, field) in
        [(json!({"add": "0"}), "add"), (json!({"add": "-5.00"}), "add"), (json!({"add": "1.005"}), "add")]
    {
        let (status, err) = h.admin("POST", "/buyers/b1/balance", Some(body)).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{err}");
    }
    let (status, err) = h.admin("POST", "/buyers/b2/balance", Some(json!({"add": "5.00"}))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("add")), "b2 has no prepaid balance: {err}");
    let (status, _) = h.admin("POST", "/buyers/nobody/balance", Some(json!({"add": "5.00"}))).await;
    assert_eq!(status, 404);

    h.engine.relay_books().await.unwrap();
    let money = h.engine.books().buyer_money(Some(pingpost_core::ids::BuyerId::new("b1"))).await.unwrap();
    assert_eq!((money[0].top_ups.to_string(), money[0].charges.to_string()), ("25.00".into(), "20.00".into()));
}

/// The books keep a top-up's id for good, so the store keeps it as long as a retry can come
/// (a year): a retry days later applies nothing again, and the id sent with another amount
/// or buyer is a client's mistake, answered 409 with nothing moved.
#[tokio::test]
async fn a_top_up_id_is_kept_past_a_day_and_refused_with_other_content() {
    let h =
        Harness::start(&market().replace("id = \"b2\"\npost_url", "id = \"b2\"\nbalance = \"0.00\"\npost_url")).await;
    let h = &h;
    let top_up = |buyer: &str, add: &str| {
        let path = format!("/buyers/{buyer}/balance");
        let body = json!({"add": add, "id": "t-1"});
        async move { h.admin("POST", &path, Some(body)).await }
    };
    let (status, topped) = top_up("b1", "25.00").await;
    assert_eq!((status, topped["balance"].as_str()), (200, Some("55.00")), "{topped}");

    h.advance_days(2).await;
    let (status, again) = top_up("b1", "25.00").await;
    assert_eq!((status, again["balance"].as_str()), (200, Some("55.00")), "a retry two days on applies once: {again}");
    for (buyer, add) in [("b1", "30.00"), ("b2", "25.00")] {
        let (status, err) = top_up(buyer, add).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("top_up_id_reused")), "{buyer} {add}: {err}");
    }
    let money = |b: &str| h.engine.store().buyer_money(pingpost_core::ids::BuyerId::new(b));
    assert_eq!(money("b1").await.unwrap().credit.to_string(), "25.00");
    assert_eq!(money("b2").await.unwrap().credit.to_string(), "0.00", "a refused top-up moves nothing");
    h.engine.relay_books().await.unwrap();
    let books = h.engine.books().buyer_money(None).await.unwrap();
    let top_ups: Vec<(&str, String)> = books.iter().map(|m| (m.buyer.as_str(), m.top_ups.to_string())).collect();
    assert_eq!(top_ups, [("b1", "25.00".to_string())], "one top-up in the books");
}

#[tokio::test]
async fn an_unconfirmed_sale_is_charged_in_the_books_when_swept() {
    let h = Harness::start(&market()).await;
    h.faults.arm("post.delivered", pingpost_store::Fault::Abort, 1, 0);
    let ping = h.ping("auto-excl", email("crash@example.com")).await;
    let (status, _) = h.post_as(KEY_P1, ping["ping_id"].as_str().unwrap(), email("crash@example.com")).await;
    assert_eq!(status, 500);
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 0, "a reservation in flight moved no money yet");
    h.advance_secs(120).await;
    h.engine.sweep().await.unwrap();
    assert_eq!(h.engine.relay_books().await.unwrap().relayed, 1);
    let (_, body) = get(&h, "/v1/admin/accounts?by=buyer", ADMIN_TOKEN, false).await;
    assert_eq!(groups(&body)[0]["gross"], "20.00", "its debits stay taken: it is charged");
}

/// Parses a JSON answer.
fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// (code, subject) of every difference a reconciliation over HTTP names.
async fn differences(h: &Harness) -> Vec<(String, String)> {
    let (status, r) = h.admin("GET", "/reconcile", None).await;
    assert_eq!(status, 200, "{r}");
    let mut got: Vec<(String, String)> = r["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["subject"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn an_entry_the_books_hold_otherwise_is_parked_not_dropped_and_every_reconciliation_names_it() {
    let h = Harness::start(&market()).await;
    let (_, post) = h.sell("auto-excl", email("conflict@example.com")).await;
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    // The books already hold the entry's id with other amounts (a restored backup, a bug).
    let sale = pingpost_books::SaleRef {
        sale_id: sale_id.clone(),
        ping_id: post["ping_id"].as_str().unwrap().into(),
        partner: pingpost_core::ids::PartnerId::new("p1"),
        buyer: pingpost_core::ids::BuyerId::new("b1"),
        offer: pingpost_core::ids::OfferId::new("auto-excl"),
        contract: pingpost_core::ids::ContractId::new("x1"),
        repeat: false,
    };
    let other =
        pingpost_books::Entry::sale(format!("sale:{sale_id}"), h.engine.now(), sale, cents(100), cents(90)).unwrap();
    h.engine.books().append(vec![other]).await.unwrap();

    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!((relayed.relayed, relayed.refused), (0, 1));
    assert_eq!(h.engine.relay_books().await.unwrap(), Default::default(), "out of the outbox's way");
    let subject = format!("sale:{sale_id}");
    // b1's balance differs too: the books charged it 1.00, the store 20.00.
    let want = [
        ("balance_differs".to_string(), "b1".to_string()),
        ("entry_differs".to_string(), subject.clone()),
        ("parked_entry".to_string(), subject.clone()),
    ];
    assert_eq!(differences(&h).await, want, "kept in the store, named on every run");
    assert_eq!(differences(&h).await, want);
}

#[tokio::test]
async fn a_relay_that_stops_after_parking_neither_loses_nor_doubles_an_entry() {
    let h = Harness::start(&market()).await;
    let (_, post) = h.sell("auto-excl", email("refused@example.com")).await; // b1 at 20.00
    let (_, ping) = h.ping_as(KEY_P2, "auto-2", email("accepted@example.com")).await; // b2 at 12.00
    h.post_as(KEY_P2, ping["ping_id"].as_str().unwrap(), email("accepted@example.com")).await;
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    let sale = pingpost_books::SaleRef {
        sale_id: sale_id.clone(),
        ping_id: post["ping_id"].as_str().unwrap().into(),
        partner: pingpost_core::ids::PartnerId::new("p1"),
        buyer: pingpost_core::ids::BuyerId::new("b1"),
        offer: pingpost_core::ids::OfferId::new("auto-excl"),
        contract: pingpost_core::ids::ContractId::new("x1"),
        repeat: false,
    };
    let other = pingpost_books::Entry::sale(format!("sale:{sale_id}"), h.engine.now(), sale, cents(100), cents(90));
    h.engine.books().append(vec![other.unwrap()]).await.unwrap();

    // The park applies, its reply is lost: the pass stops before removing what the books took.
    h.faults.arm("store.outbox_park", pingpost_store::Fault::DropReply, 1, 0);
    assert!(h.engine.relay_books().await.is_err());
    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!(
        (relayed.relayed, relayed.refused),
        (1, 0),
        "the good entry again (the books know it), the parked one not"
    );
    let money = h.engine.books().buyer_money(Some(pingpost_core::ids::BuyerId::new("b2"))).await.unwrap();
    assert_eq!(money[0].charges.to_string(), "12.00", "charged once");
    let subject = format!("sale:{sale_id}");
    assert_eq!(
        differences(&h).await,
        [
            ("balance_differs".into(), "b1".into()),
            ("entry_differs".into(), subject.clone()),
            ("parked_entry".into(), subject)
        ]
    );
}

#[tokio::test]
async fn a_sale_recorded_with_a_negative_payout_is_parked_and_reconciliation_says_it_cannot_be_booked() {
    // As an engine before payouts were held to [0, price] recorded a buyer's low price.
    let h = Harness::start(&market()).await;
    let now = h.engine.now();
    let record = pingpost_store::SaleRecord {
        sale_id: "legacy-1".into(),
        ping_id: "legacy-ping-1".into(),
        partner: pingpost_core::ids::PartnerId::new("p2"),
        offer: pingpost_core::ids::OfferId::new("auto-2"),
        vertical: pingpost_core::ids::VerticalId::new("auto"),
        buyer: pingpost_core::ids::BuyerId::new("b2"),
        contract: pingpost_core::ids::ContractId::new("y2"),
        price: cents(200),
        payout: cents(-50),
        reserved_at: now,
        state: pingpost_store::LedgerState::Reserved,
        holder: "legacy".into(),
        lease_until: now + chrono::Duration::minutes(1),
        reason: None,
        sold_at: None,
        lead_id: None,
        repeat_after: None,
    };
    let idents = vec![pingpost_core::identity::Ident {
        kind: pingpost_core::identity::IdentKind::Email,
        hash: pingpost_core::identity::Sha256Hex::digest("legacy@example.com"),
    }];
    let reservation = pingpost_store::SaleReservation {
        idents: idents.clone(),
        window: None,
        debits: Vec::new(),
        slots: 1,
        record: record.clone(),
    };
    assert_eq!(h.engine.store().reserve_sale(reservation).await.unwrap(), pingpost_store::ReserveOutcome::Reserved);
    let end = pingpost_store::SaleEnd::Sold {
        final_price: record.price,
        final_payout: record.payout,
        reason: None,
        lead_id: None,
    };
    let settled = pingpost_store::Settlement {
        sale_id: record.sale_id.clone(),
        ping_id: record.ping_id.clone(),
        buyer: record.buyer.clone(),
        idents,
        end,
        at: now,
        return_window: chrono::Duration::days(7),
        reserved: pingpost_store::ReservedTerms { price: record.price, payout: record.payout, debits: Vec::new() },
    };
    h.engine.store().settle_sale(settled).await.unwrap();

    let relayed = h.engine.relay_books().await.unwrap();
    assert_eq!((relayed.relayed, relayed.refused), (0, 1));
    assert_eq!(
        differences(&h).await,
        [("invalid_entry".to_string(), "sale:legacy-1".to_string()), ("parked_entry".into(), "sale:legacy-1".into())]
    );
}

/// b1 prepaid 2 000.00 buying at 1.00 on auto-excl.
fn many_in_flight_market() -> String {
    let mut c = base_config().replace("id = \"b1\"\npost_url", "id = \"b1\"\nbalance = \"2000.00\"\npost_url");
    c.push_str(&contract("x1", "b1", "auto-excl", "1.00", ""));
    c
}

/// `n` sales of x1 reserved straight in the store, as `n` posts awaiting b1's answer.
async fn reserve_in_flight(h: &Harness, n: usize) {
    let config = h.engine.config();
    let contract = &config.contracts[&pingpost_core::ids::ContractId::new("x1")];
    let buyer = &config.buyers[&pingpost_core::ids::BuyerId::new("b1")];
    let now = h.engine.now();
    for i in 0..n {
        let record = pingpost_store::SaleRecord {
            sale_id: format!("flight-{i:04}"),
            ping_id: format!("flight-ping-{i:04}"),
            partner: pingpost_core::ids::PartnerId::new("p1"),
            offer: pingpost_core::ids::OfferId::new("auto-excl"),
            vertical: pingpost_core::ids::VerticalId::new("auto"),
            buyer: buyer.id.clone(),
            contract: contract.id.clone(),
            price: cents(100),
            payout: cents(100),
            reserved_at: now,
            state: pingpost_store::LedgerState::Reserved,
            holder: "in-flight".into(),
            lease_until: now + chrono::Duration::minutes(1),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        };
        let reservation = pingpost_store::SaleReservation {
            idents: vec![pingpost_core::identity::Ident {
                kind: pingpost_core::identity::IdentKind::Email,
                hash: pingpost_core::identity::Sha256Hex::digest(&format!("flight-{i}@example.com")),
            }],
            window: None,
            debits: pingpost_core::caps::sale_debits(contract, buyer, cents(100), now),
            slots: 1,
            record,
        };
        let outcome = h.engine.store().reserve_sale(reservation).await.unwrap();
        assert_eq!(outcome, pingpost_store::ReserveOutcome::Reserved);
    }
}

fn cents(n: i64) -> pingpost_core::money::Money {
    pingpost_core::money::Money::from_minor(n)
}

#[tokio::test]
async fn reconciliation_counts_every_reservation_in_flight_past_a_thousand() {
    let h = Harness::start(&many_in_flight_market()).await;
    reserve_in_flight(&h, 1_001).await;
    assert_eq!(differences(&h).await, [], "1 001 reservations hold 1 001.00, all of them counted");
    let (status, balance) = h.admin("GET", "/buyers/b1/balance", None).await;
    assert_eq!(
        (status, balance),
        (200, json!({"balance": "999.00", "credit": "0.00", "spent": "0.00", "reserved": "1001.00"}))
    );
}

#[tokio::test]
async fn a_buyers_balance_as_it_stands_is_read_by_operators_and_by_the_buyer_itself() {
    let h = Harness::start(&market()).await;
    h.sell("auto-excl", email("first@example.com")).await; // b1 at 20.00 of its 30.00
    let (status, _) = h.admin("POST", "/buyers/b1/balance", Some(json!({"add": "25.00", "id": "t-1"}))).await;
    assert_eq!(status, 200);
    let ping = h.ping("auto-excl", email("second@example.com")).await;
    assert_eq!(bid_contracts(&ping)[0], "x1");

    // b1 holds the second lead's post: 20.00 charged, 20.00 held, 15.00 left of 55.00.
    h.buyers.hold();
    let read = async {
        h.buyers.received_at_least("b1", "post", 2).await;
        let operators = h.admin("GET", "/buyers/b1/balance", None).await;
        let own = get(&h, "/v1/buyer/balance", KEY_B1, false).await;
        h.buyers.release();
        (operators, own)
    };
    let (post, (operators, own)) =
        futures_util::future::join(h.post(ping["ping_id"].as_str().unwrap(), email("second@example.com")), read).await;
    assert_eq!(sold_to(&post), ["b1"]);
    let during = json!({"balance": "15.00", "credit": "25.00", "spent": "20.00", "reserved": "20.00"});
    assert_eq!(operators, (200, during.clone()));
    assert_eq!((own.0, json_of(&own.1)), (200, during), "the buyer reads what operators read");
    let after = json!({"balance": "15.00", "credit": "25.00", "spent": "40.00", "reserved": "0.00"});
    assert_eq!(h.admin("GET", "/buyers/b1/balance", None).await, (200, after.clone()));
    assert_eq!(json_of(&get(&h, "/v1/buyer/balance", KEY_B1, false).await.1), after);

    let (status, err) = h.admin("GET", "/buyers/b2/balance", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("no_balance")), "{err}");
    let (status, err) = h.admin("GET", "/buyers/nobody/balance", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")), "{err}");
    assert_eq!(h.admin_with(None, "GET", "/buyers/b1/balance", None).await.0, 401);
    assert_eq!(h.admin_with(Some(KEY_B1), "GET", "/buyers/b1/balance", None).await.0, 401);
    assert_eq!(get(&h, "/v1/buyer/balance", KEY_P1, false).await.0, 401, "a partner key is no buyer key");
    assert_eq!(get(&h, "/v1/buyer/balance", ADMIN_TOKEN, false).await.0, 401);
}

#[tokio::test]
async fn a_partners_report_covers_at_most_93_days_and_never_relays() {
    let h = Harness::start(&market()).await;
    h.sell("auto-excl", email("reported@example.com")).await; // p1: payout 18.00
    let (status, mine) = get(&h, "/v1/partner/report", KEY_P1, false).await;
    assert_eq!((status, groups(&mine)), (200, vec![]), "the partner's call moved nothing to the books: {mine}");
    assert_eq!(h.engine.store().outbox(10).await.unwrap().len(), 1, "the sale's entry waits for the relay");
    h.engine.relay_books().await.unwrap();
    let (_, mine) = get(&h, "/v1/partner/report", KEY_P1, false).await;
    assert_eq!(groups(&mine)[0]["net_payout"], "18.00", "{mine}");

    // 93 days at most: since defaults to 93 days before until, or before now.
    let (status, _) = get(&h, "/v1/partner/report?since=2026-08-22T15:00:00Z", KEY_P1, false).await;
    assert_eq!(status, 200, "exactly 93 days");
    for (query, field) in
        [("since=2026-08-22T14:59:59Z", "since"), ("since=2026-01-01T00:00:00Z&until=2026-04-04T00:00:01Z", "until")]
    {
        let (status, err) = get(&h, &format!("/v1/partner/report?{query}"), KEY_P1, false).await;
        assert_eq!((status, json_of(&err)["error"]["field"].as_str()), (422, Some(field)), "{query}: {err}");
    }
    let (status, _) =
        get(&h, "/v1/partner/report?since=2026-01-01T00:00:00Z&until=2026-04-04T00:00:00Z", KEY_P1, false).await;
    assert_eq!(status, 200, "any 93 days");

    // 94 days on, the sale is out of the default range, and in a range that names it.
    h.advance_days(94).await;
    let (_, mine) = get(&h, "/v1/partner/report", KEY_P1, false).await;
    assert_eq!(groups(&mine), Vec::<Value>::new(), "{mine}");
    let (_, mine) = get(&h, "/v1/partner/report?until=2026-11-24T00:00:00Z", KEY_P1, false).await;
    assert_eq!(groups(&mine)[0]["sales"], 1, "{mine}");
}

#[tokio::test]
async fn both_balance_reads_are_in_the_api_document_under_their_own_operation_ids() {
    let h = Harness::start(&market()).await;
    let (status, text) = h.get_text("/openapi.json").await;
    assert_eq!(status, 200);
    let doc = json_of(&text);
    let admin = &doc["paths"]["/v1/admin/buyers/{id}/balance"]["get"];
    let own = &doc["paths"]["/v1/buyer/balance"]["get"];
    assert_eq!(
        (admin["operationId"].as_str(), own["operationId"].as_str()),
        (Some("get_v1_admin_buyers_id_balance"), Some("get_v1_buyer_balance"))
    );
    assert_eq!(own["security"], json!([{"buyer_key": []}]));
    for op in [admin, own] {
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/BalanceView"
        );
    }
    let fields = doc["components"]["schemas"]["BalanceView"]["required"].as_array().unwrap().clone();
    assert_eq!(fields, [json!("balance"), json!("credit"), json!("spent"), json!("reserved")]);
}
