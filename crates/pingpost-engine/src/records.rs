//! What the engine answers and what it keeps between a ping and its post.

use pingpost_core::auction::Bid;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use serde::{Deserialize, Serialize};

/// How long a ping's record, and its post's answer, outlive the ping's TTL: a late post is
/// told "expired" (410) rather than "unknown", and a repeated post still gets its first answer.
pub const RECORD_GRACE: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PingStatus {
    Accepted,
    Rejected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RejectReason {
    Suppressed,
    VerticalDuplicate,
    NoBids,
}

/// The answer to a ping, whole: the server shows the partner what the offer's disclosure
/// allows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingAnswer {
    pub ping_id: String,
    #[serde(default)]
    pub offer: OfferId,
    pub status: PingStatus,
    pub reason: Option<RejectReason>,
    pub bids: Vec<Bid>,
    pub expires_at: Timestamp,
    pub decision_us: u64,
    /// A test lead's (SPEC "Test leads"): written only when true, so a live answer is as
    /// it always was.
    #[serde(default, skip_serializing_if = "is_false")]
    pub test: bool,
    /// The consumer came back: the ping passed its vertical dedup as a repeat, or a contract
    /// bids on it at its repeat price (those bids say `repeat` too). Written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub repeat: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An idempotency key's answer as it is stored: only what cannot be read again elsewhere,
/// ~60 bytes whatever the number of bids (the whole answer was ~3.5 KB at 30 bids, kept an
/// hour per key: ~25 GB in Redis at 2 000 pings/s). An accepted answer's bids are its ping
/// record's, which holds them as they were ranked until the ping's TTL and grace run out; its
/// offer is the request's own, which the key's fingerprint covers. Stored as a JSON tuple
/// `[ping id, outcome, expires_at (ms), decision_us]`, the outcome `a` accepted, `s`
/// suppressed, `v` vertical duplicate, `n` no bids; a test lead's has a fifth element, `1`;
/// a repeat's a fifth (`1` for a test lead, else `0`) and a sixth, `1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub ping_id: String,
    pub status: PingStatus,
    pub reason: Option<RejectReason>,
    pub expires_at: Timestamp,
    pub decision_us: u64,
    pub test: bool,
    pub repeat: bool,
}

/// An idempotency key's stored answer as any engine since the whole-answer form wrote it.
#[derive(Debug)]
pub enum Remembered {
    Compact(StoredAnswer),
    /// Written whole by an engine before the compact form: read during a rolling upgrade,
    /// for the key's hour.
    Whole(PingAnswer),
}

