//! Identifiers as operators send them (email, phone, or an already computed hash), turned
//! into hashes with the rules of pings. Shared by suppression and erasure so both accept and
//! refuse exactly the same inputs.

use crate::error::ApiError;
use pingpost_core::identity::{normalize_email, normalize_phone, Sha256Hex};

/// The hash of an email, or a 422 naming `field`.
pub fn email(field: impl Into<String>, raw: &str) -> Result<Sha256Hex, ApiError> {
    normalize_email(raw).map(|n| Sha256Hex::digest(&n)).map_err(|e| ApiError::invalid(field, e.message))
}

/// The hash of a phone, or a 422 naming `field`.
pub fn phone(field: impl Into<String>, raw: &str) -> Result<Sha256Hex, ApiError> {
    normalize_phone(raw).map(|n| Sha256Hex::digest(&n)).map_err(|e| ApiError::invalid(field, e.message))
}

/// A hash given as such, or a 422 naming `field`. The SHA-256 of the empty string is refused:
/// it never matches a consumer, so acting on it is always a mistake upstream.
pub fn sha256(field: impl Into<String>, raw: &str) -> Result<Sha256Hex, ApiError> {
    match Sha256Hex::parse(raw) {
        Some(h) if h.is_empty_digest() => {
            Err(ApiError::invalid(field, "is the SHA-256 of an empty string, which never matches a consumer"))
        }
        Some(h) => Ok(h),
        None => Err(ApiError::invalid(field, "must be 64 hexadecimal characters")),
    }
}
