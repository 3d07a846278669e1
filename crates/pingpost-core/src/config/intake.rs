//! Validation of what governs a partner's leads at the edge (see [`crate::intake`]): a
//! vertical's `fields` and `unknown_fields`, an offer's `consent`, a partner's
//! `field_aliases`. Errors name their field as the rest of validation does: `fields[2].max`,
//! `consent.ping[0]`, `field_aliases.zipcode`.

use super::raw::{RawConsent, RawField, RawVertical};
use super::validate::Errors;
use crate::intake::{
    Consent, ConsentField, ConsentSet, EnumValues, Field, FieldSet, FieldType, Stage, UnknownFields, IDENTIFIER_FIELDS,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A vertical's declared fields (`None` when it declares none) and its rule for the rest.
///
/// A field may not be named like an identifier (`email`, `email_sha256`, `phone`,
/// `phone_sha256`): those are the identity code's, always personal, hashed on the ping and
/// never declared; whether a lead needs one is identity's rule (an email or a phone), not
/// the vertical's. Other fields may have the `email` or `phone` type (a second contact,
/// say): they are read as identity reads those, and are always personal.
///
/// A built-in consent field may be declared only with its own type (`tcpa_optin` as a
/// `boolean`, as the SPEC's example does): the declaration can make it required on the
/// vertical, and it keeps its built-in format whatever else is said; an offer requires it
/// with `consent.ping` / `consent.post` all the same.
pub(super) fn fields(e: &mut Errors<'_>, r: &RawVertical) -> (Option<Arc<FieldSet>>, UnknownFields) {
    let unknown = match r.unknown_fields.as_deref() {
        None => UnknownFields::Keep,
        Some(text) => UnknownFields::parse(text).unwrap_or_else(|| {
            e.push("unknown_fields", format!("must be \"keep\" or \"refuse\", got {text:?}"));
            UnknownFields::Keep
        }),
    };
    if r.fields.is_empty() {
        if unknown == UnknownFields::Refuse {
            // A vertical without fields takes its leads as they come; refusing every field
            // but the identifiers and consent fields is never what was meant.
            e.push("unknown_fields", "\"refuse\" needs declared fields");
        }
        return (None, unknown);
    }
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    let mut declared = Vec::with_capacity(r.fields.len());
    for (i, raw) in r.fields.iter().enumerate() {
        let at = format!("fields[{i}]");
        if let Some(first) = first_at.get(raw.name.as_str()) {
            e.push(&format!("{at}.name"), format!("duplicate field name, first declared at fields[{first}]"));
            continue;
        }
        first_at.insert(&raw.name, i);
        if let Some(field) = field(e, &at, raw) {
            declared.push(field);
        }
    }
    (Some(Arc::new(FieldSet::new(declared))), unknown)
}

fn field(e: &mut Errors<'_>, at: &str, r: &RawField) -> Option<Field> {
    let name_ok = name(e, at, &r.name, &r.kind);
    let required = match r.required.as_deref() {
        None => None,
        Some("ping") => Some(Stage::Ping),
        Some("post") => Some(Stage::Post),
        Some(other) => {
            e.push(&format!("{at}.required"), format!("must be \"ping\" or \"post\", got {other:?}"));
            None
        }
    };
    let kind = field_type(e, at, r)?;
    name_ok.then(|| Field::new(r.name.clone(), kind, required, r.pii))
}

/// Whether `name` may be declared; pushes why not.
fn name(e: &mut Errors<'_>, at: &str, name: &str, kind: &str) -> bool {
    let field = format!("{at}.name");
    let well_formed = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !well_formed {
        e.push(&field, "must be 1-64 characters of letters, digits, '_' or '-'");
        false
    } else if IDENTIFIER_FIELDS.contains(&name) {
        e.push(
            &field,
            format!("{name:?} is an identifier: it is always personal and hashed on the ping, and is not declared (give another field the email or phone type)"),
        );
        false
    } else if let Some(c) = ConsentField::from_name(name).filter(|c| c.type_name() != kind) {
        e.push(
            &field,
            format!(
                "{name:?} is a built-in consent field ({}): declare it as that type, or require it with an offer's consent.ping or consent.post",
                c.type_name()
            ),
        );
        false
    } else {
        true
    }
}

/// The type with its bounds; pushes every bound its type cannot have.
fn field_type(e: &mut Errors<'_>, at: &str, r: &RawField) -> Option<FieldType> {
    let kind = match r.kind.as_str() {
        "text" => FieldType::Text {
            min_length: length(e, at, "min_length", r.min_length),
            max_length: length(e, at, "max_length", r.max_length),
        },
        "integer" => {
            FieldType::Integer { min: bound(e, at, "min", r.min, true), max: bound(e, at, "max", r.max, true) }
        }
        "number" => {
            FieldType::Number { min: bound(e, at, "min", r.min, false), max: bound(e, at, "max", r.max, false) }
        }
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "enum" => FieldType::Enum(enum_values(e, at, &r.values)),
        "zip" => FieldType::Zip,
        "state" => FieldType::State,
        "url" => FieldType::Url,
        "ip" => FieldType::Ip,
        "email" => FieldType::Email,
        "phone" => FieldType::Phone,
        other => {
            e.push(&format!("{at}.type"), format!("unknown type {other:?} (one of {})", FieldType::NAMES.join(", ")));
            return None;
        }
    };
    let name = kind.name();
    if !matches!(kind, FieldType::Enum(_)) && !r.values.is_empty() {
        e.push(&format!("{at}.values"), format!("only enum fields have values, this is {name}"));
    }
    if !matches!(kind, FieldType::Integer { .. } | FieldType::Number { .. }) {
        for (key, v) in [("min", r.min), ("max", r.max)] {
            if v.is_some() {
                e.push(&format!("{at}.{key}"), format!("only integer and number fields have {key}, this is {name}"));
            }
        }
    }
    match &kind {
        FieldType::Text { min_length: Some(min), max_length: Some(max) } if min > max => {
            e.push(&format!("{at}.max_length"), format!("must not be below min_length ({min})"));
        }
        FieldType::Text { .. } => {}
        _ => {
            for (key, v) in [("min_length", r.min_length), ("max_length", r.max_length)] {
                if v.is_some() {
                    e.push(&format!("{at}.{key}"), format!("only text fields have {key}, this is {name}"));
                }
            }
        }
    }
    if let FieldType::Integer { min: Some(min), max: Some(max) }
    | FieldType::Number { min: Some(min), max: Some(max) } = kind
    {
        if min > max {
            e.push(&format!("{at}.max"), format!("must not be below min ({min})"));
        }
    }
    Some(kind)
}

/// A text length: a count of characters, at least 1 for `max_length` (an empty value is an
/// absent one, so a field that must be empty could never be sent).
fn length(e: &mut Errors<'_>, at: &str, key: &str, value: Option<i64>) -> Option<u32> {
    let n = value?;
    let least = if key == "max_length" { 1 } else { 0 };
    match u32::try_from(n) {
        Ok(n) if n >= least => Some(n),
        _ => {
            e.push(&format!("{at}.{key}"), format!("must be a count of characters of {least} or more, got {n}"));
            None
        }
    }
}

/// A finite bound; a whole number for an integer field.
fn bound(e: &mut Errors<'_>, at: &str, key: &str, value: Option<f64>, whole: bool) -> Option<f64> {
    let n = value?;
    if !n.is_finite() || (whole && n.fract() != 0.0) {
        let what = if whole { "a whole number" } else { "a finite number" };
        e.push(&format!("{at}.{key}"), format!("must be {what}, got {n}"));
        return None;
    }
    Some(n)
}

/// At least one value; no value blank or listed twice (compared as matching compares them,
/// without regard to case, or a lead's value could name two).
fn enum_values(e: &mut Errors<'_>, at: &str, values: &[String]) -> EnumValues {
    if values.is_empty() {
        e.push(&format!("{at}.values"), "an enum field lists its values");
    }
    let mut seen = HashSet::new();
    for (j, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            e.push(&format!("{at}.values[{j}]"), "must not be blank");
        } else if !seen.insert(v.to_lowercase()) {
            e.push(
                &format!("{at}.values[{j}]"),
                format!("{v:?} is listed twice (values match without regard to case)"),
            );
        }
    }
    EnumValues::new(values.to_vec())
}

