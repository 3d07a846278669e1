//! `pingpost migrate-store` on a store of the layout before sales were spread by buyer: the
//! keys below are written as that engine wrote them (its `keys.rs` table and scripts: one
//! `{ledger}` tag, sale marks in the consumers' hashes, counters named without their buyer),
//! for a drained market — a sold sale, an unconfirmed one, a top-up, a books entry waiting.
//! After the migration the engine of the new layout finds every one of them where it looks,
//! acts on them correctly (dedup, refunds, the top-up's id), and nothing of the old layout is
//! left; a second run moves nothing.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

use chrono::{Duration, TimeZone, Utc};
use pingpost_core::identity::{Ident, IdentKind, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use pingpost_redis::{Migrated, RedisOptions, RedisStore};
use pingpost_store::*;
use pingpost_testkit::RedisServer;
use redis::AsyncCommands;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).single().unwrap()
}

fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

fn rec(sale: &str, ping: &str, buyer: &str, contract: &str) -> String {
    format!(
        r#"{{"sale_id":"{sale}","ping_id":"{ping}","partner":"p1","offer":"o1","vertical":"auto","buyer":"{buyer}","contract":"{contract}","reserved_at_ms":{},"holder":"h1","lease_until_ms":{}}}"#,
        ms(t0()),
        ms(t0() + Duration::minutes(5))
    )
}

/// The market as the single-slot engine left it.
async fn old_layout(con: &mut redis::aio::MultiplexedConnection, email: &Sha256Hex, phone: &Sha256Hex) {
    let at = ms(t0()).to_string();
    let day = 86_400_000_i64;
    // p1-0: sold to b1 (cap of c1 and b1's balance taken), its books entry relayed already.
    let debits1 = r#"[["pp:{ledger}:ctr:cap:c1:d:2026-12-07",1,0,5,""],["pp:{ledger}:ctr:balance:b1",1000,1,5000,"pp:{ledger}:ctr:credit:b1"]]"#;
    let _: () = con
        .hset_multiple(
            "pp:{ledger}:sale:p1-0",
            &[
                ("id", "p1-0"),
                ("st", "S"),
                ("rec", &rec("p1-0", "p1", "b1", "c1")),
                ("idents", &format!("e:{}", email.as_str())),
                ("price", "1000"),
                ("payout", "900"),
                ("holder", "h1"),
                ("debits", debits1),
                ("sold", &at),
                ("sat", &at),
            ],
        )
        .await
        .unwrap();
    // p2-0: b2's reservation whose engine died, kept unconfirmed by the sweep (cap taken).
    let debits2 = r#"[["pp:{ledger}:ctr:cap:c2:d:2026-12-07",1,0,5,""]]"#;
    let _: () = con
        .hset_multiple(
            "pp:{ledger}:sale:p2-0",
            &[
                ("id", "p2-0"),
                ("st", "U"),
                ("rec", &rec("p2-0", "p2", "b2", "c2")),
                ("idents", &format!("p:{}", phone.as_str())),
                ("price", "800"),
                ("payout", "700"),
                ("holder", "h2"),
                ("debits", debits2),
                ("sold", &at),
            ],
        )
        .await
        .unwrap();
    let _: () = con.zadd("pp:{ledger}:unconfirmed", "pp:{ledger}:sale:p2-0", ms(t0())).await.unwrap();
    let _: () = con.zadd("pp:{ledger}:marks_due", "pp:{ledger}:sale:p1-0", ms(t0())).await.unwrap();
    let _: () = con.hset("pp:{ledger}:ping:p1", "p1-0", "1|b1").await.unwrap();
    let _: () = con.zadd("pp:{ledger}:bsales:b1", "p1-0", ms(t0())).await.unwrap();
    let _: () = con.zadd("pp:{ledger}:bsales:b2", "p2-0", ms(t0())).await.unwrap();
    // A release's tombstone, a day long.
    let _: () = con.hset_multiple("pp:{ledger}:sale:p3-0", &[("st", "B"), ("reason", "rejected")]).await.unwrap();
    // Counters: cap buckets expire, balances do not.
    let _: () = redis::cmd("SET")
        .arg("pp:{ledger}:ctr:cap:c1:d:2026-12-07")
        .arg(1)
        .arg("PX")
        .arg(2 * day)
        .query_async(con)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("pp:{ledger}:ctr:cap:c2:d:2026-12-07")
        .arg(1)
        .arg("PX")
        .arg(2 * day)
        .query_async(con)
        .await
        .unwrap();
    let _: () = con.set("pp:{ledger}:ctr:balance:b1", 1000).await.unwrap();
    let _: () = con.set("pp:{ledger}:ctr:credit:b1", 500).await.unwrap();
    // A top-up of b1's, its books entry waiting for the relay with p2-0's charge.
    let _: () =
        con.hset_multiple("pp:{ledger}:topup:t1", &[("buyer", "b1"), ("amount", "500"), ("at", &at)]).await.unwrap();
    let top_up = format!(
        r#"{{"entry_id":"top_up:t1","kind":"top_up","at":"{at}","buyer":"b1","price":"0","payout":"0","amount":"500"}}"#
    );
    let charge = format!(
        r#"{{"entry_id":"sale:p2-0","kind":"sale","at":"{at}","buyer":"b2","sale_id":"p2-0","ping_id":"p2","partner":"p1","offer":"o1","contract":"c2","price":"800","payout":"700","amount":"0","lead_id":""}}"#
    );
    let _: () = con.hset("pp:{ledger}:outbox", "top_up:t1", &top_up).await.unwrap();
    let _: () = con.hset("pp:{ledger}:outbox", "sale:p2-0", &charge).await.unwrap();
    let _: () = con.zadd("pp:{ledger}:outbox_at", "top_up:t1", ms(t0())).await.unwrap();
    let _: () = con.zadd("pp:{ledger}:outbox_at", "sale:p2-0", ms(t0())).await.unwrap();
    // The consumers' hashes: a vertical submission, the sales' marks, a released one's tombstone.
    let _: () = con
        .hset_multiple(
            format!("pp:{{{}}}:c", email.as_str()),
            &[
                ("v:auto".to_string(), format!("{at}|p1|")),
                ("s:p1-0".to_string(), format!("{at}|S|||b1")),
                ("s:p3-0".to_string(), format!("{at}|X|||b3")),
            ],
        )
        .await
        .unwrap();
    let _: () = con
        .hset(format!("pp:{{{}}}:c", phone.as_str()), "s:p2-0", format!("{at}|R|{}|h2|b2", ms(t0()) + 1))
        .await
        .unwrap();
}

