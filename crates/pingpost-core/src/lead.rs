//! The qualifying fields of a lead (state, zip, age, custom), as filters see them.
//! Identifiers are not here: they are hashed at the edge into an [`crate::identity::Identity`].

use crate::identity::plaintext_identifier_name;
use crate::intake::{FieldError, Stage, IDENTIFIER_FIELDS};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One field's value. Numbers are compared as numbers by range filters; money never
/// travels through here.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl FieldValue {
    /// The value as text for equality, list and prefix filters.
    pub fn as_text(&self) -> String {
        match self {
            FieldValue::Text(s) => s.clone(),
            FieldValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Bool(b) => b.to_string(),
        }
    }

    /// The value as JSON, a whole number as an integer (a field typed `integer` reads back
    /// as `34`, not `34.0`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Number(n) if n.fract() == 0.0 && n.abs() < 9e15 => Value::from(*n as i64),
            FieldValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            FieldValue::Bool(b) => Value::Bool(*b),
        }
    }

    /// The value as a number for range filters; numeric text counts.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            FieldValue::Number(n) => Some(*n),
            FieldValue::Text(s) => s.trim().parse().ok(),
            FieldValue::Bool(_) => None,
        }
    }
}

/// A lead's qualifying fields by name.
pub type LeadFields = BTreeMap<String, FieldValue>;

/// A lead's qualifying fields: everything but its identifiers, as filters see them. On a
/// ping, whose fields go to every real-time bidder, a nested value is refused (fields are
/// for filters) and so is a name that looks like a plaintext identifier (`phone_number`):
/// it would reach every bidder unhashed. A post's nested values are kept for its buyer and
/// skipped here.
pub fn fields_of(lead: &Map<String, Value>, stage: Stage) -> Result<LeadFields, FieldError> {
    let strict = stage == Stage::Ping;
    let mut out = LeadFields::new();
    for (k, v) in lead {
        if IDENTIFIER_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if let Some(kind) = plaintext_identifier_name(k).filter(|_| strict) {
            let name = kind.as_str();
            return Err(FieldError::new(
                k,
                format!("looks like a plaintext {name}, which would reach every bidder: send it as `{name}` (or `{name}_sha256`), which is hashed"),
            ));
        }
        let value = match v {
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) => FieldValue::Number(f),
                None => continue,
            },
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) if strict => {
                return Err(FieldError::new(k, "must be a string, number or boolean"));
            }
            Value::Array(_) | Value::Object(_) => continue,
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}
