//! What a vertical declares about its leads' fields, validated and built once per
//! configuration: names looked up by binary search, enum values folded to lower case ahead
//! of time, so that checking a ping allocates nothing but its answer.

use super::Stage;
use crate::identity::plaintext_identifier_name;
use serde_json::{json, Value};

/// What a field holds and how it is read. Each type carries only the bounds it can have, so
/// a `max_length` on a number or `values` on a date cannot exist past validation.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    /// Any text, trimmed; its length counted in characters.
    Text {
        min_length: Option<u32>,
        max_length: Option<u32>,
    },
    /// A whole number (JSON or text), bounds inclusive.
    Integer {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Any finite number (JSON or text), bounds inclusive.
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    /// Kept as `YYYY-MM-DD`.
    Date,
    Enum(EnumValues),
    /// Five digits (ZIP+4 is kept as its five).
    Zip,
    /// A US state's or territory's code, kept upper-case.
    State,
    /// An absolute `http(s)` URL with a host.
    Url,
    /// IPv4 or IPv6, kept in its canonical text.
    Ip,
    /// Normalized as identity normalizes `email`.
    Email,
    /// Normalized as identity normalizes `phone`: E.164 digits without the `+`.
    Phone,
}

impl FieldType {
    /// Every type's name, as configuration writes it.
    pub const NAMES: [&'static str; 12] =
        ["text", "integer", "number", "boolean", "date", "enum", "zip", "state", "url", "ip", "email", "phone"];

    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Integer { .. } => "integer",
            FieldType::Number { .. } => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Enum(_) => "enum",
            FieldType::Zip => "zip",
            FieldType::State => "state",
            FieldType::Url => "url",
            FieldType::Ip => "ip",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
        }
    }

    /// The allowed values of an enum (as listed), else `None`.
    pub fn values(&self) -> Option<&[String]> {
        match self {
            FieldType::Enum(values) => Some(values.listed()),
            _ => None,
        }
    }

    /// A value that passes this type's check, in its kept form: what the partners' docs
    /// show in an example ping and post.
    pub fn example(&self) -> Value {
        match self {
            FieldType::Text { min_length, max_length } => {
                let (min, max) = (min_length.unwrap_or(0) as usize, max_length.map_or(usize::MAX, |m| m as usize));
                let mut text: String = "example".chars().take(max).collect();
                while text.chars().count() < min {
                    text.push('x');
                }
                Value::String(text)
            }
            // A typical value (34: an adult's age, a modest amount) moved into the bounds,
            // rather than a bound itself, which buyers' own filters often exclude.
            FieldType::Integer { min, max } => json!(typical(min.map(f64::ceil), max.map(f64::floor)) as i64),
            FieldType::Number { min, max } => {
                serde_json::Number::from_f64(typical(*min, *max)).map_or(json!(1), Value::Number)
            }
            FieldType::Boolean => json!(true),
            FieldType::Date => json!("1990-01-31"),
            FieldType::Enum(values) => values.listed().first().map_or(Value::Null, |v| json!(v)),
            FieldType::Zip => json!("90210"),
            FieldType::State => json!("CA"),
            FieldType::Url => json!("https://example.com/"),
            FieldType::Ip => json!("203.0.113.7"),
            FieldType::Email => json!("consumer@example.com"),
            FieldType::Phone => json!("12025550143"),
        }
    }
}

/// 34, moved into `[min, max]` (the lower bound wins should they cross).
fn typical(min: Option<f64>, max: Option<f64>) -> f64 {
    let n = max.map_or(34.0, |m| m.min(34.0));
    min.map_or(n, |m| m.max(n))
}

/// An enum's values as listed, and folded to lower case once for matching.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumValues {
    listed: Vec<String>,
    folded: Vec<String>,
}

impl EnumValues {
    pub fn new(listed: Vec<String>) -> Self {
        let folded = listed.iter().map(|v| v.to_lowercase()).collect();
        EnumValues { listed, folded }
    }

    pub fn listed(&self) -> &[String] {
        &self.listed
    }

    /// The listed value `text` names, compared without regard to case. Folds `text` char by
    /// char against the precomputed folds, so a match allocates nothing.
    pub fn find(&self, text: &str) -> Option<&str> {
        let index = self.folded.iter().position(|f| text.chars().flat_map(char::to_lowercase).eq(f.chars()))?;
        self.listed.get(index).map(String::as_str)
    }
}

/// One declared field.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    name: String,
    kind: FieldType,
    required: Option<Stage>,
    personal: bool,
}

