//! Secrets: the credentials buyers' calls carry (API keys, passwords, tokens), kept apart
//! from the configuration so that no `contracts/` file, answer, log line, error message,
//! audit entry or metric ever holds one. A secret's name is public; its value is shown
//! nowhere but in the request it is rendered into.
//!
//! Both types are the edge's checks made types: a [`SecretName`] is always of the name
//! syntax, a [`SecretValue`] always non-empty and bounded, and a value cannot be printed by
//! accident — its `Debug` and `Display` show [`SecretValue::MASK`], it has no `Serialize`,
//! and only [`SecretValue::expose`] gives the text.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What a secret's value is shown as wherever it would appear (previews, errors, logs).
pub const MASK: &str = "••••••";

/// The environment variable prefix of a node's own secrets: `PINGPOST_SECRET_<NAME>`.
pub const ENV_PREFIX: &str = "PINGPOST_SECRET_";

/// A secret's name: 1 to [`SecretName::MAX_LEN`] ASCII letters, digits and `_`, without
/// regard to case and kept in lower case, so that `PINGPOST_SECRET_CARRIER_X_KEY`, a
/// template's `secret('carrier_x_key')` and `PUT /v1/admin/secrets/Carrier_X_Key` all name
/// one secret. (No `-` or `.`: the name must also be an environment variable's.)
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SecretName(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {} characters", SecretName::MAX_LEN)]
    TooLong,
    #[error("must be letters, digits and _ only")]
    Character,
}

impl SecretName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, SecretNameError> {
        if text.is_empty() {
            return Err(SecretNameError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SecretNameError::Character);
        }
        if text.len() > Self::MAX_LEN {
            return Err(SecretNameError::TooLong);
        }
        Ok(SecretName(Arc::from(text.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The environment variable that sets this secret on a node.
    pub fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}", self.0.to_ascii_uppercase())
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({})", self.0)
    }
}

impl std::borrow::Borrow<str> for SecretName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A secret's value: non-empty text of at most [`SecretValue::MAX_CHARS`] characters (a key,
/// a password, a PEM block), kept exactly as given. Cheap to clone.
#[derive(Clone)]
pub struct SecretValue(Arc<str>);

/// Why a value was refused. Says nothing of the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {} characters", SecretValue::MAX_CHARS)]
    TooLong,
}

impl SecretValue {
    /// Counted in characters, as the API document's `maxLength` counts them.
    pub const MAX_CHARS: usize = 8 * 1024;

    pub fn new(text: impl Into<String>) -> Result<Self, SecretValueError> {
        let text = text.into();
        if text.is_empty() {
            return Err(SecretValueError::Empty);
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(SecretValueError::TooLong);
        }
        Ok(SecretValue(Arc::from(text)))
    }

    /// The value itself: only for the request it is rendered into (and the store that keeps it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({MASK})")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// `text` with every occurrence of any of `values` replaced by [`MASK`]: for what must be
/// shown and may hold a rendered secret (a preview, a buyer's answer that echoes its key, an
/// error naming a URL). Longer values are masked first, so a value that contains another is
/// masked whole.
pub fn redact<'a, 'v>(text: &'a str, values: impl IntoIterator<Item = &'v SecretValue>) -> Cow<'a, str> {
    let mut found: Vec<&str> = values.into_iter().map(SecretValue::expose).filter(|v| text.contains(v)).collect();
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    found.sort_unstable_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for v in found {
        out = out.replace(v, MASK);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_to_lower_case_and_keep_to_their_syntax() {
        let name = SecretName::parse("Carrier_X_KEY").map(|n| n.to_string());
        assert_eq!(name.as_deref(), Ok("carrier_x_key"));
        assert_eq!(
            SecretName::parse("carrier_x_key").map(|n| n.env_var()).as_deref(),
            Ok("PINGPOST_SECRET_CARRIER_X_KEY")
        );
        assert_eq!(SecretName::parse(""), Err(SecretNameError::Empty));
        for bad in ["carrier-x", "a.b", "a b", "ключ", "x\n"] {
            assert_eq!(SecretName::parse(bad), Err(SecretNameError::Character), "{bad:?}");
        }
        assert!(SecretName::parse(&"a".repeat(64)).is_ok());
        assert_eq!(SecretName::parse(&"a".repeat(65)), Err(SecretNameError::TooLong));
    }

    #[test]
    fn a_value_is_bounded_and_never_printed() {
        assert_eq!(SecretValue::new("").err(), Some(SecretValueError::Empty));
        assert_eq!(SecretValue::new("x".repeat(8 * 1024 + 1)).err(), Some(SecretValueError::TooLong));
        assert!(SecretValue::new("€".repeat(8 * 1024)).is_ok(), "characters, not bytes");
        let v = SecretValue::new("hunter2|\n€").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.expose(), "hunter2|\n€");
        assert_eq!(format!("{v} {v:?}"), "•••••• SecretValue(••••••)");
        let refused = SecretValue::new("qz".repeat(4500)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!refused.is_empty() && !refused.contains("qz"), "{refused}");
    }

    #[test]
    fn redaction_masks_every_value_the_longest_first() {
        let values: Vec<SecretValue> =
            ["key", "key-and-more"].into_iter().filter_map(|v| SecretValue::new(v).ok()).collect();
        assert_eq!(redact("a key-and-more, a key", &values), "a ••••••, a ••••••");
        assert!(matches!(redact("nothing here", &values), Cow::Borrowed(_)));
    }
}
