//! The whole store as a [`Snapshot`], read key by key from every node, so that tests can
//! check the sale guarantees over everything Redis holds (`pingpost_store::invariants`).
//! For tests and tools: it scans the namespace, which production requests never do.

use crate::codec::{self, corrupt, parse_ms};
use crate::Keys;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::ids::{BuyerId, VerticalId};
use pingpost_store::invariants::{ConsumerSnap, DebitSnap, MarkSnap, SaleSnap, Snapshot, VerticalSnap};
use pingpost_store::{StoreError, StoreResult};
use redis::AsyncCommands;
use std::collections::HashMap;

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Reads every key of `keys`' namespace on every node of `urls` (one URL, or a cluster's).
pub async fn snapshot(urls: &str, keys: &Keys) -> StoreResult<Snapshot> {
    let mut snap = Snapshot::default();
    let prefix = keys.pattern();
    let prefix = prefix.trim_end_matches('*');
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let mut con = client.get_multiplexed_async_connection().await.map_err(unavailable)?;
        let names: Vec<String> = {
            let mut iter: redis::AsyncIter<String> = con.scan_match(keys.pattern()).await.map_err(unavailable)?;
            let mut names = Vec::new();
            while let Some(k) = iter.next_item().await {
                names.push(k.map_err(unavailable)?);
            }
            names
        };
        for name in names {
            let Some(rest) = name.strip_prefix(prefix) else { continue };
            if let Some(hash) = rest.strip_prefix('{').and_then(|r| r.strip_suffix("}:c")) {
                let fields: HashMap<String, String> = con.hgetall(&name).await.map_err(unavailable)?;
                let c = consumer_entry(&mut snap, hash)?;
                read_consumer(c, fields)?;
            } else if let Some(hash) = rest.strip_prefix('{').and_then(|r| r.strip_suffix("}:sup")) {
                let since: String = con.get(&name).await.map_err(unavailable)?;
                consumer_entry(&mut snap, hash)?.suppressed_at = Some(parse_ms(&since)?);
            } else if let Some((_, hash)) = rest.strip_prefix("{b:").and_then(|r| r.split_once("}:bought:")) {
                let fields: HashMap<String, String> = con.hgetall(&name).await.map_err(unavailable)?;
                let c = consumer_entry(&mut snap, hash)?;
                read_marks(c, fields)?;
            } else if let Some((_, id)) = rest.strip_prefix("{b:").and_then(|r| r.split_once("}:sale:")) {
                let fields: HashMap<String, String> = con.hgetall(&name).await.map_err(unavailable)?;
                if let Some(sale) = read_sale(&fields)? {
                    snap.sales.insert(id.to_string(), sale);
                }
            } else if let Some((_, counter)) = rest.strip_prefix("{b:").and_then(|r| r.split_once("}:ctr:")) {
                let value: i64 = con.get(&name).await.map_err(unavailable)?;
                snap.counters.insert(counter.to_string(), value);
            }
        }
    }
    Ok(snap)
}

fn consumer_entry<'a>(snap: &'a mut Snapshot, hash: &str) -> StoreResult<&'a mut ConsumerSnap> {
    let hash = Sha256Hex::parse(hash).ok_or_else(|| corrupt(format!("consumer key {hash:?}")))?;
    Ok(snap.consumers.entry(hash).or_default())
}

fn read_consumer(c: &mut ConsumerSnap, fields: HashMap<String, String>) -> StoreResult<()> {
    for (field, value) in fields {
        if let Some(vertical) = field.strip_prefix("v:") {
            let v = codec::decode_vertical(&value)?;
            c.vertical.push(VerticalSnap {
                vertical: VerticalId::new(vertical),
                at: v.at,
                ping_id: v.ping_id.to_string(),
                pending_until: v.pending_until,
                replaced: v.replaced,
            });
        } else if let Some(sale_id) = field.strip_prefix("s:") {
            let m = codec::decode_mark(&value)?;
            c.marks.push(MarkSnap {
                sale_id: sale_id.to_string(),
                buyer: BuyerId::new(m.buyer),
                at: m.at,
                state: m.state,
                lease_until: m.lease_until,
            });
        } else if let Some(buyer) = field.strip_prefix("d:") {
            c.dq.push((BuyerId::new(buyer), parse_ms(&value)?));
        }
    }
    // In a fixed order, not the hash map's: two snapshots of one state compare equal.
    c.vertical.sort_by(|a, b| a.vertical.as_str().cmp(b.vertical.as_str()));
    c.marks.sort_by(|a, b| a.sale_id.cmp(&b.sale_id));
    c.dq.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(())
}

/// A buyer's sale marks on one identifier (sale id -> mark).
fn read_marks(c: &mut ConsumerSnap, fields: HashMap<String, String>) -> StoreResult<()> {
    for (sale_id, value) in fields {
        let m = codec::decode_mark(&value)?;
        c.marks.push(MarkSnap {
            sale_id,
            buyer: BuyerId::new(m.buyer),
            at: m.at,
            state: m.state,
            lease_until: m.lease_until,
        });
    }
    c.marks.sort_by(|a, b| a.sale_id.cmp(&b.sale_id));
    Ok(())
}

fn read_sale(fields: &HashMap<String, String>) -> StoreResult<Option<SaleSnap>> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let (Some(rec), Some(price), Some(state)) = (field("rec"), field("price"), field("st")) else {
        return Ok(None); // a release's tombstone, or a take-over's fence
    };
    let record = codec::decode_record(codec::StoredSale {
        rec,
        price,
        payout: field("payout").unwrap_or(""),
        state,
        reason: field("reason").unwrap_or(""),
        sold: field("sold").unwrap_or(""),
        lead: field("lead").unwrap_or(""),
    })?;
    let idents = codec::decode_idents(field("idents").unwrap_or(""))?;
    // cjson encodes an empty list as an empty object.
    let debits = match field("debits") {
        None | Some("{}") => "[]",
        Some(d) => d,
    };
    let raw: Vec<(String, i64, i64, i64, String)> =
        serde_json::from_str(debits).map_err(|e| corrupt(format!("debits: {e}")))?;
    // Debits name their counters by full key; the snapshot by what follows the prefix.
    let counter = |key: &str| key.split_once("}:ctr:").map_or(key, |(_, name)| name).to_string();
    let debits = raw
        .into_iter()
        .map(|(key, amount, is_money, limit, credit)| DebitSnap {
            key: counter(&key),
            amount,
            limit,
            is_money: is_money == 1,
            credit_key: (!credit.is_empty()).then(|| counter(&credit)),
        })
        .collect();
    Ok(Some(SaleSnap { record, idents, debits }))
}
