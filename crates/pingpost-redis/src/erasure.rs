//! Erasure on Redis: per hash, one script in the consumer's slot (`lua/erase.lua`) and one
//! in each buyer's (`lua/erase_bought.lua`, its sale marks on the identifier), each waited
//! for like an admission.

use crate::codec::ms;
use crate::scripts::ScriptCall;
use crate::store::Replicas;
use crate::RedisStore;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::Timestamp;
use pingpost_store::{Erased, Erasure, StoreFuture};

impl Erasure for RedisStore {
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased> {
        Box::pin(async move {
            let mut erased = Erased::default();
            for h in hashes {
                let mut call = ScriptCall::new(&self.scripts.erase);
                call.key(self.keys.consumer(&h)).arg(ms(now));
                let (counts, replicas): ((u64, u64, u64, u64), Replicas) =
                    self.waited_step("redis.erase", &call).await?;
                replicas.require()?;
                erased +=
                    Erased { vertical_submissions: counts.0, sales: counts.1, dq: counts.2, kept_in_flight: counts.3 };
                let h = &h;
                let per_buyer = self
                    .per_buyer(|b| async move {
                        let mut call = ScriptCall::new(&self.scripts.erase_bought);
                        call.key(self.keys.bought(&b, h)).arg(ms(now));
                        let (counts, replicas): ((u64, u64), Replicas) =
                            self.waited_step("redis.erase_bought", &call).await?;
                        replicas.require()?;
                        Ok(counts)
                    })
                    .await?;
                for (removed, kept) in per_buyer {
                    erased += Erased { sales: removed, kept_in_flight: kept, ..Erased::default() };
                }
            }
            Ok(erased)
        })
    }
}
