//! A whole lead against its vertical's fields and its offer's consent, for one stage.
//!
//! Each field of the lead is one of four kinds, in this order of precedence:
//! - **declared** by the vertical: read as its type; a personal one is refused on a ping;
//! - **consent** (built in, see [`ConsentField`]): checked by its format on either stage;
//! - **identifier** (`email`, `email_sha256`, `phone`, `phone_sha256`): passed through
//!   untouched, for the identity code to normalize and hash;
//! - **unknown**: passed through as it came, or refused when the vertical says `refuse`.
//!
//! Then what the stage requires: the vertical's `required` fields, and the offer's consent
//! fields (a required `tcpa_optin` must be true).
//!
//! A value that is `null`, or text of spaces only, counts as absent: it is left out of the
//! answer and does not meet a requirement. A vertical without fields has nothing declared,
//! so only the consent fields are checked: its leads behave as they did before fields.

use super::consent::{Consent, ConsentField};
use super::schema::UnknownFields;
use super::types::{self, is_absent};
use super::{FieldError, Stage, IDENTIFIER_FIELDS};
use crate::config::Vertical;
use serde_json::{Map, Value};

/// The lead with every declared and consent field in its kept form and the rest as it came
/// (absent values left out), or the first field refused. Works on the lead it is given: a
/// vertical without fields costs a ping no copy of its lead.
pub fn check(
    vertical: &Vertical,
    consent: &Consent,
    stage: Stage,
    mut lead: Map<String, Value>,
) -> Result<Map<String, Value>, FieldError> {
    let declared = vertical.fields.as_deref();
    lead.retain(|_, value| !is_absent(value));
    for (name, value) in lead.iter_mut() {
        let kept = if let Some(field) = declared.and_then(|d| d.get(name)) {
            if stage == Stage::Ping && field.is_personal() {
                return Err(FieldError::new(name, "personal field; send it on the post"));
            }
            match ConsentField::from_name(name) {
                // Declared with its own type: its built-in format still holds.
                Some(consent) => consent.read_on(stage, value),
                None => types::read(field.kind(), value),
            }
        } else if let Some(field) = ConsentField::from_name(name) {
            field.read_on(stage, value)
        } else if IDENTIFIER_FIELDS.contains(&name.as_str()) || vertical.unknown == UnknownFields::Keep {
            continue;
        } else {
            Err(format!("is not a field of vertical {}", vertical.id))
        };
        *value = kept.map_err(|message| FieldError::new(name, message))?;
    }
    for field in declared.into_iter().flat_map(|d| d.iter()) {
        if field.is_required_on(stage) && !lead.contains_key(field.name()) {
            return Err(FieldError::new(field.name(), format!("is required on the {stage}")));
        }
    }
    for field in consent.required_on(stage).iter() {
        match lead.get(field.name()) {
            None => return Err(FieldError::new(field.name(), format!("this offer requires it on the {stage}"))),
            Some(Value::Bool(false)) => {
                return Err(FieldError::new(field.name(), "must be true: this offer requires the consumer's consent"))
            }
            Some(_) => {}
        }
    }
    Ok(lead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawVertical;
    use crate::config::{ConfigDocument, Vertical};
    use crate::ids::VerticalId;
    use crate::intake::{ConsentSet, Field, FieldSet, FieldType};
    use crate::window::WindowDays;
    use serde_json::json;
    use std::sync::Arc;

    /// The SPEC's auto vertical (without its `tcpa_optin`, which is built in).
    fn auto(unknown: UnknownFields) -> Vertical {
        let doc: ConfigDocument = serde_json::from_value(json!({
            "verticals": [{"id": "auto", "unknown_fields": unknown.as_str(), "fields": [
                {"name": "zip",        "type": "zip",     "required": "ping"},
                {"name": "state",      "type": "state",   "required": "ping"},
                {"name": "age",        "type": "integer", "min": 18, "max": 120},
                {"name": "gender",     "type": "enum",    "values": ["male", "female", "other"]},
                {"name": "first_name", "type": "text",    "required": "post", "pii": true, "max_length": 100},
                {"name": "birth_date", "type": "date",    "pii": true}]}]
        }))
        .unwrap();
        doc.validate().unwrap().verticals[&VerticalId::new("auto")].clone()
    }

    fn bare() -> Vertical {
        let raw = RawVertical { id: "bare".into(), ..RawVertical::default() };
        let doc = ConfigDocument { verticals: vec![raw], ..ConfigDocument::default() };
        doc.validate().unwrap().verticals[&VerticalId::new("bare")].clone()
    }

    fn consent(ping: &[ConsentField], post: &[ConsentField]) -> Consent {
        Consent::new(ping.iter().copied().collect::<ConsentSet>(), post.iter().copied().collect())
    }

    /// A lead and what its check answers: `Ok(kept lead)` or `Err((field, part of the message))`.
    type Case<'a> = (Value, Result<Value, (&'a str, &'a str)>);

    fn check_all(vertical: &Vertical, consent: &Consent, stage: Stage, table: &[Case<'_>]) {
        for (lead, expected) in table {
            let Value::Object(map) = lead else { panic!("{lead} is not an object") };
            let got = check(vertical, consent, stage, map.clone()).map(Value::Object);
            match (expected, &got) {
                (Ok(kept), Ok(value)) => assert_eq!(value, kept, "{stage} {lead}"),
                (Err((field, part)), Err(e)) => {
                    assert_eq!(e.field, *field, "{stage} {lead}: {e}");
                    assert!(e.message.contains(part), "{stage} {lead}: {e}");
                }
                _ => panic!("{stage} {lead}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    /// The SPEC's example declares `tcpa_optin` on the vertical, required on the post: it is
    /// required there, and read by its built-in format.
    #[test]
    fn a_consent_field_declared_with_its_own_type_is_required_by_the_vertical() {
        let doc: ConfigDocument = serde_json::from_value(json!({
            "verticals": [{"id": "auto", "fields": [
                {"name": "zip", "type": "zip"},
                {"name": "tcpa_optin", "type": "boolean", "required": "post"}]}]
        }))
        .unwrap();
        let vertical = doc.validate().unwrap().verticals[&VerticalId::new("auto")].clone();
        check_all(
            &vertical,
            &Consent::default(),
            Stage::Ping,
            &[(json!({"zip": "90210"}), Ok(json!({"zip": "90210"})))],
        );
        check_all(
            &vertical,
            &Consent::default(),
            Stage::Post,
            &[
                (json!({"zip": "90210"}), Err(("lead.tcpa_optin", "is required on the post"))),
                (json!({"zip": "90210", "tcpa_optin": "Y"}), Ok(json!({"zip": "90210", "tcpa_optin": true}))),
                (json!({"zip": "90210", "tcpa_optin": "maybe"}), Err(("lead.tcpa_optin", "true or false"))),
            ],
        );
    }

    #[test]
    fn a_ping_is_read_into_its_kept_form() {
        check_all(
            &auto(UnknownFields::Keep),
            &Consent::default(),
            Stage::Ping,
            &[
                (
                    json!({"zip": "90210-1234", "state": "california", "age": "34", "gender": "Female",
                           "email": "A@B.co", "phone_sha256": "ab", "tcpa_optin": "yes", "source": "fb"}),
                    Ok(json!({"zip": "90210", "state": "CA", "age": 34, "gender": "female",
                              "email": "A@B.co", "phone_sha256": "ab", "tcpa_optin": true, "source": "fb"})),
                ),
                (
                    json!({"zip": "90210", "state": "CA", "age": null, "gender": "", "first_name": " "}),
                    Ok(json!({"zip": "90210", "state": "CA"})),
                ),
                (json!({"zip": "90210", "state": "CA", "age": 17}), Err(("lead.age", "at least 18"))),
                (json!({"zip": "9021", "state": "CA"}), Err(("lead.zip", "5-digit ZIP"))),
            ],
        );
    }

    #[test]
    fn required_fields_are_required_on_their_stage() {
        let v = auto(UnknownFields::Keep);
        let none = Consent::default();
        check_all(
            &v,
            &none,
            Stage::Ping,
            &[
                (json!({"state": "CA"}), Err(("lead.zip", "is required on the ping"))),
                (json!({"zip": "", "state": "CA"}), Err(("lead.zip", "is required on the ping"))),
                (json!({"zip": "90210"}), Err(("lead.state", "is required on the ping"))),
                (json!({"zip": "90210", "state": "CA"}), Ok(json!({"zip": "90210", "state": "CA"}))),
            ],
        );
        check_all(
            &v,
            &none,
            Stage::Post,
            &[
                (json!({"zip": "90210", "state": "CA"}), Err(("lead.first_name", "is required on the post"))),
                (json!({"state": "CA", "first_name": "Ann"}), Err(("lead.zip", "is required on the post"))),
                (
                    json!({"zip": "90210", "state": "CA", "first_name": " Ann ", "birth_date": "4/7/1990"}),
                    Ok(json!({"zip": "90210", "state": "CA", "first_name": "Ann", "birth_date": "1990-04-07"})),
                ),
            ],
        );
    }

    #[test]
    fn personal_fields_are_refused_on_the_ping_and_read_on_the_post() {
        let v = auto(UnknownFields::Keep);
        let lead = json!({"zip": "90210", "state": "CA", "first_name": "Ann"});
        check_all(
            &v,
            &Consent::default(),
            Stage::Ping,
            &[
                (lead.clone(), Err(("lead.first_name", "personal field; send it on the post"))),
                // Refused whatever its value: even an invalid one must not reach a bidder.
                (
                    json!({"zip": "90210", "state": "CA", "birth_date": "soon"}),
                    Err(("lead.birth_date", "personal field")),
                ),
            ],
        );
        check_all(&v, &Consent::default(), Stage::Post, &[(lead.clone(), Ok(lead))]);
    }

    #[test]
    fn unknown_fields_are_kept_as_they_came_or_refused() {
        let lead = json!({"zip": "90210", "state": "CA", "source": {"utm": "x"}, "n": 1, "gone": null});
        let kept = json!({"zip": "90210", "state": "CA", "source": {"utm": "x"}, "n": 1});
        check_all(&auto(UnknownFields::Keep), &Consent::default(), Stage::Ping, &[(lead.clone(), Ok(kept))]);
        check_all(
            &auto(UnknownFields::Refuse),
            &Consent::default(),
            Stage::Post,
            &[
                (lead, Err(("lead.n", "is not a field of vertical auto"))),
                // Identifiers and consent fields are never unknown.
                (
                    json!({"zip": "90210", "state": "CA", "first_name": "A", "email": "a@b.co", "ip_address": "::1"}),
                    Ok(
                        json!({"zip": "90210", "state": "CA", "first_name": "A", "email": "a@b.co", "ip_address": "::1"}),
                    ),
                ),
            ],
        );
    }

    #[test]
    fn consent_fields_are_checked_whenever_present_and_required_per_offer() {
        use ConsentField::*;
        let offer = consent(&[JornayaLeadid], &[TrustedformCertUrl, TcpaOptin]);
        let leadid = "01234567-89AB-CDEF-0123-456789ABCDEF";
        let cert = "https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c";
        for v in [bare(), auto(UnknownFields::Refuse)] {
            // What the vertical itself requires on each stage, plus `extra`.
            let with = |stage: Stage, extra: Value| {
                let mut lead = json!({"zip": "90210", "state": "CA"});
                if stage == Stage::Post {
                    lead["first_name"] = json!("Ann");
                }
                lead.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
                lead
            };
            let ping = |extra| with(Stage::Ping, extra);
            check_all(
                &v,
                &offer,
                Stage::Ping,
                &[
                    (ping(json!({})), Err(("lead.jornaya_leadid", "this offer requires it on the ping"))),
                    (ping(json!({"jornaya_leadid": "x"})), Err(("lead.jornaya_leadid", "36 characters"))),
                    (
                        ping(json!({"jornaya_leadid": leadid, "tcpa_optin": "maybe"})),
                        Err(("lead.tcpa_optin", "true or false")),
                    ),
                    (
                        ping(json!({"jornaya_leadid": leadid, "trustedform_cert_url": cert})),
                        Err(("lead.trustedform_cert_url", "ping URL")),
                    ),
                    // Not required on the ping, so a false one is only read.
                    (
                        ping(json!({"jornaya_leadid": leadid, "tcpa_optin": false})),
                        Ok(ping(json!({"jornaya_leadid": leadid, "tcpa_optin": false}))),
                    ),
                ],
            );
            let post = |extra| with(Stage::Post, extra);
            check_all(
                &v,
                &offer,
                Stage::Post,
                &[
                    (
                        post(json!({"trustedform_cert_url": cert, "tcpa_optin": true})),
                        Err(("lead.jornaya_leadid", "requires it on the post")),
                    ),
                    (
                        post(json!({"jornaya_leadid": leadid, "tcpa_optin": true})),
                        Err(("lead.trustedform_cert_url", "requires it on the post")),
                    ),
                    (
                        post(json!({"jornaya_leadid": leadid, "trustedform_cert_url": cert, "tcpa_optin": "N"})),
                        Err(("lead.tcpa_optin", "must be true")),
                    ),
                    (
                        post(json!({"jornaya_leadid": leadid, "trustedform_cert_url": cert, "tcpa_optin": "Y"})),
                        Ok(post(json!({"jornaya_leadid": leadid, "trustedform_cert_url": cert, "tcpa_optin": true}))),
                    ),
                ],
            );
        }
    }

    #[test]
    fn a_vertical_without_fields_takes_its_leads_as_they_come() {
        let lead = json!({"zip": "anything", "age": 34.5, "first_name": "Ann", "nested": [1]});
        check_all(&bare(), &Consent::default(), Stage::Ping, &[(lead.clone(), Ok(lead))]);
    }

    #[test]
    fn every_example_passes_its_own_check() {
        let v = auto(UnknownFields::Refuse);
        let everything: Vec<ConsentField> = ConsentField::ALL.to_vec();
        let offer = consent(&everything, &[]);
        for stage in [Stage::Ping, Stage::Post] {
            let mut lead = Map::new();
            for field in v.fields.as_deref().unwrap().iter().filter(|f| stage == Stage::Post || !f.is_personal()) {
                lead.insert(field.name().to_string(), field.kind().example());
            }
            for field in ConsentField::ALL {
                lead.insert(field.name().to_string(), field.example());
            }
            assert_eq!(check(&v, &offer, stage, lead.clone()), Ok(lead.clone()), "{stage}");
        }
    }

    #[test]
    fn a_hand_built_vertical_checks_too() {
        let fields = FieldSet::new(vec![Field::new("contact", FieldType::Email, Some(Stage::Post), false)]);
        let v = Vertical {
            id: VerticalId::new("v"),
            name: String::new(),
            dedup_window: WindowDays::MAX,
            repeat_after: None,
            fields: Some(Arc::new(fields)),
            unknown: UnknownFields::Keep,
        };
        check_all(
            &v,
            &Consent::default(),
            Stage::Ping,
            &[(json!({"contact": "a@b.co"}), Err(("lead.contact", "personal")))],
        );
        check_all(
            &v,
            &Consent::default(),
            Stage::Post,
            &[
                (json!({"contact": " A@B.co "}), Ok(json!({"contact": "a@b.co"}))),
                (json!({"contact": "nope"}), Err(("lead.contact", "is not an email address"))),
            ],
        );
    }
}
