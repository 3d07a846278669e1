//! A partner's own field names renamed to the vertical's, before anything else reads the
//! lead: identity, the field check, filters and buyers all see only the vertical's names.
//!
//! The aliases are validated with the partner (see `config::intake`): no alias is an
//! identifier's name, none is its own target and none is another alias's target, so one
//! pass renames everything and the order of renaming does not matter. Several aliases may
//! name one target (a partner whose forms spell `zip` two ways); a lead carrying two of
//! them, or an alias and its target, is refused rather than one silently winning.

use super::types::is_absent;
use super::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Renames each alias in `lead` to its target. An absent (`null` or blank) value is dropped
/// rather than renamed. On an error the lead may be partly renamed; it is refused anyway.
pub fn apply_aliases(lead: &mut Map<String, Value>, aliases: &BTreeMap<String, String>) -> Result<(), FieldError> {
    for (alias, target) in aliases {
        let Some(value) = lead.remove(alias) else { continue };
        if is_absent(&value) {
            continue;
        }
        if lead.get(target).is_some_and(|v| !is_absent(v)) {
            return Err(FieldError::new(
                alias,
                format!("is this partner's name for `{target}`, which the lead also has: send one of them"),
            ));
        }
        lead.insert(target.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aliases() -> BTreeMap<String, String> {
        [
            ("zipcode", "zip"),
            ("zip_code", "zip"),
            ("xxTrustedFormCertUrl", "trustedform_cert_url"),
            ("EmailAddress", "email"),
        ]
        .into_iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect()
    }

    /// Applies [`aliases`] to `lead`: the renamed lead, or the refusal's field.
    fn check(lead: Value, expected: Result<Value, &str>) {
        let Value::Object(mut map) = lead.clone() else { panic!("{lead} is not an object") };
        let got = apply_aliases(&mut map, &aliases()).map(|()| Value::Object(map));
        match (&expected, &got) {
            (Ok(renamed), Ok(value)) => assert_eq!(value, renamed, "{lead}"),
            (Err(field), Err(e)) => assert_eq!(&e.field, field, "{lead}: {e}"),
            _ => panic!("{lead}: expected {expected:?}, got {got:?}"),
        }
    }

    #[test]
    fn partners_names_become_the_verticals() {
        check(
            json!({"zipcode": "90210", "xxTrustedFormCertUrl": "https://cert…", "EmailAddress": "a@b.co", "age": 3}),
            Ok(json!({"zip": "90210", "trustedform_cert_url": "https://cert…", "email": "a@b.co", "age": 3})),
        );
        check(json!({"zip_code": "90210"}), Ok(json!({"zip": "90210"})));
        check(json!({"zip": "90210"}), Ok(json!({"zip": "90210"})));
    }

    #[test]
    fn absent_values_neither_rename_nor_conflict() {
        check(json!({"zipcode": null, "zip": "90210"}), Ok(json!({"zip": "90210"})));
        check(json!({"zipcode": "", "zip": "90210"}), Ok(json!({"zip": "90210"})));
        check(json!({"zipcode": "90210", "zip": null}), Ok(json!({"zip": "90210"})));
    }

    #[test]
    fn a_name_and_its_alias_together_are_refused() {
        check(json!({"zipcode": "90210", "zip": "10001"}), Err("lead.zipcode"));
        // Two aliases of one target: the first renamed, the second finds it taken.
        check(json!({"zipcode": "90210", "zip_code": "10001"}), Err("lead.zipcode"));
    }
}
