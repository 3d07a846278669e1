//! Bodies built from fields: JSON (dotted names nest as objects), form (dotted names kept,
//! percent-encoded) and XML (dotted names nest as elements under a root). Every value is
//! escaped for its encoding as it is written — JSON string escaping, percent-encoding, XML
//! entities — so no value can change a body's structure.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::borrow::Cow;

/// What a URL, a query string or a form body may carry unescaped: RFC 3986's unreserved
/// characters. Everything else in a value, `/`, `?`, `&`, `=` and `#` included, is escaped.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(super) fn percent(text: &str) -> String {
    utf8_percent_encode(text, VALUE).to_string()
}

/// Text as XML character data, safe in an element and in a quoted attribute. `&`, `<`, `>`
/// and quotes become entities (`]]>` cannot appear), a carriage return a character
/// reference (a reader would turn a bare one into a line feed), and the characters XML 1.0
/// cannot carry at all (other control characters, U+FFFE, U+FFFF) are dropped.
pub(super) fn xml_text(text: &str) -> Cow<'_, str> {
    let plain = |c: char| !matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') && xml_char(c);
    if text.chars().all(plain) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Whether `name` may be an XML element's name (ASCII letters, digits, `_`, `-`, and `:` for
/// a namespace prefix; not starting with a digit, `-` or `:`).
pub(super) fn xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

/// A value that goes into a form, a query string or an XML element must be text: a string,
/// a number or a boolean.
pub(super) fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The fields' dotted names as a tree, in the order written: `contact.zip` then `price` then
/// `contact.phone` gives `contact {zip, phone}`, `price`. Leaves hold a field's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Node {
    Leaf(usize),
    Branch(Vec<(String, Node)>),
}

impl Node {
    /// Builds the tree of `names`; refuses an empty part (`a..b`) and a name that is both a
    /// value and a parent (`contact` and `contact.zip`), naming the field that clashes.
    pub fn tree<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Node, (usize, String)> {
        let mut root = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err((i, "a dotted name has an empty part".into()));
            }
            insert(&mut root, &parts, i).map_err(|clash| (i, format!("clashes with another field at {clash:?}")))?;
        }
        Ok(Node::Branch(root))
    }

    fn any_present(&self, values: &[Field<'_>]) -> bool {
        match self {
            Node::Leaf(i) => values.get(*i).is_some_and(Option::is_some),
            Node::Branch(children) => children.iter().any(|(_, c)| c.any_present(values)),
        }
    }
}

fn insert(level: &mut Vec<(String, Node)>, parts: &[&str], index: usize) -> Result<(), String> {
    let Some((first, rest)) = parts.split_first() else { return Ok(()) };
    let found = level.iter_mut().find(|(name, _)| name == first);
    match (found, rest.is_empty()) {
        (None, true) => level.push((first.to_string(), Node::Leaf(index))),
        (None, false) => {
            let mut children = Vec::new();
            insert(&mut children, rest, index)?;
            level.push((first.to_string(), Node::Branch(children)));
        }
        (Some((_, Node::Branch(children))), false) => insert(children, rest, index)?,
        (Some(_), _) => return Err(first.to_string()),
    }
    Ok(())
}

