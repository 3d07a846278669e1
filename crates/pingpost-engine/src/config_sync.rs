//! The configuration in force, kept in the store so every node runs the same one.
//!
//! The store holds one document, stamped by the write that stored it. An edit reads it,
//! changes it, validates the whole result and writes it back only if nobody wrote in
//! between (compare-and-set), retrying otherwise: an edit is never half-applied nor lost to
//! a concurrent one. The node that made the edit adopts it at once; the others notice the
//! new stamp when they poll ([`Engine::refresh_config`], every [`POLL_INTERVAL`]).
//!
//! A store may lose its last writes (a failover, an append-only file short of its last
//! second). A node then takes whatever document is stored, older or not: it reloads when
//! the stored stamp is another than the one it holds, not only a newer one, and each write
//! has an id of its own, so that the next edit, made at the version a lost one had, is still
//! another document. A store that lost the document altogether refuses edits
//! ([`EditError::Missing`]): saving one would make that edit the whole configuration.
//!
//! The document (`ConfigDocument`) holds every resource in its raw shape, partner keys as
//! digests. An edit (put, delete, or an RFC 7396 merge patch of a contract) is validated as a
//! *whole* document by the same code that validates the `contracts/` files, so an invalid edit
//! is refused whole (422 naming the field) and every node that reads the document reads a
//! valid one. The compare-and-set (`save_config.lua` on Redis) waits for the replicas like an
//! admission. Edits of one node are serialized by a lock, so they never race each other;
//! against other nodes' an edit is tried up to `EDIT_ATTEMPTS` (10) times with a growing pause,
//! then answered 409. A store without a document answers `config_missing` (503). An edit is
//! in force everywhere within about [`POLL_INTERVAL`] (the promise is 1 s;
//! `tests/nodes.rs::a_dedup_edit_on_one_node_is_honoured_by_the_other_within_a_second`); a
//! request keeps the `Arc<Config>` it started with, so a reload never changes a ping half-way.
//!
//! A store without a document is seeded from the `contracts/` files by the first node to start
//! ([`bootstrap`]: of two nodes starting together, one seeds and the other reads its seed; a
//! seed the replicas did not acknowledge is used all the same, the files still have it). A
//! store with a document ignores the files, so API edits survive restarts and a redeploy with
//! old files cannot silently undo them
//! (`tests/nodes.rs::configuration_edits_survive_a_restart_and_the_files_do_not_override_them`).
//!
//! Why one document rather than a key per resource: every validation rule crosses resources
//! (a contract's buyer and offer, a partner's offers, unique partner keys), and one
//! compare-and-set makes "validate everything, then apply" atomic without a multi-key
//! transaction. A configuration is small (300 contracts ≈ 150 KB) and edits are rare.

use crate::Engine;
use pingpost_core::config::{Config, ConfigDocument, ConfigError};
use pingpost_store::{ConfigDocs, ConfigStamp, StoreError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node checks the document's version: edits reach every node within this
/// (plus one store round trip), well inside the promised second.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Attempts of one edit against other nodes' edits before giving up with a conflict.
const EDIT_ATTEMPTS: usize = 10;
/// Pause before a retry, growing with each attempt.
const EDIT_BACKOFF: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0} not found")]
    NotFound(String),
    /// The edit would make the configuration invalid; nothing was written.
    #[error("invalid configuration")]
    Invalid(Vec<ConfigError>),
    /// A request-level refusal that names its field.
    #[error("{field}: {message}")]
    Refused { field: String, message: String },
    #[error("the configuration kept changing under this edit; retry")]
    Conflict,
    /// The store holds no configuration document (it lost it): nothing was written.
    #[error(
        "the store holds no configuration document (lost with its data?); edits wait until a node seeds it at start-up"
    )]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored configuration unreadable: {0}")]
    Corrupt(String),
}