impl Field {
    /// A field is personal when declared `pii`, and always when it is an email or a phone,
    /// or when its name says it holds one in plaintext (`phone_number`, `work_email`…: the
    /// ping refuses such names anyway, see [`plaintext_identifier_name`]).
    pub fn new(name: impl Into<String>, kind: FieldType, required: Option<Stage>, pii: bool) -> Self {
        let name = name.into();
        let personal =
            pii || matches!(kind, FieldType::Email | FieldType::Phone) || plaintext_identifier_name(&name).is_some();
        Field { name, kind, required, personal }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> &FieldType {
        &self.kind
    }

    /// The first request that must carry it: `Ping` means the ping and the post.
    pub fn required(&self) -> Option<Stage> {
        self.required
    }

    pub fn is_required_on(&self, stage: Stage) -> bool {
        match (self.required, stage) {
            (None, _) => false,
            (Some(Stage::Ping), _) | (Some(Stage::Post), Stage::Post) => true,
            (Some(Stage::Post), Stage::Ping) => false,
        }
    }

    /// Refused on pings; sent only on the post, to the buyer that bought the lead.
    pub fn is_personal(&self) -> bool {
        self.personal
    }
}

/// A vertical's declared fields, in declaration order, with an index by name.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSet {
    fields: Vec<Field>,
    /// Indexes into `fields`, sorted by name.
    by_name: Vec<usize>,
}

impl FieldSet {
    /// Names must be unique (validation refuses duplicates); of two with one name, lookups
    /// find either.
    pub fn new(fields: Vec<Field>) -> Self {
        let mut by_name: Vec<usize> = (0..fields.len()).collect();
        by_name.sort_by(|a, b| fields[*a].name.cmp(&fields[*b].name));
        FieldSet { fields, by_name }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        let at = self.by_name.binary_search_by(|i| self.fields[*i].name.as_str().cmp(name)).ok()?;
        self.fields.get(self.by_name[at])
    }

    /// In declaration order: the order the partners' docs list them.
    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// What becomes of a lead field the vertical does not declare (and that is neither an
/// identifier nor a consent field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownFields {
    /// Passed on as it came.
    #[default]
    Keep,
    /// Refused with a 422 naming it.
    Refuse,
}

impl UnknownFields {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "keep" => Some(UnknownFields::Keep),
            "refuse" => Some(UnknownFields::Refuse),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnknownFields::Keep => "keep",
            UnknownFields::Refuse => "refuse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_match_without_regard_to_case_and_answer_as_listed() {
        let values = EnumValues::new(vec!["Male".into(), "female".into(), "ÉTÉ".into()]);
        for (input, expected) in [
            ("male", Some("Male")),
            ("MALE", Some("Male")),
            ("Female", Some("female")),
            ("été", Some("ÉTÉ")),
            ("m", None),
        ] {
            assert_eq!(values.find(input), expected, "{input}");
        }
    }

    #[test]
    fn fields_are_found_by_name_and_listed_in_declaration_order() {
        let set = FieldSet::new(vec![
            Field::new("zip", FieldType::Zip, Some(Stage::Ping), false),
            Field::new("age", FieldType::Integer { min: None, max: None }, None, false),
            Field::new("mobile", FieldType::Text { min_length: None, max_length: None }, None, false),
        ]);
        assert_eq!(set.get("age").map(Field::name), Some("age"));
        assert_eq!(set.get("zip").map(Field::name), Some("zip"));
        assert!(set.get("state").is_none());
        assert_eq!(set.iter().map(Field::name).collect::<Vec<_>>(), ["zip", "age", "mobile"]);
        // A plaintext phone's name is personal whatever its declaration says.
        assert!(set.get("mobile").is_some_and(Field::is_personal));
    }

    #[test]
    fn required_on_ping_means_the_post_too() {
        let field = |r| Field::new("f", FieldType::Boolean, r, false);
        assert!(field(Some(Stage::Ping)).is_required_on(Stage::Ping));
        assert!(field(Some(Stage::Ping)).is_required_on(Stage::Post));
        assert!(!field(Some(Stage::Post)).is_required_on(Stage::Ping));
        assert!(field(Some(Stage::Post)).is_required_on(Stage::Post));
        assert!(!field(None).is_required_on(Stage::Post));
    }

    #[test]
    fn emails_and_phones_are_always_personal() {
        assert!(Field::new("contact", FieldType::Email, None, false).is_personal());
        assert!(Field::new("contact", FieldType::Phone, None, false).is_personal());
        assert!(!Field::new("contact", FieldType::Zip, None, false).is_personal());
    }
}