/// Why a value could not be written.
pub(super) type Unwritable = (usize, &'static str);

/// A field's value, borrowed from where it was found when it can be (`None`: left out).
pub(super) type Field<'a> = Option<Cow<'a, Value>>;

/// A JSON body's shape, worked out once per configuration: each key already escaped and
/// quoted, each object knowing which fields it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct JsonShape {
    members: Vec<Member>,
    /// The bytes the keys and the braces take when every field is present.
    size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Member {
    /// `"name":`, escaped.
    key: String,
    value: Shape,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Shape {
    Leaf(usize),
    /// The members, and every field under them (an object none of them is present in is
    /// left out).
    Object(Vec<Member>, Vec<usize>),
}

impl JsonShape {
    pub fn new(tree: &Node) -> JsonShape {
        let members = match tree {
            Node::Branch(children) => members(children),
            // Never: a tree's root is a branch ([`Node::tree`]).
            Node::Leaf(_) => Vec::new(),
        };
        let size = 2 + members.iter().map(Member::size).sum::<usize>();
        JsonShape { members, size }
    }

    /// A JSON object of the fields present (a value left out, and a parent left empty by
    /// that, is not written), each value written as `serde_json` writes it.
    pub fn write(&self, values: &[Field<'_>]) -> String {
        let texts: usize = values.iter().flatten().map(|v| approximate_size(v)).sum();
        let mut out = Vec::with_capacity(self.size + texts);
        object(&self.members, values, &mut out);
        // Only whole UTF-8 strings were written: nothing is lost.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl Member {
    fn size(&self) -> usize {
        self.key.len()
            + 1
            + match &self.value {
                Shape::Leaf(_) => 0,
                Shape::Object(members, _) => 2 + members.iter().map(Member::size).sum::<usize>(),
            }
    }
}

fn members(children: &[(String, Node)]) -> Vec<Member> {
    children
        .iter()
        .map(|(name, node)| {
            let mut key = Value::String(name.clone()).to_string();
            key.push(':');
            let value = match node {
                Node::Leaf(i) => Shape::Leaf(*i),
                Node::Branch(below) => Shape::Object(members(below), leaves(node)),
            };
            Member { key, value }
        })
        .collect()
}

fn leaves(node: &Node) -> Vec<usize> {
    match node {
        Node::Leaf(i) => vec![*i],
        Node::Branch(children) => children.iter().flat_map(|(_, c)| leaves(c)).collect(),
    }
}

/// About the bytes a value takes in JSON (a string's quotes; escapes are extra).
fn approximate_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(_) | Value::Object(_) => 64,
        _ => 8,
    }
}

fn object(members: &[Member], values: &[Field<'_>], out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    for member in members {
        let present = match &member.value {
            Shape::Leaf(i) => values.get(*i).is_some_and(Option::is_some),
            Shape::Object(_, below) => below.iter().any(|i| values.get(*i).is_some_and(Option::is_some)),
        };
        if !present {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(member.key.as_bytes());
        match &member.value {
            Shape::Leaf(i) => {
                let value = values.get(*i).and_then(Option::as_deref).unwrap_or(&Value::Null);
                // Writing a `Value` into a Vec cannot fail (`to_string` relies on the same).
                let _ = serde_json::to_writer(&mut *out, value);
            }
            Shape::Object(below, _) => object(below, values, out),
        }
    }
    out.push(b'}');
}

/// `<?xml …?><root>…</root>`, the fields present nested under `root`.
pub(super) fn xml(root: &str, tree: &Node, values: &[Field<'_>]) -> Result<String, Unwritable> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    element(root, tree, values, &mut out)?;
    Ok(out)
}

fn element(name: &str, node: &Node, values: &[Field<'_>], out: &mut String) -> Result<(), Unwritable> {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Leaf(i) => {
            let value = values.get(*i).and_then(Option::as_deref).map_or(Some(Cow::Borrowed("")), scalar_text);
            let text =
                value.ok_or((*i, "an XML element takes text, a number or a boolean, not a list or an object"))?;
            out.push_str(&xml_text(&text));
        }
        Node::Branch(children) => {
            for (child_name, child) in children.iter().filter(|(_, c)| c.any_present(values)) {
                element(child_name, child, values, out)?;
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

/// `name=value&…` of the fields present, names kept as written (dotted or not).
pub(super) fn form<'a>(names: impl IntoIterator<Item = &'a str>, values: &[Field<'_>]) -> Result<String, Unwritable> {
    let mut out = String::new();
    for (i, name) in names.into_iter().enumerate() {
        let Some(value) = values.get(i).and_then(Option::as_deref) else { continue };
        let text =
            scalar_text(value).ok_or((i, "a form value is text, a number or a boolean, not a list or an object"))?;
        pair(&mut out, name, &text);
    }
    Ok(out)
}

/// Appends `name=value` to a form body or a query string.
pub(super) fn pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(&percent(name));
    out.push('=');
    out.push_str(&percent(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_names_nest_in_the_order_written() {
        let names = ["contact.zip", "price", "contact.phone", "a.b.c"];
        let tree = Node::tree(names).expect("a tree");
        let values = vec![Some(json!("90210")), Some(json!("1.00")), None, Some(json!(3))];
        let values: Vec<Field<'_>> = values.into_iter().map(|v| v.map(Cow::Owned)).collect();
        let out = JsonShape::new(&tree).write(&values);
        assert_eq!(out, r#"{"contact":{"zip":"90210"},"price":"1.00","a":{"b":{"c":3}}}"#);
        let xml = xml("lead", &tree, &values).expect("xml");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><lead><contact><zip>90210</zip></contact><price>1.00</price><a><b><c>3</c></b></a></lead>"
        );
        assert_eq!(form(names, &values).ok().as_deref(), Some("contact.zip=90210&price=1.00&a.b.c=3"));
    }

    #[test]
    fn clashing_and_empty_names_are_refused() {
        assert!(Node::tree(["contact", "contact.zip"]).is_err_and(|(i, _)| i == 1));
        assert!(Node::tree(["contact.zip", "contact"]).is_err_and(|(i, _)| i == 1));
        assert!(Node::tree(["a..b"]).is_err_and(|(i, _)| i == 0));
    }

    #[test]
    fn escaping_leaves_no_way_out() {
        assert_eq!(xml_text("a<b>&\"c'd]]>\r\n\u{1}\u{1F600}"), "a&lt;b&gt;&amp;&quot;c&apos;d]]&gt;&#13;\n\u{1F600}");
        assert_eq!(percent("a b&c=d/é#"), "a%20b%26c%3Dd%2F%C3%A9%23");
        assert!(xml_name("soap:Body") && xml_name("_x-1") && !xml_name("1x") && !xml_name("a b") && !xml_name(""));
    }
}
