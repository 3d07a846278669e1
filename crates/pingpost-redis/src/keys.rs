//! Every key pingpost writes to Redis. The part in braces is the hash tag: keys with the
//! same tag live in the same slot of a Redis Cluster, which is what lets one Lua script
//! touch them together.
//!
//! # Layout
//! `pp` is the namespace (tests use others).
//!
//! | key | type | holds | TTL | why |
//! |---|---|---|---|---|
//! | `pp:{<identifier sha256>}:sup` | string | when the identifier was suppressed (ms) | none | suppression is permanent until an operator lifts it |
//! | `pp:{<identifier sha256>}:c` | hash | `v:<vertical>` = `<at>\|<ping>\|<pending until>\|<the ping's other identifiers: 16-character hash prefixes, comma-separated>` while pending, `<at>\|<ping>\|` once confirmed (vertical submission); `s:<sale>` = `<at>\|<R\|S\|D\|X>\|<lease until>\|<holder>\|<buyer>` (a buyer's reservation with its lease and holder, sale, rolled-back duplicate, or a released sale's tombstone; lease and holder empty once settled); `d:<buyer>` = `<at>` (DQ) | `pingpost_store::RETENTION` (366 days) from the last write; fields older than that (tombstones: a day) are dropped when the admission script passes | 365 days is the longest window a vertical, contract or DQ rule may be given, and operators can lengthen windows live, so an event is kept as long as *some* window could still reach it |
//! | `pp:{ledger}:sale:<sale id>` | hash | `st` (R reserved, S sold, B released, D rolled back, U unconfirmed, T returned), `rec` (JSON: ids, reserved at, holder, lease), `price`, `payout`, `sold` (when charged, ms), `sat` (when settled), `reason` (why released), `lead` (the buyer's lead id), `idents` (kind:hash list), `debits` (JSON: counter, amount, is money, limit), `holder` | 366 days; a release's tombstone (no `rec`) a day | the sales ledger and the post's journal; the sale id is `<ping id>-<bid>`, the same on every attempt |
//! | `pp:{ledger}:ping:<ping id>` | hash | `<sale id>` = `<1 standing\|0 not>\|<buyer>` for each of the ping's sales | 366 days | the ping's slots (checked by the reservation) and its journal (read by a resumed post) |
//! | `pp:{ledger}:leases` | zset | reserved sales by lease expiry | none (empty → gone) | the sweep finds reservations whose engine died; members leave when settled |
//! | `pp:{ledger}:marks_due` | zset | settled sales' entries by when the sweep settles their marks once more | none (members leave when repaired) | marks follow the ledger even when the engine stopped between the two |
//! | `pp:{ledger}:unconfirmed` | zset | unconfirmed sales by when they became so | none; entries past the ledger's retention are trimmed by the sweep | `GET /v1/admin/ledger?state=unconfirmed` and the gauge |
//! | `pp:{ledger}:bsales:<buyer>` | zset | the buyer's charged sales (sale ids) by when charged | 366 days from the last write; older members trimmed on each write | its sales list (`GET /v1/buyer/sales`, cursor = time and id) and the base of its return rate |
//! | `pp:{ledger}:return:ret-<sale id>` | hash | `rec` (JSON: what never changes, with the opening request's token), `st` (P pending, A approved, N denied), `refund`, `claw`, `dat` (decided), `dnote` | 366 days | one return per sale, checked and written with its refund by one script |
//! | `pp:{ledger}:returns:<pending\|approved\|denied>` | zset | return ids by opening time | members older than 366 days trimmed on each opening | the operators' lists |
//! | `pp:{ledger}:breturns:<buyer>` | zset | the buyer's pending and approved returns by opening time | 366 days; members past 30 days trimmed | the buyer's return rate over the trailing 30 days |
//! | `pp:{ledger}:outbox`, `pp:{ledger}:outbox_at`, `pp:{ledger}:topup:<id>` | hash, zset, hash | books entries waiting for the books (JSON by entry id), their order, a top-up's marker (`buyer`, `amount`, `at`) | entries: until relayed; marker: the retention (366 days) | the outbox written with each movement (see `pingpost_engine::relay`); the books keep a top-up's id for good, so its retry is recognised as long as one can come, and the id reused for another buyer or amount is refused (409) |
//! | `pp:{ledger}:outbox_parked`, `pp:{ledger}:outbox_parked_at` | hash, zset | books entries the books refused (`{"entry", "reason", "parked_at"}` by entry id), in outbox order | none: until an operator acts | never drop money the books refuse; every reconciliation lists them |
//! | `pp:{ledger}:ctr:<counter>` | string (integer) | cap (`cap:<contract>:h\|d\|w\|m:<bucket>`), spend (`spend:<contract>:d:<day>`), spent balance (`balance:<buyer>`) and credit (`credit:<buyer>`) counters | cap and spend: until their bucket ends; balance and credit: none | one MGET per ping reads every eligible contract's counters |
//! | `pp:blob:ping:<ping id>` | string | `<expiry ms>\|<ping record JSON>` (hashes, bids; never the lead) | ping TTL + 15 min | a post may reach any node |
//! | `pp:blob:console:epoch`, `pp:blob:console:revoked:<nonce>` | string | the console sessions' epoch; a signed-out session | 366 days; until the session would have expired | sign-out ends a session on every node |
//! | `pp:claim:post:<partner>:<ping id>`, `pp:claim:idem:<partner>:<sha256(key)>` | hash | `fp` fingerprint, `st` (F in flight, A given up, D done), `lease`, `holder` (the attempt's token), `res` (1 when resumed from an earlier holder), `ans` (the answer: a post's whole; a key's `[ping id, outcome, expires_at ms, decision_us]`, ~60 bytes, an accepted ping's bids being read from its record while it lives) | as long as the ping record (a post) or an hour (a key), so that "absent" means "never claimed" | one post per ping, one answer per idempotency key, across nodes; a taker-over knows to read the journal |
//! | `pp:{audit}` (and `pp:{audit}:batch:<id>`, an hour) | stream | one entry per ping (or post) with dedup hits: its hits as a JSON array, no identifiers; ids follow the hits' time (`<at ms>-<seq>`) | none; trimmed by count (`MAXLEN ~`) and age (`MINID ~`) on every batch | bounded by length and by age (`--audit-max-entries`, `--audit-retention-days`) |
//! | `pp:config` | hash | `doc` (the configuration document, JSON; partner keys as digests only), `v` (its version) and `rev` (the id of the write that stored it) | none | the configuration in force; replaced whole by a compare-and-set script |
//! | `pp:{secrets}`, `pp:{secrets}:deleted` | hash, hash | `s:<name>` = `<updated ms>\|<rev>\|<c\|r>\|<value>`, the set's `v` and `rev`; the rev of each delete by name | none | buyers' credentials, apart from the configuration; every node polls the stamp |
//! | `pp:stats:{<yyyymmddhh>}` (and `…:batch:<id>`, an hour) | hash | `<partner\|buyer\|vertical>\|<id>\|<metric>` = count, for one UTC hour | 400 days after its last write | dedup statistics; tagged by the hour, so hours spread over Cluster slots |
//!
//! Consumer state is tagged by identifier hash, never by vertical or buyer: the checks of one
//! identifier are one script on one slot, and consumers spread evenly over a cluster. The
//! ledger (counters and sale entries) shares one tag so that a ping reads every counter it
//! needs with one MGET and a reservation takes all its debits in one script; that slot sees
//! one MGET per ping and a few scripts per post. The test below checks the tags.

