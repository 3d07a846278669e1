//! A buyer's templates: one MiniJinja environment per buyer, owning every template of its
//! calls, compiled once per configuration and rendered with bounded work ([`FUEL`]).
//!
//! A template is one of four things, decided once at compile time:
//! - text without `{{`, `{%` or `{#`: a literal, sent as written;
//! - exactly one `{{ a.b.c }}` naming a variable, optionally through pingpost's own filters
//!   with literal arguments (`{{ lead.gender | map('gender') }}`): run natively, without the
//!   template engine (the fast path, the commonest fields), keeping its type;
//! - exactly one `{{ expression }}`: evaluated, keeping its type (`{{ lead.age }}` is 34);
//! - anything else: rendered to a string.
//!
//! Each rendered value is escaped by where it lands, chosen by the template's name (see
//! [`Escape`]), whatever the template asks (`|safe`, `{% autoescape %}`): a lead value can
//! never write structure. Before a template is accepted its instructions are read to refuse
//! an unknown filter, test or function, a `secret(…)` or `map(…)` whose name is not a quoted
//! literal, a secret that is not set and a value map the buyer does not have.

use super::context::{json_value, Context};
use super::filters::{self, OwnFault};
use super::spec::ValueMaps;
use minijinja::machinery::{CompiledTemplate, Instruction, Instructions, TemplateConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Tv};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};
use std::sync::{Arc, OnceLock};

/// The work one template may do in one render: about this many instructions, or 64 times
/// this many bytes created. A real buyer's body takes a few hundred; a template that needs
/// more is a mistake (or a loop), and fails its call instead of holding a ping.
pub const FUEL: u64 = 25_000;

/// How a secret is shown in a preview.
pub const MASK: &str = "••••••";

/// The render context's name for the secrets a call may use; out of reach of
/// enumeration and printing (see [`SecretValues`]).
const SECRETS: &str = "__pingpost_secrets";

/// The variable a typed expression is evaluated into.
const VALUE: &str = "__pingpost_value";

/// Where a template's output lands, and so how each value it renders is escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Escape {
    /// A field, header or credential: the encoder escapes the whole value afterwards.
    Plain,
    /// A URL's path and query: each value percent-encoded.
    Url,
    /// A JSON body: each value written as a complete JSON literal (a string brings its own
    /// quotes), so no value can open or close a string, an object or an array.
    Json,
    /// An XML body: each value written as escaped XML text.
    Xml,
}

impl Escape {
    fn prefix(self) -> &'static str {
        match self {
            Escape::Plain => "plain:",
            Escape::Url => "url:",
            Escape::Json => "json:",
            Escape::Xml => "xml:",
        }
    }

    fn of(name: &str) -> Escape {
        [Escape::Url, Escape::Json, Escape::Xml]
            .into_iter()
            .find(|e| name.starts_with(e.prefix()))
            .unwrap_or(Escape::Plain)
    }
}

/// One compiled template (see the module's documentation).
#[derive(Clone, Debug)]
pub(super) enum Template {
    Literal(String),
    /// A variable's path, then filters.
    Path(Vec<String>, Vec<Native>),
    Value(String),
    Text(String),
}

/// One of pingpost's filters with literal arguments, run natively on the fast path: the same
/// functions the environment registers, so the answer is the template engine's.
#[derive(Clone, Debug)]
pub(super) enum Native {
    Phone(String),
    Date(String),
    Age,
    YesNo(Tv, Tv),
    Map(String),
    Digits,
    Md5,
    Sha256,
    Ascii,
}

impl Native {
    /// The filter `name` applied with `args`, when it is one the fast path runs.
    fn of(name: &str, args: &[Tv]) -> Option<Native> {
        let text = |i: usize| args.get(i).and_then(Tv::as_str).map(str::to_string);
        Some(match (name, args.len()) {
            ("phone", 1) => Native::Phone(text(0)?),
            ("date", 1) => Native::Date(text(0)?),
            ("age", 0) => Native::Age,
            ("yes_no", 2) => Native::YesNo(args[0].clone(), args[1].clone()),
            ("map", 1) => Native::Map(text(0)?),
            ("digits", 0) => Native::Digits,
            ("md5", 0) => Native::Md5,
            ("sha256", 0) => Native::Sha256,
            ("ascii", 0) => Native::Ascii,
            _ => return None,
        })
    }

