//! One ping's event, as the lead event log keeps it: its time, partner, offer, vertical,
//! identifier hashes, outcome, and for each contract of the offer where it stopped (or its
//! bid), the days since its buyer last bought the consumer and its price — what the
//! statistics, the audit log and the what-if need, in one row per ping
//! (`crates/pingpost-events/migrations/0001_lead_events.sql`).

use crate::audit::AuditEntry;
use crate::checkpoint::{Checkpoint, Ineligible};
use crate::identity::Sha256Hex;
use crate::ids::{ContractId, OfferId, PartnerId, VerticalId};
use crate::money::Money;
use crate::whatif::Gap;
use crate::Timestamp;
use chrono::NaiveDate;

/// How a ping was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Suppressed,
    VerticalDuplicate,
    NoBids,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Accepted, Outcome::Suppressed, Outcome::VerticalDuplicate, Outcome::NoBids];

    /// Its code in the log (`outcome`), fixed for good: rows outlive releases.
    pub fn code(self) -> i16 {
        match self {
            Outcome::Accepted => 0,
            Outcome::Suppressed => 1,
            Outcome::VerticalDuplicate => 2,
            Outcome::NoBids => 3,
        }
    }

    pub fn of_code(code: i16) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// Where one contract's part in a ping ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It bid (at `price`).
    Bid,
    /// A checkpoint dropped it (or, at `contract_repeat`, kept it as a repeat that then bid:
    /// such a contract is logged `Bid` with the ping's `repeat`).
    Dropped(Checkpoint),
    /// Not a candidate at all.
    Ineligible(Ineligible),
    /// A candidate that did not bid (no price, a payout below the partner's minimum).
    NoBid,
}

const INELIGIBLE: [Ineligible; 4] =
    [Ineligible::Paused, Ineligible::Filtered, Ineligible::OutOfSchedule, Ineligible::CapReached];

impl Fate {
    /// Its code in the log (`checkpoint[]`), fixed for good: 0 a bid, 1.. a checkpoint (its
    /// place in `Checkpoint::ALL`, which only grows at its end), 100.. a reason it was no
    /// candidate, 200 no bid.
    pub fn code(self) -> i16 {
        match self {
            Fate::Bid => 0,
            Fate::Dropped(c) => 1 + Checkpoint::ALL.iter().position(|x| *x == c).map_or(0, |i| i as i16),
            Fate::Ineligible(i) => 100 + INELIGIBLE.iter().position(|x| *x == i).map_or(0, |i| i as i16),
            Fate::NoBid => 200,
        }
    }

    pub fn of_code(code: i16) -> Option<Fate> {
        let index = |base: i16| usize::try_from(code - base).ok();
        match code {
            0 => Some(Fate::Bid),
            1..=99 => index(1).and_then(|i| Checkpoint::ALL.get(i)).map(|c| Fate::Dropped(*c)),
            100..=199 => index(100).and_then(|i| INELIGIBLE.get(i)).map(|i| Fate::Ineligible(*i)),
            200 => Some(Fate::NoBid),
            _ => None,
        }
    }
}

/// One contract's part in a ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractFate {
    pub contract: ContractId,
    pub fate: Fate,
    /// Days since the contract's buyer last bought the consumer, as checkpoint 4 saw it.
    pub gap: Gap,
    /// Its bid (zero when it did not bid).
    pub price: Money,
}

/// One ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadEvent {
    pub at: Timestamp,
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub email: Option<Sha256Hex>,
    pub phone: Option<Sha256Hex>,
    pub outcome: Outcome,
    pub repeat: bool,
    /// Days since the consumer's last submission on the vertical, as checkpoint 2 saw it.
    pub vertical_gap: Gap,
    pub contracts: Vec<ContractFate>,
}

