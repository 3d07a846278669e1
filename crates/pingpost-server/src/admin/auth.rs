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

/// `Authorization: Bearer <key>`, trimmed; `None` when absent or empty.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
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
        let now = state.engine.now().timestamp();
        match session::from_headers(&parts.headers) {
            Some(s) if session::valid(&state.admin_token, s, now) => {
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
            _ => Err(ApiError::unauthorized_operator()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_accepted() {
        let t = AdminToken::new("s3cret-operator-token");
        assert!(t.accepts("s3cret-operator-token"));
        assert!(!t.accepts("s3cret-operator-toke"));
        assert!(!t.accepts(""));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