    fn apply(&self, v: Tv, ctx: &Context, maps: &ValueMaps) -> Result<Tv, Error> {
        match self {
            Native::Phone(f) => filters::phone(v, f),
            Native::Date(f) => filters::date(v, f),
            Native::Age => filters::age_at(ctx.parts().now.date_naive(), v),
            Native::YesNo(yes, no) => filters::yes_no(v, yes.clone(), no.clone()),
            Native::Map(name) => match maps.get(name) {
                Some(map) => Ok(filters::map_value(map, v)),
                None => Err(filters::fault("map: the buyer has no such value map")),
            },
            Native::Digits => filters::digits(v),
            Native::Md5 => filters::md5(v),
            Native::Sha256 => filters::sha256(v),
            Native::Ascii => filters::ascii(v),
        }
    }
}

/// A template as compiled: what it is, and the secrets it names.
pub(super) struct Compiled {
    pub template: Template,
    pub secrets: BTreeSet<String>,
}

/// Why a template was refused.
pub(super) type Refusal = String;

/// A buyer's environment while its templates are added.
pub(super) struct Builder<'a> {
    env: Environment<'static>,
    maps: Arc<ValueMaps>,
    secret_exists: &'a dyn Fn(&str) -> bool,
    functions: BTreeSet<String>,
}

/// The variables a template may name: a path starting elsewhere is not the fast path.
const ROOTS: [&str; 7] = ["lead", "email_sha256", "phone_sha256", "ping", "bid", "sale", "now"];

impl<'a> Builder<'a> {
    pub fn new(maps: &ValueMaps, secret_exists: &'a dyn Fn(&str) -> bool) -> Self {
        let maps = Arc::new(maps.clone());
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.set_formatter(format_value);
        env.add_filter("phone", |v: Tv, f: String| filters::phone(v, &f));
        env.add_filter("date", |v: Tv, f: String| filters::date(v, &f));
        env.add_filter("age", filters::age);
        env.add_filter("yes_no", filters::yes_no);
        let in_maps = Arc::clone(&maps);
        // Replaces MiniJinja's own `map` (apply a filter to each item): the SPEC's `map` reads
        // the buyer's value maps.
        env.add_filter("map", move |v: Tv, name: String| match in_maps.get(&name) {
            Some(map) => Ok(filters::map_value(map, v)),
            None => Err(filters::fault("map: the buyer has no such value map")),
        });
        env.add_filter("digits", filters::digits);
        env.add_filter("md5", filters::md5);
        env.add_filter("sha256", filters::sha256);
        env.add_filter("ascii", filters::ascii);
        env.add_filter("truncate", filters::truncate);
        env.add_function("secret", secret);
        let functions = env.globals().map(|(name, _)| name.to_string()).collect();
        Builder { env, maps, secret_exists, functions }
    }

    /// Compiles `source`, found at `path` of the buyer's configuration, for output escaped
    /// by `escape`. A `typed` template keeps an expression's type (a field's value); an
    /// untyped one always renders a string (a URL, a whole body).
    pub fn add(&mut self, path: &str, source: &str, escape: Escape, typed: bool) -> Result<Compiled, Refusal> {
        let plain = |template| Ok(Compiled { template, secrets: BTreeSet::new() });
        if !has_syntax(source) {
            return plain(Template::Literal(source.to_string()));
        }
        let expression = if typed { single_expression(source) } else { None };
        if let Some(expr) = expression {
            if let Some(vars) = variable_path(expr) {
                return plain(Template::Path(vars, Vec::new()));
            }
            // Refuses what is not one expression (`{{ a }} {{ b }}` was not taken for one).
            self.env.compile_expression(expr).map_err(|e| describe(&e, source))?;
            let name = format!("{}{path}", Escape::Plain.prefix());
            let wrapped = format!("{{% set {VALUE} = {expr} %}}");
            let secrets = self.check(&name, &wrapped, source)?;
            if let Some((vars, natives)) = pipeline(&wrapped) {
                return plain(Template::Path(vars, natives));
            }
            self.env.add_template_owned(name.clone(), wrapped).map_err(|e| describe(&e, source))?;
            return Ok(Compiled { template: Template::Value(name), secrets });
        }
        let name = format!("{}{path}", escape.prefix());
        let secrets = self.check(&name, source, source)?;
        self.env.add_template_owned(name.clone(), source.to_string()).map_err(|e| describe(&e, source))?;
        Ok(Compiled { template: Template::Text(name), secrets })
    }

