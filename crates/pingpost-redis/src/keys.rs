//! Every key pingpost writes to Redis. The part in braces is the hash tag: keys with the
//! same tag live in the same slot of a Redis Cluster, which is what lets one Lua script
//! touch them together. ARCHITECTURE.md ("Redis key layout") lists types, TTLs and why.

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

    /// String: a top-up's marker, so a re-sent top-up applies once.
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

    /// Hash: the configuration document (`doc`) and its version (`v`). No TTL.
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
