//! The behaviour every store must show, one module per concern (as the traits are split),
//! each run unchanged against the embedded store here and against Redis and Redis Cluster
//! by their own crates' tests. Compiled only with the `testing` feature: test code stays
//! out of release builds.
//!
//! A check of one concern may call another to see its effect (a sale is seen by the next
//! admission): such a check asks for the whole [`Store`]; one that needs only its concern
//! asks for that trait alone, and so does the module's `run_all` when all its checks do.

use crate::*;
use chrono::{Duration, TimeZone, Utc};
use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::SaleState;
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::window::WindowDays;
use std::sync::Arc;

pub mod admissions;
pub mod balances;
pub mod blobs;
pub mod claims;
pub mod config_docs;
pub mod counters;
pub mod erasure;
pub mod events;
pub mod outbox;
pub mod returns;
pub mod sales;
pub mod suppression;
pub mod upkeep;

/// Runs every check of every concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    admissions::run_all(&make).await;
    counters::run_all(&make).await;
    sales::run_all(&make).await;
    balances::run_all(&make).await;
    returns::run_all(&make).await;
    outbox::run_all(&make).await;
    blobs::run_all(&make).await;
    claims::run_all(&make).await;
    suppression::run_all(&make).await;
    erasure::run_all(&make).await;
    events::run_all(&make).await;
    upkeep::run_all(&make).await;
    config_docs::run_all(&make).await;
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
}

fn ident(kind: IdentKind, seed: &str) -> Ident {
    Ident { kind, hash: Sha256Hex::digest(seed) }
}

fn email(seed: &str) -> Ident {
    ident(IdentKind::Email, seed)
}

fn phone(seed: &str) -> Ident {
    ident(IdentKind::Phone, seed)
}

fn days(n: i64) -> WindowDays {
    WindowDays::new(n).unwrap_or(WindowDays::MAX)
}

