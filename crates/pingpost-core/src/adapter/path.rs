//! Where a value is in a buyer's answer: a JSON pointer (`/result/bid`), an XML path
//! (`/response/result`, `/response/@status` for an attribute) or, in a text answer, a regex
//! whose first capture group is the value.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use regex::{Regex, RegexBuilder};
use serde_json::Value;

/// A compiled regex may take at most this much memory: an operator's pattern, not ours.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| format!("is not a valid regex: {e}"))
}

/// A value found in an answer: JSON keeps its type (an `equals` rule compares it strictly,
/// as pingpost always has); XML and text are text.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Found<'a> {
    Json(&'a Value),
    Text(String),
}

impl Found<'_> {
    /// The value as text: a JSON string as it is, a number or boolean as written; nothing
    /// for a JSON null, list or object.
    pub fn text(&self) -> Option<String> {
        match self {
            Found::Json(Value::String(s)) => Some(s.clone()),
            Found::Json(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            Found::Json(_) => None,
            Found::Text(t) => Some(t.clone()),
        }
    }
}

/// A compiled path.
#[derive(Clone, Debug)]
pub(super) enum Locator {
    Json(String),
    Xml(XmlPath),
    Text(Regex),
}

/// The answer's body, read once in the ways its format needs.
pub(super) struct Body<'a> {
    pub raw: &'a [u8],
    pub text: std::borrow::Cow<'a, str>,
    pub json: Option<Value>,
}

impl<'a> Body<'a> {
    pub fn new(raw: &'a [u8], parse_json: bool) -> Self {
        let json = if parse_json { serde_json::from_slice(raw).ok() } else { None };
        Body { raw, text: String::from_utf8_lossy(raw), json }
    }
}

impl Locator {
    pub fn find<'b>(&self, body: &'b Body<'_>) -> Option<Found<'b>> {
        match self {
            Locator::Json(pointer) => body.json.as_ref()?.pointer(pointer).map(Found::Json),
            Locator::Xml(path) => path.find(&body.text).map(Found::Text),
            Locator::Text(re) => re.captures(&body.text)?.get(1).map(|m| Found::Text(m.as_str().to_string())),
        }
    }
}

/// Checks a JSON pointer: empty (the whole document) or `/`-separated, `~` only as `~0`/`~1`.
pub(super) fn json_pointer(p: &str) -> Result<String, String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err("a JSON pointer starts with '/'".into());
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("in a JSON pointer '~' is written only as ~0 or ~1".into());
        }
    }
    Ok(p.to_string())
}

/// `/response/result` or `/response/@status`: elements from the document's root, then
/// optionally one attribute. A name with a prefix (`soap:Body`) matches that exact name; one
/// without matches the local name whatever its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct XmlPath {
    elements: Vec<String>,
    attribute: Option<String>,
}

impl XmlPath {
    pub fn parse(p: &str) -> Result<XmlPath, String> {
        let rest = p.strip_prefix('/').ok_or("an XML path starts with '/' at the document's root element")?;
        let mut parts: Vec<&str> = rest.split('/').collect();
        let attribute = match parts.last().and_then(|l| l.strip_prefix('@')) {
            Some(a) => {
                parts.pop();
                Some(a.to_string())
            }
            None => None,
        };
        if parts.is_empty() {
            return Err("an XML path names at least one element".into());
        }
        let bad = parts.iter().copied().chain(attribute.as_deref()).find(|n| !super::encode::xml_name(n));
        if let Some(name) = bad {
            return Err(format!("{name:?} is not an XML name (an attribute, '@name', comes last)"));
        }
        Ok(XmlPath { elements: parts.into_iter().map(str::to_string).collect(), attribute })
    }

    fn matches(want: &str, e: &BytesStart<'_>) -> bool {
        let name: &str = if want.contains(':') { e.name().into_inner() } else { e.local_name().into_inner() };
        name == want
    }

    /// The first element at this path: its text (trimmed, its descendants' included), or the
    /// attribute's value. `None` when absent or when the document cannot be read.
    pub fn find(&self, xml: &str) -> Option<String> {
        let mut reader = Reader::from_str(xml);
        // How many of the path's elements the open elements match, and how deep we are.
        let (mut matched, mut depth) = (0usize, 0usize);
        let mut text: Option<String> = None;
        loop {
            let event = reader.read_event().ok()?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) if text.is_none() => {
                    let empty = matches!(event, Event::Empty(_));
                    if depth == matched && matched < self.elements.len() && Self::matches(&self.elements[matched], e) {
                        matched += 1;
                        if matched == self.elements.len() {
                            if let Some(a) = &self.attribute {
                                let value = e.try_get_attribute(a.as_str()).ok()??;
                                return value
                                    .normalized_value(XmlVersion::Implicit1_0)
                                    .ok()
                                    .map(|v| v.trim().to_string());
                            }
                            if empty {
                                return Some(String::new());
                            }
                            text = Some(String::new());
                        }
                    }
                    if !empty {
                        depth += 1;
                    } else {
                        matched = matched.min(depth);
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) => {
                    depth = depth.checked_sub(1)?;
                    if text.is_some() && depth < self.elements.len() {
                        return text.map(|t| t.trim().to_string());
                    }
                    matched = matched.min(depth);
                }
                Event::Text(t) => {
                    if let Some(out) = text.as_mut() {
                        out.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(out) = text.as_mut() {
                        out.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(out) = text.as_mut() {
                        match r.resolve_char_ref().ok()? {
                            Some(c) => out.push(c),
                            None => out.push_str(quick_xml::escape::resolve_predefined_entity(&r)?),
                        }
                    }
                }
                Event::Eof => return None,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(path: &str, doc: &str) -> Option<String> {
        XmlPath::parse(path).ok()?.find(doc)
    }

    #[test]
    fn xml_paths_find_elements_and_attributes() {
        let doc = r#"<?xml version="1.0"?><response status="ok"><other><result>no</result></other>
            <result> success </result><price>12.50</price><msg>a &amp; b &#169; <![CDATA[<raw>]]></msg><empty/></response>"#;
        assert_eq!(xml("/response/result", doc).as_deref(), Some("success"));
        assert_eq!(xml("/response/@status", doc).as_deref(), Some("ok"));
        assert_eq!(xml("/response/price", doc).as_deref(), Some("12.50"));
        assert_eq!(xml("/response/msg", doc).as_deref(), Some("a & b © <raw>"));
        assert_eq!(xml("/response/empty", doc).as_deref(), Some(""));
        assert_eq!(xml("/response/missing", doc), None);
        assert_eq!(xml("/result", doc), None, "paths start at the root element");
        assert_eq!(xml("/response/result", "<response><result>x</resul"), None);
        let soap = "<s:Envelope xmlns:s='x'><s:Body><Id>7</Id></s:Body></s:Envelope>";
        assert_eq!(xml("/Envelope/Body/Id", soap).as_deref(), Some("7"));
        assert_eq!(xml("/s:Envelope/s:Body/Id", soap).as_deref(), Some("7"));
    }

    #[test]
    fn paths_that_cannot_be_read_are_refused() {
        assert!(XmlPath::parse("response/result").is_err());
        assert!(XmlPath::parse("/").is_err());
        assert!(XmlPath::parse("/a/@b/c").is_err());
        assert!(XmlPath::parse("/a b").is_err());
        assert!(json_pointer("result/bid").is_err());
        assert!(json_pointer("/a~2").is_err());
        assert!(json_pointer("/a~1b/~0").is_ok() && json_pointer("").is_ok());
        assert!(regex("(unclosed").is_err());
    }
}
