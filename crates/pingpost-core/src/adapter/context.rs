//! What a call's templates may read: `lead`, `email_sha256`, `phone_sha256`, `ping`, `bid`,
//! `sale` and `now`. Built once per ping (or per delivered bid) and shared by every call made
//! with it; the templates' view of it is made on first use and kept.

use super::filters::NOW;
use crate::money::Money;
use crate::Timestamp;
use minijinja::value::Value as Tv;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The ping a call belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingInfo {
    pub id: String,
    pub offer: String,
    pub vertical: String,
}

/// The bid a post delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidInfo {
    pub id: String,
    pub price: Money,
    /// The buyer's reference read from its bid answer.
    #[serde(default)]
    pub token: Option<String>,
}

/// The sale a post makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleInfo {
    pub id: String,
    /// The price the sale is made at (pingpost's own post body sends it).
    pub price: Money,
}

/// The parts of a [`Context`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextParts {
    /// On `bid` and `dq` calls the ping's fields with `email_sha256`/`phone_sha256` and never
    /// a plaintext email or phone (what pingpost's own bid request sends as `lead`); on a
    /// `post` the posted lead as the partner sent it.
    pub lead: Value,
    #[serde(default)]
    pub email_sha256: Option<String>,
    #[serde(default)]
    pub phone_sha256: Option<String>,
    pub ping: PingInfo,
    #[serde(default)]
    pub bid: Option<BidInfo>,
    #[serde(default)]
    pub sale: Option<SaleInfo>,
    pub now: Timestamp,
}

/// A call's context; immutable once built, so the views made from it stay true.
#[derive(Clone, Debug)]
pub struct Context {
    parts: ContextParts,
    /// What MiniJinja renders with.
    view: OnceLock<Tv>,
    /// The variables other than `lead` as JSON, for the fast paths to borrow from (the lead
    /// is read from the parts); built once for every call made with this context.
    others: OnceLock<Map<String, Value>>,
}

impl From<ContextParts> for Context {
    fn from(parts: ContextParts) -> Self {
        Context { parts, view: OnceLock::new(), others: OnceLock::new() }
    }
}

impl Context {
    pub fn new(parts: ContextParts) -> Self {
        Context::from(parts)
    }

    pub fn parts(&self) -> &ContextParts {
        &self.parts
    }

    fn now_text(&self) -> String {
        self.parts.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// The variables as templates see them (numbers normalised, see [`normalized`]).
    pub(super) fn view(&self) -> &Tv {
        self.view.get_or_init(|| {
            let p = &self.parts;
            let mut vars: BTreeMap<&str, Tv> = BTreeMap::new();
            vars.insert("lead", template_value(&p.lead));
            vars.insert("email_sha256", Tv::from(p.email_sha256.clone()));
            vars.insert("phone_sha256", Tv::from(p.phone_sha256.clone()));
            vars.insert("ping", template_value(&self.root("ping").unwrap_or_default()));
            vars.insert("bid", self.root("bid").map_or(Tv::UNDEFINED, |b| template_value(&b)));
            vars.insert("sale", self.root("sale").map_or(Tv::UNDEFINED, |s| template_value(&s)));
            let now = self.now_text();
            vars.insert(NOW, Tv::from(now.clone()));
            vars.insert("now", Tv::from(now));
            Tv::from_pairs(vars)
        })
    }

    /// A top-level variable as JSON (`None`: undefined or none).
    fn root(&self, name: &str) -> Option<Value> {
        let p = &self.parts;
        let text = |s: &str| Value::String(s.to_string());
        Some(match name {
            "lead" => normalized(&p.lead),
            "email_sha256" => text(p.email_sha256.as_deref()?),
            "phone_sha256" => text(p.phone_sha256.as_deref()?),
            "ping" => Value::Object(Map::from_iter([
                ("id".to_string(), text(&p.ping.id)),
                ("offer".to_string(), text(&p.ping.offer)),
                ("vertical".to_string(), text(&p.ping.vertical)),
            ])),
            "bid" => {
                let b = p.bid.as_ref()?;
                let mut m = Map::from_iter([
                    ("id".to_string(), text(&b.id)),
                    ("price".to_string(), Value::String(b.price.to_string())),
                ]);
                if let Some(t) = &b.token {
                    m.insert("token".into(), text(t));
                }
                Value::Object(m)
            }
            "sale" => {
                let s = p.sale.as_ref()?;
                Value::Object(Map::from_iter([
                    ("id".to_string(), text(&s.id)),
                    ("price".to_string(), Value::String(s.price.to_string())),
                ]))
            }
            "now" => Value::String(self.now_text()),
            _ => return None,
        })
    }

    /// The variables other than `lead`, as [`Context::view`] holds them: a missing hash is
    /// `null` (the view's none), a missing bid or sale absent (undefined).
    fn others(&self) -> &Map<String, Value> {
        self.others.get_or_init(|| {
            ["email_sha256", "phone_sha256", "ping", "bid", "sale", "now"]
                .into_iter()
                .filter_map(|name| match self.root(name) {
                    Some(v) => Some((name.to_string(), v)),
                    None if name.ends_with("_sha256") => Some((name.to_string(), Value::Null)),
                    None => None,
                })
                .collect()
        })
    }

    /// `a.b.c`, borrowed where it is (`None`: undefined; `null`: none). The lead's numbers
    /// are not normalized yet (see [`normal`]).
    fn find(&self, path: &[String]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut at = if first == "lead" { &self.parts.lead } else { self.others().get(first)? };
        for key in rest {
            at = at.as_object()?.get(key)?;
        }
        Some(at)
    }

    /// `a.b.c` read straight from the parts, with the same answer the template engine would
    /// give, borrowed when it can be: the fast path for the commonest field,
    /// `{{ lead.zip }}`. `None`: undefined or none, so the field is left out.
    pub(super) fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        self.find(path).filter(|v| !v.is_null()).map(normal)
    }