    pub fn finish(self) -> Templates {
        Templates { env: Arc::new(self.env), maps: self.maps }
    }

    /// Reads the template's instructions (see the module's documentation); answers the
    /// secrets it names.
    fn check(&self, name: &str, source: &str, shown: &str) -> Result<BTreeSet<String>, Refusal> {
        let config = TemplateConfig {
            syntax_config: SyntaxConfig::default(),
            default_auto_escape: Arc::new(|_: &str| AutoEscape::None),
        };
        let compiled = CompiledTemplate::new(name, source, &config).map_err(|e| describe(&e, shown))?;
        let mut secrets = BTreeSet::new();
        for code in std::iter::once(&compiled.instructions).chain(compiled.blocks.values()) {
            self.check_code(code, &mut secrets)?;
        }
        Ok(secrets)
    }

    fn check_code(&self, code: &Instructions<'_>, secrets: &mut BTreeSet<String>) -> Result<(), Refusal> {
        let targets = jump_targets(code);
        let mut previous: Option<&Instruction<'_>> = None;
        let mut at = 0u32;
        while let Some(instruction) = code.get(at) {
            // The name a call is given, when it is one quoted literal that no jump bypasses.
            let literal = || match previous {
                Some(Instruction::LoadConst(v)) if !targets.contains(&at) => v.as_str().map(str::to_string),
                _ => None,
            };
            match instruction {
                Instruction::ApplyFilter("map", args, _) => {
                    let name =
                        literal().filter(|_| *args == Some(2)).ok_or("map() takes a value map's name in quotes")?;
                    if !self.maps.contains_key(&name) {
                        return Err(format!("map('{name}'): the buyer has no value map named {name:?} in value_maps"));
                    }
                }
                Instruction::ApplyFilter(name, _, _) if !minijinja::tests::is_filter(&self.env.empty_state(), name) => {
                    return Err(format!("unknown filter {name:?}"));
                }
                Instruction::PerformTest(name, _, _) if !minijinja::tests::is_test(&self.env.empty_state(), name) => {
                    return Err(format!("unknown test {name:?}"));
                }
                Instruction::CallFunction("secret", args) => {
                    let name =
                        literal().filter(|_| *args == Some(1)).ok_or("secret() takes a secret's name in quotes")?;
                    if !(self.secret_exists)(&name) {
                        return Err(format!(
                            "secret('{name}') is not set (PUT /v1/admin/secrets/{name}, or the environment variable PINGPOST_SECRET_{})",
                            name.to_ascii_uppercase()
                        ));
                    }
                    secrets.insert(name);
                }
                Instruction::CallFunction(name, _) if !self.functions.contains(*name) => {
                    return Err(format!("unknown function {name:?}"));
                }
                _ => {}
            }
            previous = Some(instruction);
            at += 1;
        }
        Ok(())
    }
}