impl StoredAnswer {
    pub fn of(answer: &PingAnswer) -> Self {
        StoredAnswer {
            ping_id: answer.ping_id.clone(),
            status: answer.status,
            reason: answer.reason,
            expires_at: answer.expires_at,
            decision_us: answer.decision_us,
            test: answer.test,
            repeat: answer.repeat,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let outcome = stored_answer::Outcome::of(self.status, self.reason);
        let (ping_id, expires_ms) = (&self.ping_id, self.expires_at.timestamp_millis());
        if self.repeat {
            let test = u8::from(self.test);
            return serde_json::to_vec(&(ping_id, outcome, expires_ms, self.decision_us, test, 1));
        }
        if self.test {
            return serde_json::to_vec(&(ping_id, outcome, expires_ms, self.decision_us, 1));
        }
        serde_json::to_vec(&(ping_id, outcome, expires_ms, self.decision_us))
    }

    pub fn decode(bytes: &[u8]) -> Result<Remembered, String> {
        use stored_answer::Any;
        let ((ping_id, outcome, expires_ms, decision_us), test, repeat) =
            match serde_json::from_slice(bytes).map_err(|e| e.to_string())? {
                Any::Repeat((ping_id, outcome, expires_ms, decision_us, test, _)) => {
                    ((ping_id, outcome, expires_ms, decision_us), test == 1, true)
                }
                Any::Test((ping_id, outcome, expires_ms, decision_us, _)) => {
                    ((ping_id, outcome, expires_ms, decision_us), true, false)
                }
                Any::Compact(live) => (live, false, false),
                Any::Whole(answer) => return Ok(Remembered::Whole(answer)),
            };
        let (status, reason) = outcome.status();
        let expires_at =
            Timestamp::from_timestamp_millis(expires_ms).ok_or_else(|| format!("time out of range: {expires_ms}"))?;
        Ok(Remembered::Compact(StoredAnswer { ping_id, status, reason, expires_at, decision_us, test, repeat }))
    }

    /// The answer whole again, with its offer and its bids (none for a rejected ping).
    pub fn answer(self, offer: OfferId, bids: Vec<Bid>) -> PingAnswer {
        PingAnswer {
            ping_id: self.ping_id,
            offer,
            status: self.status,
            reason: self.reason,
            bids,
            expires_at: self.expires_at,
            decision_us: self.decision_us,
            test: self.test,
            repeat: self.repeat,
        }
    }
}

mod stored_answer {
    use super::{PingAnswer, PingStatus, RejectReason};
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Copy, Serialize, Deserialize)]
    pub(super) enum Outcome {
        #[serde(rename = "a")]
        Accepted,
        #[serde(rename = "s")]
        Suppressed,
        #[serde(rename = "v")]
        VerticalDuplicate,
        #[serde(rename = "n")]
        NoBids,
    }

    impl Outcome {
        pub(super) fn of(status: PingStatus, reason: Option<RejectReason>) -> Self {
            match (status, reason) {
                (PingStatus::Accepted, _) => Outcome::Accepted,
                (PingStatus::Rejected, Some(RejectReason::Suppressed)) => Outcome::Suppressed,
                (PingStatus::Rejected, Some(RejectReason::VerticalDuplicate)) => Outcome::VerticalDuplicate,
                (PingStatus::Rejected, Some(RejectReason::NoBids) | None) => Outcome::NoBids,
            }
        }

        pub(super) fn status(self) -> (PingStatus, Option<RejectReason>) {
            match self {
                Outcome::Accepted => (PingStatus::Accepted, None),
                Outcome::Suppressed => (PingStatus::Rejected, Some(RejectReason::Suppressed)),
                Outcome::VerticalDuplicate => (PingStatus::Rejected, Some(RejectReason::VerticalDuplicate)),
                Outcome::NoBids => (PingStatus::Rejected, Some(RejectReason::NoBids)),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Any {
        /// A repeat's: the compact form, whether it is a test lead's, and a sixth element.
        Repeat((String, Outcome, i64, u64, u8, u8)),
        /// A test lead's: the compact form and a fifth element.
        Test((String, Outcome, i64, u64, u8)),
        Compact((String, Outcome, i64, u64)),
        Whole(PingAnswer),
    }
}

/// A ping kept for its post: hashes only, never plaintext. Stored in the compact form of
/// [`stored`], not field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingRecord {
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub email: Option<Sha256Hex>,
    pub phone: Option<Sha256Hex>,
    pub bids: Vec<Bid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// How many standing sales the ping may have (1 exclusive, `max_buyers` multisell), fixed
    /// at the ping so that an edit of the offer cannot change it between attempts.
    pub slots: u16,
    /// A test lead: it can only be posted as a test, and a live ping never as one.
    pub test: bool,
}

impl Serialize for PingRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        stored::Ping::of(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PingRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match stored::AnyPing::deserialize(d)? {
            stored::AnyPing::Compact(p) => p.into_record().map_err(serde::de::Error::custom),
            stored::AnyPing::Whole(p) => Ok(p.into()),
        }
    }
}

/// The stored form of a [`PingRecord`]. Every accepted ping writes one and every post reads
/// it back, and the embedded store keeps it in memory until the ping's TTL and grace run
/// out: so it is short. Fields have two-letter names; times are Unix milliseconds (an
/// RFC 3339 text cost a formatting per time); a bid is a tuple `[id suffix, buyer,
/// contract, price, payout]` with amounts in minor units and its id without the ping id it
/// starts with (bid ids are `<ping id>-<n>`; an id that does not start so is kept whole),
/// and the buyer's token as a sixth element when its bid answer gave one.
mod stored {
    use super::PingRecord;
    use pingpost_core::auction::Bid;
    use pingpost_core::identity::Sha256Hex;
    use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
    use pingpost_core::money::Money;
    use pingpost_core::Timestamp;
    use serde::{Deserialize, Serialize, Serializer};