use pingpost_core::identity::Sha256Hex;

/// Builds keys under one namespace (`pp` in production; tests use a fresh one per store).
#[derive(Clone, Debug)]
pub struct Keys {
    ns: String,
}

impl Keys {
    pub fn new(ns: impl Into<String>) -> Self {
        Keys { ns: ns.into() }
    }

    /// String: when the identifier was suppressed (ms). No TTL: suppression is permanent.
    pub fn suppressed(&self, hash: &Sha256Hex) -> String {
        format!("{}:{{{}}}:sup", self.ns, hash.as_str())
    }

    /// Hash: the identifier's dedup state — vertical submissions, sale marks, DQ marks.
    pub fn consumer(&self, hash: &Sha256Hex) -> String {
        format!("{}:{{{}}}:c", self.ns, hash.as_str())
    }

    /// Hash: one sales-ledger entry (state, record, debits, identifiers).
    pub fn sale(&self, sale_id: &str) -> String {
        format!("{}:{{ledger}}:sale:{sale_id}", self.ns)
    }

    /// Sorted set: reserved sales by lease expiry, for the sweep.
    pub fn leases(&self) -> String {
        format!("{}:{{ledger}}:leases", self.ns)
    }

    /// Hash: one ping's sales, `<sale id>` = `<1 standing | 0 not>|<buyer>`: its post's
    /// journal and its slots.
    pub fn ping_sales(&self, ping_id: &str) -> String {
        format!("{}:{{ledger}}:ping:{ping_id}", self.ns)
    }