/// `{% set v = a.b | f('x') | g %}` as a variable's path and native filters, when its
/// instructions are exactly that: a lookup, attributes, then filters of ours whose
/// arguments are constants.
fn pipeline(wrapped: &str) -> Option<(Vec<String>, Vec<Native>)> {
    let config = TemplateConfig {
        syntax_config: SyntaxConfig::default(),
        default_auto_escape: Arc::new(|_: &str| AutoEscape::None),
    };
    let compiled = CompiledTemplate::new("pipeline", wrapped, &config).ok()?;
    let code = &compiled.instructions;
    let mut at = 0u32;
    let mut path = match code.get(at)? {
        Instruction::Lookup(root) if ROOTS.contains(root) => vec![root.to_string()],
        _ => return None,
    };
    let mut natives = Vec::new();
    let mut args = Vec::new();
    loop {
        at += 1;
        match code.get(at)? {
            Instruction::GetAttr(name) if natives.is_empty() && args.is_empty() => path.push(name.to_string()),
            Instruction::LoadConst(v) => args.push(v.clone()),
            Instruction::ApplyFilter(name, Some(n), _) if usize::from(*n) == args.len() + 1 => {
                natives.push(Native::of(name, &args)?);
                args.clear();
            }
            Instruction::StoreLocal(VALUE) if args.is_empty() => break,
            _ => return None,
        }
    }
    (code.get(at + 1).is_none() && compiled.blocks.is_empty()).then_some((path, natives))
}

fn jump_targets(code: &Instructions<'_>) -> BTreeSet<u32> {
    let mut targets = BTreeSet::new();
    let mut at = 0u32;
    while let Some(instruction) = code.get(at) {
        if let Instruction::Jump(t)
        | Instruction::JumpIfFalse(t)
        | Instruction::JumpIfFalseOrPop(t)
        | Instruction::JumpIfTrueOrPop(t)
        | Instruction::Iterate(t) = instruction
        {
            targets.insert(*t);
        }
        at += 1;
    }
    targets
}

/// Whether `source` holds any template syntax at all.
pub(super) fn has_syntax(source: &str) -> bool {
    ["{{", "{%", "{#"].iter().any(|open| source.contains(open))
}

/// The expression of a template that is exactly one `{{ expression }}`.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let alone = !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%") && !inner.contains("{#");
    alone.then_some(inner)
}

/// `lead.zip` → `["lead", "zip"]`, when the expression is only a variable's path.
fn variable_path(expr: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = expr.trim().split('.').map(str::to_string).collect();
    let ident = |s: &String| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    (ROOTS.contains(&parts[0].as_str()) && parts.iter().all(ident)).then_some(parts)
}

/// A MiniJinja error as an operator sees it when a template is refused.
fn describe(e: &Error, source: &str) -> Refusal {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let (Some(line), true) = (e.line(), source.contains('\n')) {
        let _ = write!(text, " (line {line})");
    }
    text
}

/// Why a render failed. On a live request it is safe to log: our filters' own words, or only
/// the kind of a template error (MiniJinja's details may quote a value — a lead's email, a
/// secret). On a masked request (a preview or a test, whose secrets are all masked) it says
/// everything the template engine says, for the operator fixing the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RenderFault {
    pub out_of_fuel: bool,
    pub message: String,
}

impl RenderFault {
    fn new(e: &Error, masked: bool) -> Self {
        let ours = std::error::Error::source(e).is_some_and(|s| s.is::<OwnFault>());
        let out_of_fuel = e.kind() == ErrorKind::OutOfFuel;
        let message = match (ours, e.detail()) {
            (true, Some(detail)) => detail.to_string(),
            _ if out_of_fuel => format!("the template ran out of fuel (more than {FUEL} steps): it does too much work"),
            _ if masked => describe(e, "\n"),
            _ => e.kind().to_string(),
        };
        RenderFault { out_of_fuel, message }
    }
}

/// A buyer's compiled templates.
#[derive(Clone)]
pub(super) struct Templates {
    env: Arc<Environment<'static>>,
    maps: Arc<ValueMaps>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Templates")
    }
}

/// The secrets one call may read, by name. Neither enumerable nor printable, so a template
/// reaches a value only through `secret('name')`.
struct SecretValues(BTreeMap<String, String>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValues")
    }
}

impl Object for SecretValues {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Tv) -> Option<Tv> {
        self.0.get(key.as_str()?).map(|v| Tv::from(v.as_str()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("secrets")
    }
}

/// `secret(name)`.
fn secret(state: &State, name: &str) -> Result<Tv, Error> {
    let value = state.lookup(SECRETS).and_then(|s| s.get_attr(name).ok()).filter(|v| !v.is_undefined());
    value.ok_or_else(|| filters::fault(format!("secret('{name}') is not available to this call")))
}

/// What one request's templates read: the context, and the secrets of its call.
pub(super) struct Scope<'c> {
    ctx: &'c Context,
    secrets: BTreeMap<String, String>,
    /// Whether the secrets are masked, and so an error may say everything.
    masked: bool,
    root: OnceLock<Tv>,
}

