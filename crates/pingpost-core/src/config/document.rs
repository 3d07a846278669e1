//! The configuration as one document: every resource in its raw shape, as the admin API
//! reads and writes it and as the store keeps it. The document is what is versioned and
//! replaced as a whole, so an edit is validated against everything else before it exists.

use super::raw::*;
use super::validate::{validate, ConfigError, Located, Origin, RawConfig};
use super::Config;
use crate::identity::Sha256Hex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    #[serde(default)]
    pub verticals: Vec<RawVertical>,
    #[serde(default)]
    pub offers: Vec<RawOffer>,
    #[serde(default)]
    pub partners: Vec<RawPartner>,
    #[serde(default)]
    pub buyers: Vec<RawBuyer>,
    #[serde(default)]
    pub contracts: Vec<RawContract>,
    #[serde(default)]
    pub return_reasons: Vec<RawReturnReason>,
}

/// What every edit of a document is checked against; the file name errors carry.
const ORIGIN: &str = "configuration";

impl ConfigDocument {
    /// The document of files already parsed (origins dropped) with partner keys hashed.
    pub fn from_raw(raw: &RawConfig) -> Self {
        fn values<T: Clone>(items: &[Located<T>]) -> Vec<T> {
            items.iter().map(|l| l.value.clone()).collect()
        }
        let mut doc = ConfigDocument {
            verticals: values(&raw.verticals),
            offers: values(&raw.offers),
            partners: values(&raw.partners),
            buyers: values(&raw.buyers),
            contracts: values(&raw.contracts),
            return_reasons: values(&raw.return_reasons),
        };
        for p in &mut doc.partners {
            hash_partner_key(p);
        }
        for b in &mut doc.buyers {
            hash_buyer_key(b);
        }
        doc
    }

    fn to_raw(&self) -> RawConfig {
        fn located<T: Clone>(items: &[T]) -> Vec<Located<T>> {
            items
                .iter()
                .map(|v| Located { origin: Origin { file: ORIGIN.into(), line: None }, value: v.clone() })
                .collect()
        }
        RawConfig {
            verticals: located(&self.verticals),
            offers: located(&self.offers),
            partners: located(&self.partners),
            buyers: located(&self.buyers),
            contracts: located(&self.contracts),
            return_reasons: located(&self.return_reasons),
        }
    }

    /// Every field, id and reference checked, as for files; templates may name any secret
    /// (see [`ConfigDocument::validate_with`]).
    pub fn validate(&self) -> Result<Config, Vec<ConfigError>> {
        validate(&self.to_raw(), &super::validate::AnySecret)
    }

    /// [`ConfigDocument::validate`], templates naming only the secrets `secrets` has.
    pub fn validate_with(&self, secrets: &dyn super::validate::SecretNames) -> Result<Config, Vec<ConfigError>> {
        validate(&self.to_raw(), secrets)
    }
}

/// A partner's plaintext key becomes its SHA-256 before anything is kept. When both are
/// given and disagree, the plaintext is kept (unhashed, in memory only) so validation
/// reports the mismatch.
pub fn hash_partner_key(p: &mut RawPartner) {
    hash_key(&mut p.api_key, &mut p.api_key_sha256);
}

/// A buyer's plaintext key, as a partner's: kept only as its SHA-256.
pub fn hash_buyer_key(b: &mut RawBuyer) {
    hash_key(&mut b.api_key, &mut b.api_key_sha256);
}

fn hash_key(plain: &mut Option<String>, hashed: &mut Option<String>) {
    let Some(key) = plain.as_deref() else { return };
    let digest = Sha256Hex::digest(key).to_string();
    match hashed.as_deref() {
        Some(given) if !given.eq_ignore_ascii_case(&digest) => {}
        _ if key.len() < 16 => {}
        _ => {
            *hashed = Some(digest);
            *plain = None;
        }
    }
}

/// One kind of resource in the document: how to find its table and its id.
pub trait Resource: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// The table name, as in files and URLs (`contracts`).
    const TABLE: &'static str;
    fn id(&self) -> &str;
    fn set_id(&mut self, id: String);
    fn table(doc: &ConfigDocument) -> &Vec<Self>;
    fn table_mut(doc: &mut ConfigDocument) -> &mut Vec<Self>;
}

macro_rules! resource {
    ($t:ty, $table:ident) => {
        impl Resource for $t {
            const TABLE: &'static str = stringify!($table);
            fn id(&self) -> &str {
                &self.id
            }
            fn set_id(&mut self, id: String) {
                self.id = id;
            }
            fn table(doc: &ConfigDocument) -> &Vec<Self> {
                &doc.$table
            }
            fn table_mut(doc: &mut ConfigDocument) -> &mut Vec<Self> {
                &mut doc.$table
            }
        }
    };
}

resource!(RawVertical, verticals);
resource!(RawOffer, offers);
resource!(RawPartner, partners);
resource!(RawBuyer, buyers);
resource!(RawContract, contracts);
resource!(RawReturnReason, return_reasons);

impl ConfigDocument {
    pub fn get<R: Resource>(&self, id: &str) -> Option<&R> {
        R::table(self).iter().find(|r| r.id() == id)
    }

    /// Inserts or replaces; answers whether the id is new.
    pub fn put<R: Resource>(&mut self, item: R) -> bool {
        let table = R::table_mut(self);
        match table.iter_mut().find(|r| r.id() == item.id()) {
            Some(slot) => {
                *slot = item;
                false
            }
            None => {
                table.push(item);
                true
            }
        }
    }

    /// Removes; answers whether it was there.
    pub fn remove<R: Resource>(&mut self, id: &str) -> bool {
        let table = R::table_mut(self);
        let before = table.len();
        table.retain(|r| r.id() != id);
        table.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> ConfigDocument {
        serde_json::from_value(json!({
            "verticals": [{"id": "auto", "dedup_window_days": 30}],
            "offers": [{"id": "o1", "vertical": "auto"}],
            "partners": [{"id": "p1", "api_key": "a-partner-key-of-some-length", "offers": ["o1"]}],
            "buyers": [{"id": "b1", "post_url": "http://127.0.0.1:9/post"}],
            "contracts": [{"id": "c1", "buyer": "b1", "offer": "o1", "price": "1.00"}]
        }))
        .unwrap()
    }

    #[test]
    fn partner_keys_are_kept_only_as_their_digest() {
        let mut d = doc();
        hash_partner_key(&mut d.partners[0]);
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains("a-partner-key-of-some-length"));
        assert!(json.contains(Sha256Hex::digest("a-partner-key-of-some-length").as_str()));
        assert!(d.validate().is_ok());
    }

    #[test]
    fn removing_a_used_buyer_fails_validation_on_its_contract() {
        let mut d = doc();
        hash_partner_key(&mut d.partners[0]);
        assert!(d.remove::<RawBuyer>("b1"));
        let errors = d.validate().unwrap_err();
        assert_eq!((errors[0].table, errors[0].field.as_str()), ("contracts", "buyer"));
    }
}
