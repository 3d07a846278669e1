//! Every failpoint, with every way it can fail, on every store — then the whole store is
//! checked against the sale guarantees.
//!
//! One scenario walks through every step boundary of admission, reservation, delivery and
//! settlement: an exclusive ping (with a DQ buyer) posted with fewer identifiers than it was
//! pinged with, falling from a rejecting buyer to one answering "duplicate" to one accepting,
//! then a multisell ping filled in parallel, then repeats of both posts. A fault-free run
//! first learns how often each failpoint is reached; then, for every failpoint, every
//! [`Fault`] and each of its first three reaches, the scenario runs again with that one fault
//! armed, recovering as a partner would (retrying errors, re-posting after the claim's
//! lease), and ends with a sweep and these checks:
//! - the fault fired (so the test cannot pass by never reaching its point);
//! - `pingpost_store::invariants` hold over the whole store (no consumer sold twice to one
//!   buyer, no ping over its slots, counters exact, marks under every identifier, no
//!   reservation left past its lease);
//! - no sale was delivered twice, and a repeated post answers what the first one did;
//! - a ping answered with an error (not a crash) has its retry accepted, after at most the
//!   60 s its pending vertical marks may live.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use pingpost_store::Fault;
use pingpost_testkit::{RedisCluster, RedisServer};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Failpoints of the trait's methods and of the engine, on the path of the scenario.
const STORE_POINTS: &[&str] = &[
    "store.admit",
    "store.read_counters",
    "store.record_dq",
    "store.confirm_admission",
    "store.put_blob",
    "store.get_blob",
    "store.claim",
    "store.reserve_sale",
    "store.settle_sale",
    "store.complete_claim",
    "post.delivered",
];

/// Failpoints of each script of the Redis store's multi-step operations.
const REDIS_POINTS: &[&str] = &[
    "redis.admit.email",
    "redis.admit.phone",
    "redis.record_dq.email",
    "redis.record_dq.phone",
    "redis.confirm.email",
    "redis.confirm.phone",
    "redis.claim",
    "redis.reserve_sale",
    "redis.settle_sale",
    "redis.complete_claim",
];

/// Reaches of one point tried, from the first.
const REACHES: u32 = 3;

fn config() -> String {
    let mut c = base_config();
    c.push_str("\n[[buyers]]\nid = \"b6\"\npost_url = \"{buyers}/b6/post\"\ntimeout_ms = 1000\nbalance = \"100.00\"\n");
    let caps = "caps = { daily = 5, daily_spend = \"100.00\", time_zone = \"America/New_York\" }";
    c.push_str(&contract("x-b1", "b1", "auto-excl", "20.00", caps));
    c.push_str(&contract("x-b6", "b6", "auto-excl", "15.00", ""));
    c.push_str(&contract("x-b3", "b3", "auto-excl", "10.00", ""));
    let dq = "dq = { url = \"{buyers}/b4/dq\", window_days = 30, timeout_ms = 500 }";
    c.push_str(&contract("x-b4", "b4", "auto-excl", "25.00", dq));
    c.push_str(&contract("m-b1", "b1", "auto-multi", "12.00", caps));
    c.push_str(&contract("m-b6", "b6", "auto-multi", "11.00", ""));
    c.push_str(&contract("m-b3", "b3", "auto-multi", "10.00", ""));
    c
}

#[derive(Clone, Copy, Debug)]
struct Armed {
    point: &'static str,
    fault: Fault,
    skip: u32,
}

/// What a scenario run saw.
struct Run {
    reached: HashMap<&'static str, u64>,
    /// Each post's final answer: attempts as (buyer, outcome), sales as (buyer, status).
    answers: Vec<Answer>,
}

type Answer = (Vec<(String, String)>, Vec<(String, String)>);