/// A stored document, read: its templates may name any secret (one deleted since would
/// otherwise keep every node from loading the configuration; a call naming it fails, as
/// `missing_secret`, until it is set again).
fn decode(body: &[u8]) -> Result<(ConfigDocument, Config), EditError> {
    let doc: ConfigDocument = serde_json::from_slice(body).map_err(|e| EditError::Corrupt(e.to_string()))?;
    let config = doc
        .validate()
        .map_err(|errors| EditError::Corrupt(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    Ok((doc, config))
}

/// Never falls back to an empty body: writing one would replace the configuration with
/// nothing on every node.
fn encode(doc: &ConfigDocument) -> Result<Vec<u8>, EditError> {
    serde_json::to_vec(doc).map_err(|e| EditError::Corrupt(format!("configuration not serializable: {e}")))
}

/// An id for one write of the document: random, so no two writes share one.
/// The secrets `doc`'s templates name, in lower case.
fn named_secrets(doc: &ConfigDocument) -> HashSet<String> {
    let named = Mutex::new(HashSet::new());
    // Invalid for another reason or not, every template it compiles has been seen.
    let _ = doc.validate_with(&|name: &str| {
        named.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_ascii_lowercase());
        true
    });
    named.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn new_rev() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The configuration to start with: the store's, or — when the store has none yet — `seed`
/// (the `contracts/` files), written to the store first. Answers its stamp and whether the
/// seed was used.
///
/// The seed is written like an edit, waiting for the replicas, but a seed the replicas did
/// not acknowledge is used all the same (nothing but the files is lost should a failover
/// lose it: edits are refused until a node starts again and seeds it anew), so that a node
/// can start, and answer 503 until the replicas are back, with none in sync.
///
/// The files' templates may name secrets not set yet (as `pingpost check` allows): the first
/// command alone must start a fresh engine, and a call naming a secret still unset fails
/// (`missing_secret`) until an operator sets it.
pub async fn bootstrap(
    store: &dyn ConfigDocs,
    seed: &ConfigDocument,
) -> Result<(ConfigStamp, Config, bool), EditError> {
    let rev = new_rev();
    loop {
        if let Some(doc) = store.config().await? {
            let (_, config) = decode(&doc.body)?;
            let own = doc.stamp.rev == rev;
            return Ok((doc.stamp, config, own));
        }
        let config = seed.validate().map_err(EditError::Invalid)?;
        match store.save_config(None, rev.clone(), encode(seed)?).await {
            Ok(Some(stamp)) => return Ok((stamp, config, true)),
            // Another node seeded it first: use theirs.
            Ok(None) => {}
            Err(e) => match store.config().await? {
                Some(doc) if doc.stamp.rev == rev => {
                    tracing::warn!(error = %e, "configuration seeded, but not acknowledged by the replicas");
                }
                _ => return Err(e.into()),
            },
        }
    }
}

impl Engine {
    /// Makes `config`, of the stored document `stamp`, the one in force. Under the edits'
    /// lock: a refresh and an edit of this node never overtake each other.
    fn adopt_config(&self, _edits: &tokio::sync::MutexGuard<'_, ()>, stamp: ConfigStamp, config: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = (Some(stamp), Arc::new(config));
    }

    /// The stamp of the document in force (`None` when it was never stored).
    pub fn config_stamp(&self) -> Option<ConfigStamp> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// The version of the document in force (0 when it was never stored).
    pub fn config_version(&self) -> u64 {
        self.config_stamp().map_or(0, |s| s.version)
    }

    /// Adopts the store's document if it is another than the one in force — newer, or older
    /// after the store lost writes; answers whether it did. A store without a document
    /// changes nothing: the node keeps what it holds, and edits are refused.
    pub async fn refresh_config(&self) -> Result<bool, EditError> {
        let held = self.config_stamp();
        match self.store.config_stamp().await? {
            Some(stored) if Some(&stored) != held.as_ref() => {}
            _ => return Ok(false),
        }
        let edits = self.edits.lock().await;
        let Some(doc) = self.store.config().await? else { return Ok(false) };
        if Some(&doc.stamp) == self.config_stamp().as_ref() {
            return Ok(false);
        }
        let (_, config) = decode(&doc.body)?;
        self.adopt_config(&edits, doc.stamp, config);
        Ok(true)
    }

    /// The document as the store holds it now.
    pub async fn config_document(&self) -> Result<ConfigDocument, EditError> {
        let doc = self.store.config().await?.ok_or(EditError::Missing)?;
        Ok(decode(&doc.body)?.0)
    }

    /// Applies `edit` to the current document, validates the result and stores it if no
    /// other write came in between (retrying on the newer document otherwise). `edit` may
    /// run more than once, so it must only depend on the document it is given.
    pub async fn edit_config<T>(
        &self,
        edit: impl Fn(&mut ConfigDocument) -> Result<T, EditError>,
    ) -> Result<T, EditError> {
        let edits = self.edits.lock().await;
        for attempt in 0..EDIT_ATTEMPTS {
            if attempt > 0 {
                // Another node won the last round: let it finish before reading again.
                tokio::time::sleep(EDIT_BACKOFF * attempt as u32).await;
            }
            let stored = self.store.config().await?.ok_or(EditError::Missing)?;
            let mut doc = decode(&stored.body)?.0;
            let named_before = named_secrets(&doc);
            let answer = edit(&mut doc)?;
            // A secret an edit brings in must be set now; one the document already named may
            // still be unset (the files name secrets before anyone sets them, and a secret
            // may be deleted), else an edit of anything would be refused for it.
            let secrets = self.secrets();
            let known = |name: &str| secrets.contains(name) || named_before.contains(&name.to_ascii_lowercase());
            let config = doc.validate_with(&known).map_err(EditError::Invalid)?;
            if let Some(stamp) = self.store.save_config(Some(stored.stamp), self.ids.token(), encode(&doc)?).await? {
                self.adopt_config(&edits, stamp, config);
                return Ok(answer);
            }
        }
        Err(EditError::Conflict)
    }
}
