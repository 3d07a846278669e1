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
//! | `pp:{<identifier sha256>}:c` | hash | `v:<vertical>` = `<at>\|<ping>\|<pending until>\|` while pending (engines that decided races by rank added the ping's other identifiers; a repeat adds `\|<the confirmed submission it replaced>`), `<at>\|<ping>\|` once confirmed (vertical submission); `d:<buyer>` = `<at>` (DQ) | `pingpost_store::RETENTION` (366 days) from the last write; fields older than that are dropped when the admission script passes | 365 days is the longest window a vertical or DQ rule may be given, and operators can lengthen windows live, so an event is kept as long as *some* window could still reach it |
//! | `pp:buyers` | set | every buyer with state under its tag (added before its first write, and again by each sweep of a node that sold for it) | none; never shrunk | the sweep, the relay and cross-buyer listings visit these buyers' slots (`buyers.rs`) |
//! | `pp:{b:<buyer>}:sale:<sale id>` | hash | `st` (R reserved, S sold, B released, D rolled back, U unconfirmed, T returned), `rec` (JSON: ids, reserved at, holder, lease), `price`, `payout`, `sold` (when charged, ms), `sat` (when settled), `reason` (why released), `lead` (the buyer's lead id), `idents` (kind:hash list), `debits` (JSON: counter, amount, is money, limit, credit counter), `holder`; or `fence` alone (a take-over's, see `lua/fence.lua`) | `pingpost_store::kept_after_settling`: reserved or unconfirmed 366 days; settled, its return window and 31 days (released or rolled back: 31 days); a pending return's sale until decided, then 31 days; a release's tombstone (no `rec`) a day; a fence as long as the post's claim | the sales ledger and the post's journal, kept while a return, a resumed post or a decision may still need it (the books keep the sale for good); the sale id is `<ping id>-<bid>`, the same on every attempt |
//! | `pp:{b:<buyer>}:bought:<identifier sha256>` | hash | `<sale id>` = `<at>\|<R\|S\|D>\|<lease until>\|<holder>\|<buyer>` (`lua/prelude.lua`'s codec; lease and holder empty once settled), the buyer's sales of the consumer | 366 days from the last write; marks past it dropped when a reservation passes | checkpoint 4: read by a ping (one read per buyer of the offer), checked and written by the buyer's reservation in the same step as its entry |
//! | `pp:{b:<buyer>}:leases`, `pp:{b:<buyer>}:unconfirmed` | zset, zset | the buyer's reserved sales by lease expiry; its unconfirmed sales by when they became so | none (members leave when settled; unconfirmed ones past the retention are trimmed by the sweep) | the sweep finds reservations whose engine died; `GET /v1/admin/ledger?state=unconfirmed` and the gauge |
//! | `pp:{b:<buyer>}:sales` | zset | the buyer's charged sales (sale ids) by when charged | 31 days (`SETTLED_KEPT`) from the last write; older members trimmed on each write | its sales list's last month (`GET /v1/buyer/sales`; older sales from the books) and the base of its return rate |
//! | `pp:{b:<buyer>}:return:ret-<sale id>`, `pp:{b:<buyer>}:returns:<pending\|approved\|denied>`, `pp:{b:<buyer>}:breturns` | hash, zset, zset | one return (`rec`, `st` P/A/N, `refund`, `claw`, `dat`, `dnote`); the buyer's returns of one status by opening time; its pending and approved ones (its return rate) | a return: 366 days while pending, 31 days once decided (with its sale); the lists 366 days | one return per sale, checked and written with its refund by one script |
//! | `pp:{b:<buyer>}:outbox`, `…:outbox_at`, `…:outbox_parked`, `…:outbox_parked_at` | hash, zset, hash, zset | the buyer's books entries waiting for the books (JSON by entry id) and their order; those the books refused (`{"entry", "reason", "parked_at"}`) | until relayed; parked: until an operator acts | the outbox written with each movement of the buyer's money (see `pingpost_engine::relay`); never drop money the books refuse |
//! | `pp:{b:<buyer>}:topup:<id>`, `pp:topup:<id>` | hash, string | a top-up's marker (`buyer`, `amount`, `at`); which buyer and amount its id was first used for (`<buyer>\|<amount>`) | 366 days | a re-sent top-up applies once; the id reused for another buyer or amount is refused (409) |
//! | `pp:{b:<buyer>}:ctr:<buyer>/<counter>` | string (integer) | cap (`cap:<contract>:h\|d\|w\|m:<bucket>`), spend (`spend:<contract>:d:<day>`), spent balance (`balance`) and credit (`credit`) counters, named by their owner (`pingpost_core::caps::counter_owner`) | cap and spend: until their bucket ends; balance and credit: none | one MGET per buyer per ping, all sent at once |
//! | `pp:ping:<ping id>` | hash | `<sale id>` = `<buyer>` for each sale a post of the ping reserved or tried | 31 days (`SETTLED_KEPT`) | the operators' lookup by ping (`?ping_id=`); never read to decide anything |
//! | `pp:blob:ping:<ping id>` | string | `<expiry ms>\|<ping record JSON>` (hashes, bids; never the lead) | ping TTL + 15 min | a post may reach any node |
//! | `pp:blob:console:epoch`, `pp:blob:console:revoked:<nonce>` | string | the console sessions' epoch; a signed-out session | 366 days; until the session would have expired | sign-out ends a session on every node |
//! | `pp:claim:post:<partner>:<ping id>`, `pp:claim:idem:<partner>:<sha256(key)>` | hash | `fp` fingerprint, `st` (F in flight, A given up, D done), `lease`, `holder` (the attempt's token), `res` (1 when resumed from an earlier holder), `ans` (the answer: a post's whole; a key's `[ping id, outcome, expires_at ms, decision_us]`, ~60 bytes, an accepted ping's bids being read from its record while it lives) | as long as the ping record (a post) or an hour (a key), so that "absent" means "never claimed" | one post per ping, one answer per idempotency key, across nodes; a taker-over knows to read the journal |
//! | `pp:{audit}` (and `pp:{audit}:batch:<id>`, an hour) | stream | one entry per ping (or post) with dedup hits: its hits as a JSON array, no identifiers; ids follow the hits' time (`<at ms>-<seq>`) | none; trimmed by count (`MAXLEN ~`) and age (`MINID ~`) on every batch | bounded by length and by age (`--audit-max-entries`, `--audit-retention-days`) |
//! | `pp:{ev:<0..15>}:events`, `…:events_at` | hash, zset | lead events waiting for the event log (ping id -> event), and their order by time | until the event log holds them | the log is written off the ping's path and may be down; sixteen shards by a hash of the ping id spread the writes over a cluster |
//! | `pp:config` | hash | `doc` (the configuration document, JSON; partner keys as digests only), `v` (its version) and `rev` (the id of the write that stored it) | none | the configuration in force; replaced whole by a compare-and-set script |
//! | `pp:{secrets}`, `pp:{secrets}:deleted` | hash, hash | `s:<name>` = `<updated ms>\|<rev>\|<c\|r>\|<value>`, the set's `v` and `rev`; the rev of each delete by name | none | buyers' credentials, apart from the configuration; every node polls the stamp |
//! | `pp:stats:{<yyyymmddhh>}` (and `…:batch:<id>`, an hour) | hash | `<partner\|buyer\|vertical>\|<id>\|<metric>` = count, for one UTC hour | 400 days after its last write | dedup statistics; tagged by the hour, so hours spread over Cluster slots |
//!
//! Consumer state is tagged by identifier hash: the admission checks of one identifier are one
//! script on one slot, and consumers spread evenly over a cluster. Everything of one buyer's
//! sales — entries, its marks on consumers, counters, lists, returns, books outbox — shares
//! the buyer's tag, so a reservation (window, debits, entry, marks) and a settlement are one
//! script each, and buyers spread over the masters as their ids hash
//! (`crates/pingpost-redis/tests/spread.rs`). The test below checks the tags.

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

    /// Everything of one buyer's sales lives under this prefix, tagged by the buyer: its
    /// ledger entries, counters, lists, returns, top-ups and books outbox share one Cluster
    /// slot, so a reservation or a settlement is one script there, and buyers spread over
    /// the masters.
    fn buyer(&self, buyer: &str) -> String {
        format!("{}:{{b:{buyer}}}", self.ns)
    }

    /// Set: every buyer that may have state under [`Keys::buyer`]'s prefix, so that the
    /// sweep, the relay and cross-buyer listings know which slots to visit. Added to before
    /// a buyer's first write; never shrunk.
    pub fn buyers(&self) -> String {
        format!("{}:buyers", self.ns)
    }

    /// Hash: one sales-ledger entry (state, record, debits, identifiers), or the fence of a
    /// post's holder that took the post over (`fence` alone, see `lua/fence.lua`).
    pub fn sale(&self, buyer: &str, sale_id: &str) -> String {
        format!("{}:sale:{sale_id}", self.buyer(buyer))
    }

    /// The prefix of a buyer's sale entries, for scripts that name an entry by its sale id.
    pub fn sale_prefix(&self, buyer: &str) -> String {
        format!("{}:sale:", self.buyer(buyer))
    }

    /// Sorted set: the buyer's reserved sales by lease expiry, for the sweep.
    pub fn leases(&self, buyer: &str) -> String {
        format!("{}:leases", self.buyer(buyer))
    }

    /// Hash: one ping's sales, `<sale id>` = `<buyer>`: where to find them, for the
    /// operators' `?ping_id=` lookup. Written beside each reservation, never read to decide
    /// anything (a post taken over finds its journal through the fences).
    pub fn ping_sales(&self, ping_id: &str) -> String {
        format!("{}:ping:{ping_id}", self.ns)
    }

    /// Sorted set: the buyer's unconfirmed sales' entry keys, by when they became so.
    pub fn unconfirmed(&self, buyer: &str) -> String {
        format!("{}:unconfirmed", self.buyer(buyer))
    }

    /// Hash: the buyer's sale marks on one identifier (`<sale id>` = the mark, as
    /// `lua/prelude.lua` encodes it): what checkpoint 4 asks of this buyer, kept where the
    /// buyer's reservation checks and writes it.
    pub fn bought(&self, buyer: &str, hash: &Sha256Hex) -> String {
        format!("{}:bought:{}", self.buyer(buyer), hash.as_str())
    }

    /// Hash: the buyer's books entries waiting for the books, by entry id (JSON).
    pub fn outbox(&self, buyer: &str) -> String {
        format!("{}:outbox", self.buyer(buyer))
    }

    /// Sorted set: the outbox's entry ids by time, so the relay takes the oldest first.
    pub fn outbox_order(&self, buyer: &str) -> String {
        format!("{}:outbox_at", self.buyer(buyer))
    }

    /// Hash: books entries the books refused, by entry id (`{"entry", "reason",
    /// "parked_at"}`, the entry as the outbox held it): kept until an operator acts.
    pub fn outbox_parked(&self, buyer: &str) -> String {
        format!("{}:outbox_parked", self.buyer(buyer))
    }

    /// Sorted set: the parked entries' ids by the entries' time, in outbox order.
    pub fn outbox_parked_order(&self, buyer: &str) -> String {
        format!("{}:outbox_parked_at", self.buyer(buyer))
    }

    /// Hash: a top-up's marker in its buyer's slot (`buyer`, `amount`, `at`), so a re-sent
    /// top-up applies once.
    pub fn top_up(&self, buyer: &str, id: &str) -> String {
        format!("{}:topup:{id}", self.buyer(buyer))
    }

    /// String: which buyer and amount a top-up id was first used for (`<buyer>|<amount>`),
    /// so an id reused for another buyer is told apart wherever that buyer lives.
    pub fn top_up_id(&self, id: &str) -> String {
        format!("{}:topup:{id}", self.ns)
    }

    /// Sorted set: a buyer's charged sales (sale ids) by when they were charged: its sales
    /// list and the base of its return rate.
    pub fn buyer_sales(&self, buyer: &str) -> String {
        format!("{}:sales", self.buyer(buyer))
    }

    /// Hash: one return of one of the buyer's sales (see `lua/returns.lua`).
    pub fn return_(&self, buyer: &str, return_id: &str) -> String {
        format!("{}:return:{return_id}", self.buyer(buyer))
    }

    /// Sorted set: the buyer's returns of one status (`pending`, `approved`, `denied`) by
    /// opening time.
    pub fn returns(&self, buyer: &str, status: &str) -> String {
        format!("{}:returns:{status}", self.buyer(buyer))
    }

    /// Sorted set: a buyer's pending and approved returns by opening time: its return rate.
    pub fn buyer_returns(&self, buyer: &str) -> String {
        format!("{}:breturns", self.buyer(buyer))
    }

    /// String (integer): a cap, spend or balance counter, in its owner's slot
    /// ([`pingpost_core::caps::counter_owner`]).
    pub fn counter(&self, key: &str) -> String {
        format!("{}:ctr:{key}", self.buyer(pingpost_core::caps::counter_owner(key)))
    }

    /// String: an opaque blob (a ping awaiting its post), prefixed with its expiry.
    /// Hash: lead events waiting for the event log in one shard (ping id -> event).
    pub fn events(&self, shard: u32) -> String {
        format!("{}:{{ev:{shard}}}:events", self.ns)
    }

    /// Sorted set: the shard's waiting events (ping ids) by time (ms).
    pub fn events_order(&self, shard: u32) -> String {
        format!("{}:{{ev:{shard}}}:events_at", self.ns)
    }

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
    fn consumer_keys_share_the_identifiers_slot_and_a_buyers_sales_share_the_buyers() {
        let k = Keys::new("pp");
        let h = Sha256Hex::digest("x");
        assert_eq!(tag(&k.suppressed(&h)), h.as_str());
        assert_eq!(tag(&k.consumer(&h)), h.as_str());
        for key in [
            k.sale("b1", "s1"),
            k.leases("b1"),
            k.counter("b1/cap:c1:d:2026-11-22"),
            k.counter("b1/balance"),
            k.unconfirmed("b1"),
            k.bought("b1", &h),
            k.outbox("b1"),
            k.outbox_order("b1"),
            k.outbox_parked("b1"),
            k.outbox_parked_order("b1"),
            k.top_up("b1", "t1"),
            k.buyer_sales("b1"),
            k.return_("b1", "ret-s1"),
            k.returns("b1", "pending"),
            k.buyer_returns("b1"),
        ] {
            assert_eq!(tag(&key), "b:b1", "{key}");
        }
        assert_ne!(tag(&k.sale("b1", "s1")), tag(&k.sale("b2", "s1")));
        assert!(k.sale("b1", "s1").starts_with(&k.sale_prefix("b1")));
        assert_eq!(tag(&k.audit()), tag(&k.audit_batch("b")));
        assert_eq!(tag(&k.secrets()), tag(&k.secrets_deleted()));
        assert_eq!(tag(&k.stats("2026112310")), tag(&k.stats_batch("2026112310", "b")));
    }
}