impl LeadEvent {
    /// The UTC day whose partition holds it.
    pub fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }

    /// The event as it waits in Redis's outbox (the embedded store keeps the event itself): a
    /// JSON array of its fields, times in milliseconds and every enum as its log code (a few
    /// hundred bytes at 30 contracts). Written by hand: every live ping on Redis pays for it
    /// (serde's generic path cost as much as the rest of the event).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + 24 * self.contracts.len());
        let mut w = Json(&mut out);
        w.raw(b"[");
        w.int(self.at.timestamp_millis());
        w.str(&self.ping_id);
        w.str(self.partner.as_str());
        w.str(self.offer.as_str());
        w.str(self.vertical.as_str());
        w.opt_str(self.email.as_ref().map(|h| h.as_str()));
        w.opt_str(self.phone.as_ref().map(|h| h.as_str()));
        w.int(self.outcome.code());
        w.raw(if self.repeat { b",true" } else { b",false" });
        w.gap(self.vertical_gap);
        w.raw(b",[");
        for (i, c) in self.contracts.iter().enumerate() {
            w.raw(if i == 0 { b"[" } else { b",[" });
            w.first_str(c.contract.as_str());
            w.int(c.fate.code());
            w.gap(c.gap);
            w.int(c.price.minor());
            w.raw(b"]");
        }
        w.raw(b"]]");
        out
    }

    /// The event [`LeadEvent::encode`] wrote. Read by hand too, as it is written: the relay
    /// reads every event, and serde's generic path cost it several times the writing.
    pub fn decode(bytes: &[u8]) -> Result<LeadEvent, String> {
        let mut r = Reader { b: bytes, i: 0 };
        r.byte(b'[')?;
        let millis: i64 = r.int()?;
        let at = Timestamp::from_timestamp_millis(millis).ok_or_else(|| format!("lead event: time {millis}"))?;
        let ping_id = r.next()?.str()?.into_owned();
        let partner = PartnerId(r.next()?.str()?.into());
        let offer = OfferId(r.next()?.str()?.into());
        let vertical = VerticalId(r.next()?.str()?.into());
        let mut hash = || -> Result<Option<Sha256Hex>, String> {
            match r.next()?.null_or(|r| r.str().map(|s| s.into_owned()))? {
                None => Ok(None),
                Some(h) => Sha256Hex::parse(&h).map(Some).ok_or_else(|| format!("lead event: identifier hash {h:?}")),
            }
        };
        let (email, phone) = (hash()?, hash()?);
        let code: i16 = r.next()?.int()?;
        let outcome = Outcome::of_code(code).ok_or_else(|| format!("lead event: outcome {code}"))?;
        let repeat = r.next()?.boolean()?;
        let vertical_gap = r.next()?.null_or(Reader::int)?;
        r.next()?.byte(b'[')?;
        let mut contracts = Vec::new();
        while r.peek() != Some(b']') {
            if !contracts.is_empty() {
                r.byte(b',')?;
            }
            r.byte(b'[')?;
            let contract = ContractId(r.str()?.into());
            let code: i16 = r.next()?.int()?;
            let fate = Fate::of_code(code).ok_or_else(|| format!("lead event: fate {code}"))?;
            let gap = r.next()?.null_or(Reader::int)?;
            let price = Money::from_minor(r.next()?.int()?);
            r.byte(b']')?;
            contracts.push(ContractFate { contract, fate, gap, price });
        }
        r.byte(b']')?;
        r.byte(b']')?;
        if r.i != bytes.len() {
            return Err("lead event: bytes after its end".into());
        }
        Ok(LeadEvent { at, ping_id, partner, offer, vertical, email, phone, outcome, repeat, vertical_gap, contracts })
    }
}