/// An offer's consent requirements: names of built-in consent fields only.
pub(super) fn consent(e: &mut Errors<'_>, r: Option<&RawConsent>) -> Consent {
    let Some(r) = r else { return Consent::default() };
    let mut set = |stage: &str, names: &[String]| -> ConsentSet {
        let mut set = ConsentSet::EMPTY;
        for (i, name) in names.iter().enumerate() {
            match ConsentField::from_name(name) {
                Some(field) => set = set.with(field),
                None => {
                    let known: Vec<&str> = ConsentField::ALL.iter().map(|f| f.name()).collect();
                    e.push(
                        &format!("consent.{stage}[{i}]"),
                        format!("unknown consent field {name:?} (one of {})", known.join(", ")),
                    );
                }
            }
        }
        set
    };
    let ping = set("ping", &r.ping);
    let post = set("post", &r.post);
    Consent::new(ping, post)
}

/// A partner's aliases. An alias is not empty, not an identifier's name (identity reads
/// those; renaming one away would take it out of hashing), not its own target and not
/// another alias's target, so renaming is one pass whose order does not matter. Several
/// aliases may share a target. Targets are not checked against a vertical: a partner may
/// ping offers of several verticals, and a vertical without fields takes any name.
pub(super) fn aliases(e: &mut Errors<'_>, r: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    for (alias, target) in r {
        let at = format!("field_aliases.{alias}");
        if alias.trim().is_empty() {
            e.push("field_aliases", "an alias must not be empty");
        } else if IDENTIFIER_FIELDS.contains(&alias.as_str()) {
            e.push(&at, format!("{alias:?} is an identifier: it cannot be renamed"));
        } else if target.trim().is_empty() {
            e.push(&at, "must name the field it stands for");
        } else if alias == target {
            e.push(&at, "renames the field to itself");
        } else if let Some((other, _)) = r.iter().find(|(_, t)| *t == alias) {
            e.push(&at, format!("is also what alias {other:?} renames to: aliases do not chain"));
        }
    }
    r.clone()
}