    #[derive(Serialize)]
    pub(super) struct Ping<'a> {
        id: &'a str,
        pa: &'a PartnerId,
        of: &'a OfferId,
        ve: &'a VerticalId,
        #[serde(skip_serializing_if = "Option::is_none")]
        em: Option<&'a Sha256Hex>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ph: Option<&'a Sha256Hex>,
        at: i64,
        ex: i64,
        sl: u16,
        bids: Bids<'a>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        te: bool,
    }

    impl<'a> Ping<'a> {
        pub(super) fn of(r: &'a PingRecord) -> Self {
            Ping {
                id: &r.ping_id,
                pa: &r.partner,
                of: &r.offer,
                ve: &r.vertical,
                em: r.email.as_ref(),
                ph: r.phone.as_ref(),
                at: r.created_at.timestamp_millis(),
                ex: r.expires_at.timestamp_millis(),
                sl: r.slots,
                bids: Bids { ping_id: &r.ping_id, bids: &r.bids },
                te: r.test,
            }
        }
    }

    struct Bids<'a> {
        ping_id: &'a str,
        bids: &'a [Bid],
    }

    impl Serialize for Bids<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.bids.iter().map(|b| {
                let suffix = b.bid_id.strip_prefix(self.ping_id).filter(|rest| rest.starts_with('-'));
                let id = suffix.unwrap_or(&b.bid_id);
                let (price, payout) = (b.price.minor(), b.payout.minor());
                match &b.token {
                    _ if b.repeat => {
                        let token = b.token.as_deref().unwrap_or("");
                        StoredBid::Repeat(id, &b.buyer, &b.contract, price, payout, token, 1)
                    }
                    None => StoredBid::Bare(id, &b.buyer, &b.contract, price, payout),
                    Some(t) => StoredBid::Token(id, &b.buyer, &b.contract, price, payout, t),
                }
            }))
        }
    }

    /// A bid as stored: without a token (every bid before buyer adapters), with one, or a
    /// repeat bid (its token, empty when none, and a 1).
    #[derive(Serialize)]
    #[serde(untagged)]
    enum StoredBid<'a> {
        Bare(&'a str, &'a BuyerId, &'a ContractId, i64, i64),
        Token(&'a str, &'a BuyerId, &'a ContractId, i64, i64, &'a str),
        Repeat(&'a str, &'a BuyerId, &'a ContractId, i64, i64, &'a str, u8),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum OwnedBid {
        Repeat(String, BuyerId, ContractId, i64, i64, String, u8),
        Token(String, BuyerId, ContractId, i64, i64, String),
        Bare(String, BuyerId, ContractId, i64, i64),
    }

    /// A record as any engine since the exactly-once store wrote it: the compact form, or the
    /// whole one engines before issue 13 wrote (field by field, times and amounts as text).
    /// So a post reaching a new engine during a rolling upgrade still finds its ping, for the
    /// ping's TTL; the whole form can go once no engine older than the compact form runs.
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum AnyPing {
        Compact(OwnedPing),
        Whole(WholePing),
    }

    #[derive(Deserialize)]
    pub(super) struct WholePing {
        ping_id: String,
        partner: PartnerId,
        offer: OfferId,
        vertical: VerticalId,
        email: Option<Sha256Hex>,
        phone: Option<Sha256Hex>,
        bids: Vec<Bid>,
        created_at: Timestamp,
        expires_at: Timestamp,
        #[serde(default = "one_slot")]
        slots: u16,
    }

    fn one_slot() -> u16 {
        1
    }

    impl From<WholePing> for PingRecord {
        fn from(p: WholePing) -> Self {
            PingRecord {
                ping_id: p.ping_id,
                partner: p.partner,
                offer: p.offer,
                vertical: p.vertical,
                email: p.email,
                phone: p.phone,
                bids: p.bids,
                created_at: p.created_at,
                expires_at: p.expires_at,
                slots: p.slots,
                // The whole form is older than test leads.
                test: false,
            }
        }
    }

    #[derive(Deserialize)]
    pub(super) struct OwnedPing {
        id: String,
        pa: PartnerId,
        of: OfferId,
        ve: VerticalId,
        #[serde(default)]
        em: Option<Sha256Hex>,
        #[serde(default)]
        ph: Option<Sha256Hex>,
        at: i64,
        ex: i64,
        sl: u16,
        bids: Vec<OwnedBid>,
        /// Absent in a live ping's record, and in every record older than test leads.
        #[serde(default)]
        te: bool,
    }

    impl OwnedPing {
        pub(super) fn into_record(self) -> Result<PingRecord, String> {
            let time = |ms: i64| -> Result<Timestamp, String> {
                Timestamp::from_timestamp_millis(ms).ok_or_else(|| format!("time out of range: {ms}"))
            };
            let bids = self
                .bids
                .into_iter()
                .map(|bid| {
                    let ((id, buyer, contract, price, payout), token, repeat) = match bid {
                        OwnedBid::Bare(id, buyer, contract, price, payout) => {
                            ((id, buyer, contract, price, payout), None, false)
                        }
                        OwnedBid::Token(id, buyer, contract, price, payout, token) => {
                            ((id, buyer, contract, price, payout), Some(token), false)
                        }
                        OwnedBid::Repeat(id, buyer, contract, price, payout, token, repeat) => {
                            ((id, buyer, contract, price, payout), Some(token).filter(|t| !t.is_empty()), repeat == 1)
                        }
                    };
                    Bid {
                        bid_id: if id.starts_with('-') { format!("{}{id}", self.id) } else { id },
                        buyer,
                        contract,
                        price: Money::from_minor(price),
                        payout: Money::from_minor(payout),
                        token,
                        repeat,
                    }
                })
                .collect();
            Ok(PingRecord {
                created_at: time(self.at)?,
                expires_at: time(self.ex)?,
                ping_id: self.id,
                partner: self.pa,
                offer: self.of,
                vertical: self.ve,
                email: self.em,
                phone: self.ph,
                bids,
                slots: self.sl,
                test: self.te,
            })
        }
    }
}

