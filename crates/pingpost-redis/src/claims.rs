//! Claims on Redis: one key per claim, taken, completed and given up by one script each
//! (`lua/claim.lua`, `lua/complete_claim.lua`, `lua/abandon_claim.lua`), which check the
//! holder before they write.

use crate::codec::{corrupt, ms, ttl_ms};
use crate::store::text;
use crate::RedisStore;
use pingpost_core::Timestamp;
use pingpost_store::{claim_table, Claim, ClaimRequest, Claims, StoreFuture, StoreResult};

/// The claims' state machine as `lua/claim.lua` reads it, built once.
static CLAIM_TABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl RedisStore {
    async fn claim_key(&self, req: ClaimRequest) -> StoreResult<Claim> {
        let mut call = self.scripts.claim.key(self.keys.claim(&req.key));
        call.arg(&req.fingerprint)
            .arg(ms(req.now))
            .arg(ms(req.lease_until))
            .arg(&req.holder)
            .arg(ttl_ms(req.now, req.keep_until))
            .arg(CLAIM_TABLE.get_or_init(claim_table).as_str());
        let reply: Vec<Vec<u8>> = self.step("redis.claim", &call).await?;
        match text(&reply, 0)? {
            "C" => Ok(Claim::Claimed { resumed: text(&reply, 1)? == "1" }),
            "F" => Ok(Claim::InFlight),
            "M" => Ok(Claim::Mismatch),
            "D" => Ok(Claim::Done(reply.get(1).cloned().unwrap_or_default())),
            other => Err(corrupt(format!("claim answered {other:?}"))),
        }
    }
}

impl Claims for RedisStore {
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        Box::pin(self.claim_key(req))
    }

    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut call = self.scripts.complete_claim.key(self.keys.claim(&key));
            call.arg(holder).arg(answer).arg(ttl_ms(now, keep_until));
            let _: i64 = self.step("redis.complete_claim", &call).await?;
            Ok(())
        })
    }

    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut call = self.scripts.abandon_claim.key(self.keys.claim(&key));
            call.arg(holder);
            let _: i64 = self.step("redis.abandon_claim", &call).await?;
            Ok(())
        })
    }
}
