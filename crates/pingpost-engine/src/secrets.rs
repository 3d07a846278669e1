//! The secrets a node renders buyers' calls with: those in the store, shared by every node,
//! and those of the node's own environment (`PINGPOST_SECRET_<NAME>`), read once at start.
//!
//! **The environment wins.** A name set in a node's environment is that value on that node
//! for the life of the process, whatever the store holds; the operators' list shows it with
//! `source: "environment"`, and a write or delete of it through that node is refused
//! ([`SecretError::FromEnvironment`]) — it would change nothing there. Other nodes, without
//! the variable, use the store's.
//!
//! The node holds a [`SecretsView`] and swaps it whole: a request reads one view and renders
//! with it, never half of two writes. It polls the store's stamp every
//! [`crate::config_sync::POLL_INTERVAL`] ([`follow`]) and reloads the whole set when the
//! stamp is another than the one it holds; the node that made a write reloads at once. The
//! store is the truth: a store that lost its secrets leaves every node with its environment's
//! only, as the operators' list then shows.
//!
//! A value is never written to a log line, an error or an answer: the types see to it
//! ([`SecretValue`] prints as [`MASK`]), and [`SecretsView::redact`] masks whatever text may
//! hold a rendered one.
//!
//! Secrets are a resource of their own, apart from the configuration document (whose
//! `contracts/` files must hold none) and from the dedup store: the store crate's
//! `SecretStore` trait (a stamp, the whole set, put, delete; each write re-sendable by its
//! `rev`), at most `MAX_SECRETS` (1 000) per store, run through
//! `pingpost_store::secrets::conformance` on both stores. Values are kept as given: the store
//! is as sensitive as the secrets. The configuration is validated against secret *names*: the
//! files and a stored document accept any name (`AnySecret`; a call naming one not set fails
//! `missing_secret`), an edit only the names set now. Since an edit validates the whole
//! document, a buyer naming a secret set nowhere makes every edit refused until it is set.

use crate::Engine;
use pingpost_core::secret::{self, SecretNameError, SecretValueError, ENV_PREFIX};
pub use pingpost_core::secret::{SecretName, SecretValue, MASK};
use pingpost_core::Timestamp;
use pingpost_store::{SecretPut, SecretSet, SecretStore, SecretsStamp, StoreError, MAX_SECRETS};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::sync::{Arc, RwLock};

/// Where a secret in force on a node comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// The node's environment (`PINGPOST_SECRET_<NAME>`), fixed at start.
    Environment,
    /// The store, shared by every node.
    Store,
}

/// A node's own secrets, from its environment: fixed for the life of the process.
#[derive(Clone, Debug, Default)]
pub struct EnvSecrets(BTreeMap<SecretName, SecretValue>);

/// A `PINGPOST_SECRET_*` variable that cannot be a secret: names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvSecretError {
    #[error("{var}: the part after {ENV_PREFIX} {reason}")]
    Name { var: String, reason: SecretNameError },
    #[error("{var}: the value {reason}")]
    Value { var: String, reason: SecretValueError },
    #[error("{var}: the value is not UTF-8")]
    NotUtf8 { var: String },
    #[error("{var} and {other} name the same secret (names are read without regard to case)")]
    Twice { var: String, other: String },
}

impl EnvSecrets {
    /// The secrets among `vars` (a process's environment): every `PINGPOST_SECRET_<NAME>`,
    /// `<NAME>` read without regard to case. Any other variable is left alone; one of these
    /// that cannot be a secret is an error, so that a node does not start without a secret
    /// its operator meant to give it.
    pub fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Self, EnvSecretError> {
        let mut found: BTreeMap<SecretName, (String, SecretValue)> = BTreeMap::new();
        for (var, value) in vars {
            let Some(var) = var.to_str().filter(|v| v.starts_with(ENV_PREFIX)).map(str::to_string) else { continue };
            let name = SecretName::parse(&var[ENV_PREFIX.len()..])
                .map_err(|reason| EnvSecretError::Name { var: var.clone(), reason })?;
            let value = value.into_string().map_err(|_| EnvSecretError::NotUtf8 { var: var.clone() })?;
            let value = SecretValue::new(value).map_err(|reason| EnvSecretError::Value { var: var.clone(), reason })?;
            if let Some((other, _)) = found.get(&name) {
                return Err(EnvSecretError::Twice { var, other: other.clone() });
            }
            found.insert(name, (var, value));
        }
        Ok(EnvSecrets(found.into_iter().map(|(name, (_, value))| (name, value)).collect()))
    }