    /// Sorted set: unconfirmed sales' entry keys, by when they became unconfirmed.
    pub fn unconfirmed(&self) -> String {
        format!("{}:{{ledger}}:unconfirmed", self.ns)
    }

    /// Sorted set: settled sales' entry keys, by when the sweep settles their marks again.
    pub fn marks_due(&self) -> String {
        format!("{}:{{ledger}}:marks_due", self.ns)
    }

    /// Hash: books entries waiting for the books, by entry id (JSON).
    pub fn outbox(&self) -> String {
        format!("{}:{{ledger}}:outbox", self.ns)
    }

    /// Sorted set: the outbox's entry ids by time, so the relay takes the oldest first.
    pub fn outbox_order(&self) -> String {
        format!("{}:{{ledger}}:outbox_at", self.ns)
    }

    /// Hash: books entries the books refused, by entry id (`{"entry", "reason",
    /// "parked_at"}`, the entry as the outbox held it): kept until an operator acts.
    pub fn outbox_parked(&self) -> String {
        format!("{}:{{ledger}}:outbox_parked", self.ns)
    }

    /// Sorted set: the parked entries' ids by the entries' time, in outbox order.
    pub fn outbox_parked_order(&self) -> String {
        format!("{}:{{ledger}}:outbox_parked_at", self.ns)
    }

    /// Hash: a top-up's marker (`buyer`, `amount`, `at`), so a re-sent top-up applies once
    /// and an id reused for another buyer or amount is told apart.
    pub fn top_up(&self, id: &str) -> String {
        format!("{}:{{ledger}}:topup:{id}", self.ns)
    }

    /// Sorted set: a buyer's charged sales (sale ids) by when they were charged: its sales
    /// list and the base of its return rate. Written by scripts that learn the buyer from the
    /// ledger entry, so they build it from [`Keys::buyer_sales_prefix`].
    pub fn buyer_sales(&self, buyer: &str) -> String {
        format!("{}{buyer}", self.buyer_sales_prefix())
    }

    pub fn buyer_sales_prefix(&self) -> String {
        format!("{}:{{ledger}}:bsales:", self.ns)
    }

    /// Hash: one return (see `lua/returns.lua`).
    pub fn return_(&self, return_id: &str) -> String {
        format!("{}:{{ledger}}:return:{return_id}", self.ns)
    }

    /// Sorted set: returns of one status (`pending`, `approved`, `denied`) by opening time.
    pub fn returns(&self, status: &str) -> String {
        format!("{}:{{ledger}}:returns:{status}", self.ns)
    }