impl<'c> Scope<'c> {
    pub fn new(ctx: &'c Context, secrets: BTreeMap<String, String>, masked: bool) -> Self {
        Scope { ctx, secrets, masked, root: OnceLock::new() }
    }

    fn fault(&self) -> impl Fn(Error) -> RenderFault + '_ {
        |e| RenderFault::new(&e, self.masked)
    }

    fn root(&self) -> &Tv {
        self.root.get_or_init(|| {
            let hidden = Tv::from_pairs([(SECRETS, Tv::from_object(SecretValues(self.secrets.clone())))]);
            // Later maps win: a context can never stand in for the secrets.
            minijinja::value::merge_maps([self.ctx.view().clone(), hidden])
        })
    }
}

impl Templates {
    /// The template's value (`None`: undefined or none, so left out). A literal and a text
    /// render are strings; a path and an expression keep their type.
    pub fn value(&self, t: &Template, scope: &Scope<'_>) -> Result<Option<Value>, RenderFault> {
        match t {
            Template::Literal(s) => Ok(Some(Value::String(s.clone()))),
            Template::Path(p, natives) if natives.is_empty() => Ok(scope.ctx.lookup(p)),
            Template::Path(p, natives) => {
                let mut v = scope.ctx.lookup(p).map_or(Tv::UNDEFINED, |j| super::context::template_value(&j));
                for native in natives {
                    v = native.apply(v, scope.ctx, &self.maps).map_err(scope.fault())?;
                }
                Ok(json_value(&v))
            }
            Template::Value(name) => {
                let template = self.env.get_template(name).map_err(scope.fault())?;
                let captured = template.render_captured(scope.root().clone()).map_err(scope.fault())?;
                Ok(captured.state().lookup(VALUE).and_then(|v| json_value(&v)))
            }
            Template::Text(_) => self.text(t, scope).map(|s| Some(Value::String(s))),
        }
    }

    /// The template rendered to text, each value escaped as its name says.
    pub fn text(&self, t: &Template, scope: &Scope<'_>) -> Result<String, RenderFault> {
        match t {
            Template::Text(name) => {
                let template = self.env.get_template(name).map_err(scope.fault())?;
                template.render(scope.root().clone()).map_err(scope.fault())
            }
            _ => Ok(self.value(t, scope)?.map(|v| text_of_json(&v)).unwrap_or_default()),
        }
    }
}

