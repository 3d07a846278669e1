//! The console's session: a cookie signed with a key derived from the operator token, so any
//! node checks it without shared state, and a token changed on the nodes ends every session.
//! The cookie is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site's page
//! sends it); state-changing requests also carry the session's CSRF token (a header from the
//! console's scripts, a form field from its forms), which another site cannot read.

use crate::admin::auth::AdminToken;
use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "pp_console";
/// The header the console's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session lasts a working day; signing in again starts a new one.
pub const LIFETIME_SECS: i64 = 8 * 3600;

fn mac(token: &AdminToken, purpose: &str, text: &str) -> String {
    // The key is the token's digest: the token itself is never kept.
    let mut m = match Hmac::<Sha256>::new_from_slice(token.digest().as_str().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(), // HMAC takes keys of any length
    };
    m.update(purpose.as_bytes());
    m.update(b"|");
    m.update(text.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// A new session's cookie value: `<expires unix s>.<nonce>.<mac>`.
pub fn issue(token: &AdminToken, now_unix: i64) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body = format!("{}.{nonce}", now_unix + LIFETIME_SECS);
    let signature = mac(token, "session", &body);
    format!("{body}.{signature}")
}

/// Whether `value` is a session this token signed that has not expired.
pub fn valid(token: &AdminToken, value: &str, now_unix: i64) -> bool {
    let Some((body, signature)) = value.rsplit_once('.') else { return false };
    let expected = mac(token, "session", body);
    let signed = bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) && !expected.is_empty();
    let expires = body.split_once('.').and_then(|(e, _)| e.parse::<i64>().ok());
    signed && expires.is_some_and(|e| e > now_unix)
}

/// The CSRF token of a session: only pages served to the session's holder carry it.
pub fn csrf(token: &AdminToken, session: &str) -> String {
    mac(token, "csrf", session)
}

pub fn csrf_matches(token: &AdminToken, session: &str, presented: &str) -> bool {
    let expected = csrf(token, session);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The session cookie's value in a request, if any.
pub fn from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}")
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_token() {
        let token = AdminToken::new("operator-token-0001");
        let s = issue(&token, 1_000);
        assert!(valid(&token, &s, 1_000 + LIFETIME_SECS - 1));
        assert!(!valid(&token, &s, 1_000 + LIFETIME_SECS));
        assert!(!valid(&AdminToken::new("another-token-0002"), &s, 1_000));
        let forged = s.replacen(&(1_000 + LIFETIME_SECS).to_string(), "9999999999", 1);
        assert!(!valid(&token, &forged, 1_000), "a changed expiry breaks the signature");
        assert!(!valid(&token, "", 1_000) && !valid(&token, "a.b", 1_000));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let token = AdminToken::new("operator-token-0001");
        let (a, b) = (issue(&token, 0), issue(&token, 0));
        assert!(csrf_matches(&token, &a, &csrf(&token, &a)));
        assert!(!csrf_matches(&token, &a, &csrf(&token, &b)));
        assert!(!csrf_matches(&token, &a, ""));
    }
}
