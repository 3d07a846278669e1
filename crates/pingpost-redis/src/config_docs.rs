//! The configuration document on Redis: one hash (version, write id, body), written by a
//! compare-and-set script (`lua/save_config.lua`) waited for like an admission.

use crate::codec::corrupt;
use crate::scripts::ScriptCall;
use crate::store::Replicas;
use crate::RedisStore;
use pingpost_store::{ConfigDoc, ConfigDocs, ConfigStamp, StoreFuture};

impl ConfigDocs for RedisStore {
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut fields = redis::cmd("HMGET");
            fields.arg(self.keys.config()).arg(&["v", "rev", "doc"][..]);
            let (version, rev, body): (Option<u64>, Option<String>, Option<Vec<u8>>) =
                self.run(fields.query_async(&mut con)).await?;
            match (version, body) {
                (Some(version), Some(body)) => Ok(Some(ConfigDoc { stamp: config_stamp(version, rev), body })),
                (None, None) => Ok(None),
                _ => Err(corrupt("configuration document without its version")),
            }
        })
    }

    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut fields = redis::cmd("HMGET");
            fields.arg(self.keys.config()).arg(&["v", "rev"][..]);
            let (version, rev): (Option<u64>, Option<String>) = self.run(fields.query_async(&mut con)).await?;
            Ok(version.map(|v| config_stamp(v, rev)))
        })
    }

    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(async move {
            let (expected_version, expected_rev) = expected.map_or((0, String::new()), |s| (s.version, s.rev));
            let mut call = ScriptCall::new(&self.scripts.save_config);
            call.key(self.keys.config()).arg(expected_version).arg(expected_rev).arg(&rev).arg(body);
            let (version, replicas): (i64, Replicas) = self.waited_step("redis.save_config", &call).await?;
            let Ok(version) = u64::try_from(version) else { return Ok(None) };
            replicas.require()?;
            Ok(Some(ConfigStamp { version, rev }))
        })
    }
}

/// A stored document's stamp; one written before writes had ids has the empty one.
fn config_stamp(version: u64, rev: Option<String>) -> ConfigStamp {
    ConfigStamp { version, rev: rev.unwrap_or_default() }
}
