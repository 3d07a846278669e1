//! The qualifying fields of a lead (state, zip, age, custom), as filters see them.
//! Identifiers are not here: they are hashed at the edge into an [`crate::identity::Identity`].

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
