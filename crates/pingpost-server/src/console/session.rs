//! The console's session: a cookie signed with a key derived from the operator token, so any
//! node checks its signature without shared state, and a token changed on the nodes ends
//! every session. Signing out must end a session even where its cookie was copied, so the
//! store has the last word: a session stands while its epoch is the store's current one
//! ("sign out everywhere" starts a new epoch) and its own id has not been revoked (signing
//! out revokes it until it would have expired).
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

/// A session as its cookie carries it, signature checked: `<expires>.<epoch>.<nonce>.<mac>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session<'a> {
    pub expires_unix: i64,
    /// The sessions' epoch it was issued in: "sign out everywhere" starts a new one.
    pub epoch: &'a str,
    /// Its own id: signing out revokes it by this.
    pub nonce: &'a str,
}

/// A new session's cookie value, issued in `epoch`.
pub fn issue(token: &AdminToken, now_unix: i64, epoch: &str) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body = format!("{}.{epoch}.{nonce}", now_unix + LIFETIME_SECS);
    let signature = mac(token, "session", &body);
    format!("{body}.{signature}")
}

/// The session in `value` if this token signed it and it has not expired. Whether it still
/// stands (its epoch current, itself not revoked) is the store's to say: see
/// `console::signed_in`.
pub fn verify<'a>(token: &AdminToken, value: &'a str, now_unix: i64) -> Option<Session<'a>> {
    let (body, signature) = value.rsplit_once('.')?;
    let expected = mac(token, "session", body);
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return None;
    }
    let mut parts = body.splitn(3, '.');
    let expires_unix = parts.next()?.parse::<i64>().ok()?;
    let (epoch, nonce) = (parts.next()?, parts.next()?);
    (expires_unix > now_unix && !nonce.is_empty()).then_some(Session { expires_unix, epoch, nonce })
}

/// An epoch name, new for every "sign out everywhere".
pub fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
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

/// The cookie carrying a new session; `Secure` (sent over HTTPS only) for deployments
/// behind TLS (`--console-secure-cookie`).
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}{secure}")
}

pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_token() {
        let token = AdminToken::new("operator-token-0001");
        let s = issue(&token, 1_000, "e1");
        let session = verify(&token, &s, 1_000 + LIFETIME_SECS - 1).expect("valid");
        assert_eq!((session.expires_unix, session.epoch), (1_000 + LIFETIME_SECS, "e1"));
        assert!(verify(&token, &s, 1_000 + LIFETIME_SECS).is_none());
        assert!(verify(&AdminToken::new("another-token-0002"), &s, 1_000).is_none());
        let forged = s.replacen(&(1_000 + LIFETIME_SECS).to_string(), "9999999999", 1);
        assert!(verify(&token, &forged, 1_000).is_none(), "a changed expiry breaks the signature");
        let other_epoch = s.replacen(".e1.", ".e2.", 1);
        assert!(verify(&token, &other_epoch, 1_000).is_none(), "a changed epoch breaks the signature");
        assert!(verify(&token, "", 1_000).is_none() && verify(&token, "a.b", 1_000).is_none());
    }

    #[test]
    fn the_secure_flag_is_set_only_when_asked() {
        assert!(set_cookie("v", true).ends_with("; Secure") && clear_cookie(true).ends_with("; Secure"));
        assert!(!set_cookie("v", false).contains("Secure") && !clear_cookie(false).contains("Secure"));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let token = AdminToken::new("operator-token-0001");
        let (a, b) = (issue(&token, 0, "e"), issue(&token, 0, "e"));
        assert!(csrf_matches(&token, &a, &csrf(&token, &a)));
        assert!(!csrf_matches(&token, &a, &csrf(&token, &b)));
        assert!(!csrf_matches(&token, &a, ""));
    }
}