fn answer_of(post: &Value) -> Answer {
    let pairs = |list: &str, a: &str, b: &str| -> Vec<(String, String)> {
        post[list]
            .as_array()
            .map(|xs| {
                xs.iter()
                    .map(|x| (x[a].as_str().unwrap_or("").to_string(), x[b].as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    (pairs("attempts", "buyer", "outcome"), pairs("sales", "buyer", "status"))
}

async fn harness(backend: &Backend) -> Harness {
    let h = Harness::start_on(backend.clone(), &config()).await;
    h.buyers.update("b1", |b| b.post = PostReply::Reject);
    h.buyers.update("b6", |b| b.post = PostReply::Duplicate);
    h.buyers.update("b4", |b| b.disqualify = true);
    h
}

/// Pings until answered, as a partner would; a ping answered with an error must not turn
/// its own retry away once its pending marks' lease (60 s) is over.
async fn ping_until_answered(h: &Harness, offer: &str, lead: Value, armed: Option<Armed>) -> Value {
    let (mut errored, mut waited) = (false, false);
    for _ in 0..6 {
        let (status, answer) = h.ping_as(KEY_P1, offer, lead.clone()).await;
        match status {
            200 if errored && answer["reason"] == "vertical_duplicate" && !waited => {
                h.advance_secs(61).await;
                waited = true;
            }
            200 => {
                let crashed = armed.is_some_and(|a| a.fault == Fault::Abort);
                if errored && !crashed {
                    assert_eq!(answer["status"], "accepted", "{armed:?}: the retry of an errored ping: {answer}");
                }
                return answer;
            }
            500 | 503 => errored = true,
            other => panic!("{armed:?}: ping answered {other}: {answer}"),
        }
    }
    panic!("{armed:?}: ping never answered")
}

/// Posts until answered: an error is retried, a post in flight (its holder died, or its
/// answer could not be stored) is re-posted once its claim's lease ran out.
async fn post_until_answered(h: &Harness, ping_id: &str, lead: Value, armed: Option<Armed>) -> Value {
    for _ in 0..8 {
        let (status, answer) = h.post_as(KEY_P1, ping_id, lead.clone()).await;
        match status {
            200 => return answer,
            409 => h.advance_secs(40).await,
            500 | 503 => {}
            other => panic!("{armed:?}: post answered {other}: {answer}"),
        }
    }
    panic!("{armed:?}: post never answered")
}

fn sales(post: &Value) -> Vec<(String, String)> {
    post["sales"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|x| {
                    (x["sale_id"].as_str().unwrap_or("").to_string(), x["status"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// No sale reached its buyer twice, whatever failed.
fn assert_delivered_once(h: &Harness, armed: Option<Armed>) {
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for r in h.buyers.received().into_iter().filter(|r| r.kind == "post") {
        *delivered.entry(r.body["sale_id"].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    assert!(delivered.values().all(|n| *n == 1), "{armed:?}: a sale delivered twice: {delivered:?}");
}

/// Runs the scenario; with `expected`, the posts must end as they did without faults (a
/// fault that is not a crash is retried through, so it must change nothing).
async fn scenario(
    backend: &Backend,
    armed: Option<Armed>,
    points: &[&'static str],
    expected: Option<&[Answer]>,
) -> Run {
    let h = harness(backend).await;
    if let Some(a) = armed {
        h.faults.arm(a.point, a.fault, 1, a.skip);
    }
    let x = lead(Some("faulty.x@example.com"), Some("(415) 555-0111"));
    let x_email_only = lead(Some("faulty.x@example.com"), None);
    let y = lead(Some("faulty.y@example.com"), Some("(415) 555-0122"));
    let mut posts = Vec::new();
    for (offer, pinged, posted) in [("auto-excl", &x, &x_email_only), ("auto-multi", &y, &y)] {
        let ping = ping_until_answered(&h, offer, pinged.clone(), armed).await;
        if ping["status"] == "accepted" {
            let ping_id = ping["ping_id"].as_str().unwrap().to_string();
            let post = post_until_answered(&h, &ping_id, posted.clone(), armed).await;
            posts.push((ping_id, posted.clone(), post));
        }
    }
    for (ping_id, posted, first) in &posts {
        let again = post_until_answered(&h, ping_id, posted.clone(), armed).await;
        assert_eq!(sales(&again), sales(first), "{armed:?}: a repeated post answers the first one's sales");
    }
    h.engine.quiesce().await;
    if let Some(a) = armed {
        assert_eq!(h.faults.fired(a.point), 1, "{a:?}: the fault never fired");
    }
    assert_delivered_once(&h, armed);
    h.advance_secs(120).await;
    h.engine.sweep().await.unwrap();
    h.assert_guarantees(&format!("{armed:?}"), Some(h.engine.now())).await;
    let answers: Vec<Answer> = posts.iter().map(|(_, _, post)| answer_of(post)).collect();
    if let Some(expected) = expected {
        assert_eq!(answers, expected, "{armed:?}: a fault that is not a crash changed what was sold");
    }
    Run { reached: points.iter().map(|p| (*p, h.faults.reached(p))).collect(), answers }
}

/// Runs the matrix on one store; every failing combination is reported, not only the first.
async fn every_failpoint(backend: Backend, points: Vec<&'static str>) {
    let dry = scenario(&backend, None, &points, None).await;
    assert_eq!(dry.answers.len(), 2, "both posts ran");
    let off_path: Vec<&&str> = points.iter().filter(|p| dry.reached[*p] == 0).collect();
    assert!(off_path.is_empty(), "failpoints the scenario never reaches: {off_path:?}");
    let mut failures = Vec::new();
    let mut runs = 0;
    for point in &points {
        let faults: &[Fault] = if *point == "post.delivered" { &[Fault::Abort] } else { &Fault::ALL };
        let reaches = u32::try_from(dry.reached[point]).unwrap_or(u32::MAX).min(REACHES);
        for fault in faults {
            for skip in 0..reaches {
                let armed = Armed { point, fault: *fault, skip };
                let (backend, points) = (backend.clone(), points.clone());
                let expected = (*fault != Fault::Abort).then(|| dry.answers.clone());
                runs += 1;
                let run = async move { scenario(&backend, Some(armed), &points, expected.as_deref()).await };
                if let Err(e) = tokio::spawn(run).await {
                    failures.push(format!("{armed:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {runs} fault runs broke a guarantee:\n{}", failures.len(), failures.join("\n"));
}

fn with_redis_points() -> Vec<&'static str> {
    STORE_POINTS.iter().chain(REDIS_POINTS).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failpoint_on_the_embedded_store() {
    every_failpoint(Backend::Memory, STORE_POINTS.to_vec()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failpoint_on_redis() {
    let server = RedisServer::start();
    every_failpoint(Backend::Shared(server.url()), with_redis_points()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failpoint_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    every_failpoint(Backend::Shared(cluster.urls()), with_redis_points()).await;
}

/// One post taken over from a holder that died after delivering (`post.delivered` aborts),
/// with `armed` failing a step of the take-over: the partner's retries see it through, the
/// lead reaches its buyer once, and the whole store keeps every guarantee.
async fn taken_over(backend: &Backend, armed: Armed) {
    let h = harness(backend).await;
    h.faults.arm("post.delivered", Fault::Abort, 1, 0);
    h.faults.arm(armed.point, armed.fault, 1, armed.skip);
    let x = lead(Some("taken.over@example.com"), Some("(415) 555-0144"));
    let ping = ping_until_answered(&h, "auto-excl", x.clone(), None).await;
    let post = post_until_answered(&h, ping["ping_id"].as_str().unwrap(), x.clone(), Some(armed)).await;
    assert_eq!(h.faults.fired("post.delivered"), 1, "{armed:?}: the first holder died after delivering");
    assert_eq!(h.faults.fired(armed.point), 1, "{armed:?}: the fault never fired");
    // The first holder died right after delivering to the best bid (b1's, before its
    // answer was read): the holder that took over keeps that sale as unconfirmed.
    assert_eq!(answer_of(&post).1, [("b1".to_string(), "unconfirmed".to_string())], "{armed:?}: {post}");
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for r in h.buyers.received().into_iter().filter(|r| r.kind == "post") {
        *delivered.entry(r.body["sale_id"].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    assert_eq!(delivered.values().copied().collect::<Vec<_>>(), [1], "{armed:?}: delivered once: {delivered:?}");
    h.engine.quiesce().await;
    h.advance_secs(600).await;
    h.engine.sweep().await.unwrap();
    h.assert_guarantees(&format!("{armed:?}"), Some(h.engine.now())).await;
}

/// Every way a post's take-over can fail, at each of its steps: the take-over as one call,
/// and on Redis each fence it writes in a bid's buyer slot (`redis.fence`, one per bid).
async fn every_take_over_fault(backend: Backend, points: &[&'static str]) {
    let mut failures = Vec::new();
    for point in points {
        let reaches = if *point == "redis.fence" { 2 } else { 1 };
        for fault in Fault::ALL {
            for skip in 0..reaches {
                let armed = Armed { point, fault, skip };
                let backend = backend.clone();
                if let Err(e) = tokio::spawn(async move { taken_over(&backend, armed).await }).await {
                    failures.push(format!("{armed:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "take-over faults broke a guarantee:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_take_over_fault_on_the_embedded_store() {
    every_take_over_fault(Backend::Memory, &["store.take_over"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_take_over_fault_on_redis() {
    let server = RedisServer::start();
    every_take_over_fault(Backend::Shared(server.url()), &["store.take_over", "redis.fence"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_take_over_fault_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    every_take_over_fault(Backend::Shared(cluster.urls()), &["store.take_over", "redis.fence"]).await;
}

/// b1 (prepaid 500.00, its returns approved at once) buys on auto-excl, b2 (its returns left
/// for an operator) on auto-2; b3's contract on auto-excl takes the sale the sweep keeps.
fn returns_config() -> String {
    let mut c = base_config()
        .replace(
            "id = \"b1\"\npost_url",
            "id = \"b1\"\nbalance = \"500.00\"\nreturns = { max_rate_percent = \"100.00\" }\npost_url",
        )
        .replace(
            "id = \"b2\"\npost_url",
            "id = \"b2\"\nreturns = { auto_approve = false, max_rate_percent = \"100.00\" }\npost_url",
        );
    c.push_str(&contract("r-b1", "b1", "auto-excl", "20.00", ""));
    c.push_str(&contract("r-b2", "b2", "auto-2", "15.00", ""));
    c.push_str(&contract("r-b3", "b3", "auto-excl", "10.00", ""));
    c
}

/// Runs `step` until it answers, as a buyer, an operator or the next sweep would: an error
/// or a crashed request (`Fault::Abort` panics its task) is tried again; answers what the
/// last try answered.
async fn until_answered<T, F, Fut>(step: F) -> Result<T, pingpost_engine::EngineError>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, pingpost_engine::EngineError>> + Send + 'static,
{
    for _ in 0..3 {
        match tokio::spawn(step()).await {
            Ok(Err(pingpost_engine::EngineError::Store(_))) | Err(_) => continue,
            Ok(answer) => return answer,
        }
    }
    tokio::spawn(step()).await.expect("a third try does not crash")
}

/// A sale returned at once (b1's), one returned pending and approved by an operator (b2's),
/// and a reservation whose engine died kept as unconfirmed by the sweep (b3's), with `armed`
/// failing one step of them (or none): however each call failed, the retries see it through,
/// each refund reaches the buyer and the books once, the sweep's charge is in the books once,
/// the whole store keeps every guarantee and reconciliation finds nothing, to the cent.
/// Answers how often each point was reached.
async fn returned_and_swept(
    backend: &Backend,
    armed: Option<Armed>,
    points: &[&'static str],
) -> HashMap<&'static str, u64> {
    use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
    use pingpost_engine::returns::{ReturnAsk, Returner};
    use pingpost_store::{LedgerQuery, LedgerState, SaleRecord, SaleReservation};
    let h = Arc::new(Harness::start_on(backend.clone(), &returns_config()).await);
    let (_, post) = h.sell("auto-excl", lead(Some("returned.at.once@example.com"), None)).await;
    let at_once = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    let (_, post) = h.sell("auto-2", lead(Some("returned.later@example.com"), None)).await;
    let later = post["sales"][0]["sale_id"].as_str().unwrap().to_string();
    let now = h.engine.now();
    let lapsed = SaleReservation {
        idents: vec![pingpost_core::identity::Ident {
            kind: pingpost_core::identity::IdentKind::Email,
            hash: pingpost_core::identity::Sha256Hex::digest("kept.unconfirmed@example.com"),
        }],
        window: pingpost_core::window::WindowDays::new(30).ok(),
        debits: Vec::new(),
        slots: 1,
        record: SaleRecord {
            sale_id: "swept-0".into(),
            ping_id: "swept".into(),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("auto-excl"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b3"),
            contract: ContractId::new("r-b3"),
            price: pingpost_core::money::Money::from_minor(1000),
            payout: pingpost_core::money::Money::from_minor(900),
            reserved_at: now,
            state: LedgerState::Reserved,
            holder: "died".into(),
            lease_until: now + chrono::Duration::minutes(1),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        },
    };
    h.engine.store().reserve_sale(lapsed).await.unwrap();
    if let Some(a) = armed {
        h.faults.arm(a.point, a.fault, 1, a.skip);
    }

    let open = |sale_id: &str| {
        let (h, ask) = (
            h.clone(),
            ReturnAsk {
                sale_id: sale_id.to_string(),
                reason: "invalid_contact".into(),
                note: None,
                token: format!("return-of-{sale_id}"),
            },
        );
        move || {
            let (h, ask) = (h.clone(), ask.clone());
            async move { h.engine.open_return(Returner::Operator, ask).await }
        }
    };
    let approved = until_answered(open(&at_once)).await.unwrap();
    assert_eq!(approved.status.as_str(), "approved", "{armed:?}");
    let pending = until_answered(open(&later)).await.unwrap();
    let decide = {
        let (h, id) = (h.clone(), pending.return_id.clone());
        move || {
            let (h, id) = (h.clone(), id.clone());
            async move { h.engine.decide_return(&id, true, None).await }
        }
    };
    match until_answered(decide).await {
        // Decided by a try whose answer was lost.
        Ok(_) | Err(pingpost_engine::EngineError::Conflict { code: "already_decided", .. }) => {}
        Err(e) => panic!("{armed:?}: the decision failed: {e}"),
    }
    h.advance_secs(120).await;
    let sweep = {
        let h = h.clone();
        move || {
            let h = h.clone();
            async move { h.engine.sweep().await }
        }
    };
    until_answered(sweep).await.unwrap();

    if let Some(a) = armed {
        assert_eq!(h.faults.fired(a.point), 1, "{a:?}: the fault never fired");
    }
    let state = |id: &str| {
        let h = h.clone();
        let id = id.to_string();
        async move { h.engine.store().ledger(LedgerQuery::Sale(id)).await.unwrap().pop().map(|r| r.state) }
    };
    assert_eq!(state(&at_once).await, Some(LedgerState::Returned), "{armed:?}");
    assert_eq!(state(&later).await, Some(LedgerState::Returned), "{armed:?}");
    assert_eq!(state("swept-0").await, Some(LedgerState::Unconfirmed), "{armed:?}");
    let credit = h.engine.balance(&BuyerId::new("b1")).await.unwrap().credit;
    assert_eq!(credit, pingpost_core::money::Money::from_minor(2000), "{armed:?}: b1 refunded once");
    h.engine.relay_books().await.unwrap();
    for (sale_id, kinds) in [
        (at_once.as_str(), vec!["payout_clawback", "return_refund", "sale"]),
        (later.as_str(), vec!["payout_clawback", "return_refund", "sale"]),
        ("swept-0", vec!["sale"]),
    ] {
        let q = pingpost_books::EntryQuery { sale_id: Some(sale_id.into()), limit: 100, ..Default::default() };
        let mut held: Vec<String> =
            h.engine.books().entries(q).await.unwrap().entries.iter().map(|e| e.kind.as_str().to_string()).collect();
        held.sort();
        assert_eq!(held, kinds, "{armed:?}: {sale_id}'s books entries, each once");
    }
    let report = h.engine.reconcile().await.unwrap();
    assert!(report.differences.is_empty(), "{armed:?}: reconciliation: {:?}", report.differences);
    h.assert_guarantees(&format!("{armed:?}"), Some(h.engine.now())).await;
    points.iter().map(|p| (*p, h.faults.reached(p))).collect()
}

/// Every fault at each step of a return and of the sweep, at each of its first reaches.
async fn every_return_and_sweep_fault(backend: Backend, points: &'static [&'static str]) {
    every_fault_of(backend, points, |backend, armed, points| Box::pin(returned_and_swept(backend, armed, points)))
        .await;
}

/// A scenario run with one fault armed (or none), answering how often each point was reached.
type Scenario =
    for<'a> fn(
        &'a Backend,
        Option<Armed>,
        &'a [&'static str],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = HashMap<&'static str, u64>> + Send + 'a>>;

/// Runs `scenario` once without faults to learn each point's reaches, then once per point,
/// fault and each of its first reaches; every failing combination is reported.
async fn every_fault_of(backend: Backend, points: &'static [&'static str], scenario: Scenario) {
    let reached = scenario(&backend, None, points).await;
    let off_path: Vec<&&str> = points.iter().filter(|p| reached[*p] == 0).collect();
    assert!(off_path.is_empty(), "failpoints the scenario never reaches: {off_path:?}");
    let mut failures = Vec::new();
    for point in points {
        for fault in Fault::ALL {
            for skip in 0..u32::try_from(reached[point]).unwrap_or(u32::MAX).min(REACHES) {
                let armed = Armed { point, fault, skip };
                let backend = backend.clone();
                let run = async move { scenario(&backend, Some(armed), &[]).await };
                if let Err(e) = tokio::spawn(run).await {
                    failures.push(format!("{armed:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "faults broke a guarantee:\n{}", failures.join("\n"));
}

const RETURN_POINTS: &[&str] = &["store.open_return", "store.decide_return", "store.sweep"];
const REDIS_RETURN_POINTS: &[&str] = &[
    "store.open_return",
    "store.decide_return",
    "store.sweep",
    "redis.open_return",
    "redis.decide_return",
    "redis.sweep_ledger",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_return_and_sweep_fault_on_the_embedded_store() {
    every_return_and_sweep_fault(Backend::Memory, RETURN_POINTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_return_and_sweep_fault_on_redis() {
    let server = RedisServer::start();
    every_return_and_sweep_fault(Backend::Shared(server.url()), REDIS_RETURN_POINTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_return_and_sweep_fault_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    every_return_and_sweep_fault(Backend::Shared(cluster.urls()), REDIS_RETURN_POINTS).await;
}

/// Repeats after 14 days on `auto` (window 30): b1's contract takes them at 40 %, b2's does not.
fn repeats_config() -> String {
    let mut c = base_config().replace(
        "id = \"auto\"\ndedup_window_days = 30",
        "id = \"auto\"\ndedup_window_days = 30\nrepeat_after_days = 14",
    );
    let repeat = "repeat = { after_days = 14, price = { percent = \"40.00\" } }";
    c.push_str(&contract("r-b1", "b1", "auto-excl", "20.00", repeat));
    c.push_str(&contract("r-b2", "b2", "auto-excl", "10.00", ""));
    c
}

/// A consumer sold to b1, back 15 days later as a vertical repeat that b1 buys again at its
/// repeat price, then pinged once more (a duplicate of the repeat: the repeat moved its last
/// submission), with `armed` failing one step of it (or none). However each call failed, the
/// partner's retries see it through: no lead reaches its buyer twice, b1 holds exactly two
/// standing sales of the consumer (sold, or unconfirmed when a crash lost a reservation's
/// outcome), the second a repeat, and the whole store keeps every guarantee,
/// the one-repeat-per-after_days rule with them.
async fn repeated(backend: &Backend, armed: Option<Armed>, points: &[&'static str]) -> HashMap<&'static str, u64> {
    let h = Harness::start_on(backend.clone(), &repeats_config()).await;
    if let Some(a) = armed {
        h.faults.arm(a.point, a.fault, 1, a.skip);
    }
    let x = lead(Some("repeat.x@example.com"), Some("(415) 555-0133"));
    let mut answered = std::collections::BTreeSet::new();
    for day in [0, 15] {
        h.advance_days(day).await;
        let ping = ping_until_answered(&h, "auto-excl", x.clone(), armed).await;
        answered.insert(ping["ping_id"].as_str().unwrap().to_string());
        assert_eq!(
            (&ping["status"], ping.get("repeat").is_some()),
            (&Value::from("accepted"), day == 15),
            "{armed:?}: {ping}"
        );
        let post = post_until_answered(&h, ping["ping_id"].as_str().unwrap(), x.clone(), armed).await;
        assert_eq!(sold_to(&post), ["b1"], "{armed:?}: day {day}: {post}");
    }
    h.engine.quiesce().await;
    // A duplicate's retry is a duplicate too: retried until answered, whatever failed.
    let mut again = Value::Null;
    for _ in 0..4 {
        let (status, answer) = h.ping_as(KEY_P1, "auto-excl", x.clone()).await;
        again = answer;
        if status == 200 {
            break;
        }
    }
    assert_eq!(again["reason"], "vertical_duplicate", "{armed:?}: {again}");
    answered.insert(again["ping_id"].as_str().unwrap().to_string());
    h.engine.quiesce().await;
    // A sale whose reservation's outcome was lost is kept as unconfirmed, never delivered again.
    assert_delivered_once(&h, armed);
    h.advance_secs(120).await;
    h.engine.sweep().await.unwrap();
    let snapshot = h.snapshot().await;
    let mut b1: Vec<_> =
        snapshot.sales.values().filter(|s| s.record.buyer.as_str() == "b1" && s.record.state.is_standing()).collect();
    b1.sort_by_key(|s| s.record.reserved_at);
    let repeats: Vec<Option<u16>> = b1.iter().map(|s| s.record.repeat_after.map(|w| w.days())).collect();
    assert_eq!(repeats, [None, Some(14)], "{armed:?}: b1's sales of the consumer");
    // The lead events: each answered ping's reaches the log, whatever failed on the way (a
    // queueing killed after its write left it in the store; a relay pass that failed is run
    // again, as the node's next pass would); the log keeps each once by its ping id.
    for _ in 0..4 {
        let engine = Arc::clone(&h.engine);
        // Its own task: a crashed pass (`Fault::Abort`) ends that task only.
        if let Ok(Ok(_)) = tokio::spawn(async move { engine.relay_events().await }).await {
            break;
        }
    }
    // (Pings answered on the way, a retry's duplicate among them, have events too.)
    let logged: std::collections::BTreeSet<String> = h.events.all().into_iter().map(|e| e.ping_id).collect();
    assert!(answered.is_subset(&logged), "{armed:?}: an answered ping's event is missing: {answered:?} vs {logged:?}");
    if let Some(a) = armed {
        assert_eq!(h.faults.fired(a.point), 1, "{a:?}: the fault never fired");
    }
    h.assert_guarantees(&format!("{armed:?}"), Some(h.engine.now())).await;
    points.iter().map(|p| (*p, h.faults.reached(p))).collect()
}

const REPEAT_POINTS: &[&str] = &[
    "store.admit",
    "store.confirm_admission",
    "store.put_blob",
    "store.reserve_sale",
    "store.settle_sale",
    "store.queue_events",
    "store.queued_events",
    "store.events_done",
];
const REDIS_REPEAT_POINTS: &[&str] = &[
    "store.admit",
    "store.confirm_admission",
    "store.reserve_sale",
    "store.settle_sale",
    "store.queue_events",
    "store.queued_events",
    "store.events_done",
    "redis.admit.email",
    "redis.admit.phone",
    "redis.confirm.email",
    "redis.confirm.phone",
    "redis.reserve_sale",
    "redis.settle_sale",
];

fn repeat_scenario<'a>(
    backend: &'a Backend,
    armed: Option<Armed>,
    points: &'a [&'static str],
) -> std::pin::Pin<Box<dyn std::future::Future<Output = HashMap<&'static str, u64>> + Send + 'a>> {
    Box::pin(repeated(backend, armed, points))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repeat_fault_on_the_embedded_store() {
    every_fault_of(Backend::Memory, REPEAT_POINTS, repeat_scenario).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repeat_fault_on_redis() {
    let server = RedisServer::start();
    every_fault_of(Backend::Shared(server.url()), REDIS_REPEAT_POINTS, repeat_scenario).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repeat_fault_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    every_fault_of(Backend::Shared(cluster.urls()), REDIS_REPEAT_POINTS, repeat_scenario).await;
}
