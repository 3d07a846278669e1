//! A described call → its compiled request and answer, every problem named by its field's
//! path (`calls.post.fields.contact.dob`).

use super::answer::{self, Reader};
use super::encode::{self, JsonShape, Node};
use super::request::{AuthPlan, BodyPlan, Encoding, Method, Plan, UrlTemplate};
use super::spec::{Call, Fields};
use super::template::{Builder, Escape, Template};
use super::{AdapterError, CallKind};
use crate::config::ResponseRules;
use std::collections::BTreeSet;

/// The longest a call may be given: the configuration's limit for every buyer timeout.
const MAX_TIMEOUT_MS: i64 = 60_000;

/// Headers the executor writes itself, or that describe the body (`content_type` does).
const RESERVED_HEADERS: [&str; 5] = ["content-type", "content-length", "host", "transfer-encoding", "connection"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Xml,
    Template,
}

/// One call's compiled parts.
pub(super) struct Compiled {
    pub plan: Plan,
    pub reader: Reader,
    pub timeout_ms: Option<u32>,
}

/// Collects one call's errors and secrets while it compiles.
struct Compiling<'b, 'e> {
    at: String,
    builder: &'b mut Builder<'e>,
    errors: Vec<AdapterError>,
    secrets: BTreeSet<String>,
}

impl Compiling<'_, '_> {
    fn refuse(&mut self, key: &str, message: impl Into<String>) {
        let field = if key.is_empty() { self.at.clone() } else { format!("{}.{key}", self.at) };
        self.errors.push(AdapterError::new(field, message));
    }

    fn template(&mut self, key: &str, source: &str, escape: Escape, typed: bool) -> Option<Template> {
        match self.builder.add(&format!("{}.{key}", self.at), source, escape, typed) {
            Ok(compiled) => {
                self.secrets.extend(compiled.secrets);
                Some(compiled.template)
            }
            Err(message) => {
                self.refuse(key, message);
                None
            }
        }
    }

    fn url(&mut self, key: &str, url: &str) -> Option<UrlTemplate> {
        match super::url::split(url) {
            Ok(split) => {
                let rest = self.template(key, split.rest, Escape::Url, false)?;
                Some(UrlTemplate { origin: split.origin.to_string(), rest })
            }
            Err(message) => {
                self.refuse(key, message);
                None
            }
        }
    }
}

pub(super) fn call(
    kind: CallKind,
    spec: &Call,
    response: &ResponseRules,
    builder: &mut Builder<'_>,
    errors: &mut Vec<AdapterError>,
) -> Option<Compiled> {
    let mut c =
        Compiling { at: format!("calls.{}", kind.as_str()), builder, errors: Vec::new(), secrets: BTreeSet::new() };
    let compiled = compile_call(&mut c, kind, spec, response);
    let failed = !c.errors.is_empty();
    errors.append(&mut c.errors);
    compiled.filter(|_| !failed)
}

/// Checks every part of the call (a bad method or encoding does not hide the other errors).
fn compile_call(c: &mut Compiling<'_, '_>, kind: CallKind, spec: &Call, response: &ResponseRules) -> Option<Compiled> {
    let method = match spec.method.as_deref().map(Method::parse) {
        None => Some(Method::Post),
        Some(Some(m)) => Some(m),
        Some(None) => {
            c.refuse("method", "is one of POST, PUT, GET");
            None
        }
    };
    let encoding = match spec.encoding.as_deref().unwrap_or("json") {
        "json" => Some(Kind::Json),
        "form" => Some(Kind::Form),
        "xml" => Some(Kind::Xml),
        "template" => Some(Kind::Template),
        _ => {
            c.refuse("encoding", "is one of json, form, xml, template");
            None
        }
    };
    let url = spec.url.as_deref().and_then(|u| c.url("url", u));
    let sandbox_url = spec.sandbox_url.as_deref().and_then(|u| c.url("sandbox_url", u));
    let timeout_ms = spec.timeout_ms.and_then(|t| match u32::try_from(t) {
        Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&t) => Some(ms),
        _ => {
            c.refuse("timeout_ms", format!("must be 1..={MAX_TIMEOUT_MS} milliseconds"));
            None
        }
    });
    let checked_method = method.unwrap_or(Method::Post);
    let content_type = encoding.and_then(|e| content_type(c, spec, checked_method, e));
    let body = encoding.and_then(|e| body(c, spec, checked_method, e, content_type.as_deref()));
    let headers = headers(c, &spec.headers, spec.auth.is_some());
    let auth = auth(c, spec);
    let reader = match &spec.answer {
        None => Some(Reader::pingpost(kind, response)),
        Some(a) => answer::compile(kind, a, response, &format!("{}.answer", c.at), &mut c.errors),
    };
    let method = method?;
    let plan = Plan {
        at: c.at.clone(),
        url,
        sandbox_url,
        method,
        body: body?,
        headers,
        auth,
        content_type: content_type.filter(|_| method != Method::Get),
        secrets: std::mem::take(&mut c.secrets),
    };
    Some(Compiled { plan, reader: reader?, timeout_ms })
}