    /// `a.b.c` as the template engine sees it (undefined when missing, none when null).
    pub(super) fn lookup_template(&self, path: &[String]) -> Tv {
        self.find(path).map_or(Tv::UNDEFINED, template_value)
    }
}

/// A value as templates see it, borrowed unless a number in it must change (see
/// [`normalized`]).
fn normal(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::Number(n) if !n.is_f64() => Cow::Borrowed(v),
        Value::Number(_) | Value::Array(_) | Value::Object(_) => Cow::Owned(normalized(v)),
        _ => Cow::Borrowed(v),
    }
}

/// A number as templates see it: a float with no fraction is the integer it equals (the
/// ping's fields arrive as floats, and `{{ lead.age }}` must send `34`, not `34.0`).
fn normalized_number(n: &Number) -> Number {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to it is a float.
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() <= EXACT => Number::from(f as i64),
        _ => n.clone(),
    }
}

pub(super) fn normalized(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(normalized_number(n)),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), normalized(v))).collect()),
        other => other.clone(),
    }
}

/// JSON → a template value.
pub(super) fn template_value(v: &Value) -> Tv {
    match v {
        Value::Null => Tv::from(()),
        Value::Bool(b) => Tv::from(*b),
        Value::Number(n) => {
            let n = normalized_number(n);
            n.as_i64()
                .map(Tv::from)
                .or_else(|| n.as_u64().map(Tv::from))
                .unwrap_or_else(|| Tv::from(n.as_f64().unwrap_or(f64::NAN)))
        }
        Value::String(s) => Tv::from(s.as_str()),
        Value::Array(items) => Tv::from(items.iter().map(template_value).collect::<Vec<_>>()),
        Value::Object(m) => Tv::from_pairs(m.iter().map(|(k, v)| (k.as_str(), template_value(v)))),
    }
}

/// A template value → JSON; `None` for undefined and none (the field is left out), and for
/// what JSON cannot hold (a float that is not finite, a callable).
pub(super) fn json_value(v: &Tv) -> Option<Value> {
    use minijinja::value::ValueKind as K;
    Some(match v.kind() {
        K::Undefined | K::None => return None,
        K::Bool => Value::Bool(v.is_true()),
        K::Number => {
            if let Some(i) = v.as_i64() {
                Value::from(i)
            } else if let Ok(u) = u64::try_from(v.clone()) {
                Value::from(u)
            } else {
                let f = f64::try_from(v.clone()).ok()?;
                Value::Number(normalized_number(&Number::from_f64(f)?))
            }
        }
        K::String => Value::String(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())),
        K::Bytes => Value::String(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned()),
        K::Seq | K::Iterable => {
            Value::Array(v.try_iter().ok()?.map(|i| json_value(&i).unwrap_or(Value::Null)).collect())
        }
        K::Map => {
            let mut m = Map::new();
            for key in v.try_iter().ok()? {
                let item = v.get_item(&key).ok()?;
                m.insert(key.to_string(), json_value(&item).unwrap_or(Value::Null));
            }
            Value::Object(m)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context::new(ContextParts {
            lead: json!({"age": 34.0, "zip": "90210", "nested": {"x": 1.5}, "gone": null}),
            email_sha256: Some("e".repeat(64)),
            phone_sha256: None,
            ping: PingInfo { id: "p1".into(), offer: "o1".into(), vertical: "auto".into() },
            bid: Some(BidInfo { id: "b1".into(), price: Money::from_minor(1250), token: Some("t-9".into()) }),
            sale: None,
            now: chrono::DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").map(|t| t.to_utc()).unwrap_or_default(),
        })
    }

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn the_fast_path_answers_what_the_template_view_holds() {
        let c = ctx();
        let view = c.view();
        for p in [
            "lead.age",
            "lead.zip",
            "lead.nested.x",
            "lead.nested",
            "lead.gone",
            "lead.missing.deeper",
            "bid.price",
            "bid.token",
            "ping.vertical",
            "sale.id",
            "email_sha256",
            "phone_sha256",
            "now",
            "lead",
        ] {
            let mut tv = view.clone();
            for key in path(p) {
                tv = tv.get_attr(&key).unwrap_or(Tv::UNDEFINED);
            }
            assert_eq!(c.lookup(&path(p)).map(Cow::into_owned), json_value(&tv), "{p}");
            assert_eq!(c.lookup_template(&path(p)), tv, "{p}");
            assert_eq!(c.lookup_template(&path(p)).kind(), tv.kind(), "{p}");
        }
        assert_eq!(c.lookup(&path("lead.age")).as_deref(), Some(&json!(34)), "an integral float is an integer");
        assert_eq!(c.lookup(&path("bid.price")).as_deref(), Some(&json!("12.50")), "money is exact text");
        assert!(matches!(c.lookup(&path("lead.zip")), Some(Cow::Borrowed(_))), "a string is borrowed");
    }
}