    /// The secrets given (tests).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (SecretName, SecretValue)>) -> Self {
        EnvSecrets(pairs.into_iter().collect())
    }

    pub fn contains(&self, name: &SecretName) -> bool {
        self.0.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &SecretName> {
        self.0.keys()
    }
}

/// The secrets in force on a node at one moment. Cheap to hold: a request takes one
/// ([`Engine::secrets`]) and renders every call with it.
#[derive(Debug, Default)]
pub struct SecretsView {
    by_name: HashMap<SecretName, (SecretValue, SecretSource)>,
}

impl SecretsView {
    fn of(set: &SecretSet, environment: &EnvSecrets) -> Self {
        let stored = set.secrets.iter().map(|s| (s.name.clone(), (s.value.clone(), SecretSource::Store)));
        let own = environment.0.iter().map(|(n, v)| (n.clone(), (v.clone(), SecretSource::Environment)));
        // The environment's come last, so they win.
        SecretsView { by_name: stored.chain(own).collect() }
    }

    /// The value of the secret `name` (read without regard to case), if there is one.
    pub fn get(&self, name: &str) -> Option<SecretValue> {
        self.entry(name).map(|(v, _)| v.clone())
    }

    /// Whether a secret `name` exists (what configuration validation asks of a template).
    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// Where the secret `name` comes from, if there is one.
    pub fn source(&self, name: &str) -> Option<SecretSource> {
        self.entry(name).map(|(_, s)| *s)
    }

    fn entry(&self, name: &str) -> Option<&(SecretValue, SecretSource)> {
        match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => self.by_name.get(name.to_ascii_lowercase().as_str()),
            false => self.by_name.get(name),
        }
    }

    /// `text` with every secret's value in it replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        secret::redact(text, self.by_name.values().map(|(v, _)| v))
    }

    pub fn names(&self) -> impl Iterator<Item = &SecretName> {
        self.by_name.keys()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// One line of the operators' list: never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretListing {
    pub name: SecretName,
    /// When it was last written; `None` for one from the environment.
    pub updated_at: Option<Timestamp>,
    pub source: SecretSource,
}

/// A write's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretWritten {
    pub created: bool,
    pub updated_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{0} is set on this node by its environment ({var}), which overrides the store: change or unset it there",
        var = .0.env_var()
    )]
    FromEnvironment(SecretName),
    #[error("no secret named {0}")]
    NotFound(SecretName),
    #[error("the store holds {MAX_SECRETS} secrets already, the most it keeps: delete one first")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The engine's part: where secrets come from, and the view in force.
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    environment: EnvSecrets,
    held: RwLock<(Option<SecretsStamp>, Arc<SecretsView>)>,
    /// Serializes this node's reloads, so that a slower one never adopts an older set over
    /// the newer one another has just adopted.
    reloads: tokio::sync::Mutex<()>,
}

impl Secrets {
    /// The environment's secrets only, until the first [`Secrets::refresh`] reads the store's.
    pub fn new(store: Arc<dyn SecretStore>, environment: EnvSecrets) -> Self {
        let view = SecretsView::of(&SecretSet::default(), &environment);
        Secrets { store, environment, held: RwLock::new((None, Arc::new(view))), reloads: Default::default() }
    }