/// The content type the body is sent with; refuses one that contradicts the encoding.
fn content_type(c: &mut Compiling<'_, '_>, spec: &Call, method: Method, kind: Kind) -> Option<String> {
    const FORM: &str = "application/x-www-form-urlencoded";
    let given = spec.content_type.as_deref();
    if method == Method::Get {
        if given.is_some() {
            c.refuse("content_type", "a GET sends no body");
        }
        return None;
    }
    let family = |ct: &str, wanted: &str| ct.to_ascii_lowercase().contains(wanted);
    match (kind, given, &spec.form_field) {
        (Kind::Form, Some(_), _) => c.refuse("content_type", "a form is sent as application/x-www-form-urlencoded"),
        (Kind::Form, None, _) => return Some(FORM.into()),
        (Kind::Json | Kind::Xml, Some(_), Some(_)) => {
            c.refuse("content_type", "a body sent in a form field is sent as a form");
        }
        (Kind::Json | Kind::Xml, None, Some(_)) => return Some(FORM.into()),
        (Kind::Json, Some(ct), None) if !family(ct, "json") => {
            c.refuse("content_type", "a JSON body's content type names JSON")
        }
        (Kind::Xml, Some(ct), None) if !family(ct, "xml") => {
            c.refuse("content_type", "an XML body's content type names XML")
        }
        (Kind::Json, None, None) => return Some("application/json".into()),
        (Kind::Xml, None, None) => return Some("application/xml".into()),
        (Kind::Template, None, _) => c.refuse("content_type", "a template body says its content type (JSON or XML)"),
        (Kind::Template, Some(ct), _) if !family(ct, "json") && !family(ct, "xml") => {
            c.refuse("content_type", "a template body is JSON or XML, so its values can be escaped")
        }
        (_, Some(ct), _) => return Some(ct.to_string()),
    }
    None
}

