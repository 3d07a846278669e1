//! Which reader a ping's or a post's body goes to, by its `Content-Type`:
//!
//! - **none**: JSON. Partners (and our own tests) have always sent JSON without the header;
//!   that keeps working.
//! - **`application/json`**, and any **`application/<name>+json`** (RFC 6839's suffix, read as
//!   axum's own `Json` extractor reads it): JSON.
//! - **`application/x-www-form-urlencoded`**: a form, unless the body is a JSON object (its
//!   first byte past whitespace is `{`). curl's `-d` and many HTTP libraries label every body
//!   a form unless told otherwise — the README's own `curl -d '{"offer":…}'` examples do — and
//!   a form starting with `{` could only be read as one field named by JSON text, which no
//!   ping or post has: reading it as JSON keeps those callers working.
//! - **anything else** (`text/plain`, `application/xml`, `multipart/form-data`, a header that
//!   is not text): 415 `unsupported_media_type`.
//!
//! Types and parameter names are compared without regard to case (RFC 9110 §8.3.1).
//! Parameters are allowed; a `charset` must be UTF-8, the only text either reader reads (JSON
//! is UTF-8 by RFC 8259; a form in another charset would be read as the wrong characters).

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

impl Encoding {
    /// The encoding of `body`, sent with this `Content-Type` (if any).
    pub fn of(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<Encoding, ApiError> {
        let Some(header) = content_type else { return Ok(Encoding::Json) };
        let text = header.to_str().map_err(|_| unsupported("a Content-Type that is not text"))?;
        let mut parts = text.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let encoding = match essence.as_str() {
            JSON => Encoding::Json,
            FORM if starts_an_object(body) => Encoding::Json,
            FORM => Encoding::Form,
            other if is_json_suffixed(other) => Encoding::Json,
            _ => return Err(unsupported(&format!("Content-Type {}", shown(text)))),
        };
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset")
                && !(value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8"))
            {
                return Err(unsupported(&format!("charset {}", shown(value))));
            }
        }
        Ok(encoding)
    }
}

/// `application/<name>+json`.
fn is_json_suffixed(essence: &str) -> bool {
    essence.strip_prefix("application/").and_then(|s| s.strip_suffix("+json")).is_some_and(|name| !name.is_empty())
}

fn starts_an_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The client's own text, quoted and cut short: a header may be kilobytes long.
fn shown(text: &str) -> String {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}…", &text[..at]),
        None => format!("{text:?}"),
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("{what} is not supported: send {JSON} or {FORM} (UTF-8)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding of a `{`-less form body sent with `content_type`, or the refusal's status.
    fn check(content_type: Option<&str>, expected: Result<Encoding, u16>) {
        let header = content_type.map(|c| HeaderValue::from_str(c).expect("a header value"));
        let got = Encoding::of(header.as_ref(), b"offer=o").map_err(|e| (e.status.as_u16(), e.code));
        assert_eq!(got, expected.map_err(|s| (s, "unsupported_media_type")), "{content_type:?}");
    }

    #[test]
    fn no_content_type_is_json() {
        check(None, Ok(Encoding::Json));
    }

    #[test]
    fn json_with_parameters_suffixes_and_any_case_is_json() {
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "Application/JSON; Charset=Utf-8",
            "application/json; profile=x",
            "application/vnd.api+json",
            "application/merge-patch+json; charset=utf-8",
            "APPLICATION/LD+JSON",
        ] {
            check(Some(ct), Ok(Encoding::Json));
        }
    }

    #[test]
    fn a_form_is_a_form_in_any_case() {
        for ct in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "Application/X-WWW-Form-UrlEncoded",
        ] {
            check(Some(ct), Ok(Encoding::Form));
        }
    }

    /// What `curl -d '{"offer":…}'` sends: a JSON object labelled a form.
    #[test]
    fn a_json_object_labelled_a_form_is_json() {
        let form = HeaderValue::from_static(FORM);
        assert_eq!(Encoding::of(Some(&form), b" \n{\"offer\":\"o\"}").ok(), Some(Encoding::Json));
        assert_eq!(Encoding::of(Some(&form), b"").ok(), Some(Encoding::Form));
        assert_eq!(Encoding::of(Some(&form), b"lead=%7B").ok(), Some(Encoding::Form));
    }

    #[test]
    fn every_other_type_is_refused_with_415() {
        for ct in [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/xml",
            "multipart/form-data; boundary=x",
            "text/json",
            "application/+json",
            "application/jsonx",
            "application/json; charset=iso-8859-1",
            "application/x-www-form-urlencoded; charset=windows-1252",
            "",
        ] {
            check(Some(ct), Err(415));
        }
        let binary = HeaderValue::from_bytes(b"application/json\xff").expect("an opaque header value");
        assert_eq!(Encoding::of(Some(&binary), b"{}").map_err(|e| e.status.as_u16()), Err(415));
    }

    #[test]
    fn the_refusal_names_what_was_sent_cut_short() {
        let long = HeaderValue::from_str(&format!("text/{}", "x".repeat(5000))).expect("a header value");
        let e = Encoding::of(Some(&long), b"").expect_err("refused");
        assert!(e.message.len() < 300 && e.message.contains("text/xxx"), "{}", e.message);
    }
}