    /// [`Secrets::new`] with the store's secrets read: a node starts with both.
    pub async fn load(store: Arc<dyn SecretStore>, environment: EnvSecrets) -> Result<Self, StoreError> {
        let secrets = Secrets::new(store, environment);
        secrets.refresh().await?;
        Ok(secrets)
    }

    pub fn view(&self) -> Arc<SecretsView> {
        Arc::clone(&self.held.read().unwrap_or_else(|p| p.into_inner()).1)
    }

    fn stamp(&self) -> Option<SecretsStamp> {
        self.held.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Adopts the store's set if its stamp is another than the one held; answers whether it did.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        if self.store.secrets_stamp().await? == self.stamp() {
            return Ok(false);
        }
        let _reload = self.reloads.lock().await;
        let set = self.store.secrets().await?;
        if set.stamp == self.stamp() {
            return Ok(false);
        }
        let view = Arc::new(SecretsView::of(&set, &self.environment));
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = (set.stamp, view);
        Ok(true)
    }

    /// After this node's own write: reloads at once, or leaves it to the next poll.
    async fn adopt_own_write(&self) {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "secrets not reloaded after a write; the next poll takes them");
        }
    }

    fn not_from_environment(&self, name: &SecretName) -> Result<(), SecretError> {
        match self.environment.contains(name) {
            true => Err(SecretError::FromEnvironment(name.clone())),
            false => Ok(()),
        }
    }

    async fn list(&self) -> Result<Vec<SecretListing>, StoreError> {
        let set = self.store.secrets().await?;
        let stored = set.secrets.into_iter().filter(|s| !self.environment.contains(&s.name)).map(|s| SecretListing {
            name: s.name,
            updated_at: Some(s.updated_at),
            source: SecretSource::Store,
        });
        let own = self.environment.names().map(|name| SecretListing {
            name: name.clone(),
            updated_at: None,
            source: SecretSource::Environment,
        });
        let mut all: Vec<SecretListing> = stored.chain(own).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn put(&self, name: SecretName, value: SecretValue, at: Timestamp) -> Result<SecretWritten, SecretError> {
        self.not_from_environment(&name)?;
        // What every store keeps of a time (Redis: milliseconds), so the answer is the list's.
        let at = chrono::SubsecRound::trunc_subsecs(at, 3);
        let put = self.store.put_secret(name.clone(), value, at, new_rev()).await?;
        let created = match put {
            SecretPut::Created => true,
            SecretPut::Replaced => false,
            SecretPut::Full => return Err(SecretError::Full),
        };
        tracing::info!(secret = %name, created, "secret stored");
        self.adopt_own_write().await;
        Ok(SecretWritten { created, updated_at: at })
    }

    async fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        self.not_from_environment(&name)?;
        if !self.store.delete_secret(name.clone(), new_rev()).await? {
            return Err(SecretError::NotFound(name));
        }
        tracing::info!(secret = %name, "secret deleted");
        self.adopt_own_write().await;
        Ok(())
    }
}

/// An id for one write: random, so no two writes share one.
fn new_rev() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Engine {
    /// The secrets in force on this node now: take one view per request and render with it.
    pub fn secrets(&self) -> Arc<SecretsView> {
        self.secrets.view()
    }

    /// Adopts the store's secrets if they changed; answers whether they did (see [`follow`]).
    pub async fn refresh_secrets(&self) -> Result<bool, StoreError> {
        self.secrets.refresh().await
    }

    /// Every secret's name, when it was written and where it comes from, by name: the
    /// store's as it holds them now, and this node's environment's.
    pub async fn list_secrets(&self) -> Result<Vec<SecretListing>, StoreError> {
        self.secrets.list().await
    }

    /// Creates or replaces a secret in the store, in force on this node at once and on every
    /// other within a poll.
    pub async fn put_secret(&self, name: SecretName, value: SecretValue) -> Result<SecretWritten, SecretError> {
        self.secrets.put(name, value, self.now()).await
    }

    pub async fn delete_secret(&self, name: SecretName) -> Result<(), SecretError> {
        self.secrets.delete(name).await
    }
}

