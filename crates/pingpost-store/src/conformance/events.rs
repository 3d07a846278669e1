//! What every [`EventOutbox`] must do: events wait in order until the log holds them, each
//! once however often it is queued.

use super::*;
use crate::events::{EventOutbox, QueuedEvent};
use pingpost_core::events::LogEvent;

/// Runs every check of the concern, each on a fresh (empty) store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventOutbox,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    events_wait_in_order_until_done_and_each_once(&*make().await).await;
}

/// An event of the outbox under `id` (a node's counters: the smallest event there is).
fn queued(id: &str, secs: i64) -> QueuedEvent {
    let at = t0() + Duration::seconds(secs);
    let event = LogEvent::Counts { id: format!("counts-of-{id}"), at, rows: Vec::new() };
    QueuedEvent { id: id.into(), at, event: Ok(Arc::new(event)) }
}

async fn events_wait_in_order_until_done_and_each_once<S: EventOutbox + ?Sized>(s: &S) {
    // Many, so that a store keeping them apart (Redis shards) merges them back in order.
    let events: Vec<QueuedEvent> = (0..40).map(|i| queued(&format!("ping-{i:02}"), 40 - i)).collect();
    s.queue_events(events.clone()).await.expect("queue");
    let other = LogEvent::Counts { id: "another".into(), at: events[3].at, rows: Vec::new() };
    let again = QueuedEvent { event: Ok(Arc::new(other)), ..events[3].clone() };
    s.queue_events(vec![again]).await.expect("queue again");
    let oldest = s.queued_events(5).await.expect("read");
    let ids: Vec<&str> = oldest.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["ping-39", "ping-38", "ping-37", "ping-36", "ping-35"], "oldest first");
    let all = s.queued_events(100).await.expect("read");
    assert_eq!(all.len(), 40, "queued twice, waiting once");
    assert_eq!(all.iter().find(|e| e.id == "ping-03"), Some(&events[3]), "the first event is kept");
    let done: Vec<(String, Timestamp)> = oldest.iter().map(|e| (e.id.clone(), e.at)).collect();
    s.events_done(done.clone()).await.expect("done");
    s.events_done(done).await.expect("done twice is harmless");
    let left = s.queued_events(100).await.expect("read");
    assert_eq!(left.len(), 35);
    assert_eq!(left[0].id, "ping-34");
}
