//! Bounded waits for tests of real processes: a hang fails saying what was awaited, and
//! nothing sleeps to synchronize except the pacing of a poll.

use std::time::Duration;
use tokio::time::Instant;

/// Awaits `what` for at most `bound`, or fails saying what did not happen.
pub async fn within<T>(bound: Duration, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(bound, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {bound:?}"),
    }
}

/// Probes every 100 ms until `probe` answers `Ok`, for at most `bound`; then fails with
/// `what` and the probe's last answer.
pub async fn eventually<T>(bound: Duration, what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: not within {bound:?}; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await, // poll pacing
        }
    }
}
