//! What a ping or a post can fail with; the HTTP layer maps each to its status.

use pingpost_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unknown offer {0:?}")]
    UnknownOffer(String),
    #[error("this partner may not ping offer {0:?}")]
    OfferNotAllowed(String),
    #[error("unknown ping {0:?} (only pings with bids can be posted)")]
    UnknownPing(String),
    #[error("ping {0:?} expired; ping the lead again")]
    PingExpired(String),
    #[error("{0}")]
    InFlight(&'static str),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A resource that is not there (or not the caller's to see).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request clashes with what another request did first.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A well-formed request the rules refuse, named by `code`.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Books(#[from] pingpost_books::BooksError),
    #[error(transparent)]
    Events(#[from] pingpost_events::EventsError),
    #[error("stored record unreadable: {0}")]
    Corrupt(String),
}

impl EngineError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<pingpost_core::identity::IdentityError> for EngineError {
    fn from(e: pingpost_core::identity::IdentityError) -> Self {
        EngineError::invalid(e.field, e.message)
    }
}
