//! A buyer's templates: one MiniJinja environment per buyer, owning every template of its
//! calls, compiled once per configuration and rendered with bounded work ([`FUEL`]).
//!
//! A template is one of five things, decided once at compile time:
//! - text without `{{`, `{%` or `{#`: a literal, sent as written;
//! - exactly one `{{ expression }}` that reads nothing (`{{ 4417 }}`): a constant, evaluated
//!   by the template engine once, when compiled, keeping its type;
//! - exactly one `{{ a.b.c }}` naming a variable, or `{{ secret('name') }}`, optionally
//!   through filters with literal arguments (pingpost's own, and MiniJinja's pure ones
//!   listed in [`ENGINE_FILTERS`]: `{{ lead.state | upper }}`): the fast path, the
//!   commonest fields, run without the template engine's renderer, keeping its type;
//! - exactly one `{{ expression }}`: evaluated, keeping its type (`{{ lead.age }}` is 34);
//! - anything else: rendered to a string.
//!
//! The fast path answers what the template engine would, or does not answer: the filters
//! it runs are the very functions the engine calls (ours, and MiniJinja's own through
//! [`State::apply_filter`]), on the values the engine would read; when one fails, or when
//! the work could come near [`FUEL`], the engine renders the template instead, so that
//! errors and running out of fuel are the engine's, word for word.
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
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Tv, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::Value;
use std::borrow::Cow;
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

/// MiniJinja's fuel, in its units: an instruction costs 64, a byte of data 1.
const UNITS_PER_FUEL: u64 = 64;

/// MiniJinja's filters the fast path runs (with literal arguments): pure functions of their
/// arguments that read nothing of the render's state but the environment's undefined
/// behaviour, and charge no fuel themselves (the engine charges around them: see
/// [`Fast::answer`]).
const ENGINE_FILTERS: [&str; 9] = ["upper", "lower", "trim", "capitalize", "title", "int", "float", "default", "d"];

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
    /// Known once compiled: a literal (a string), or a constant expression's value (`None`:
    /// undefined or none, left out).
    Constant(Option<Value>),
    Fast(Box<Fast>),
    /// A typed expression, by its template's name.
    Value(String),
    Text(String),
}

impl Template {
    fn literal(text: &str) -> Template {
        Template::Constant(Some(Value::String(text.to_string())))
    }
}

/// A variable or a secret, then filters: the fast path.
#[derive(Clone, Debug)]
pub(super) struct Fast {
    source: Source,
    filters: Vec<Filter>,
    /// The same expression as a template, rendered when the fast path does not answer
    /// (`None` for a variable alone, which always answers).
    fallback: Option<String>,
    /// What the template's instructions cost in fuel, in [`UNITS_PER_FUEL`] units.
    cost: u64,
}

#[derive(Clone, Debug)]
enum Source {
    /// `lead.zip`.
    Path(Vec<String>),
    /// `secret('name')`.
    Secret(String),
}