/// Every test ping is another ping: the same ping's admission is its own, not a duplicate.
fn fresh_ping_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("ping-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// How long a test ping's submission stays pending (the engine's is a minute too).
const PENDING: Duration = Duration::seconds(60);

fn admission(idents: Vec<Ident>, vertical: &str, now: Timestamp) -> Admission {
    Admission {
        idents,
        vertical: VerticalId::new(vertical),
        window: days(30),
        repeat_after: None,
        ping_id: fresh_ping_id(),
        now,
        pending_until: now + PENDING,
        dry_run: false,
        buyers: (0..10).map(|i| pingpost_core::ids::BuyerId::new(format!("b{i}"))).collect(),
    }
}

/// Admits and confirms, as a ping that was answered does.
async fn admit<S: Store + ?Sized>(s: &S, idents: Vec<Ident>, vertical: &str, now: Timestamp) -> AdmitOutcome {
    let req = admission(idents, vertical, now);
    let outcome = s.admit(req.clone()).await.expect("store answers");
    if admitted(&outcome) {
        s.confirm_admission(req).await.expect("confirm");
    }
    outcome
}

fn admitted(o: &AdmitOutcome) -> bool {
    matches!(o, AdmitOutcome::Admitted { .. })
}

fn history(o: AdmitOutcome) -> pingpost_core::checkpoint::ConsumerHistory {
    match o {
        AdmitOutcome::Admitted { history, .. } => history,
        other => panic!("expected admission, got {other:?}"),
    }
}

/// A reserved sale's record for tests: of ping `ping-of-<sale id>`, partner p1, offer o1,
/// contract c1, at `cents` (payout 90%), leased five minutes from `at`.
pub fn record(sale_id: &str, buyer: &str, cents: i64, at: Timestamp) -> SaleRecord {
    SaleRecord {
        sale_id: sale_id.into(),
        ping_id: format!("ping-of-{sale_id}"),
        partner: PartnerId::new("p1"),
        offer: OfferId::new("o1"),
        vertical: VerticalId::new("auto"),
        buyer: BuyerId::new(buyer),
        contract: ContractId::new("c1"),
        price: Money::from_minor(cents),
        payout: Money::from_minor(cents * 9 / 10),
        reserved_at: at,
        state: LedgerState::Reserved,
        holder: "attempt-1".into(),
        lease_until: at + Duration::minutes(5),
        reason: None,
        sold_at: None,
        lead_id: None,
        repeat_after: None,
    }
}

/// A reservation of sale `sale_id` (its own ping, one slot) by buyer b1.
fn reservation(
    sale_id: &str,
    idents: Vec<Ident>,
    window: Option<WindowDays>,
    debits: Vec<Debit>,
    at: Timestamp,
) -> SaleReservation {
    SaleReservation { idents, window, debits, slots: 1, record: record(sale_id, "b1", 1000, at) }
}

/// Books entries of buyer `b1` (every helper's buyer), by id, as the relay names them done.
fn of_b1(ids: &[&str]) -> Vec<(BuyerId, String)> {
    ids.iter().map(|id| (BuyerId::new("b1"), id.to_string())).collect()
}

fn settlement(r: &SaleReservation, end: SaleEnd, at: Timestamp) -> Settlement {
    r.settlement(end, at, chrono::Duration::days(7))
}

async fn settle<S: Store + ?Sized>(s: &S, r: &SaleReservation, end: SaleEnd, at: Timestamp) -> Option<LedgerState> {
    s.settle_sale(settlement(r, end, at)).await.expect("settle")
}

async fn sold<S: Store + ?Sized>(s: &S, r: &SaleReservation, cents: i64, at: Timestamp) -> Option<LedgerState> {
    let end = SaleEnd::Sold {
        final_price: Money::from_minor(cents),
        final_payout: Money::from_minor(cents * 9 / 10),
        reason: None,
        lead_id: None,
    };
    settle(s, r, end, at).await
}

async fn released<S: Store + ?Sized>(s: &S, r: &SaleReservation) -> Option<LedgerState> {
    settle(s, r, SaleEnd::Released { reason: "rejected".into() }, r.record.reserved_at).await
}

async fn sale<S: Store + ?Sized>(s: &S, sale_id: &str) -> Option<SaleRecord> {
    s.ledger(LedgerQuery::Sale(sale_id.into())).await.expect("ledger").pop()
}

async fn sale_state<S: Store + ?Sized>(s: &S, sale_id: &str) -> Option<LedgerState> {
    sale(s, sale_id).await.map(|r| r.state)
}

fn cap(limit: i64) -> Debit {
    Debit {
        key: "b1/cap:c1:d:2026-11-22".into(),
        amount: 1,
        limit,
        is_money: false,
        expires_at: Some(t0() + Duration::days(2)),
        credit_key: None,
    }
}

fn spend(limit: i64) -> Debit {
    Debit {
        key: "b1/spend:c1:d:2026-11-22".into(),
        amount: 1000,
        limit,
        is_money: true,
        expires_at: Some(t0() + Duration::days(2)),
        credit_key: None,
    }
}

async fn reserve<S: Store + ?Sized>(s: &S, r: SaleReservation) -> ReserveOutcome {
    s.reserve_sale(r).await.expect("reserve")
}

async fn counters<S: Store + ?Sized>(s: &S) -> Vec<i64> {
    s.read_counters(vec![cap(0).key, spend(0).key]).await.expect("counters")
}

fn balance(limit: i64) -> Debit {
    let b1 = BuyerId::new("b1");
    Debit {
        key: pingpost_core::caps::balance_key(&b1),
        amount: 1000,
        limit,
        is_money: true,
        expires_at: None,
        credit_key: Some(pingpost_core::caps::credit_key(&b1)),
    }
}

/// A return of `sale_id` by `buyer` at `at`: 7-day window, 100 % rate, approved at once,
/// clawing the payout back.
fn return_of(sale_id: &str, buyer: &str, at: Timestamp, token: &str) -> ReturnRequest {
    ReturnRequest {
        sale_id: sale_id.into(),
        buyer: BuyerId::new(buyer),
        reason: "invalid_contact".into(),
        claw_back: true,
        note: Some("bounced".into()),
        window: days(7),
        max_rate: 10_000,
        approve: true,
        at,
        token: token.into(),
    }
}

async fn open<S: Store + ?Sized>(s: &S, r: ReturnRequest) -> ReturnOutcome {
    s.open_return(r).await.expect("open return")
}

fn opened(o: ReturnOutcome) -> ReturnRecord {
    match o {
        ReturnOutcome::Opened(r) => *r,
        other => panic!("expected an opened return, got {other:?}"),
    }
}

/// Sells `n` sales of b1's (`<prefix>0`..), each to its own consumer, at `at` for 10.00,
/// taking the balance.
async fn sell_many<S: Store + ?Sized>(s: &S, prefix: &str, n: usize, at: Timestamp) -> Vec<SaleReservation> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i}");
        let r = reservation(&id, vec![email(&id)], Some(days(30)), vec![balance(1_000_000)], at);
        assert_eq!(reserve(s, r.clone()).await, ReserveOutcome::Reserved);
        sold(s, &r, 1000, at).await;
        out.push(r);
    }
    out
}
