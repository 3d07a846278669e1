//! Contract filters on ping fields: equals / in / not-in / numeric range / prefix.
//! Text comparisons ignore ASCII case ("ca" matches "CA"). A field the lead does not carry
//! fails every filter on it: a buyer that filters on a field only gets leads that have it.

use crate::lead::{FieldValue, LeadFields};
use std::collections::BTreeMap;

/// A literal in a filter; numbers and text compare by their text form.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn as_text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => FieldValue::Number(*f).as_text(),
            Scalar::Text(s) => s.clone(),
        }
    }
}

/// Conditions on one field; every condition present must hold.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Scalar>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Scalar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in: Option<Vec<Scalar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Vec<String>>,
}

impl FieldFilter {
    pub fn is_empty(&self) -> bool {
        self == &FieldFilter::default()
    }

    pub fn matches(&self, value: Option<&FieldValue>) -> bool {
        let Some(value) = value else { return false };
        let text = value.as_text();
        // Text literals (most filters) compare in place; only numbers and booleans are
        // written out first.
        let same = |s: &Scalar| match s {
            Scalar::Text(t) => t.eq_ignore_ascii_case(&text),
            other => other.as_text().eq_ignore_ascii_case(&text),
        };
        if let Some(eq) = &self.equals {
            if !same(eq) {
                return false;
            }
        }
        if let Some(list) = &self.one_of {
            if !list.iter().any(same) {
                return false;
            }
        }
        if let Some(list) = &self.not_in {
            if list.iter().any(same) {
                return false;
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(n) = value.as_number() else { return false };
            if self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max) {
                return false;
            }
        }
        if let Some(prefixes) = &self.prefix {
            // ASCII case folding maps bytes one to one, so comparing the leading bytes is
            // comparing the lower-cased strings, without writing either out.
            let starts =
                |p: &String| text.as_bytes().get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()));
            if !prefixes.iter().any(starts) {
                return false;
            }
        }
        true
    }
}

/// A contract's filters, by field name.
pub type Filters = BTreeMap<String, FieldFilter>;

pub fn matches_all(filters: &Filters, fields: &LeadFields) -> bool {
    filters.iter().all(|(name, f)| f.matches(fields.get(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &str, value: Option<FieldValue>, expected: bool) {
        let f: FieldFilter = toml::from_str(filter).unwrap();
        assert_eq!(f.matches(value.as_ref()), expected, "{filter} on {value:?}");
    }

    fn text(s: &str) -> Option<FieldValue> {
        Some(FieldValue::Text(s.into()))
    }

    #[test]
    fn equals_in_not_in_ignore_case() {
        check(r#"equals = "CA""#, text("ca"), true);
        check(r#"equals = "CA""#, text("NV"), false);
        check(r#"in = ["CA", "NV"]"#, text("nv"), true);
        check(r#"in = ["CA", "NV"]"#, text("TX"), false);
        check(r#"not_in = ["NY"]"#, text("TX"), true);
        check(r#"not_in = ["NY"]"#, text("ny"), false);
        check("equals = 5", Some(FieldValue::Number(5.0)), true);
        check("in = [1, 2]", text("2"), true);
    }

    #[test]
    fn range_compares_numbers_and_numeric_text() {
        check("min = 18\nmax = 64", Some(FieldValue::Number(18.0)), true);
        check("min = 18\nmax = 64", Some(FieldValue::Number(64.0)), true);
        check("min = 18\nmax = 64", Some(FieldValue::Number(17.0)), false);
        check("min = 18\nmax = 64", text("65"), false);
        check("min = 18", text("forty"), false);
    }

    #[test]
    fn prefix_matches_start_of_text_or_number() {
        check(r#"prefix = ["9", "10"]"#, text("90210"), true);
        check(r#"prefix = ["9", "10"]"#, Some(FieldValue::Number(10001.0)), true);
        check(r#"prefix = ["9"]"#, text("30301"), false);
        check(r#"prefix = ["Sa"]"#, text("san diego"), true);
        check(r#"prefix = ["san diego county"]"#, text("san diego"), false);
        check(r#"prefix = ["é"]"#, text("École"), false);
        check(r#"prefix = ["éc"]"#, text("école"), true);
        check(r#"equals = "CA""#, text("ca"), true);
        check(r#"in = [94110, true]"#, text("94110"), true);
    }

    #[test]
    fn missing_field_fails_every_filter() {
        check(r#"not_in = ["NY"]"#, None, false);
        check("min = 1", None, false);
    }
}