impl PingRecord {
    /// Every identifier of the ping: what a sale is reserved and settled under, whatever
    /// the post repeated.
    pub fn idents(&self) -> Vec<pingpost_core::identity::Ident> {
        use pingpost_core::identity::{Ident, IdentKind};
        let email = self.email.iter().map(|h| Ident { kind: IdentKind::Email, hash: h.clone() });
        let phone = self.phone.iter().map(|h| Ident { kind: IdentKind::Phone, hash: h.clone() });
        email.chain(phone).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PostStatus {
    Sold,
    Unsold,
}

/// Whether a sale is known to stand, or its outcome is unknown: an attempt whose engine died
/// (or whose settlement could not be stored) after the lead may have left. Either way the
/// sale takes its slot and no other buyer is tried for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SaleStatus {
    Sold,
    Unconfirmed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub sale_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    /// What the buyer pays.
    pub price: Money,
    /// What the partner earns.
    #[serde(default)]
    pub payout: Money,
    pub status: SaleStatus,
    /// Where the buyer asks the partner to send the consumer (its answer's `redirect_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// A repeat sale, at the contract's repeat price. Written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub repeat: bool,
}

/// What became of one try to sell to one bid's contract: the buyer's answer, or `skipped`
/// when the re-check before delivery refused the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    Accepted,
    Rejected,
    Duplicate,
    Error,
    Skipped,
    /// An earlier attempt of this post (on a node that died) may have delivered the lead.
    Unconfirmed,
}

/// One try to sell to one bid's contract; `reason` says why for `skipped` and `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub bid_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the buyer's answer said, in its own words: for operators (shown only on `full`
    /// offers, the marketplace's own sources), never to a partner of another disclosure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_reason: Option<String>,
    /// A try to sell a repeat bid. Written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub repeat: bool,
}