/// [`LeadEvent::decode`]'s reader of the JSON [`LeadEvent::encode`] writes (no white space).
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn rest(&self) -> &[u8] {
        self.b.get(self.i..).unwrap_or_default()
    }

    fn byte(&mut self, want: u8) -> Result<(), String> {
        if self.peek() != Some(want) {
            return Err(format!("lead event: {:?} expected at byte {}", want as char, self.i));
        }
        self.i += 1;
        Ok(())
    }

    /// Past the comma before the next value.
    fn next(&mut self) -> Result<&mut Self, String> {
        self.byte(b',')?;
        Ok(self)
    }

    fn int<T: TryFrom<i64>>(&mut self) -> Result<T, String> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        self.i += usize::from(negative);
        let digits = self.i;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(d - b'0')))
                .ok_or("lead event: a number too large")?;
            self.i += 1;
        }
        if self.i == digits {
            return Err(format!("lead event: a number expected at byte {start}"));
        }
        T::try_from(if negative { -n } else { n })
            .map_err(|_| format!("lead event: a number out of range at byte {start}"))
    }

    fn boolean(&mut self) -> Result<bool, String> {
        for (text, value) in [(&b"true"[..], true), (&b"false"[..], false)] {
            if self.rest().starts_with(text) {
                self.i += text.len();
                return Ok(value);
            }
        }
        Err(format!("lead event: a boolean expected at byte {}", self.i))
    }

    fn null_or<T>(&mut self, value: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<Option<T>, String> {
        if self.rest().starts_with(b"null") {
            self.i += 4;
            return Ok(None);
        }
        value(self).map(Some)
    }

    fn str(&mut self) -> Result<std::borrow::Cow<'a, str>, String> {
        let start = self.i;
        self.byte(b'"')?;
        let mut escaped = false;
        loop {
            // Straight to the next quote or backslash: ids hold neither.
            let rest = self.rest();
            match rest.iter().position(|b| *b == b'"' || *b == b'\\') {
                None => return Err(format!("lead event: a string at byte {start} never ends")),
                Some(n) if rest[n] == b'"' => {
                    self.i += n;
                    break;
                }
                Some(n) => {
                    escaped = true;
                    self.i += n + 2;
                }
            }
        }
        self.i += 1;
        let token = &self.b[start..self.i];
        if escaped {
            serde_json::from_slice::<String>(token).map(std::borrow::Cow::Owned).map_err(|e| format!("lead event: {e}"))
        } else {
            std::str::from_utf8(&token[1..token.len() - 1])
                .map(std::borrow::Cow::Borrowed)
                .map_err(|e| format!("lead event: {e}"))
        }
    }
}

/// One sale of a ping, kept beside the ping's event: what the what-if counts as the sales and
/// revenue a window would have stopped. Written once the buyer accepted the lead (a sale rolled
/// back by a "duplicate" answer never was one); a sale kept as unconfirmed by the sweep is not
/// written (its outcome is unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleEvent {
    pub at: Timestamp,
    pub sale_id: String,
    pub ping_id: String,
    pub contract: ContractId,
    /// What the buyer paid (gross, after a lower price it answered).
    pub price: Money,
    pub repeat: bool,
}

/// Where a page of hits stops: the last hit's time in microseconds, its record's row and its
/// place in the record (the log keeps a record's hits in one row).
pub type HitCursor = (i64, i64, i64);

/// A page of hits, newest first; `next` is where the next page starts, `None` at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HitPage {
    pub hits: Vec<AuditEntry>,
    pub next: Option<HitCursor>,
}

/// One statistics counter to add to, as the log keeps it: the hour (since the epoch), the
/// group kind and key, the metric's name and the amount (the engine's statistics' increments,
/// summed over a node's flush).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountRow {
    pub hour: i64,
    pub by: String,
    pub key: String,
    pub metric: String,
    pub n: u64,
}

/// What the store's event outbox carries to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    Lead(LeadEvent),
    Sale(SaleEvent),
    /// One audit record's hits (a ping's, or a post's "duplicate" answer).
    Hits(Vec<AuditEntry>),
    /// A node's statistics counters of one flush, named by `id` so the log adds them once.
    Counts {
        id: String,
        at: Timestamp,
        rows: Vec<CountRow>,
    },
}

