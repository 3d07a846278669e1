//! `pingpost migrate-store`: moves a Redis store written before sales were spread by buyer
//! (every ledger key under one `{ledger}` tag, sale marks in the consumers' hashes) to the
//! layout of `keys.rs`, each buyer's sales under its own tag.
//!
//! Run with every engine stopped, after posts drained (README, "Upgrading to the buyer-slot
//! layout"): an engine of either layout reads only its own, so a fleet that mixed them would
//! check two places. Each old key is copied, then deleted, so a migration stopped halfway is
//! finished by running it again. What the old layout keeps that the new one does not need is
//! dropped: the marks' repair list (`marks_due`: settlement is one step now), releases'
//! tombstones (they fence reservations in transit, and a drained store has none), and the
//! tombstone marks of released sales.
//!
//! A cap or spend counter is named by its contract (`cap:<contract>:…`); its buyer is learnt
//! from the sale entries, which name contract and buyer and outlive every counter, so no
//! configuration is needed. A counter of a contract no entry names has no sale behind it
//! (a reservation writes its entry with its debits) and is dropped.

use crate::codec::{self, corrupt};
use crate::RedisStore;
use pingpost_core::identity::Sha256Hex;
use pingpost_store::{StoreError, StoreResult};
use redis::AsyncCommands;
use std::collections::{BTreeSet, HashMap};

/// What a migration moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub sales: u64,
    pub counters: u64,
    pub marks: u64,
    pub returns: u64,
    pub outbox_entries: u64,
    pub top_ups: u64,
    /// Other lists (buyers' sales and returns, the pings' sale lists).
    pub lists: u64,
    /// Keys of the old layout dropped without a copy (see the module's docs).
    pub dropped: u64,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Every key matching `pattern` on every node of `urls`.
async fn scan(urls: &str, pattern: &str) -> StoreResult<Vec<String>> {
    let mut out = BTreeSet::new();
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let mut con = client.get_multiplexed_async_connection().await.map_err(unavailable)?;
        let mut iter: redis::AsyncIter<String> = con.scan_match(pattern).await.map_err(unavailable)?;
        while let Some(k) = iter.next_item().await {
            out.insert(k.map_err(unavailable)?);
        }
    }
    Ok(out.into_iter().collect())
}

/// The buyer a JSON record names (`{"buyer": ...}`).
fn buyer_of(json: &str) -> StoreResult<String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(corrupt)?;
    v["buyer"].as_str().map(str::to_string).ok_or_else(|| corrupt("a record without its buyer"))
}