/// The answer to a post, whole: the server shows the partner what the offer's disclosure
/// allows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostAnswer {
    pub ping_id: String,
    #[serde(default)]
    pub offer: OfferId,
    pub status: PostStatus,
    pub sales: Vec<Sale>,
    pub attempts: Vec<Attempt>,
    pub total_price: Money,
    #[serde(default)]
    pub total_payout: Money,
    /// The post of a test lead: nothing it sold was charged or recorded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub test: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bid_ids: &[&str]) -> PingRecord {
        let at = |ms| Timestamp::from_timestamp_millis(ms).unwrap_or_default();
        PingRecord {
            ping_id: "0123abcd".into(),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("auto-us"),
            vertical: VerticalId::new("auto"),
            email: Some(Sha256Hex::digest("someone@example.com")),
            phone: None,
            bids: bid_ids
                .iter()
                .enumerate()
                .map(|(n, id)| Bid {
                    bid_id: (*id).to_string(),
                    buyer: BuyerId::new(format!("b{n}")),
                    contract: ContractId::new(format!("c{n}")),
                    price: Money::from_minor(1850 + n as i64),
                    payout: Money::from_minor(1500),
                    token: (n == 1).then(|| "auction-77".to_string()),
                    repeat: false,
                })
                .collect(),
            created_at: at(1_764_000_000_123),
            expires_at: at(1_764_000_300_123),
            slots: 2,
            test: false,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        // Ids of the usual form, and one that is not (kept whole).
        let r = record(&["0123abcd-1", "0123abcd-0", "other-7"]);
        let bytes = serde_json::to_vec(&r).expect("serializes");
        let back: PingRecord = serde_json::from_slice(&bytes).expect("reads back");
        assert_eq!(back, r);
    }

    #[test]
    fn a_record_an_older_engine_wrote_field_by_field_still_reads() {
        let whole = r#"{"ping_id":"0123abcd","partner":"p1","offer":"auto-us","vertical":"auto",
            "email":"b3e1f7c2a9d84e6f0a1b2c3d4e5f6071893a4b5c6d7e8f90a1b2c3d4e5f60718","phone":null,
            "bids":[{"bid_id":"0123abcd-0","buyer":"b0","contract":"c0","price":"18.50","payout":"15.00"}],
            "created_at":"2025-11-24T16:00:00.123Z","expires_at":"2025-11-24T16:05:00.123Z"}"#;
        let r: PingRecord = serde_json::from_str(whole).expect("the whole form reads");
        assert_eq!(r.bids[0].price, Money::from_minor(1850));
        assert_eq!(r.bids[0].bid_id, "0123abcd-0");
        assert_eq!(r.slots, 1, "records from before slots were exclusive");
        assert_eq!(r.created_at.timestamp_millis(), 1_764_000_000_123);
    }

    fn answer(status: PingStatus, reason: Option<RejectReason>, bids: usize) -> PingAnswer {
        let r = record(&["0123abcd-0"; 30][..bids]);
        PingAnswer {
            ping_id: r.ping_id,
            offer: r.offer,
            status,
            reason,
            bids: r.bids,
            expires_at: r.expires_at,
            decision_us: 412,
            test: false,
            repeat: false,
        }
    }

    #[test]
    fn a_stored_answer_reads_back_as_written_without_its_bids() {
        let cases = [
            answer(PingStatus::Accepted, None, 30),
            answer(PingStatus::Rejected, Some(RejectReason::Suppressed), 0),
            answer(PingStatus::Rejected, Some(RejectReason::VerticalDuplicate), 0),
            answer(PingStatus::Rejected, Some(RejectReason::NoBids), 0),
        ];
        for whole in cases {
            let bytes = StoredAnswer::of(&whole).encode().expect("encodes");
            assert!(bytes.len() <= 64, "{}", String::from_utf8_lossy(&bytes));
            let Ok(Remembered::Compact(stored)) = StoredAnswer::decode(&bytes) else { panic!("reads back") };
            assert_eq!(stored.answer(whole.offer.clone(), whole.bids.clone()), whole);
        }
        let bytes = StoredAnswer::of(&answer(PingStatus::Accepted, None, 30)).encode().expect("encodes");
        assert_eq!(String::from_utf8_lossy(&bytes), r#"["0123abcd","a",1764000300123,412]"#);
    }

    #[test]
    fn a_test_leads_record_and_answer_say_so_and_a_live_ones_are_unchanged() {
        let test = PingRecord { test: true, ..record(&["0123abcd-0"]) };
        let text = serde_json::to_string(&test).expect("serializes");
        assert!(text.contains(r#""te":true"#), "{text}");
        assert_eq!(serde_json::from_str::<PingRecord>(&text).expect("reads back"), test);
        let live = serde_json::to_string(&record(&["0123abcd-0"])).expect("serializes");
        assert!(!live.contains("te\""), "a live record has no flag: {live}");
        let whole = PingAnswer { test: true, ..answer(PingStatus::Rejected, Some(RejectReason::NoBids), 0) };
        let bytes = StoredAnswer::of(&whole).encode().expect("encodes");
        assert_eq!(String::from_utf8_lossy(&bytes), r#"["0123abcd","n",1764000300123,412,1]"#);
        let Ok(Remembered::Compact(stored)) = StoredAnswer::decode(&bytes) else { panic!("reads back") };
        assert_eq!(stored.answer(whole.offer.clone(), Vec::new()), whole);
    }

    #[test]
    fn an_answer_an_older_engine_stored_whole_still_reads() {
        let whole = answer(PingStatus::Accepted, None, 2);
        let bytes = serde_json::to_vec(&whole).expect("serializes");
        assert!(matches!(StoredAnswer::decode(&bytes), Ok(Remembered::Whole(a)) if a == whole));
        assert!(StoredAnswer::decode(b"[1,2]").is_err());
    }

    #[test]
    fn a_record_is_compact() {
        let r = record(&["0123abcd-0", "0123abcd-1"]);
        let text = serde_json::to_string(&r).expect("serializes");
        assert!(text.contains(r#"["-0","b0","c0",1850,1500]"#), "{text}");
        assert!(text.contains(r#"["-1","b1","c1",1851,1500,"auction-77"]"#), "a token is a sixth element: {text}");
        assert!(!text.contains("0123abcd-"), "bid ids do not repeat the ping id: {text}");
        assert!(text.contains(r#""at":1764000000123"#), "{text}");
        assert!(!text.contains("phone") && !text.contains(r#""ph""#), "absent identifiers are left out: {text}");
    }
}
