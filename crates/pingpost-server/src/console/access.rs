//! Who may use the console: sessions that still stand in the store, and a bound on how
//! often one address may guess the operator token.

use super::session::{self, Session};
use crate::AppState;
use axum::http::HeaderMap;
use pingpost_core::Timestamp;
use pingpost_store::Blobs;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Where the current sessions' epoch is kept (a blob; absent means the first epoch).
const EPOCH_KEY: &str = "console:epoch";
/// The epoch of a store that never had "sign out everywhere".
const FIRST_EPOCH: &str = "0";
/// How long an epoch is kept: far past any session's life, so a lapsed one only ends
/// sessions that ended long ago anyway.
const EPOCH_KEEP: chrono::Duration = chrono::Duration::days(366);

fn revoked_key(nonce: &str) -> String {
    format!("console:revoked:{nonce}")
}

/// Failed sign-ins one address may make per [`SIGN_IN_WINDOW_SECS`]; past it, the next
/// attempts are refused unread until the window ends. Generous for a person mistyping,
/// useless for guessing a token of 24 characters or more.
pub const SIGN_IN_ATTEMPTS: u32 = 5;
pub const SIGN_IN_WINDOW_SECS: i64 = 60;
/// Addresses tracked at most: past it, the windows that ended are forgotten first.
const TRACKED_ADDRESSES: usize = 10_000;

/// The console's state on one node.
#[derive(Debug, Default)]
pub struct ConsoleState {
    /// Send the session cookie with `Secure` (deployments behind TLS).
    pub secure_cookie: bool,
    failed: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since_unix: i64,
    count: u32,
}

impl ConsoleState {
    pub fn new(secure_cookie: bool) -> Self {
        ConsoleState { secure_cookie, ..ConsoleState::default() }
    }

    /// Seconds until `addr` may try again, if it used up its failed attempts.
    pub fn sign_in_blocked(&self, addr: IpAddr, now_unix: i64) -> Option<i64> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        let f = failed.get(&addr)?;
        let ends = f.since_unix + SIGN_IN_WINDOW_SECS;
        (f.count >= SIGN_IN_ATTEMPTS && ends > now_unix).then_some(ends - now_unix)
    }

    pub fn sign_in_failed(&self, addr: IpAddr, now_unix: i64) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.len() >= TRACKED_ADDRESSES && !failed.contains_key(&addr) {
            failed.retain(|_, f| f.since_unix + SIGN_IN_WINDOW_SECS > now_unix);
            if failed.len() >= TRACKED_ADDRESSES {
                // Every tracked address is inside its window: an attack from many addresses.
                // Forgetting one at random would let it through, so the newcomer is tracked
                // in place of the oldest window.
                if let Some(oldest) = failed.iter().min_by_key(|(_, f)| f.since_unix).map(|(a, _)| *a) {
                    failed.remove(&oldest);
                }
            }
        }
        let f = failed.entry(addr).or_insert(Failures { since_unix: now_unix, count: 0 });
        if f.since_unix + SIGN_IN_WINDOW_SECS <= now_unix {
            *f = Failures { since_unix: now_unix, count: 0 };
        }
        f.count += 1;
    }

    pub fn sign_in_succeeded(&self, addr: IpAddr) {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).remove(&addr);
    }
}

/// The signed-in session's cookie value, if the request carries one that is signed, unexpired
/// and still standing in the store. A store that cannot say counts as "no": the console fails
/// closed.
pub async fn signed_in<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    let value = session::from_headers(headers)?;
    let s = session::verify(&state.admin_token, value, state.engine.now().timestamp())?;
    standing(&**state.engine.store(), state.engine.now(), &s).await.then_some(value)
}

/// Whether the session is of the current epoch and not revoked, as the blobs say at `now`.
async fn standing(blobs: &dyn Blobs, now: Timestamp, s: &Session<'_>) -> bool {
    let (epoch, revoked) =
        futures_util::future::join(blobs.get_blob(EPOCH_KEY.into(), now), blobs.get_blob(revoked_key(s.nonce), now))
            .await;
    match (epoch, revoked) {
        (Ok(epoch), Ok(None)) => epoch.as_deref().unwrap_or(FIRST_EPOCH.as_bytes()) == s.epoch.as_bytes(),
        (Ok(_), Ok(Some(_))) => false,
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "console session not checked: the store is unavailable");
            false
        }
    }
}

/// The epoch new sessions are issued in.
pub async fn current_epoch(state: &AppState) -> Result<String, pingpost_store::StoreError> {
    let stored = state.engine.store().get_blob(EPOCH_KEY.into(), state.engine.now()).await?;
    Ok(stored.map_or_else(|| FIRST_EPOCH.to_string(), |b| String::from_utf8_lossy(&b).into_owned()))
}

/// Ends one session on every node, wherever its cookie was copied to.
pub async fn revoke(state: &AppState, s: &Session<'_>) -> Result<(), pingpost_store::StoreError> {
    let now = state.engine.now();
    let until = Timestamp::from_timestamp(s.expires_unix, 0).unwrap_or(now) + chrono::Duration::seconds(1);
    state.engine.store().put_blob(revoked_key(s.nonce), b"1".to_vec(), now, until.max(now)).await
}

/// Ends every session on every node: "sign out everywhere".
pub async fn new_epoch(state: &AppState) -> Result<(), pingpost_store::StoreError> {
    let now = state.engine.now();
    state.engine.store().put_blob(EPOCH_KEY.into(), session::new_epoch().into_bytes(), now, now + EPOCH_KEEP).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_off_after_its_failed_attempts_until_its_window_ends() {
        let console = ConsoleState::default();
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        for _ in 0..SIGN_IN_ATTEMPTS {
            assert_eq!(console.sign_in_blocked(a, 100), None);
            console.sign_in_failed(a, 100);
        }
        assert_eq!(console.sign_in_blocked(a, 110), Some(SIGN_IN_WINDOW_SECS - 10));
        assert_eq!(console.sign_in_blocked(b, 110), None, "another address is not held off");
        assert_eq!(console.sign_in_blocked(a, 100 + SIGN_IN_WINDOW_SECS), None, "the window ended");
        console.sign_in_failed(a, 100 + SIGN_IN_WINDOW_SECS);
        assert_eq!(console.sign_in_blocked(a, 100 + SIGN_IN_WINDOW_SECS), None, "a new window starts");
        console.sign_in_succeeded(a);
        assert_eq!(console.sign_in_blocked(a, 100 + SIGN_IN_WINDOW_SECS), None);
    }
}