#[cfg(test)]
mod tests {
    use crate::config::raw::{RawOffer, RawPartner, RawVertical};
    use crate::config::{load_files, ConfigDocument, SourceFile};
    use crate::ids::{OfferId, PartnerId, VerticalId};
    use crate::intake::{ConsentField, Stage, UnknownFields};
    use serde_json::{json, Value};

    /// A document with one vertical, offer and partner, each extended by the given fields.
    fn doc(vertical: Value, offer: Value, partner: Value) -> ConfigDocument {
        let mut v = json!({"id": "auto"});
        let mut o = json!({"id": "o1", "vertical": "auto"});
        let mut p = json!({"id": "p1", "api_key": "a-partner-key-of-some-length", "offers": ["o1"]});
        for (base, extra) in [(&mut v, vertical), (&mut o, offer), (&mut p, partner)] {
            base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        }
        serde_json::from_value(json!({"verticals": [v], "offers": [o], "partners": [p]})).unwrap()
    }

    /// Validates and compares the errors' tables, fields and message parts, in order.
    fn check(doc: ConfigDocument, expected: &[(&str, &str, &str)]) {
        let got = match doc.validate() {
            Ok(_) => vec![],
            Err(errors) => errors,
        };
        let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), expected.len(), "{shown:#?}");
        for (e, (table, field, part)) in got.iter().zip(expected) {
            assert_eq!((e.table, e.field.as_str()), (*table, *field), "{e}");
            assert!(e.message.contains(part), "expected {part:?} in {e}");
        }
    }

    fn fields(fields: Value) -> ConfigDocument {
        doc(json!({"fields": fields}), json!({}), json!({}))
    }

    #[test]
    fn bad_field_declarations_are_named_at_their_path() {
        let v = "verticals";
        for (declared, expected) in [
            (
                json!([{"name": "a", "type": "money"}]),
                (v, "fields[0].type", "unknown type \"money\" (one of text, integer"),
            ),
            (json!([{"name": "a", "type": "enum"}]), (v, "fields[0].values", "lists its values")),
            (json!([{"name": "a", "type": "text", "values": ["x"]}]), (v, "fields[0].values", "only enum fields")),
            (
                json!([{"name": "a", "type": "enum", "values": ["Male", "male"]}]),
                (v, "fields[0].values[1]", "listed twice"),
            ),
            (json!([{"name": "a", "type": "enum", "values": ["x", " "]}]), (v, "fields[0].values[1]", "blank")),
            (json!([{"name": "a", "type": "integer", "min": 30, "max": 18}]), (v, "fields[0].max", "below min (30)")),
            (json!([{"name": "a", "type": "number", "min": 2.5, "max": 1}]), (v, "fields[0].max", "below min")),
            (json!([{"name": "a", "type": "integer", "min": 1.5}]), (v, "fields[0].min", "whole number")),
            (json!([{"name": "a", "type": "text", "min": 1}]), (v, "fields[0].min", "only integer and number")),
            (json!([{"name": "a", "type": "zip", "max": 1}]), (v, "fields[0].max", "only integer and number")),
            (json!([{"name": "a", "type": "integer", "max_length": 3}]), (v, "fields[0].max_length", "only text")),
            (
                json!([{"name": "a", "type": "text", "min_length": 5, "max_length": 3}]),
                (v, "fields[0].max_length", "below min_length"),
            ),
            (json!([{"name": "a", "type": "text", "max_length": 0}]), (v, "fields[0].max_length", "1 or more")),
            (json!([{"name": "a", "type": "text", "min_length": -1}]), (v, "fields[0].min_length", "0 or more")),
            (
                json!([{"name": "a", "type": "zip", "required": "always"}]),
                (v, "fields[0].required", "\"ping\" or \"post\""),
            ),
            (
                json!([{"name": "a", "type": "zip"}, {"name": "a", "type": "state"}]),
                (v, "fields[1].name", "first declared at fields[0]"),
            ),
            (json!([{"name": "email", "type": "email"}]), (v, "fields[0].name", "is an identifier")),
            (json!([{"name": "phone_sha256", "type": "text"}]), (v, "fields[0].name", "is an identifier")),
            (
                json!([{"name": "tcpa_optin", "type": "text"}]),
                (v, "fields[0].name", "built-in consent field (boolean)"),
            ),
            (json!([{"name": "first name", "type": "text"}]), (v, "fields[0].name", "letters, digits")),
            (json!([{"name": "", "type": "text"}]), (v, "fields[0].name", "letters, digits")),
        ] {
            check(fields(declared), &[expected]);
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        check(
            fields(json!([
                {"name": "age", "type": "integer", "min": 18, "max": 120},
                {"name": "gender", "type": "enum"},
                {"name": "zip", "type": "zip", "required": "post", "min": 3}])),
            &[("verticals", "fields[1].values", "lists its values"), ("verticals", "fields[2].min", "only integer")],
        );
    }

    #[test]
    fn unknown_fields_is_keep_or_refuse_and_refuse_needs_fields() {
        check(
            doc(json!({"unknown_fields": "drop"}), json!({}), json!({})),
            &[("verticals", "unknown_fields", "\"keep\" or \"refuse\"")],
        );
        check(
            doc(json!({"unknown_fields": "refuse"}), json!({}), json!({})),
            &[("verticals", "unknown_fields", "needs declared fields")],
        );
        let config =
            doc(json!({"unknown_fields": "refuse", "fields": [{"name": "zip", "type": "zip"}]}), json!({}), json!({}))
                .validate()
                .unwrap();
        assert_eq!(config.verticals[&VerticalId::new("auto")].unknown, UnknownFields::Refuse);
    }

    #[test]
    fn an_offers_consent_names_only_built_in_fields() {
        check(
            doc(json!({}), json!({"consent": {"ping": ["tcpa"], "post": ["tcpa_optin", "zip"]}}), json!({})),
            &[
                ("offers", "consent.ping[0]", "unknown consent field \"tcpa\" (one of trustedform_cert_url"),
                ("offers", "consent.post[1]", "unknown consent field \"zip\""),
            ],
        );
        let config =
            doc(json!({}), json!({"consent": {"ping": ["jornaya_leadid"], "post": ["tcpa_optin"]}}), json!({}))
                .validate()
                .unwrap();
        let consent = config.offers[&OfferId::new("o1")].consent;
        let on = |stage| consent.required_on(stage).iter().collect::<Vec<_>>();
        assert_eq!(on(Stage::Ping), [ConsentField::JornayaLeadid]);
        assert_eq!(on(Stage::Post), [ConsentField::JornayaLeadid, ConsentField::TcpaOptin]);
    }

    #[test]
    fn a_partners_aliases_rename_once_and_never_an_identifier() {
        let p = "partners";
        for (aliases, expected) in [
            (json!({"zip": "zip"}), vec![(p, "field_aliases.zip", "to itself")]),
            (json!({"email": "contact"}), vec![(p, "field_aliases.email", "is an identifier")]),
            (json!({"zipcode": " "}), vec![(p, "field_aliases.zipcode", "must name the field")]),
            (json!({"": "zip"}), vec![(p, "field_aliases", "must not be empty")]),
            (json!({"a": "b", "b": "c"}), vec![(p, "field_aliases.b", "alias \"a\" renames to")]),
            (json!({"zipcode": "zip", "zip_code": "zip", "EmailAddress": "email"}), vec![]),
        ] {
            check(doc(json!({}), json!({}), json!({"field_aliases": aliases})), &expected);
        }
        let config = doc(json!({}), json!({}), json!({"field_aliases": {"zipcode": "zip"}})).validate().unwrap();
        let partner = &config.partners[&PartnerId::new("p1")];
        assert_eq!(partner.field_aliases.get("zipcode").map(String::as_str), Some("zip"));
    }

    #[test]
    fn the_specs_example_vertical_loads_from_toml_and_round_trips() {
        let toml = r#"
[[verticals]]
id = "auto"
name = "Auto insurance"
unknown_fields = "keep"
fields = [
  { name = "zip", type = "zip", required = "ping" },
  { name = "state", type = "state", required = "ping" },
  { name = "age", type = "integer", min = 18, max = 120 },
  { name = "gender", type = "enum", values = ["male", "female", "other"] },
  { name = "first_name", type = "text", required = "post", pii = true, max_length = 100 },
  { name = "birth_date", type = "date", pii = true },
]

[[offers]]
id = "auto-excl"
vertical = "auto"
consent = { ping = ["jornaya_leadid"], post = ["trustedform_cert_url", "tcpa_optin"] }

[[partners]]
id = "p1"
api_key_sha256 = "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"
offers = ["auto-excl"]
field_aliases = { xxTrustedFormCertUrl = "trustedform_cert_url", leadid_token = "jornaya_leadid", zipcode = "zip" }
"#;
        let config = load_files(&[SourceFile { name: "auto.toml".into(), text: toml.into() }]).unwrap();
        let auto = &config.verticals[&VerticalId::new("auto")];
        let fields = auto.fields.as_deref().unwrap();
        let listed: Vec<(&str, &str, Option<Stage>, bool)> =
            fields.iter().map(|f| (f.name(), f.kind().name(), f.required(), f.is_personal())).collect();
        assert_eq!(
            listed,
            [
                ("zip", "zip", Some(Stage::Ping), false),
                ("state", "state", Some(Stage::Ping), false),
                ("age", "integer", None, false),
                ("gender", "enum", None, false),
                ("first_name", "text", Some(Stage::Post), true),
                ("birth_date", "date", None, true),
            ]
        );
        assert_eq!(fields.get("gender").and_then(|f| f.kind().values()).map(<[String]>::len), Some(3));
        assert_eq!(config.partners[&PartnerId::new("p1")].field_aliases.len(), 3);

        // The admin API's JSON of the same resources reads back to the same raw shapes, and
        // what is not set is not written.
        let vertical: RawVertical = serde_json::from_value(json!({"id": "bare"})).unwrap();
        assert_eq!(
            serde_json::to_value(&vertical).unwrap(),
            json!({"id": "bare", "name": "", "dedup_window_days": null})
        );
        let offer: RawOffer =
            serde_json::from_value(json!({"id": "o", "vertical": "v", "consent": {"post": ["tcpa_optin"]}})).unwrap();
        assert_eq!(serde_json::to_value(&offer).unwrap()["consent"], json!({"post": ["tcpa_optin"]}));
        let partner: RawPartner = serde_json::from_value(json!({"id": "p"})).unwrap();
        assert!(serde_json::to_value(&partner).unwrap().get("field_aliases").is_none());
        let field =
            json!({"name": "age", "type": "integer", "required": "ping", "pii": true, "min": 18.0, "max": 120.0});
        let raw: RawVertical = serde_json::from_value(json!({"id": "v", "fields": [field.clone()]})).unwrap();
        assert_eq!(serde_json::to_value(&raw).unwrap()["fields"], json!([field]));
        assert!(serde_json::from_value::<RawVertical>(
            json!({"id": "v", "fields": [{"name": "a", "type": "text", "size": 3}]})
        )
        .is_err());
    }
}
