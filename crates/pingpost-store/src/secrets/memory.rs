//! Secrets on the embedded store: one table under one lock, each method one critical section.

use super::{SecretPut, SecretSet, SecretStore, SecretsStamp, StoredSecret, MAX_SECRETS};
use crate::{MemoryStore, StoreFuture};
use pingpost_core::secret::{SecretName, SecretValue};
use pingpost_core::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// The stored secrets and what lets a re-sent write recognise itself.
#[derive(Debug, Default)]
pub(crate) struct SecretTable {
    stamp: Option<SecretsStamp>,
    secrets: BTreeMap<SecretName, Entry>,
    /// The `rev` of the delete that removed each name, until the name is written again.
    deleted_by: HashMap<SecretName, String>,
}

#[derive(Debug)]
struct Entry {
    value: SecretValue,
    updated_at: Timestamp,
    rev: String,
    put: SecretPut,
}

impl SecretTable {
    fn bump(&mut self, rev: String) {
        let version = self.stamp.as_ref().map_or(0, |s| s.version) + 1;
        self.stamp = Some(SecretsStamp { version, rev });
    }

    fn put(&mut self, name: SecretName, value: SecretValue, at: Timestamp, rev: String) -> SecretPut {
        let put = match self.secrets.get(&name) {
            Some(e) if e.rev == rev => return e.put,
            Some(_) => SecretPut::Replaced,
            None if self.secrets.len() >= MAX_SECRETS => return SecretPut::Full,
            None => SecretPut::Created,
        };
        self.deleted_by.remove(&name);
        self.secrets.insert(name, Entry { value, updated_at: at, rev: rev.clone(), put });
        self.bump(rev);
        put
    }

    fn delete(&mut self, name: SecretName, rev: String) -> bool {
        if self.secrets.remove(&name).is_some() {
            self.deleted_by.insert(name, rev.clone());
            self.bump(rev);
            return true;
        }
        self.deleted_by.get(&name) == Some(&rev)
    }

    fn set(&self) -> SecretSet {
        let secrets = self
            .secrets
            .iter()
            .map(|(name, e)| StoredSecret { name: name.clone(), value: e.value.clone(), updated_at: e.updated_at })
            .collect();
        SecretSet { stamp: self.stamp.clone(), secrets }
    }

    /// Names and stamps only, for the store's dump.
    pub(crate) fn describe(&self) -> String {
        let names: Vec<&str> = self.secrets.keys().map(SecretName::as_str).collect();
        format!("secrets {:?} {}", self.stamp, names.join(" "))
    }
}

fn lock(m: &Mutex<SecretTable>) -> MutexGuard<'_, SecretTable> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SecretStore for MemoryStore {
    fn secrets_stamp(&self) -> StoreFuture<'_, Option<SecretsStamp>> {
        let stamp = lock(self.secret_table()).stamp.clone();
        Box::pin(std::future::ready(Ok(stamp)))
    }

    fn secrets(&self) -> StoreFuture<'_, SecretSet> {
        let set = lock(self.secret_table()).set();
        Box::pin(std::future::ready(Ok(set)))
    }

    fn put_secret(
        &self,
        name: SecretName,
        value: SecretValue,
        at: Timestamp,
        rev: String,
    ) -> StoreFuture<'_, SecretPut> {
        let put = lock(self.secret_table()).put(name, value, at, rev);
        Box::pin(std::future::ready(Ok(put)))
    }

    fn delete_secret(&self, name: SecretName, rev: String) -> StoreFuture<'_, bool> {
        let deleted = lock(self.secret_table()).delete(name, rev);
        Box::pin(std::future::ready(Ok(deleted)))
    }
}