impl LogEvent {
    /// Its id in the outbox: the ping's id for a ping, `sale:` and the sale's id for a sale
    /// (ping ids never start so).
    pub fn outbox_id(&self) -> String {
        match self {
            LogEvent::Lead(e) => e.ping_id.clone(),
            LogEvent::Sale(s) => format!("sale:{}", s.sale_id),
            // A ping's hits are recorded at once, a post's "duplicate" one per contract.
            LogEvent::Hits(h) => {
                let first = h.first();
                let contract = first.and_then(|h| h.contract.as_ref()).map_or("", |c| c.as_str());
                let checkpoint = first.map_or("", |h| h.checkpoint.as_str());
                format!("hits:{}:{checkpoint}:{contract}", first.map_or("", |h| &*h.ping_id))
            }
            LogEvent::Counts { id, .. } => format!("counts:{id}"),
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            LogEvent::Lead(e) => e.at,
            LogEvent::Sale(s) => s.at,
            LogEvent::Hits(h) => h.first().map_or_else(Timestamp::default, |h| h.at),
            LogEvent::Counts { at, .. } => *at,
        }
    }

    /// A ping is its [`LeadEvent::encode`] array; a sale an object `{"sale": [...]}`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            LogEvent::Lead(e) => e.encode(),
            LogEvent::Sale(s) => {
                let fields =
                    (s.at.timestamp_millis(), &s.sale_id, &s.ping_id, s.contract.as_str(), s.price.minor(), s.repeat);
                // Strings, numbers and a boolean: nothing here can fail to serialize.
                serde_json::to_vec(&serde_json::json!({ "sale": fields })).unwrap_or_default()
            }
            // Ids, times and names: nothing here can fail to serialize.
            LogEvent::Hits(h) => serde_json::to_vec(&serde_json::json!({ "hits": h })).unwrap_or_default(),
            LogEvent::Counts { id, at, rows } => {
                serde_json::to_vec(&serde_json::json!({ "counts": (id, at.timestamp_millis(), rows) }))
                    .unwrap_or_default()
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<LogEvent, String> {
        if bytes.first() != Some(&b'{') {
            return LeadEvent::decode(bytes).map(LogEvent::Lead);
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Object {
            Sale { sale: (i64, String, String, String, i64, bool) },
            Hits { hits: Vec<AuditEntry> },
            Counts { counts: (String, i64, Vec<CountRow>) },
        }
        let (at, sale_id, ping_id, contract, price, repeat) =
            match serde_json::from_slice(bytes).map_err(|e| format!("log event: {e}"))? {
                Object::Sale { sale } => sale,
                Object::Hits { hits } => return Ok(LogEvent::Hits(hits)),
                Object::Counts { counts: (id, at, rows) } => {
                    let at = Timestamp::from_timestamp_millis(at).ok_or_else(|| format!("counts: time {at}"))?;
                    return Ok(LogEvent::Counts { id, at, rows });
                }
            };
        Ok(LogEvent::Sale(SaleEvent {
            at: Timestamp::from_timestamp_millis(at).ok_or_else(|| format!("sale event: time {at}"))?,
            sale_id,
            ping_id,
            contract: ContractId::new(contract),
            price: Money::from_minor(price),
            repeat,
        }))
    }
}

/// [`LeadEvent::encode`]'s writer: every value after the first is preceded by a comma.
struct Json<'a>(&'a mut Vec<u8>);

impl Json<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn int(&mut self, n: impl itoa::Integer) {
        if self.0.last() != Some(&b'[') {
            self.0.push(b',');
        }
        self.raw(itoa::Buffer::new().format(n).as_bytes());
    }

    fn first_str(&mut self, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.0.push(b'"');
            self.raw(s.as_bytes());
            self.0.push(b'"');
        } else {
            // Ids are a safe alphabet; anything else is escaped the one standard way.
            self.raw(serde_json::to_string(s).unwrap_or_default().as_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.0.push(b',');
        self.first_str(s);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw(b",null"),
        }
    }

