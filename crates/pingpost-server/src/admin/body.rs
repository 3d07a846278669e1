//! Admin request bodies: bounded, parsed with the path of the first bad field, so a 422
//! names it (`caps.daily`, `dedup.window_days`) the way configuration errors do.

use crate::body::RequestBody;
use crate::error::ApiError;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest admin JSON body: a contract is a few KiB, a suppression batch of 10 000 hashes ~700 KiB.
pub const ADMIN_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The field a deserialization error names: its path, or `body` for the body as a whole.
fn field_of(path: &serde_path_to_error::Path) -> String {
    match path.to_string() {
        p if p == "." => "body".to_string(),
        p => p,
    }
}

/// Parses JSON into `T`: syntax errors are 400, shape errors 422 naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(e.path());
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::invalid(missing_field(&field, &inner.to_string()).unwrap_or(field), inner.to_string())
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body is not valid JSON: {inner}"))
        }
    })
}

/// serde names a missing field only in its message (`missing field `reason``): the error
/// names that field, under the path of the object that lacks it.
fn missing_field(path: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("missing field `")?.split('`').next()?;
    Some(if path == "body" { name.to_string() } else { format!("{path}.{name}") })
}

/// A value that does not have `T`'s shape: the field and what is wrong with it.
#[derive(Debug)]
pub struct ShapeError {
    pub field: String,
    pub message: String,
}

/// Converts an already parsed JSON value into `T`.
pub fn shape<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| ShapeError { field: field_of(e.path()), message: e.into_inner().to_string() })
}

/// [`shape`], as a 422 naming the field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    shape(value).map_err(|e| ApiError::invalid(e.field, e.message))
}

/// Reads and parses a bounded JSON body.
pub async fn json<T: DeserializeOwned>(body: RequestBody) -> Result<T, ApiError> {
    parse(&body.bytes(ADMIN_BODY_LIMIT).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        dedup: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        window_days: i64,
    }

    #[test]
    fn errors_name_the_field_or_say_the_json_is_malformed() {
        let e = parse::<Shape>(br#"{"dedup": {"window_days": "x"}}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("dedup.window_days")));
        let e = parse::<Shape>(b"{").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }
}