    /// Sorted set: a buyer's pending and approved returns by opening time: its return rate.
    pub fn buyer_returns(&self, buyer: &str) -> String {
        format!("{}:{{ledger}}:breturns:{buyer}", self.ns)
    }

    /// String (integer): a cap, spend or balance counter.
    pub fn counter(&self, key: &str) -> String {
        format!("{}:{{ledger}}:ctr:{key}", self.ns)
    }

    /// String: an opaque blob (a ping awaiting its post), prefixed with its expiry.
    pub fn blob(&self, key: &str) -> String {
        format!("{}:blob:{key}", self.ns)
    }

    /// Hash: a claimed request key (post, idempotent ping) and its answer.
    pub fn claim(&self, key: &str) -> String {
        format!("{}:claim:{key}", self.ns)
    }

    /// Stream: the dedup audit log. Tagged so that a batch's marker shares its slot.
    pub fn audit(&self) -> String {
        format!("{}:{{audit}}", self.ns)
    }

    /// String: marks a batch of audit entries as appended, so a re-sent batch is not
    /// appended twice.
    pub fn audit_batch(&self, batch: &str) -> String {
        format!("{}:{{audit}}:batch:{batch}", self.ns)
    }

    /// Hash: the configuration document (`doc`), its version (`v`) and the id of the write
    /// that stored it (`rev`). No TTL.
    pub fn config(&self) -> String {
        format!("{}:config", self.ns)
    }

    /// Hash: every secret and the set's stamp (see `lua/put_secret.lua`). No TTL. Tagged:
    /// the secrets and their deleted names' marks share a slot of their own.
    pub fn secrets(&self) -> String {
        format!("{}:{{secrets}}", self.ns)
    }

    /// Hash: each deleted name's delete (its rev), so a re-sent delete answers as it did.
    pub fn secrets_deleted(&self) -> String {
        format!("{}:{{secrets}}:deleted", self.ns)
    }

    /// Hash: one UTC hour's statistics counters (`kind|key|metric` → count), expiring the
    /// retention after its last write. Tagged by the hour: each hour lands on its own slot
    /// (no Cluster node takes every hour's writes) with its batch markers.
    pub fn stats(&self, hour: &str) -> String {
        format!("{}:stats:{{{hour}}}", self.ns)
    }

    /// String: marks a batch of one hour's increments as added, in the hour's slot, so a
    /// re-sent batch is not counted twice.
    pub fn stats_batch(&self, hour: &str, batch: &str) -> String {
        format!("{}:stats:{{{hour}}}:batch:{batch}", self.ns)
    }

    /// Everything of this namespace (for scans in tests and tools).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str) -> &str {
        let open = key.find('{').expect("tagged");
        let close = key[open..].find('}').expect("closed") + open;
        &key[open + 1..close]
    }

    #[test]
    fn consumer_keys_share_the_identifiers_slot_and_ledger_keys_share_one() {
        let k = Keys::new("pp");
        let h = Sha256Hex::digest("x");
        assert_eq!(tag(&k.suppressed(&h)), h.as_str());
        assert_eq!(tag(&k.consumer(&h)), h.as_str());
        for key in [
            k.sale("s1"),
            k.leases(),
            k.counter("cap:c1:d:2026-11-22"),
            k.ping_sales("p"),
            k.unconfirmed(),
            k.marks_due(),
            k.buyer_sales("b1"),
            k.return_("ret-s1"),
            k.returns("pending"),
            k.buyer_returns("b1"),
        ] {
            assert_eq!(tag(&key), "ledger");
        }
        assert_eq!(tag(&k.audit()), tag(&k.audit_batch("b")));
        assert_eq!(tag(&k.secrets()), tag(&k.secrets_deleted()));
        assert_eq!(tag(&k.stats("2026112310")), tag(&k.stats_batch("2026112310", "b")));
    }
}