fn reservation(sale_id: &str, buyer: &str, ident: Ident, at: Timestamp) -> SaleReservation {
    SaleReservation {
        idents: vec![ident],
        window: Some(WindowDays::new(30).unwrap()),
        debits: Vec::new(),
        slots: 1,
        record: SaleRecord {
            sale_id: sale_id.into(),
            ping_id: format!("ping-{sale_id}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new(buyer),
            contract: ContractId::new("c1"),
            price: Money::from_minor(1000),
            payout: Money::from_minor(900),
            reserved_at: at,
            state: LedgerState::Reserved,
            holder: "new".into(),
            lease_until: at + Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_store_of_the_single_slot_layout_is_moved_to_the_buyers_slots_and_nothing_is_lost() {
    let server = RedisServer::start();
    let mut con = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let email = Sha256Hex::digest("moved@example.com");
    let phone = Sha256Hex::digest("5550001234");
    old_layout(&mut con, &email, &phone).await;

    let store = RedisStore::connect(&server.url(), RedisOptions::default()).await.unwrap();
    let moved = store.migrate_to_buyer_slots(&server.url()).await.unwrap();
    assert_eq!(
        (moved.sales, moved.counters, moved.marks, moved.top_ups, moved.outbox_entries),
        (2, 4, 2, 1, 2),
        "{moved:?}"
    );
    assert_eq!(moved.dropped, 2, "the tombstone entry and the tombstone mark: {moved:?}");

    // Nothing of the old layout is left, and the consumer's own state stays.
    let left: Vec<String> = redis::cmd("KEYS").arg("pp:{ledger}*").query_async(&mut con).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    let consumer: Vec<String> = con.hkeys(format!("pp:{{{}}}:c", email.as_str())).await.unwrap();
    assert_eq!(consumer, ["v:auto"], "the sale marks left the consumer's hash");

    // The ledger, by sale, by state and by buyer.
    let p1 = store.ledger(LedgerQuery::Sale("p1-0".into())).await.unwrap();
    assert_eq!(p1.iter().map(|r| (r.buyer.as_str(), r.state)).collect::<Vec<_>>(), [("b1", LedgerState::Sold)]);
    let unconfirmed = store.ledger(LedgerQuery::Unconfirmed { limit: 10 }).await.unwrap();
    assert_eq!(unconfirmed.iter().map(|r| r.sale_id.as_str()).collect::<Vec<_>>(), ["p2-0"]);
    let of_b1 = LedgerQuery::Buyer { buyer: BuyerId::new("b1"), since: None, until: None, after: None, limit: 10 };
    assert_eq!(store.ledger(of_b1).await.unwrap().len(), 1);
    assert_eq!(store.ledger(LedgerQuery::Ping("p1".into())).await.unwrap().len(), 1);

    // Dedup: b1 has the consumer by its email, b2 by its phone (an unconfirmed sale).
    let later = t0() + Duration::days(1);
    let again =
        store.reserve_sale(reservation("n1", "b1", Ident { kind: IdentKind::Email, hash: email.clone() }, later)).await;
    assert!(matches!(again, Ok(ReserveOutcome::AlreadyBought { matched: IdentKind::Email, .. })), "{again:?}");
    let again =
        store.reserve_sale(reservation("n2", "b2", Ident { kind: IdentKind::Phone, hash: phone.clone() }, later)).await;
    assert!(matches!(again, Ok(ReserveOutcome::AlreadyBought { matched: IdentKind::Phone, .. })), "{again:?}");

    // Counters under their new names; a settlement refunds the counters its entry names.
    let names = ["b1/balance", "b1/credit", "b1/cap:c1:d:2026-12-07", "b2/cap:c2:d:2026-12-07"];
    let counters = || store.read_counters(names.iter().map(|n| n.to_string()).collect());
    assert_eq!(counters().await.unwrap(), [1000, 500, 1, 1]);
    let release = Settlement {
        sale_id: "p2-0".into(),
        ping_id: "p2".into(),
        buyer: BuyerId::new("b2"),
        idents: vec![Ident { kind: IdentKind::Phone, hash: phone.clone() }],
        end: SaleEnd::Released { reason: "rejected".into() },
        at: later,
        return_window: chrono::Duration::days(7),
        reserved: ReservedTerms {
            price: Money::from_minor(800),
            payout: Money::from_minor(700),
            debits: vec![pingpost_core::caps::Debit {
                key: "b2/cap:c2:d:2026-12-07".into(),
                amount: 1,
                limit: 5,
                is_money: false,
                expires_at: None,
                credit_key: None,
            }],
        },
    };
    assert_eq!(store.settle_sale(release).await.unwrap(), Some(LedgerState::Released));
    assert_eq!(counters().await.unwrap(), [1000, 500, 1, 0], "b2's cap given back");

    // The outbox: what waited, and the release's rollback of a charged sale.
    let waiting: Vec<String> = store.outbox(10).await.unwrap().into_iter().map(|e| e.entry_id).collect();
    assert_eq!(waiting, ["sale:p2-0", "top_up:t1", "rollback:p2-0"]);

    // The top-up's id still belongs to b1's 5.00: re-sent, it applies once; reused, refused.
    let top_up =
        |buyer: &str| TopUp { id: "t1".into(), buyer: BuyerId::new(buyer), amount: Money::from_minor(500), at: later };
    assert!(matches!(store.top_up(top_up("b2")).await.unwrap(), TopUpOutcome::IdReused { .. }));
    assert!(matches!(store.top_up(top_up("b1")).await.unwrap(), TopUpOutcome::Applied(_)));
    assert_eq!(counters().await.unwrap()[1], 500, "credited once");

    // A second run finds nothing to move.
    assert_eq!(store.migrate_to_buyer_slots(&server.url()).await.unwrap(), Migrated::default());
}
