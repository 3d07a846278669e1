//! The ids the engine makes, injected like the [`clock`](crate::clock) so that a test can pin
//! them: the whole-auction fixtures (`tests/fixtures/auction/`) compare answers, audit
//! entries and ledger entries exactly.
//!
//! A ping's id is the only random draw of a ping: its bids' ids derive from it
//! (`<ping id>-<n>`), and so do its sales' (a sale's id is its bid's). The other ids are
//! tokens: a claim's holder (an idempotent ping's, a post's), a configuration edit's revision,
//! a top-up's or a return's id when the operator gave none. (Left out on purpose: the
//! console's session ids and nonces, which must stay unguessable in every build, and the
//! revisions written before an engine exists or by the secrets' own store.)

use std::sync::atomic::{AtomicU64, Ordering};

pub trait Ids: Send + Sync + 'static {
    /// A new ping's id: 32 lower-case hex digits, unguessable in production (a bid means
    /// something only inside its ping, and its id is the unguessable part).
    fn ping_id(&self) -> String;
    /// Any other id: a claim's holder, a write's revision, a top-up's or a return's id.
    fn token(&self) -> String;
}

/// Production: a random (version 4) UUID's 32 hex digits for every id.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl Ids for RandomIds {
    /// Written without the formatting machinery (per ping: issue 13's profile found a
    /// thousand instructions per `format!`).
    fn ping_id(&self) -> String {
        String::from(&*uuid::Uuid::new_v4().simple().encode_lower(&mut uuid::Uuid::encode_buffer()))
    }

    fn token(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

/// Tests: ids counted from 1, pings and tokens apart, each 32 hex digits — the seed's 8, then
/// `0` for a ping or `f` for a token, then the count in 23. With seed 0 the third ping is
/// `00000000000000000000000000000003` and the first token `00000000f00000000000000000000001`.
/// One atomic add per id, no lock.
#[derive(Debug, Default)]
pub struct SequentialIds {
    seed: u32,
    pings: AtomicU64,
    tokens: AtomicU64,
}

impl SequentialIds {
    pub fn new(seed: u32) -> Self {
        SequentialIds { seed, pings: AtomicU64::new(0), tokens: AtomicU64::new(0) }
    }

    fn next(&self, counter: &AtomicU64, mark: char) -> String {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{:08x}{mark}{n:023x}", self.seed)
    }
}

impl Ids for SequentialIds {
    fn ping_id(&self) -> String {
        self.next(&self.pings, '0')
    }

    fn token(&self) -> String {
        self.next(&self.tokens, 'f')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(id: &str) -> bool {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn random_ids_are_32_hex_digits_and_differ() {
        let ids = RandomIds;
        let (a, b) = (ids.ping_id(), ids.ping_id());
        assert!(hex32(&a) && hex32(&b) && a != b, "{a} {b}");
        assert!(hex32(&ids.token()));
    }

    #[test]
    fn sequential_ids_count_pings_and_tokens_apart() {
        let ids = SequentialIds::new(0);
        assert_eq!(ids.ping_id(), "00000000000000000000000000000001");
        assert_eq!(ids.token(), "00000000f00000000000000000000001");
        assert_eq!(ids.ping_id(), "00000000000000000000000000000002");
        let seeded = SequentialIds::new(0xabc);
        assert_eq!(seeded.ping_id(), "00000abc000000000000000000000001");
        assert!(hex32(&seeded.token()));
    }
}