/// Picks up secrets written through any node, every [`crate::config_sync::POLL_INTERVAL`];
/// run for the life of the node.
pub async fn follow(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(crate::config_sync::POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match engine.refresh_secrets().await {
            Ok(true) => tracing::info!(secrets = engine.secrets().len(), "secrets updated"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "secrets not refreshed"),
        }
    }
}

/// What a buyer's templates read through `secret(name)`.
impl pingpost_core::adapter::Secrets for SecretsView {
    fn secret(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|(v, _)| v.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingpost_store::MemoryStore;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn name(text: &str) -> SecretName {
        SecretName::parse(text).unwrap()
    }

    #[test]
    fn the_environment_gives_each_prefixed_variable_as_a_secret_and_refuses_a_bad_one_by_its_name() {
        let env = EnvSecrets::from_vars(os(&[
            ("PINGPOST_SECRET_CARRIER_X_KEY", "k1"),
            ("PINGPOST_STORE", "memory"),
            ("HOME", "/root"),
        ]))
        .unwrap();
        assert_eq!(env.names().map(SecretName::as_str).collect::<Vec<_>>(), ["carrier_x_key"]);

        let refused = |pairs: &[(&str, &str)]| EnvSecrets::from_vars(os(pairs)).unwrap_err().to_string();
        let e = refused(&[("PINGPOST_SECRET_CARRIER-X", "do-not-print")]);
        assert!(e.contains("PINGPOST_SECRET_CARRIER-X") && !e.contains("do-not-print"), "{e}");
        let e = refused(&[("PINGPOST_SECRET_", "do-not-print")]);
        assert!(e.contains("must not be empty") && !e.contains("do-not-print"), "{e}");
        let e = refused(&[("PINGPOST_SECRET_EMPTY", "")]);
        assert!(e.contains("PINGPOST_SECRET_EMPTY: the value must not be empty"), "{e}");
        let e = refused(&[("PINGPOST_SECRET_KEY", "do-not-print"), ("PINGPOST_SECRET_key", "do-not-print")]);
        assert!(e.contains("same secret") && !e.contains("do-not-print"), "{e}");
    }

    #[tokio::test]
    async fn the_environment_overrides_the_store_and_is_listed_as_the_source() {
        let store = Arc::new(MemoryStore::new());
        let value = |v: &str| SecretValue::new(v).unwrap();
        let at = chrono::DateTime::UNIX_EPOCH;
        store.put_secret(name("shared"), value("from-store"), at, "r1".into()).await.unwrap();
        store.put_secret(name("stored"), value("only-stored"), at, "r2".into()).await.unwrap();
        let env = EnvSecrets::from_pairs([(name("shared"), value("from-env")), (name("own"), value("own-env"))]);
        let secrets = Secrets::load(store, env).await.unwrap();

        let view = secrets.view();
        assert_eq!(view.get("SHARED").map(|v| v.expose().to_string()).as_deref(), Some("from-env"));
        assert_eq!(view.get("stored").map(|v| v.expose().to_string()).as_deref(), Some("only-stored"));
        assert_eq!(view.source("shared"), Some(SecretSource::Environment));
        assert!(view.contains("own") && !view.contains("absent"));
        assert_eq!(view.redact("a from-env and only-stored"), "a •••••• and ••••••");

        let listed = secrets.list().await.unwrap();
        let got: Vec<(&str, SecretSource, bool)> =
            listed.iter().map(|l| (l.name.as_str(), l.source, l.updated_at.is_some())).collect();
        assert_eq!(
            got,
            [
                ("own", SecretSource::Environment, false),
                ("shared", SecretSource::Environment, false),
                ("stored", SecretSource::Store, true)
            ]
        );
        assert!(matches!(secrets.put(name("shared"), value("x"), at).await, Err(SecretError::FromEnvironment(_))));
        assert!(matches!(secrets.delete(name("own")).await, Err(SecretError::FromEnvironment(_))));
    }
}
