//! A JSON body → [`Intake`]: `{"offer"?, "idempotency_key"?, "ping_id"?, "bid_ids"?: [..],
//! "test"?, "lead": {..}}`. Each of the request's own fields is checked for its type here
//! (`null` is absent), what is required is the caller's; other top-level keys are ignored,
//! as they always were.

use super::Intake;
use crate::error::ApiError;
use axum::http::StatusCode;
use serde_json::{Map, Value};

pub fn read(body: &[u8]) -> Result<Intake, ApiError> {
    let mut body = object(body)?;
    Ok(Intake {
        offer: string(&body, "offer")?,
        idempotency_key: string(&body, "idempotency_key")?,
        ping_id: string(&body, "ping_id")?,
        bid_ids: bid_ids(&body)?,
        test: boolean(&body, "test")?,
        lead: lead(body.remove("lead"))?,
    })
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body is not valid JSON: {e}"))
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "request body must be a JSON object")),
    }
}

fn string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    }
}

fn boolean(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(field, "must be true or false")),
    }
}

fn bid_ids(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let not_strings = || ApiError::invalid("bid_ids", "must be an array of strings");
    match body.get("bid_ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(not_strings()),
    }
}

fn lead(value: Option<Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::invalid("lead", "must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<Intake, (u16, Option<&str>)>) {
        let got = read(body.as_bytes()).map_err(|e| (e.status.as_u16(), e.field));
        let expected = expected.map_err(|(status, field)| (status, field.map(String::from)));
        assert_eq!(got, expected, "{body}");
    }

    #[test]
    fn each_own_field_is_typed_and_null_is_absent() {
        let lead = || Some(Map::from_iter([("zip".to_string(), Value::from("90210"))]));
        check(
            r#"{"offer":"o","idempotency_key":"k","ping_id":"p","bid_ids":["a","b"],"test":true,"lead":{"zip":"90210"}}"#,
            Ok(Intake {
                offer: Some("o".into()),
                idempotency_key: Some("k".into()),
                ping_id: Some("p".into()),
                bid_ids: Some(vec!["a".into(), "b".into()]),
                test: Some(true),
                lead: lead(),
            }),
        );
        check(r#"{"offer":null,"test":null,"lead":null,"other":5}"#, Ok(Intake::default()));
        check(r#"{"test":false}"#, Ok(Intake { test: Some(false), ..Intake::default() }));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named() {
        check("{", Err((400, None)));
        check("[]", Err((400, None)));
        check(r#"{"offer":5}"#, Err((422, Some("offer"))));
        check(r#"{"ping_id":[]}"#, Err((422, Some("ping_id"))));
        check(r#"{"idempotency_key":5}"#, Err((422, Some("idempotency_key"))));
        check(r#"{"bid_ids":"a,b"}"#, Err((422, Some("bid_ids"))));
        check(r#"{"bid_ids":["a",1]}"#, Err((422, Some("bid_ids"))));
        check(r#"{"lead":"x"}"#, Err((422, Some("lead"))));
        for test in [r#""true""#, "1", r#""yes""#, "{}"] {
            check(&format!(r#"{{"test":{test}}}"#), Err((422, Some("test"))));
        }
    }
}
