//! How an operator describes a buyer's calls: the shapes of `calls` and `value_maps`, the
//! same fields in `contracts/*.toml` and in the admin API's JSON. Lenient like the rest of
//! the raw configuration (methods, encodings and formats as text, numbers as i64), so that
//! [`super::compile`] can name every bad field instead of stopping at the first type error.

use crate::filter::Scalar;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A buyer's three calls; a call left out speaks pingpost's own protocol.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// The real-time price asked on the ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<Call>,
    /// The disqualification question asked on the ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<Call>,
    /// The delivery of a sold lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Call>,
}

/// A buyer's value maps by name: each maps a value's text to what the buyer wants instead
/// (`{"male": "1", "female": "2", "default": "0"}`), read by the `map(name)` filter.
pub type ValueMaps = BTreeMap<String, ValueMap>;

/// One value map; the key `default` answers values the map does not name.
pub type ValueMap = BTreeMap<String, Scalar>;

/// One call: where it goes, what it sends and how its answer is read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// Scheme, host and port are literal; only the path and the query may hold templates.
    /// Left out: the URL the rest of the configuration names (`post_url`, a contract's
    /// `bid_url` or `dq.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where `test` sends the call unless told to go live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_url: Option<String>,
    /// `POST` (default), `PUT` or `GET` (the fields go in the query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `json` (default), `form`, `xml` or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The buyer's field name → a template, in the order the body lists them.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
    /// Header name → a template.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub headers: Fields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
    /// The element an `xml` body's fields nest under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_root: Option<String>,
    /// Sends a `json` or `xml` body as this one form parameter (`xml=<lead>…</lead>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_field: Option<String>,
    /// The whole body of a `template` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The content type of a `template` body (JSON or XML: it says how values are escaped),
    /// or another content type for a `json` or `xml` body (`text/xml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Left out: pingpost's own answer for this call (for a post, the buyer's `response`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// `{"basic": {"username", "password"}}` or `{"bearer": "…"}`: exactly one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// A template for the token (`{{ secret('…') }}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// A template.
    pub username: String,
    /// A template (`{{ secret('…') }}`).
    pub password: String,
}

/// How a call's answer is read. Which keys a call may use depends on the call: a bid reads
/// `price` and `token`; a DQ check `disqualified`; a post `accepted`, `duplicate`, `price`,
/// `lead_id`, `redirect_url`, `reason` and `price_missing`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// `json` (default; paths are JSON pointers), `xml` (`/element/child`, `@name` for an
    /// attribute) or `text` (regexes whose first capture group is the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<AnswerRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<AnswerRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disqualified: Option<AnswerRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// A bid's reference, carried to the post as `{{ bid.token }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `contract_price` (default) or `reject`: what an accepted post without a readable
    /// price means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_missing: Option<String>,
}

/// One rule: `{"path", "equals"}`, `{"path", "matches"}`, `{"matches"}` (the whole body),
/// `{"status": [codes]}` or `{"contains"}`. The old shapes of a buyer's `response` —
/// `{"pointer", "equals"}`, `{"http_status"}` — are read too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnswerRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The old name of `path` (a JSON pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Scalar>,
    /// A regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<i64>>,
    /// The old name of `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// Names → templates in the order written: a buyer's body lists its fields in this order.
/// Written as a table (TOML) or an object (JSON); a nested table is the same as dotted names
/// (`contact = {zip = "…"}` is `"contact.zip" = "…"`, so TOML's own dotted keys mean what
/// they look like). A name given twice is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

/// One entry as written: a template, or a table of more.
enum Entry {
    Template(String),
    Table(Fields),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a template (text, quoted) or a table of templates")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Template(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Entry::Table)
            }
        }
        d.deserialize_any(Either)
    }
}

impl Fields {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Fields(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Fields(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of names to templates")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, entry)) = map.next_entry::<String, Entry>()? {
                    let flat = match entry {
                        Entry::Template(v) => vec![(k, v)],
                        Entry::Table(inner) => {
                            inner.0.into_iter().map(|(name, v)| (format!("{k}.{name}"), v)).collect()
                        }
                    };
                    for (name, v) in flat {
                        if pairs.iter().any(|(seen, _)| *seen == name) {
                            return Err(serde::de::Error::custom(format!("{name:?} is given twice")));
                        }
                        pairs.push((name, v));
                    }
                }
                Ok(Fields(pairs))
            }
        }
        d.deserialize_map(InOrder)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Fields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let template = ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::from(template)))
            .description(Some("Names to templates, in the order the buyer's body lists them."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Fields {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_the_order_written_in_json_and_toml() {
        let json: Call = serde_json::from_str(r#"{"fields": {"z": "1", "a": "2", "m.b": "3"}}"#).expect("json");
        let names: Vec<&str> = json.fields.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["z", "a", "m.b"]);
        let toml: Call = toml::from_str("[fields]\nz = \"1\"\na = \"2\"\n\"m.b\" = \"3\"\n").expect("toml");
        assert_eq!(toml.fields, json.fields);
        assert_eq!(serde_json::to_string(&json.fields).ok().as_deref(), Some(r#"{"z":"1","a":"2","m.b":"3"}"#));
    }

    #[test]
    fn nested_tables_are_dotted_names() {
        let toml: Call = toml::from_str(
            "[fields]\nid = \"1\"\ncontact.zip = \"2\"\ncontact.phone = \"3\"\n[fields.applicant]\nage = \"4\"\n",
        )
        .expect("toml");
        let names: Vec<&str> = toml.fields.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["id", "contact.zip", "contact.phone", "applicant.age"]);
        let json: Call =
            serde_json::from_str(r#"{"fields": {"contact": {"zip": "2"}, "contact.zip": "9"}}"#).unwrap_or_default();
        assert!(json.fields.is_empty(), "contact.zip given twice, once nested");
        let number = serde_json::from_str::<Call>(r#"{"fields": {"age": 34}}"#);
        assert!(number.is_err_and(|e| e.to_string().contains("a template (text, quoted)")));
    }

    #[test]
    fn a_whole_buyer_reads_from_toml() {
        let text = r#"
            [value_maps.gender]
            male = 1
            default = 0

            [calls.post]
            url = "https://api.example/leads"
            encoding = "xml"
            xml_root = "lead"
            fields = { "auction_id" = "{{ bid.token }}", "contact.zip" = "{{ lead.zip }}" }
            auth = { basic = { username = "u", password = "{{ secret('pw') }}" } }
            answer = { format = "xml", accepted = { path = "/r/@code", equals = 0 }, price_missing = "reject", price = "/r/p" }
        "#;
        #[derive(Deserialize)]
        struct Buyer {
            calls: Calls,
            value_maps: ValueMaps,
        }
        let b: Buyer = toml::from_str(text).expect("toml");
        assert_eq!(b.value_maps["gender"]["male"], Scalar::Int(1));
        let post = b.calls.post.expect("a post");
        assert_eq!(post.fields.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["auction_id", "contact.zip"]);
        assert_eq!(post.answer.and_then(|a| a.accepted).and_then(|r| r.equals), Some(Scalar::Int(0)));
    }

    #[test]
    fn a_field_named_twice_and_an_unknown_key_are_refused() {
        let twice = serde_json::from_str::<Call>(r#"{"fields": {"a": "1", "a": "2"}}"#);
        assert!(twice.is_err_and(|e| e.to_string().contains("given twice")));
        let unknown = serde_json::from_str::<Call>(r#"{"urll": "http://x"}"#);
        assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field")));
    }
}
