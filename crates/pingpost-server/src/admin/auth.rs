//! The operator token. Only its SHA-256 is kept, and a presented token is compared digest
//! to digest in constant time, so neither the token nor its prefix leaks through timing.

use crate::console::session;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use pingpost_core::identity::Sha256Hex;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The operator token's digest.
#[derive(Clone)]
pub struct AdminToken {
    digest: Sha256Hex,
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        AdminToken { digest: Sha256Hex::digest(token) }
    }

    pub fn digest(&self) -> &Sha256Hex {
        &self.digest
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let presented = Sha256Hex::digest(presented);
        bool::from(presented.as_str().as_bytes().ct_eq(self.digest.as_str().as_bytes()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// `Authorization: Bearer <key>`, trimmed; `None` when absent or empty. The scheme is
/// matched without regard to case (RFC 9110, 11.1: `bearer`, `BEARER` are the same scheme),
/// and may be followed by more than one space.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(key.trim()).filter(|k| !k.is_empty())
}

/// Proof that the request carries the operator token; handlers take it as an argument.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    /// The operator token as a bearer, or the console's session cookie — with its CSRF
    /// token for anything but a read — so the console drives these same handlers.
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(&parts.headers) {
            return if state.admin_token.accepts(token) {
                Ok(Operator)
            } else {
                Err(ApiError::unauthorized_operator())
            };
        }
        match crate::console::signed_in(state, &parts.headers).await {
            Some(s) => {
                let safe = matches!(parts.method, Method::GET | Method::HEAD);
                let csrf = parts.headers.get(session::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                if safe || session::csrf_matches(&state.admin_token, s, csrf) {
                    Ok(Operator)
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "a console change needs the session's CSRF token (X-CSRF-Token)",
                    ))
                }
            }
            None => Err(ApiError::unauthorized_operator()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer_of(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, value.parse().expect("a header value"));
        bearer(&headers).map(str::to_string)
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer k-1", "bearer k-1", "BEARER k-1", "bEaReR   k-1 "] {
            assert_eq!(bearer_of(value).as_deref(), Some("k-1"), "{value:?}");
        }
        for value in ["Basic k-1", "Bearerk-1", "Bearer ", "Bearer", "k-1", "Token k-1"] {
            assert_eq!(bearer_of(value), None, "{value:?}");
        }
    }

    #[test]
    fn only_the_exact_token_is_accepted() {
        let t = AdminToken::new("s3cret-operator-token");
        assert!(t.accepts("s3cret-operator-token"));
        assert!(!t.accepts("s3cret-operator-toke"));
        assert!(!t.accepts(""));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