    fn gap(&mut self, gap: Gap) {
        match gap {
            Some(g) => self.int(g),
            None => self.raw(b",null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_and_fate_has_one_code_that_reads_back() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::of_code(o.code()), Some(o));
        }
        let fates = std::iter::once(Fate::Bid)
            .chain(Checkpoint::ALL.into_iter().map(Fate::Dropped))
            .chain(INELIGIBLE.into_iter().map(Fate::Ineligible))
            .chain(std::iter::once(Fate::NoBid));
        let mut codes = std::collections::BTreeSet::new();
        for f in fates {
            assert_eq!(Fate::of_code(f.code()), Some(f));
            assert!(codes.insert(f.code()), "{f:?} shares its code");
        }
        assert_eq!(Fate::Dropped(Checkpoint::ContractDuplicate).code(), 4, "codes are fixed for good");
        assert_eq!(Fate::of_code(99), None);
    }

    #[test]
    fn an_event_reads_back_as_it_was_written_and_holds_hashes_only() {
        use chrono::TimeZone;
        let e = LeadEvent {
            at: chrono::Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).single().unwrap_or_default(),
            ping_id: "p-1".into(),
            partner: PartnerId::new("acme"),
            offer: OfferId::new("auto-excl"),
            vertical: VerticalId::new("auto"),
            email: Some(Sha256Hex::digest("jane@example.com")),
            phone: None,
            outcome: Outcome::Accepted,
            repeat: true,
            vertical_gap: Some(15),
            contracts: vec![
                ContractFate {
                    contract: ContractId::new("c1"),
                    fate: Fate::Bid,
                    gap: Some(20),
                    price: Money::from_minor(740),
                },
                ContractFate {
                    contract: ContractId::new("c2"),
                    fate: Fate::Dropped(Checkpoint::VerticalRepeat),
                    gap: None,
                    price: Money::ZERO,
                },
            ],
        };
        let bytes = e.encode();
        assert_eq!(LeadEvent::decode(&bytes), Ok(e.clone()));
        assert!(!String::from_utf8_lossy(&bytes).contains("jane"), "hashes only");
        assert!(LeadEvent::decode(b"[1]").is_err());
        // The hand-written JSON is JSON: an id needing escapes, no contracts, no gaps.
        let odd =
            LeadEvent { ping_id: "p-\"2\\\n".into(), email: None, vertical_gap: None, contracts: Vec::new(), ..e };
        let value: serde_json::Value = serde_json::from_slice(&odd.encode()).unwrap_or_default();
        assert_eq!(value[1], "p-\"2\\\n");
        assert_eq!(value[10], serde_json::json!([]));
        assert_eq!(LeadEvent::decode(&odd.encode()), Ok(odd.clone()));
        let sale = SaleEvent {
            at: e.at,
            sale_id: "s-1".into(),
            ping_id: "p-1".into(),
            contract: ContractId::new("c1"),
            price: Money::from_minor(740),
            repeat: true,
        };
        for whole in [bytes, odd.encode()] {
            for end in 0..whole.len() {
                assert!(LeadEvent::decode(&whole[..end]).is_err(), "a cut event is refused, never a panic");
            }
        }
        let hit = AuditEntry {
            at: e.at,
            ping_id: "p-1".into(),
            partner: PartnerId::new("acme"),
            vertical: VerticalId::new("auto"),
            offer: OfferId::new("auto-excl"),
            buyer: Some(crate::ids::BuyerId::new("b1")),
            contract: Some(ContractId::new("c1")),
            checkpoint: Checkpoint::ContractDuplicate,
            matched: Some(crate::identity::IdentKind::Email),
            prior_at: Some(e.at),
            reason: None,
            test: false,
        };
        let counts = LogEvent::Counts {
            id: "n-1".into(),
            at: e.at,
            rows: vec![CountRow {
                hour: 493_000,
                by: "partner".into(),
                key: "acme".into(),
                metric: "pings".into(),
                n: 3,
            }],
        };
        for event in [LogEvent::Lead(odd), LogEvent::Sale(sale), LogEvent::Hits(vec![hit]), counts] {
            assert_eq!(LogEvent::decode(&event.encode()).as_ref(), Ok(&event));
        }
    }
}
