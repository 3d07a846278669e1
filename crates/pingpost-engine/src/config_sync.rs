//! The configuration in force, kept in the store so every node runs the same one.
//!
//! The store holds one versioned document. An edit reads it, changes it, validates the
//! whole result and writes it back only if nobody wrote in between (compare-and-set),
//! retrying otherwise: an edit is never half-applied nor lost to a concurrent one. The node
//! that made the edit adopts it at once; the others notice the new version when they poll
//! ([`Engine::refresh_config`], every [`POLL_INTERVAL`]).

use crate::Engine;
use pingpost_core::config::{Config, ConfigDocument, ConfigError};
use pingpost_store::{Store, StoreError};
use std::sync::Arc;
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored configuration unreadable: {0}")]
    Corrupt(String),
}

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

/// The configuration to start with: the store's, or — when the store has none yet — `seed`
/// (the `contracts/` files), written to the store first. Answers its version and whether
/// the seed was used.
pub async fn bootstrap(store: &dyn Store, seed: &ConfigDocument) -> Result<(u64, Config, bool), EditError> {
    loop {
        if let Some(doc) = store.config().await? {
            let (_, config) = decode(&doc.body)?;
            return Ok((doc.version, config, false));
        }
        let config = seed.validate().map_err(EditError::Invalid)?;
        if let Some(version) = store.save_config(0, encode(seed)?).await? {
            return Ok((version, config, true));
        }
        // Another node seeded it first: use theirs.
    }
}

impl Engine {
    /// Makes `config` (of document `version`) the one in force, unless a newer one already is.
    fn adopt_config(&self, version: u64, config: Config) {
        let mut current = self.config.write().unwrap_or_else(|p| p.into_inner());
        if version > current.0 {
            *current = (version, Arc::new(config));
        }
    }

    pub fn config_version(&self) -> u64 {
        self.config.read().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Adopts the store's document if it changed; answers whether it did.
    pub async fn refresh_config(&self) -> Result<bool, EditError> {
        let version = self.store.config_version().await?;
        if version <= self.config_version() {
            return Ok(false);
        }
        let Some(doc) = self.store.config().await? else { return Ok(false) };
        let (_, config) = decode(&doc.body)?;
        self.adopt_config(doc.version, config);
        Ok(true)
    }

    /// The document as the store holds it now.
    pub async fn config_document(&self) -> Result<ConfigDocument, EditError> {
        match self.store.config().await? {
            Some(doc) => Ok(decode(&doc.body)?.0),
            None => Ok(ConfigDocument::default()),
        }
    }

    /// Applies `edit` to the current document, validates the result and stores it if no
    /// other write came in between (retrying on the newer document otherwise). `edit` may
    /// run more than once, so it must only depend on the document it is given.
    pub async fn edit_config<T>(
        &self,
        edit: impl Fn(&mut ConfigDocument) -> Result<T, EditError>,
    ) -> Result<T, EditError> {
        let _one_at_a_time = self.edits.lock().await;
        for attempt in 0..EDIT_ATTEMPTS {
            if attempt > 0 {
                // Another node won the last round: let it finish before reading again.
                tokio::time::sleep(EDIT_BACKOFF * attempt as u32).await;
            }
            let (version, mut doc) = match self.store.config().await? {
                Some(stored) => (stored.version, decode(&stored.body)?.0),
                None => (0, ConfigDocument::default()),
            };
            let answer = edit(&mut doc)?;
            let config = doc.validate().map_err(EditError::Invalid)?;
            if let Some(new_version) = self.store.save_config(version, encode(&doc)?).await? {
                self.adopt_config(new_version, config);
                return Ok(answer);
            }
        }
        Err(EditError::Conflict)
    }
}