/// A JSON value's text: strings as they are, anything else as JSON.
pub(super) fn text_of_json(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The formatter: every value escaped by the template it lands in, none and undefined
/// written as nothing (a JSON body writes them as `null`).
fn format_value(out: &mut minijinja::Output, state: &mut State, value: &Tv) -> Result<(), Error> {
    let write_failed = |_| Error::new(ErrorKind::WriteFailure, "could not write the output");
    let escape = Escape::of(state.name());
    if escape == Escape::Json {
        let json = json_value(value).unwrap_or(Value::Null);
        return out.write_str(&json.to_string()).map_err(write_failed);
    }
    let Some(text) = filters::text_of(value) else { return Ok(()) };
    match escape {
        Escape::Url => out.write_str(&super::encode::percent(&text)),
        Escape::Xml => out.write_str(&super::encode::xml_text(&text)),
        Escape::Plain | Escape::Json => out.write_str(&text),
    }
    .map_err(write_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_template_is() {
        assert_eq!(single_expression("{{ lead.age }}"), Some(" lead.age "));
        assert_eq!(single_expression("{{- lead.age -}}"), Some(" lead.age "));
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression(" {{ a }}"), None);
        assert_eq!(variable_path(" lead.zip "), Some(vec!["lead".to_string(), "zip".to_string()]));
        let native =
            |expr: &str| pipeline(&format!("{{% set {VALUE} = {expr} %}}")).map(|(p, n)| (p.join("."), n.len()));
        assert_eq!(native("lead.gender | map('gender') | yes_no('Y', 'N')"), Some(("lead.gender".into(), 2)));
        assert_eq!(native("lead.dob | date('%Y') | digits"), Some(("lead.dob".into(), 2)));
        assert_eq!(native("lead.a | upper"), None, "MiniJinja's own filters run in the engine");
        assert_eq!(native("lead.a | phone(lead.f)"), None);
        assert_eq!(native("lead.a ~ 'x'"), None);
        assert_eq!(native("lead.a | map('g').x"), None);
        assert_eq!(variable_path("lead.zip | upper"), None);
        assert_eq!(variable_path("other.zip"), None);
        assert!(!has_syntax("plain text { not a template }"));
        assert!(has_syntax("{% if x %}y{% endif %}"));
    }
}

#[cfg(test)]
mod fast_path {
    use super::*;
    use crate::adapter::context::{ContextParts, PingInfo};
    use serde_json::json;

    /// Every filter the fast path runs, on values of every shape (missing, none, numbers,
    /// booleans, bad input): its answer — value or error — is the template engine's.
    #[test]
    fn the_fast_path_answers_what_the_engine_answers() {
        let maps: ValueMaps = serde_json::from_value(json!({"gender": {"male": 1, "default": "0"}})).expect("maps");
        let never = |_: &str| false;
        let mut builder = Builder::new(&maps, &never);
        let expressions = [
            "lead.gender | map('gender')",
            "lead.tcpa | yes_no('Y', 'N')",
            "lead.tcpa | yes_no(true, 0)",
            "lead.phone | phone('dashed')",
            "lead.phone | phone('nope')",
            "lead.dob | date('%m/%d/%Y')",
            "lead.dob | date('%Q')",
            "lead.dob | age",
            "lead.phone | digits | md5",
            "lead.email | sha256",
            "lead.city | ascii",
            "lead.missing | phone('e164')",
            "lead.none | map('gender')",
            "lead.age | yes_no('Y', 'N')",
            "bid.price | digits",
            "now | date('%Y')",
            "lead.nested.x | digits",
        ];
        let mut pairs = Vec::new();
        for (i, e) in expressions.iter().enumerate() {
            let fast =
                builder.add(&format!("fast{i}"), &format!("{{{{ {e} }}}}"), Escape::Plain, true).expect(e).template;
            assert!(matches!(&fast, Template::Path(_, natives) if !natives.is_empty()), "{e} takes the fast path");
            let slow = format!("plain:slow{i}");
            builder.env.add_template_owned(slow.clone(), format!("{{% set {VALUE} = {e} %}}")).expect(e);
            pairs.push((e, fast, Template::Value(slow)));
        }
        let templates = builder.finish();
        let leads = [
            json!({"gender": "Male", "tcpa": "yes", "phone": "(555) 123-4567", "dob": "1990-07-04", "email": "a@b.co",
                   "city": "Zürich", "age": 1.0, "nested": {"x": "a1b2"}, "none": null}),
            json!({"gender": "other", "tcpa": false, "phone": "12", "dob": "07/04/2030", "email": 5, "city": 3.5,
                   "age": 0, "nested": {"x": 7}}),
            json!({"gender": true, "tcpa": "maybe", "phone": 5551234567_i64, "dob": "2000-02-29T10:00:00+09:00", "age": "y"}),
        ];
        for lead in leads {
            let ctx = Context::new(ContextParts {
                lead: lead.clone(),
                email_sha256: None,
                phone_sha256: None,
                ping: PingInfo::default(),
                bid: Some(crate::adapter::BidInfo {
                    id: "b".into(),
                    price: crate::money::Money::from_minor(1250),
                    token: None,
                }),
                sale: None,
                now: chrono::DateTime::parse_from_rfc3339("2024-02-28T23:00:00Z")
                    .map(|t| t.to_utc())
                    .unwrap_or_default(),
            });
            let scope = Scope::new(&ctx, BTreeMap::new(), false);
            for (e, fast, slow) in &pairs {
                assert_eq!(templates.value(fast, &scope), templates.value(slow, &scope), "{e} on {lead}");
            }
        }
    }
}
