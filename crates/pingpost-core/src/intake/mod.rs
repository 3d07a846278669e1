//! A partner's lead at the edge: renamed to the vertical's names, each declared field read
//! as its type, the built-in consent and source fields checked by their formats, and the
//! vertical's and the offer's requirements enforced — before any checkpoint sees the lead.
//! Pure: the lead comes in as JSON and goes out as JSON with every checked value in its kept
//! (normalized) form, which is what filters, templates and buyers then see.
//!
//! # Layout
//! - [`schema`]: what a vertical declares — [`FieldSet`], [`Field`], [`FieldType`] — built
//!   once per configuration, with everything a check needs precomputed.
//! - [`types`]: reading one value as its type.
//! - [`states`]: the US state and territory codes and names.
//! - [`consent`]: the built-in consent and source fields and an offer's [`Consent`].
//! - [`aliases`]: a partner's names renamed to the vertical's.
//! - [`check`](mod@check): the whole lead against a vertical and an offer, for one [`Stage`].
//! - [`example`]: the example ping and post of a partner's posting instructions, each passing
//!   [`check()`] on its stage.

pub mod aliases;
pub mod check;
pub mod consent;
pub mod example;
pub mod schema;
pub mod states;
pub mod types;

pub use aliases::apply_aliases;
pub use check::check;
pub use consent::{Consent, ConsentField, ConsentSet};
pub use schema::{EnumValues, Field, FieldSet, FieldType, UnknownFields};

use std::fmt;

/// The identifier fields. The identity code normalizes and hashes them (they are always
/// personal); here they are neither declared nor unknown, and pass through untouched.
pub const IDENTIFIER_FIELDS: [&str; 4] = ["email", "email_sha256", "phone", "phone_sha256"];

/// Which request carries the lead: the ping (no personal data) or the post (all of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Ping,
    Post,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ping => "ping",
            Stage::Post => "post",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lead field refused: `field` is the request's path (`lead.<name>`) for the 422's
/// `field`, `message` says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        FieldError { field: format!("lead.{name}"), message: message.into() }
    }
}