#[derive(Clone, Debug)]
enum Filter {
    /// One of pingpost's.
    Ours(Native),
    /// One of [`ENGINE_FILTERS`], with its literal arguments.
    Engine(&'static str, Vec<Tv>),
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
            return plain(Template::literal(source));
        }
        let expression = if typed { single_expression(source) } else { None };
        if let Some(expr) = expression {
            if let Some(vars) = variable_path(expr) {
                let fast = Fast { source: Source::Path(vars), filters: Vec::new(), fallback: None, cost: 0 };
                return plain(Template::Fast(Box::new(fast)));
            }
            // Refuses what is not one expression (`{{ a }} {{ b }}` was not taken for one).
            self.env.compile_expression(expr).map_err(|e| describe(&e, source))?;
            let name = format!("{}{path}", Escape::Plain.prefix());
            let wrapped = format!("{{% set {VALUE} = {expr} %}}");
            let secrets = self.check(&name, &wrapped, source)?;
            let shape = shape(&wrapped);
            self.env.add_template_owned(name.clone(), wrapped).map_err(|e| describe(&e, source))?;
            let template = match shape {
                Some(Shape::Fast { source, filters, cost }) => {
                    Template::Fast(Box::new(Fast { source, filters, fallback: Some(name), cost }))
                }
                // A constant that fails (`{{ 1 // 0 }}`) fails each call, as the engine says.
                Some(Shape::Constant) => match self.evaluate(&name) {
                    Ok(value) => Template::Constant(value),
                    Err(_) => Template::Value(name),
                },
                None => Template::Value(name),
            };
            return Ok(Compiled { template, secrets });
        }
        let name = format!("{}{path}", escape.prefix());
        let secrets = self.check(&name, source, source)?;
        self.env.add_template_owned(name.clone(), source.to_string()).map_err(|e| describe(&e, source))?;
        Ok(Compiled { template: Template::Text(name), secrets })
    }

    /// A typed template that reads nothing, evaluated now as a call would.
    fn evaluate(&self, name: &str) -> Result<Option<Value>, Error> {
        let captured = self.env.get_template(name)?.render_captured(Tv::from(()))?;
        Ok(captured.state().lookup(VALUE).and_then(|v| json_value(&v)))
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

/// What a typed template's instructions make it, when not the template engine's to run.
enum Shape {
    /// Reads nothing: its value is the same on every call.
    Constant,
    /// A variable or a secret, then filters the fast path runs.
    Fast { source: Source, filters: Vec<Filter>, cost: u64 },
}

/// `{% set v = … %}` as a [`Shape`], when its instructions are exactly one: only literals
/// and operators on them (a constant); or a lookup and attributes, or `secret('name')`,
/// then filters of ours or of [`ENGINE_FILTERS`] whose arguments are literals.
fn shape(wrapped: &str) -> Option<Shape> {
    let config = TemplateConfig {
        syntax_config: SyntaxConfig::default(),
        default_auto_escape: Arc::new(|_: &str| AutoEscape::None),
    };
    let compiled = CompiledTemplate::new("shape", wrapped, &config).ok()?;
    if !compiled.blocks.is_empty() {
        return None;
    }
    let code: Vec<&Instruction<'_>> = (0..).map_while(|at| compiled.instructions.get(at)).collect();
    let (last, body) = code.split_last()?;
    if !matches!(last, Instruction::StoreLocal(VALUE)) {
        return None;
    }
    if body.iter().all(|i| constant(i)) {
        return Some(Shape::Constant);
    }
    let (mut source, mut rest) = match body {
        [Instruction::Lookup(root), rest @ ..] if ROOTS.contains(root) => (Source::Path(vec![root.to_string()]), rest),
        [Instruction::LoadConst(name), Instruction::CallFunction("secret", Some(1)), rest @ ..] => {
            (Source::Secret(name.as_str()?.to_string()), rest)
        }
        _ => return None,
    };
    while let [Instruction::GetAttr(name), tail @ ..] = rest {
        let Source::Path(path) = &mut source else { return None };
        path.push(name.to_string());
        rest = tail;
    }
    let mut filters = Vec::new();
    let mut args = Vec::new();
    for instruction in rest {
        match instruction {
            Instruction::LoadConst(v) => args.push(v.clone()),
            Instruction::ApplyFilter(name, Some(n), _) if usize::from(*n) == args.len() + 1 => {
                let filter = match (Native::of(name, &args), ENGINE_FILTERS.iter().find(|f| *f == name)) {
                    (Some(native), _) => Filter::Ours(native),
                    (None, Some(engine)) => Filter::Engine(engine, std::mem::take(&mut args)),
                    (None, None) => return None,
                };
                filters.push(filter);
                args.clear();
            }
            _ => return None,
        }
    }
    if !args.is_empty() {
        return None;
    }
    // Every instruction costs one fuel at most (some are free).
    let cost = UNITS_PER_FUEL * u64::try_from(code.len()).ok()?;
    Some(Shape::Fast { source, filters, cost })
}

/// Whether an instruction computes on literals only, reading neither the context nor
/// anything else a call could change.
fn constant(instruction: &Instruction<'_>) -> bool {
    use Instruction as I;
    matches!(
        instruction,
        I::LoadConst(_)
            | I::BuildList(_)
            | I::BuildMap(_)
            | I::Neg
            | I::Add
            | I::Sub
            | I::Mul
            | I::Div
            | I::IntDiv
            | I::Rem
            | I::Pow
            | I::Eq
            | I::Ne
            | I::Gt
            | I::Gte
            | I::Lt
            | I::Lte
            | I::Not
            | I::StringConcat
            | I::In
    )
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
    /// The template's value (`None`: undefined or none, so left out), borrowed where it is
    /// (a constant, a lead's value). A literal and a text render are strings; a path and an
    /// expression keep their type.
    pub fn value<'a>(&'a self, t: &'a Template, scope: &'a Scope<'_>) -> Result<Option<Cow<'a, Value>>, RenderFault> {
        match t {
            Template::Constant(v) => Ok(v.as_ref().map(Cow::Borrowed)),
            Template::Fast(fast) => match (fast.answer(self, scope), &fast.fallback) {
                (Some(answer), _) => Ok(answer),
                (None, Some(name)) => Ok(self.evaluate(name, scope)?.map(Cow::Owned)),
                // Unreachable: only a variable alone has no fallback, and it always answers.
                (None, None) => Ok(None),
            },
            Template::Value(name) => Ok(self.evaluate(name, scope)?.map(Cow::Owned)),
            Template::Text(_) => self.text(t, scope).map(|s| Some(Cow::Owned(Value::String(s)))),
        }
    }

    /// A typed expression's value, by the template engine.
    fn evaluate(&self, name: &str, scope: &Scope<'_>) -> Result<Option<Value>, RenderFault> {
        let template = self.env.get_template(name).map_err(scope.fault())?;
        let captured = template.render_captured(scope.root().clone()).map_err(scope.fault())?;
        Ok(captured.state().lookup(VALUE).and_then(|v| json_value(&v)))
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

impl Fast {
    /// The value the template engine would give (`Some(None)`: undefined or none), or
    /// `None` when the engine must say: a filter failed (the engine's error names the
    /// line), a secret is not there, or the work could come near [`FUEL`].
    ///
    /// The fuel: the engine charges each instruction, each byte of a string a filter is
    /// given, and each byte of a string a filter or a function answers; this counts the
    /// same (every instruction at full price) and answers only below half the fuel, so the
    /// engine would not have run out either. A filter answering anything but a string, a
    /// number, a boolean or none (a list, a map: costed by size) is left to the engine.
    fn answer<'a>(&'a self, templates: &Templates, scope: &'a Scope<'_>) -> Option<Option<Cow<'a, Value>>> {
        let mut units = self.cost;
        let mut v = match &self.source {
            Source::Path(path) if self.filters.is_empty() => return Some(scope.ctx.lookup(path)),
            Source::Path(path) => scope.ctx.lookup_template(path),
            Source::Secret(name) => {
                let secret = scope.secrets.get(name)?;
                units = units.saturating_add(text_units(secret));
                Tv::from(secret.as_str())
            }
        };
        let mut state = None;
        for filter in &self.filters {
            units = units.saturating_add(v.as_str().map_or(0, text_units));
            v = match filter {
                Filter::Ours(native) => native.apply(v, scope.ctx, &templates.maps).ok()?,
                Filter::Engine(name, args) => {
                    let state = state.get_or_insert_with(|| templates.env.empty_state());
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(v);
                    all.extend(args.iter().cloned());
                    state.apply_filter(name, &all).ok()?
                }
            };
            units = units.saturating_add(match v.kind() {
                ValueKind::String => v.as_str().map_or(0, text_units),
                ValueKind::Undefined | ValueKind::None | ValueKind::Bool | ValueKind::Number => 0,
                _ => return None,
            });
        }
        (units < FUEL * UNITS_PER_FUEL / 2).then(|| json_value(&v).map(Cow::Owned))
    }
}

/// What the engine charges for a string, in fuel units (a byte each).
fn text_units(s: &str) -> u64 {
    u64::try_from(s.len()).unwrap_or(u64::MAX)
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
        let native = |expr: &str| match shape(&format!("{{% set {VALUE} = {expr} %}}")) {
            Some(Shape::Fast { source: Source::Path(p), filters, .. }) => Some((p.join("."), filters.len())),
            Some(Shape::Fast { source: Source::Secret(name), filters, .. }) => {
                Some((format!("secret {name}"), filters.len()))
            }
            Some(Shape::Constant) => Some(("constant".into(), 0)),
            None => None,
        };
        assert_eq!(native("lead.gender | map('gender') | yes_no('Y', 'N')"), Some(("lead.gender".into(), 2)));
        assert_eq!(native("lead.dob | date('%Y') | digits"), Some(("lead.dob".into(), 2)));
        assert_eq!(native("lead.a | upper"), Some(("lead.a".into(), 1)));
        assert_eq!(native("lead.a.b | trim('x') | default('y', true) | int"), Some(("lead.a.b".into(), 3)));
        assert_eq!(native("secret('k')"), Some(("secret k".into(), 0)));
        assert_eq!(native("secret('k') | lower"), Some(("secret k".into(), 1)));
        assert_eq!(native("4417"), Some(("constant".into(), 0)));
        assert_eq!(native("-1.5 ~ 'x'"), Some(("constant".into(), 0)));
        assert_eq!(native("'x' | upper"), None, "a filter on a literal is the engine's");
        assert_eq!(native("secret('k').x"), None);
        assert_eq!(native("secret(lead.k)"), None);
        assert_eq!(native("lead.a | int(default=0)"), Some(("lead.a".into(), 1)), "literal keywords are literals");
        assert_eq!(native("lead.a | join(',')"), None, "not a filter the fast path runs");
        assert_eq!(native("lead.a | phone(lead.f)"), None);
        assert_eq!(native("lead.a ~ 'x'"), None);
        assert_eq!(native("lead.a | map('g').x"), None);
        assert_eq!(native("range(3)"), None);
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

    fn context(lead: Value) -> Context {
        Context::new(ContextParts {
            lead,
            email_sha256: Some("e".repeat(64)),
            phone_sha256: None,
            ping: PingInfo { id: "p-1".into(), offer: "o\"1".into(), vertical: "auto".into() },
            bid: Some(crate::adapter::BidInfo {
                id: "b".into(),
                price: crate::money::Money::from_minor(1250),
                token: None,
            }),
            sale: None,
            now: chrono::DateTime::parse_from_rfc3339("2024-02-28T23:00:00Z").map(|t| t.to_utc()).unwrap_or_default(),
        })
    }

    /// Templates compiled twice: as `add` compiles them (the fast path, a constant), and
    /// forced through the template engine; and a check that both give the same answer.
    struct Pairs {
        templates: Templates,
        pairs: Vec<(String, Template, Template)>,
        /// Calls the fast path answered itself (not through its fallback).
        answered: usize,
    }

    impl Pairs {
        fn new(maps: &ValueMaps, secrets: &[&str], expressions: &[&str], fast: fn(&Template) -> bool) -> Pairs {
            let exists = |name: &str| secrets.contains(&name);
            let mut builder = Builder::new(maps, &exists);
            let mut pairs = Vec::new();
            for (i, e) in expressions.iter().enumerate() {
                let compiled = builder.add(&format!("fast{i}"), &format!("{{{{ {e} }}}}"), Escape::Json, true);
                let template = compiled.expect(e).template;
                assert!(fast(&template), "{e} is not compiled as expected: {template:?}");
                let slow = format!("plain:slow{i}");
                builder.env.add_template_owned(slow.clone(), format!("{{% set {VALUE} = {e} %}}")).expect(e);
                pairs.push((e.to_string(), template, Template::Value(slow)));
            }
            Pairs { templates: builder.finish(), pairs, answered: 0 }
        }

        /// Every template on `scope`: the fast answer is the engine's, value or error; and
        /// when the fast path answers itself, it answers what the engine does.
        fn check(&mut self, scope: &Scope<'_>, on: &str) {
            for (e, fast, slow) in &self.pairs {
                let engine = self.templates.value(slow, scope).map(|v| v.map(Cow::into_owned));
                let ours = self.templates.value(fast, scope).map(|v| v.map(Cow::into_owned));
                assert_eq!(ours, engine, "{e} on {on}");
                if let Template::Fast(f) = fast {
                    if let Some(answer) = f.answer(&self.templates, scope) {
                        assert_eq!(Ok(answer.map(Cow::into_owned)), engine, "{e} on {on}, answered");
                        self.answered += 1;
                    }
                }
            }
        }
    }

    fn is_fast(t: &Template) -> bool {
        matches!(t, Template::Fast(f) if !f.filters.is_empty())
    }

    /// Every filter of ours the fast path runs, on values of every shape (missing, none,
    /// numbers, booleans, bad input): its answer — value or error — is the template engine's.
    #[test]
    fn the_fast_path_answers_what_the_engine_answers() {
        let maps: ValueMaps = serde_json::from_value(json!({"gender": {"male": 1, "default": "0"}})).expect("maps");
        let expressions = [
            "lead.gender | map('gender')",
            "lead.tcpa | yes_no('Y', 'N')",
            "lead.tcpa | yes_no(true, 0)",
            "lead.phone | phone('dashed')",
            "lead.phone | phone('digits10')",
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
        let mut pairs = Pairs::new(&maps, &[], &expressions, is_fast);
        let leads = [
            json!({"gender": "Male", "tcpa": "yes", "phone": "(555) 123-4567", "dob": "1990-07-04", "email": "a@b.co",
                   "city": "Zürich", "age": 1.0, "nested": {"x": "a1b2"}, "none": null}),
            json!({"gender": "other", "tcpa": false, "phone": "12", "dob": "07/04/2030", "email": 5, "city": 3.5,
                   "age": 0, "nested": {"x": 7}}),
            json!({"gender": true, "tcpa": "maybe", "phone": 5551234567_i64, "dob": "2000-02-29T10:00:00+09:00", "age": "y"}),
        ];
        for lead in leads {
            let ctx = context(lead.clone());
            pairs.check(&Scope::new(&ctx, BTreeMap::new(), false), &lead.to_string());
        }
        assert!(pairs.answered > 20, "the fast path answered {} times", pairs.answered);
    }

    /// Values a lead may carry, the tricky ones above all.
    fn values() -> Vec<Value> {
        let mut values = vec![
            json!(null),
            json!(""),
            json!("90210"),
            json!("  padded \t\n"),
            json!("ca"),
            json!("new YORK city"),
            json!("Zürich ß ǅ ŉ ΐ"),
            json!("Robert\"); DROP TABLE leads;--"),
            json!("O'Brien <script>alert(1)</script> &amp;"),
            json!("]]> \"}, \"admin\": true, {\""),
            json!("line1\nline2\r\n\ttab"),
            json!("nul\u{0}bell\u{7}esc\u{1b}del\u{7f}"),
            json!("😀 emoji 👍🏽"),
            json!("34"),
            json!("34.0"),
            json!("34.5"),
            json!("-7"),
            json!("+7"),
            json!("0x1f"),
            json!("1e3"),
            json!("1_000"),
            json!(" 12 "),
            json!("nan"),
            json!("inf"),
            json!("true"),
            json!("xx12xx"),
            json!(34),
            json!(34.0),
            json!(34.5),
            json!(-0.0),
            json!(-1),
            json!(1e300),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(true),
            json!(false),
            json!([1, "a", null]),
            json!({"k": "v", "n": 1.0}),
        ];
        values.push(Value::String("x".repeat(1_000_000)));
        values
    }

    /// MiniJinja's filters, constants and secrets on the fast path, on every value of
    /// [`values`] (and a missing one): the same answers, and errors, as the engine.
    #[test]
    fn engine_filters_and_secrets_answer_what_the_engine_answers() {
        let expressions = [
            "lead.v",
            "lead.v.x",
            "lead.v | upper",
            "lead.v | lower",
            "lead.v | trim",
            "lead.v | trim('x')",
            "lead.v | capitalize",
            "lead.v | title",
            "lead.v | int",
            "lead.v | int(7)",
            "lead.v | int(7, 16)",
            "lead.v | int(default=7, base=8)",
            "lead.v | float",
            "lead.v | float(1.5)",
            "lead.v | default('d')",
            "lead.v | default('d', true)",
            "lead.v | default(0, false)",
            "lead.v | d(none)",
            "lead.v | trim | upper | default('none', true)",
            "lead.v | int | default(3)",
            "lead.v | upper | phone('digits10')",
            "lead.v | phone('digits10') | upper",
            "lead.v | upper | upper",
            "lead.missing | upper",
            "lead.missing | int",
            "lead.missing | default('m')",
            "lead.missing.deeper | lower",
            "ping.offer | upper",
            "email_sha256 | upper",
            "phone_sha256 | default('none')",
            "phone_sha256 | upper",
            "sale.id | default('no sale')",
            "bid.price | float",
            "secret('k')",
            "secret('k') | upper",
            "secret('k') | int(0)",
        ];
        let fast = |t: &Template| matches!(t, Template::Fast(_));
        let mut pairs = Pairs::new(&ValueMaps::default(), &["k"], &expressions, fast);
        let secrets = |v: &str| BTreeMap::from([("k".to_string(), v.to_string())]);
        for (n, v) in values().into_iter().enumerate() {
            let on = v.to_string().chars().take(60).collect::<String>();
            let ctx = context(json!({ "v": v }));
            let secret = v.as_str().unwrap_or("s3cr\"et<&>");
            pairs.check(&Scope::new(&ctx, secrets(secret), false), &on);
            if n % 8 == 0 {
                pairs.check(&Scope::new(&ctx, secrets(MASK), true), &format!("{on}, masked"));
            }
        }
        let ctx = context(json!({}));
        pairs.check(&Scope::new(&ctx, secrets("s"), false), "a lead without the value");
        pairs.check(&Scope::new(&ctx, BTreeMap::new(), false), "a call without the secret");
        let tried = expressions.len() * (values().len() + 2);
        assert!(pairs.answered * 10 > tried * 7, "the fast path answered {} of {tried}", pairs.answered);
    }

    /// A constant is evaluated once, to what the engine gives each call.
    #[test]
    fn constants_are_the_engines_values() {
        let expressions = [
            "4417",
            "-1",
            "1.5",
            "2.0",
            "1e300",
            "'text with \"quotes\" & <tags>'",
            "\"]]>\\n\"",
            "true",
            "none",
            "[1, 'a', none]",
            "{'a': 1, 'b': [2.0]}",
            "'a' ~ 1 ~ none",
            "1 + 2 * 3",
            "7 // 2",
            "7 / 2",
            "2 ** 10",
            "not 0",
            "1 in [1, 2]",
            "'b' < 'a'",
        ];
        let constant = |t: &Template| matches!(t, Template::Constant(_));
        let mut pairs = Pairs::new(&ValueMaps::default(), &[], &expressions, constant);
        let ctx = context(json!({"v": 1}));
        pairs.check(&Scope::new(&ctx, BTreeMap::new(), false), "any lead");
        let Template::Constant(Some(v)) = &pairs.pairs[0].1 else { panic!("4417 is a constant") };
        assert_eq!(v, &json!(4417), "typed: a number, not text");
        // A constant that fails stays the engine's, failing every call as it says.
        let failing = |t: &Template| matches!(t, Template::Value(_));
        let mut pairs = Pairs::new(&ValueMaps::default(), &[], &["1 // 0", "'a' - 1"], failing);
        pairs.check(&Scope::new(&ctx, BTreeMap::new(), false), "any lead");
    }

    /// A JSON body written from fields: byte for byte what writing each value with
    /// `to_string` and each key as a fresh JSON string gave, for values of every kind.
    #[test]
    fn json_bodies_are_written_as_before() {
        use super::super::encode::{Field, JsonShape, Node};
        fn before(tree: &Node, values: &[Option<Value>], out: &mut String) {
            fn any(node: &Node, values: &[Option<Value>]) -> bool {
                match node {
                    Node::Leaf(i) => values.get(*i).is_some_and(Option::is_some),
                    Node::Branch(c) => c.iter().any(|(_, c)| any(c, values)),
                }
            }
            match tree {
                Node::Leaf(i) => out.push_str(&values.get(*i).cloned().flatten().unwrap_or(Value::Null).to_string()),
                Node::Branch(children) => {
                    out.push('{');
                    for (n, (name, child)) in children.iter().filter(|(_, c)| any(c, values)).enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(name.clone()).to_string());
                        out.push(':');
                        before(child, values, out);
                    }
                    out.push('}');
                }
            }
        }
        let names = ["a", "b.c", "k\"ey\n<&>😀", "b.d.e", "f", "b.g", "h.i.j"];
        let tree = Node::tree(names).expect("a tree");
        let shape = JsonShape::new(&tree);
        let values: Vec<Value> = values().into_iter().filter(|v| v.to_string().len() < 1000).collect();
        for start in 0..values.len() {
            for gaps in [0usize, 1, 2, 3, 5] {
                let row: Vec<Option<Value>> = (0..names.len())
                    .map(|i| {
                        (gaps == 0 || (i + start) % gaps != 0).then(|| values[(start + i * 7) % values.len()].clone())
                    })
                    .collect();
                let mut old = String::new();
                before(&tree, &row, &mut old);
                let fields: Vec<Field<'_>> = row.iter().map(|v| v.as_ref().map(Cow::Borrowed)).collect();
                assert_eq!(shape.write(&fields), old, "{start} {gaps}");
            }
        }
        assert_eq!(shape.write(&vec![None; names.len()]), "{}");
    }
}