impl RedisStore {
    /// Moves the old layout's keys of this store's namespace, found on every node of `urls`.
    pub async fn migrate_to_buyer_slots(&self, urls: &str) -> StoreResult<Migrated> {
        let ns = self.keys.pattern();
        let ns = ns.trim_end_matches('*');
        let old = |rest: &str| format!("{ns}{{ledger}}:{rest}");
        let mut done = Migrated::default();
        let mut con = self.conn.clone();

        // Sale entries first: they name each contract's buyer, which the counters need.
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut entries = Vec::new();
        for key in scan(urls, &old("sale:*")).await? {
            let fields: HashMap<String, String> = self.run(con.hgetall(&key)).await?;
            match fields.get("rec") {
                Some(rec) => {
                    let v: serde_json::Value = serde_json::from_str(rec).map_err(corrupt)?;
                    let (Some(buyer), Some(contract)) = (v["buyer"].as_str(), v["contract"].as_str()) else {
                        return Err(corrupt(format!("{key}: a record without buyer or contract")));
                    };
                    owners.insert(contract.to_string(), buyer.to_string());
                    entries.push((key, buyer.to_string(), fields));
                }
                None => {
                    // A release's tombstone: nothing in transit after a drain.
                    let _: i64 = self.run(con.del(&key)).await?;
                    done.dropped += 1;
                }
            }
        }
        let counter_name = |name: &str| -> Option<String> {
            if let Some(buyer) = name.strip_prefix("balance:") {
                return Some(format!("{buyer}/balance"));
            }
            if let Some(buyer) = name.strip_prefix("credit:") {
                return Some(format!("{buyer}/credit"));
            }
            let contract = name.strip_prefix("cap:").or_else(|| name.strip_prefix("spend:"))?.split(':').next()?;
            Some(format!("{}/{name}", owners.get(contract)?))
        };
        let ctr_prefix = old("ctr:");
        let new_counter = |full: &str| -> Option<String> {
            full.strip_prefix(&ctr_prefix).and_then(&counter_name).map(|n| self.keys.counter(&n))
        };

        for key in scan(urls, &old("ctr:*")).await? {
            let name = key.strip_prefix(&ctr_prefix).and_then(&counter_name);
            if let Some(name) = name {
                self.register_buyer(pingpost_core::caps::counter_owner(&name)).await?;
                let to = self.keys.counter(&name);
                let value: Option<i64> = self.run(con.get(&key)).await?;
                let ttl: i64 = self.run(con.pttl(&key)).await?;
                if let Some(value) = value {
                    let mut set = redis::cmd("SET");
                    set.arg(&to).arg(value);
                    if ttl > 0 {
                        set.arg("PX").arg(ttl);
                    }
                    let _: () = self.run(set.query_async(&mut con)).await?;
                    done.counters += 1;
                }
            } else {
                done.dropped += 1;
            }
            let _: i64 = self.run(con.del(&key)).await?;
        }

        let leases: HashMap<String, i64> =
            self.run(con.zrange_withscores::<_, Vec<(String, i64)>>(old("leases"), 0, -1)).await?.into_iter().collect();
        let unconfirmed: HashMap<String, i64> = self
            .run(con.zrange_withscores::<_, Vec<(String, i64)>>(old("unconfirmed"), 0, -1))
            .await?
            .into_iter()
            .collect();
        for (key, buyer, mut fields) in entries {
            let sale_id = key.rsplit(':').next().unwrap_or_default().to_string();
            if let Some(debits) = fields.get("debits") {
                // The counters a settlement refunds, by their new names.
                let raw: serde_json::Value = serde_json::from_str(debits).map_err(corrupt)?;
                let rewritten: Vec<serde_json::Value> = raw
                    .as_array()
                    .map(|ds| {
                        ds.iter()
                            .map(|d| {
                                let mut d = d.clone();
                                for i in [0, 4] {
                                    if let Some(to) = d[i].as_str().and_then(&new_counter) {
                                        d[i] = serde_json::Value::String(to);
                                    }
                                }
                                d
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // cjson reads an empty JSON array back as an empty object: either is no debit.
                fields.insert("debits".into(), serde_json::to_string(&rewritten).map_err(corrupt)?);
            }
            // Named before its first write, so a migration stopped here is found by the sweep.
            self.register_buyer(&buyer).await?;
            let to = self.keys.sale(&buyer, &sale_id);
            let ttl: i64 = self.run(con.pttl(&key)).await?;
            let pairs: Vec<(&String, &String)> = fields.iter().collect();
            let _: () = self.run(con.hset_multiple(&to, &pairs)).await?;
            if ttl > 0 {
                let _: bool = self.run(con.pexpire(&to, ttl)).await?;
            }
            if let Some(lease) = leases.get(&key) {
                let _: i64 = self.run(con.zadd(self.keys.leases(&buyer), &to, *lease)).await?;
            }
            if let Some(at) = unconfirmed.get(&key) {
                let _: i64 = self.run(con.zadd(self.keys.unconfirmed(&buyer), &to, *at)).await?;
            }
            let _: i64 = self.run(con.del(&key)).await?;
            done.sales += 1;
        }

        for key in scan(urls, &old("ping:*")).await? {
            let ping = key.rsplit(':').next().unwrap_or_default().to_string();
            let sales: HashMap<String, String> = self.run(con.hgetall(&key)).await?;
            for (sale, value) in sales {
                let buyer = value.split_once('|').map_or(value.as_str(), |(_, b)| b);
                let _: i64 = self.run(con.hset(self.keys.ping_sales(&ping), sale, buyer)).await?;
            }
            let _: bool = self.run(con.pexpire(self.keys.ping_sales(&ping), self.retention_ms())).await?;
            let _: i64 = self.run(con.del(&key)).await?;
            done.lists += 1;
        }

        for (pattern, to) in [("bsales:*", "sales"), ("breturns:*", "breturns")] {
            for key in scan(urls, &old(pattern)).await? {
                let buyer = key.rsplit(':').next().unwrap_or_default().to_string();
                let members: Vec<(String, i64)> = self.run(con.zrange_withscores(&key, 0, -1)).await?;
                self.register_buyer(&buyer).await?;
                let new = if to == "sales" { self.keys.buyer_sales(&buyer) } else { self.keys.buyer_returns(&buyer) };
                for (m, score) in members {
                    let _: i64 = self.run(con.zadd(&new, m, score)).await?;
                }
                let _: bool = self.run(con.pexpire(&new, self.retention_ms())).await?;
                let _: i64 = self.run(con.del(&key)).await?;
                done.lists += 1;
            }
        }

        let mut opened: HashMap<String, i64> = HashMap::new();
        for status in ["pending", "approved", "denied"] {
            let members: Vec<(String, i64)> =
                self.run(con.zrange_withscores(old(&format!("returns:{status}")), 0, -1)).await?;
            opened.extend(members);
        }
        for key in scan(urls, &old("return:*")).await? {
            let id = key.rsplit(':').next().unwrap_or_default().to_string();
            let fields: HashMap<String, String> = self.run(con.hgetall(&key)).await?;
            let rec = fields.get("rec").ok_or_else(|| corrupt(format!("{key}: a return without its record")))?;
            let buyer = buyer_of(rec)?;
            self.register_buyer(&buyer).await?;
            let to = self.keys.return_(&buyer, &id);
            let pairs: Vec<(&String, &String)> = fields.iter().collect();
            let _: () = self.run(con.hset_multiple(&to, &pairs)).await?;
            let _: bool = self.run(con.pexpire(&to, self.retention_ms())).await?;
            let status = match fields.get("st").map(String::as_str) {
                Some("A") => "approved",
                Some("N") => "denied",
                _ => "pending",
            };
            if let Some(at) = opened.get(&id) {
                let _: i64 = self.run(con.zadd(self.keys.returns(&buyer, status), &id, *at)).await?;
            }
            let _: i64 = self.run(con.del(&key)).await?;
            done.returns += 1;
        }

        for (hash, order, parked) in [("outbox", "outbox_at", false), ("outbox_parked", "outbox_parked_at", true)] {
            let bodies: HashMap<String, String> = self.run(con.hgetall(old(hash))).await?;
            let scores: HashMap<String, i64> = self
                .run(con.zrange_withscores::<_, Vec<(String, i64)>>(old(order), 0, -1))
                .await?
                .into_iter()
                .collect();
            for (id, body) in bodies {
                let buyer = if parked {
                    let v: serde_json::Value = serde_json::from_str(&body).map_err(corrupt)?;
                    buyer_of(v["entry"].as_str().ok_or_else(|| corrupt("a parked entry without its entry"))?)?
                } else {
                    buyer_of(&body)?
                };
                self.register_buyer(&buyer).await?;
                let (to_hash, to_order) = if parked {
                    (self.keys.outbox_parked(&buyer), self.keys.outbox_parked_order(&buyer))
                } else {
                    (self.keys.outbox(&buyer), self.keys.outbox_order(&buyer))
                };
                let _: i64 = self.run(con.hset(&to_hash, &id, &body)).await?;
                if let Some(at) = scores.get(&id) {
                    let _: i64 = self.run(con.zadd(&to_order, &id, *at)).await?;
                }
                done.outbox_entries += 1;
            }
            let _: i64 = self.run(con.del(&[old(hash), old(order)])).await?;
        }

        for key in scan(urls, &old("topup:*")).await? {
            let id = key.rsplit(':').next().unwrap_or_default().to_string();
            let ttl: i64 = self.run(con.pttl(&key)).await?;
            let ttl = if ttl > 0 { ttl } else { self.retention_ms() };
            let kind: String = self.run(redis::cmd("TYPE").arg(&key).query_async(&mut con)).await?;
            if kind == "hash" {
                let fields: HashMap<String, String> = self.run(con.hgetall(&key)).await?;
                let (Some(buyer), Some(amount)) = (fields.get("buyer"), fields.get("amount")) else {
                    return Err(corrupt(format!("{key}: a top-up marker without buyer or amount")));
                };
                self.register_buyer(buyer).await?;
                let to = self.keys.top_up(buyer, &id);
                let pairs: Vec<(&String, &String)> = fields.iter().collect();
                let _: () = self.run(con.hset_multiple(&to, &pairs)).await?;
                let _: bool = self.run(con.pexpire(&to, ttl)).await?;
                let _: () =
                    self.run(con.pset_ex(self.keys.top_up_id(&id), format!("{buyer}|{amount}"), ttl as u64)).await?;
                done.top_ups += 1;
            } else {
                // An older engine's marker ('1'): its buyer and amount unknown.
                done.dropped += 1;
            }
            let _: i64 = self.run(con.del(&key)).await?;
        }

        // Sale marks leave the consumers' hashes for their buyers' slots.
        let consumer_keys = scan(urls, &format!("{ns}{{*}}:c")).await?;
        for key in consumer_keys {
            let Some(hash) = key
                .strip_prefix(ns)
                .and_then(|r| r.strip_prefix('{'))
                .and_then(|r| r.strip_suffix("}:c"))
                .and_then(Sha256Hex::parse)
            else {
                continue;
            };
            let fields: HashMap<String, String> = self.run(con.hgetall(&key)).await?;
            let mut moved = Vec::new();
            for (field, value) in &fields {
                let Some(sale_id) = field.strip_prefix("s:") else { continue };
                let mark = codec::decode_mark(value)?;
                if mark.state.is_some() {
                    self.register_buyer(mark.buyer).await?;
                    let to = self.keys.bought(mark.buyer, &hash);
                    let _: i64 = self.run(con.hset(&to, sale_id, value)).await?;
                    let _: bool = self.run(con.pexpire(&to, self.retention_ms())).await?;
                    done.marks += 1;
                } else {
                    done.dropped += 1;
                }
                moved.push(field.clone());
            }
            if !moved.is_empty() {
                let _: i64 = self.run(con.hdel(&key, &moved)).await?;
            }
        }

        let _: i64 = self.run(con.del(&[old("leases"), old("unconfirmed"), old("marks_due")])).await?;
        let _: i64 =
            self.run(con.del(&["pending", "approved", "denied"].map(|s| old(&format!("returns:{s}"))))).await?;
        Ok(done)
    }
}