fn body(
    c: &mut Compiling<'_, '_>,
    spec: &Call,
    method: Method,
    kind: Kind,
    content_type: Option<&str>,
) -> Option<BodyPlan> {
    let misplaced = |c: &mut Compiling<'_, '_>, key: &str, present: bool, why: &str| {
        if present {
            c.refuse(key, why);
        }
    };
    misplaced(c, "xml_root", kind != Kind::Xml && spec.xml_root.is_some(), "only an xml body has a root");
    misplaced(
        c,
        "body",
        kind != Kind::Template && spec.body.is_some(),
        "only a template call has a body (set encoding = \"template\")",
    );
    let form_field = spec.form_field.clone();
    if let Some(f) = &form_field {
        misplaced(
            c,
            "form_field",
            !matches!(kind, Kind::Json | Kind::Xml),
            "only a json or xml body can be sent in a form field",
        );
        misplaced(c, "form_field", f.is_empty(), "must not be empty");
    }
    if kind == Kind::Template {
        misplaced(c, "fields", !spec.fields.is_empty(), "a template call writes its whole body: give body, not fields");
        misplaced(c, "method", method == Method::Get, "a GET sends no body: use fields");
        let Some(source) = &spec.body else {
            c.refuse("body", "a template call needs a body");
            return None;
        };
        let json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        if json && (source.contains("\"{{") || source.contains("}}\"")) {
            c.refuse(
                "body",
                "in a JSON template a value brings its own quotes: write {{ lead.name }}, not \"{{ lead.name }}\"",
            );
        }
        let escape = if json { Escape::Json } else { Escape::Xml };
        return c.template("body", source, escape, false).map(BodyPlan::Template);
    }
    let (names, values) = fields(c, &spec.fields, kind);
    let encoding = match kind {
        Kind::Form => Encoding::Form,
        Kind::Json => Encoding::Json(JsonShape::new(&tree(c, &spec.fields)?)),
        Kind::Xml => {
            let root = match spec.xml_root.as_deref() {
                Some(r) if encode::xml_name(r) => r.to_string(),
                Some(_) => {
                    c.refuse("xml_root", "is not an XML element name");
                    return None;
                }
                None => {
                    c.refuse("xml_root", "an xml body names its root element");
                    return None;
                }
            };
            Encoding::Xml { root, tree: tree(c, &spec.fields)? }
        }
        Kind::Template => return None,
    };
    Some(BodyPlan::Fields { encoding, names, values: values?, form_field })
}

fn fields(c: &mut Compiling<'_, '_>, fields: &Fields, kind: Kind) -> (Vec<String>, Option<Vec<Template>>) {
    let mut names = Vec::with_capacity(fields.len());
    let mut values = Some(Vec::with_capacity(fields.len()));
    for (name, source) in fields.iter() {
        let key = format!("fields.{name}");
        if name.is_empty() {
            c.refuse(&key, "a field has a name");
        }
        if kind == Kind::Xml && !name.split('.').all(|part| part.is_empty() || encode::xml_name(part)) {
            c.refuse(&key, "each part of the name must be an XML element name");
        }
        let template = c.template(&key, source, Escape::Plain, true);
        names.push(name.to_string());
        match (template, values.as_mut()) {
            (Some(t), Some(v)) => v.push(t),
            _ => values = None,
        }
    }
    (names, values)
}

fn tree(c: &mut Compiling<'_, '_>, fields: &Fields) -> Option<Node> {
    Node::tree(fields.iter().map(|(name, _)| name))
        .map_err(|(i, message)| {
            let name = fields.iter().nth(i).map_or("", |(name, _)| name);
            c.refuse(&format!("fields.{name}"), message);
        })
        .ok()
}

fn headers(c: &mut Compiling<'_, '_>, headers: &Fields, has_auth: bool) -> Vec<(String, Template)> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, source) in headers.iter() {
        let key = format!("headers.{name}");
        let token =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let lower = name.to_ascii_lowercase();
        if !token {
            c.refuse(&key, "is not a valid header name");
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            c.refuse(&key, "is written by pingpost (the body's type is the call's content_type)");
        } else if lower == "authorization" && has_auth {
            c.refuse(&key, "the call's auth writes Authorization");
        } else if let Some(t) = c.template(&key, source, Escape::Plain, true) {
            out.push((name.to_string(), t));
        }
    }
    out
}

fn auth(c: &mut Compiling<'_, '_>, spec: &Call) -> Option<AuthPlan> {
    let auth = spec.auth.as_ref()?;
    match (&auth.basic, &auth.bearer) {
        (Some(basic), None) => {
            let username = c.template("auth.basic.username", &basic.username, Escape::Plain, false);
            let password = c.template("auth.basic.password", &basic.password, Escape::Plain, false);
            Some(AuthPlan::Basic { username: username?, password: password? })
        }
        (None, Some(token)) => c.template("auth.bearer", token, Escape::Plain, false).map(AuthPlan::Bearer),
        _ => {
            c.refuse("auth", "give exactly one of basic or bearer");
            None
        }
    }
}
