//! Building a call's request: method, URL, headers, content type and body, per encoding
//! (`json`, `form`, `xml`, `template`, each optionally inside one form parameter; a GET sends
//! the fields as its query string). Everything a request holds comes from configuration and
//! the context, each value escaped for where it lands.

use super::context::Context;
use super::encode::{self, JsonShape, Node};
use super::template::{text_of_json, RenderFault, Scope, Template, Templates, MASK};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::BuildHasher;

/// An HTTP method a buyer may be called with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Post,
    Put,
    Get,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Get => "GET",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_uppercase().as_str() {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "GET" => Some(Method::Get),
            _ => None,
        }
    }
}

/// Everything the executor sends: it adds nothing but `Content-Type` (from `content_type`),
/// `Content-Length` and `Host`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRequest {
    pub method: Method,
    pub url: String,
    /// In order; `Authorization` last when the call has `auth`.
    pub headers: Vec<(String, String)>,
    /// `None` for a GET, which sends no body.
    pub content_type: Option<String>,
    pub body: String,
}

impl OutboundRequest {
    /// Every header the executor sends, `Content-Type` first (`Content-Length` and `Host`
    /// aside): what a preview shows.
    pub fn all_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let content_type = self.content_type.as_deref().map(|ct| ("Content-Type", ct));
        content_type.into_iter().chain(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// Where secrets' values come from when a request is built.
pub trait Secrets {
    fn secret(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Secrets for HashMap<String, String, S> {
    fn secret(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Secrets for BTreeMap<String, String> {
    fn secret(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// How a request is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode<'a> {
    /// The URL the rest of the configuration names for this call — the buyer's `post_url`,
    /// the contract's `bid_url` or `dq.url` — used when the call names none (always, for a
    /// call speaking pingpost's own protocol).
    pub url: Option<&'a str>,
    /// To the call's `sandbox_url` (a `test` that is not live); an error when it has none.
    pub sandbox: bool,
    /// Every secret written as [`MASK`], and nothing else different: a preview, or the
    /// request a test shows.
    pub masked: bool,
}

impl<'a> Mode<'a> {
    /// The request sent on a ping or a post.
    pub fn live(url: Option<&'a str>) -> Self {
        Mode { url, sandbox: false, masked: false }
    }

    /// What a preview shows: the live request with its secrets masked.
    pub fn preview(url: Option<&'a str>) -> Self {
        Mode { url, sandbox: false, masked: true }
    }
}

/// What went wrong building a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderErrorKind {
    /// A template did more work than [`super::FUEL`] allows.
    OutOfFuel,
    /// A template failed (a filter refused a value, an operation was impossible).
    Template,
    /// A value cannot be written where it goes (a list in a form, a line break in a header).
    Value,
    /// A secret the call names is not set.
    MissingSecret,
    /// The call names no URL and none was given (see [`Mode::url`]).
    NoUrl,
    /// A sandbox request for a call without `sandbox_url`.
    NoSandboxUrl,
    /// The context lacks what the call needs (a post without its sale).
    MissingContext,
}

impl RenderErrorKind {
    /// A short code for metrics and a post's attempt.
    pub fn code(self) -> &'static str {
        match self {
            RenderErrorKind::OutOfFuel => "out_of_fuel",
            RenderErrorKind::Template => "template_error",
            RenderErrorKind::Value => "unwritable_value",
            RenderErrorKind::MissingSecret => "missing_secret",
            RenderErrorKind::NoUrl => "no_url",
            RenderErrorKind::NoSandboxUrl => "no_sandbox_url",
            RenderErrorKind::MissingContext => "missing_context",
        }
    }
}

/// A request that could not be built. Its text names the configuration's field and never
/// quotes a lead's value or a secret's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    /// The field whose template or value failed (`calls.post.fields.contact.dob`); empty when
    /// it is the call's.
    pub field: String,
    pub kind: RenderErrorKind,
    pub message: String,
}

impl RenderError {
    pub(super) fn new(field: impl Into<String>, kind: RenderErrorKind, message: impl Into<String>) -> Self {
        RenderError { field: field.into(), kind, message: message.into() }
    }

    fn from_fault(field: &str, fault: RenderFault) -> Self {
        let kind = if fault.out_of_fuel { RenderErrorKind::OutOfFuel } else { RenderErrorKind::Template };
        RenderError::new(field, kind, fault.message)
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// A URL whose origin is literal and whose path and query are a template.
#[derive(Clone, Debug)]
pub(super) struct UrlTemplate {
    pub origin: String,
    pub rest: Template,
}

/// The body's encoding of a call built from fields.
#[derive(Clone, Debug)]
pub(super) enum Encoding {
    Json(JsonShape),
    Form,
    Xml { root: String, tree: Node },
}

#[derive(Clone, Debug)]
pub(super) enum BodyPlan {
    Fields { encoding: Encoding, names: Vec<String>, values: Vec<Template>, form_field: Option<String> },
    Template(Template),
}

#[derive(Clone, Debug)]
pub(super) enum AuthPlan {
    Basic { username: Template, password: Template },
    Bearer(Template),
}

/// A described call's request, compiled (its templates live in the buyer's [`Templates`]).
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// `calls.bid`, `calls.dq` or `calls.post`: where its errors are.
    pub at: String,
    pub url: Option<UrlTemplate>,
    pub sandbox_url: Option<UrlTemplate>,
    pub method: Method,
    pub body: BodyPlan,
    pub headers: Vec<(String, Template)>,
    pub auth: Option<AuthPlan>,
    /// `None` for a GET.
    pub content_type: Option<String>,
    /// Every secret the call's templates name.
    pub secrets: BTreeSet<String>,
}

impl Plan {
    pub fn request(
        &self,
        templates: &Templates,
        ctx: &Context,
        secrets: &dyn Secrets,
        mode: Mode<'_>,
    ) -> Result<OutboundRequest, RenderError> {
        let scope = Scope::new(ctx, self.secret_values(secrets, mode.masked)?, mode.masked);
        let base = self.base_url(templates, &scope, mode)?;
        let (body, query) = self.body(templates, &scope)?;
        let url = super::url::with_query(&base, &query);
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        for (name, template) in &self.headers {
            let field = || format!("{}.headers.{name}", self.at);
            if let Some(value) = templates.value(template, &scope).map_err(|f| RenderError::from_fault(&field(), f))? {
                headers.push((name.clone(), header_value(&field(), text_of_json(&value))?));
            }
        }
        if let Some(auth) = &self.auth {
            headers.push(("Authorization".to_string(), self.authorization(templates, auth, &scope)?));
        }
        Ok(OutboundRequest { method: self.method, url, headers, content_type: self.content_type.clone(), body })
    }

    /// The values of the call's secrets, or the mask for each.
    fn secret_values(&self, secrets: &dyn Secrets, masked: bool) -> Result<BTreeMap<String, String>, RenderError> {
        self.secrets
            .iter()
            .map(|name| {
                let value = secrets.secret(name).ok_or_else(|| {
                    RenderError::new(&self.at, RenderErrorKind::MissingSecret, format!("secret('{name}') is not set"))
                })?;
                Ok((name.clone(), if masked { MASK.to_string() } else { value.to_string() }))
            })
            .collect()
    }

    fn base_url(&self, templates: &Templates, scope: &Scope<'_>, mode: Mode<'_>) -> Result<String, RenderError> {
        let (template, key) = match (mode.sandbox, &self.url, &self.sandbox_url) {
            (true, _, None) => {
                let at = format!("{}.sandbox_url", self.at);
                return Err(RenderError::new(
                    at,
                    RenderErrorKind::NoSandboxUrl,
                    "the call has no sandbox_url: test it live",
                ));
            }
            (true, _, Some(sandbox)) => (sandbox, "sandbox_url"),
            (false, Some(url), _) => (url, "url"),
            (false, None, _) => {
                let at = format!("{}.url", self.at);
                let url =
                    mode.url.ok_or_else(|| RenderError::new(at, RenderErrorKind::NoUrl, "the call has no URL"))?;
                return Ok(url.to_string());
            }
        };
        let rest = templates
            .text(&template.rest, scope)
            .map_err(|f| RenderError::from_fault(&format!("{}.{key}", self.at), f))?;
        Ok(format!("{}{rest}", template.origin))
    }

    /// The body, and the query string a GET sends instead.
    fn body(&self, templates: &Templates, scope: &Scope<'_>) -> Result<(String, String), RenderError> {
        let (encoding, names, sources, form_field) = match &self.body {
            BodyPlan::Template(t) => {
                let field = format!("{}.body", self.at);
                return Ok((templates.text(t, scope).map_err(|f| RenderError::from_fault(&field, f))?, String::new()));
            }
            BodyPlan::Fields { encoding, names, values, form_field } => (encoding, names, values, form_field),
        };
        let field = |i: usize| format!("{}.fields.{}", self.at, names.get(i).map_or("", String::as_str));
        let mut values = Vec::with_capacity(sources.len());
        for (i, t) in sources.iter().enumerate() {
            values.push(templates.value(t, scope).map_err(|f| RenderError::from_fault(&field(i), f))?);
        }
        let unwritable = |(i, why): encode::Unwritable| RenderError::new(field(i), RenderErrorKind::Value, why);
        let flat = || encode::form(names.iter().map(String::as_str), &values).map_err(unwritable);
        let document = || match encoding {
            Encoding::Json(shape) => Ok(shape.write(&values)),
            Encoding::Xml { root, tree } => encode::xml(root, tree, &values).map_err(unwritable),
            Encoding::Form => flat(),
        };
        let text = match (form_field, self.method, encoding) {
            // A GET sends its fields flat (dotted names as written) in the query string.
            (None, Method::Get, _) | (None, _, Encoding::Form) => flat()?,
            (None, _, _) => document()?,
            (Some(name), _, _) => {
                let mut one = String::new();
                encode::pair(&mut one, name, &document()?);
                one
            }
        };
        Ok(if self.method == Method::Get { (String::new(), text) } else { (text, String::new()) })
    }

    fn authorization(&self, templates: &Templates, auth: &AuthPlan, scope: &Scope<'_>) -> Result<String, RenderError> {
        let text = |t: &Template, key: &str| {
            let field = format!("{}.auth.{key}", self.at);
            templates.text(t, scope).map_err(|f| RenderError::from_fault(&field, f))
        };
        let field = format!("{}.auth", self.at);
        match auth {
            AuthPlan::Basic { username, password } => {
                let pair = format!("{}:{}", text(username, "basic.username")?, text(password, "basic.password")?);
                Ok(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
            }
            AuthPlan::Bearer(token) => header_value(&field, format!("Bearer {}", text(token, "bearer")?)),
        }
    }
}

/// A header's value may not hold a line break or another control character (a tab aside):
/// one would end the header and start another.
fn header_value(field: &str, value: String) -> Result<String, RenderError> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(RenderError::new(
            field,
            RenderErrorKind::Value,
            "a header's value holds a line break or a control character",
        ));
    }
    Ok(value)
}
