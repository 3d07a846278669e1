//! Buyer adapters pinned by data, as Prebid Server pins its bidder adapters: every file in
//! `tests/fixtures/buyers/` (at the repository's root) is a buyer's configuration, a call, a
//! context, the exact request expected, the buyer's answer and the reading expected. A new
//! buyer format is a new fixture; this one runner reads them all.
//!
//! Each fixture is also checked the way a preview uses it: the masked request (what a
//! preview shows) differs from the one sent only where a secret is, and holds no secret.

use pingpost_core::adapter::{
    compile, BuyerCalls, CallKind, Calls, Context, ContextParts, Mode, OutboundRequest, Reading, RenderErrorKind,
    ValueMaps,
};
use pingpost_core::config::raw::RawResponse;
use pingpost_core::config::{ResponseRule, ResponseRules};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fewest fixtures the SPEC's checklist needs (each encoding, auth, answer format and
/// filter, the escaping attempts, the edge cases and the default protocol).
const AT_LEAST: usize = 15;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// What the fixture shows, for a reader.
    #[allow(dead_code)]
    description: String,
    buyer: Buyer,
    call: CallKind,
    #[serde(default)]
    mode: FixtureMode,
    context: ContextParts,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// The request exactly as sent; or `expected_error`, when it cannot be built.
    #[serde(default)]
    expected_request: Option<OutboundRequest>,
    #[serde(default)]
    expected_error: Option<ExpectedError>,
    /// The buyer's answer and how it is read (optional for a fixture that fails to build).
    #[serde(default)]
    answer: Option<Answer>,
    #[serde(default)]
    expected_reading: Option<Reading>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Buyer {
    #[serde(default)]
    calls: Option<Calls>,
    #[serde(default)]
    value_maps: ValueMaps,
    /// The buyer's old `response` (the post answer of a call left undescribed).
    #[serde(default)]
    response: Option<RawResponse>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureMode {
    /// The URL the rest of the configuration names (`post_url`, `bid_url`, `dq.url`).
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    sandbox: bool,
    #[serde(default)]
    masked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    kind: String,
    field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    status: u16,
    body: String,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/buyers")
}

/// The old rule shapes, as configuration validation reads them (`config::validate`).
fn response_rules(raw: Option<&RawResponse>) -> ResponseRules {
    let defaults = ResponseRules::default();
    let Some(raw) = raw else { return defaults };
    let rule = |r: &pingpost_core::config::raw::RawRule| match (&r.pointer, &r.equals, &r.http_status, &r.contains) {
        (Some(p), Some(v), None, None) => ResponseRule::Pointer { pointer: p.clone(), equals: v.clone() },
        (None, None, Some(codes), None) => ResponseRule::HttpStatus(codes.iter().map(|c| *c as u16).collect()),
        (None, None, None, Some(text)) => ResponseRule::Contains(text.clone()),
        _ => panic!("a fixture's response rule is malformed"),
    };
    ResponseRules {
        accepted: raw.accepted.as_ref().map(rule).unwrap_or(defaults.accepted),
        duplicate: raw.duplicate.as_ref().map(rule).unwrap_or(defaults.duplicate),
        price: raw.price.clone(),
    }
}

fn error_kind(kind: RenderErrorKind) -> &'static str {
    kind.code()
}

/// Runs one fixture; answers what is wrong with it.
fn run(fixture: &Fixture) -> Result<(), String> {
    let response = response_rules(fixture.buyer.response.as_ref());
    let buyer =
        BuyerCalls { calls: fixture.buyer.calls.as_ref(), value_maps: &fixture.buyer.value_maps, response: &response };
    let secrets = &fixture.secrets;
    let compiled = compile(buyer, &|name| secrets.contains_key(name)).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("the buyer does not compile: {list:?}")
    })?;
    let call = compiled.call(fixture.call);
    let ctx = Context::new(fixture.context.clone());
    let m = &fixture.mode;
    let mode = Mode { url: m.url.as_deref(), sandbox: m.sandbox, masked: m.masked };
    let built = call.request(&ctx, secrets, mode);
    match (&built, &fixture.expected_request, &fixture.expected_error) {
        (Ok(got), Some(expected), None) if got == expected => {}
        (Ok(got), Some(_), None) => {
            return Err(format!("the request differs; got:\n{}", serde_json::to_string_pretty(got).unwrap_or_default()))
        }
        (Err(e), None, Some(expected)) if error_kind(e.kind) == expected.kind && e.field == expected.field => {}
        (got, None, Some(_)) => return Err(format!("expected an error, got {got:?}")),
        (Err(e), Some(_), None) => return Err(format!("the request failed: {e}")),
        _ => return Err("give exactly one of expected_request and expected_error".into()),
    }
    if let Ok(sent) = &built {
        check_preview(call, &ctx, secrets, mode, sent)?;
    }
    match (&fixture.answer, &fixture.expected_reading) {
        (Some(answer), Some(expected)) => {
            let got = call.read(answer.status, answer.body.as_bytes());
            if &got != expected {
                return Err(format!("the reading differs; got {}", serde_json::to_string(&got).unwrap_or_default()));
            }
        }
        (None, None) if built.is_err() => {}
        _ => return Err("give an answer and its expected_reading".into()),
    }
    Ok(())
}

/// The preview of a request is the request with each secret masked: it holds no secret, and
/// a buyer without secrets has its requests as their own previews.
fn check_preview(
    call: &pingpost_core::adapter::CompiledCall,
    ctx: &Context,
    secrets: &BTreeMap<String, String>,
    mode: Mode<'_>,
    sent: &OutboundRequest,
) -> Result<(), String> {
    let live = call.request(ctx, secrets, Mode { masked: false, ..mode }).map_err(|e| e.to_string())?;
    let preview = call.request(ctx, secrets, Mode { masked: true, ..mode }).map_err(|e| e.to_string())?;
    if sent != if mode.masked { &preview } else { &live } {
        return Err("two builds of the same request differ".into());
    }
    let shown = serde_json::to_string(&preview).unwrap_or_default();
    if let Some((name, _)) = secrets.iter().find(|(_, v)| shown.contains(v.as_str())) {
        return Err(format!("the preview shows secret {name:?}"));
    }
    if live != preview && secrets.is_empty() {
        return Err("the preview differs from a request that has no secret to mask".into());
    }
    Ok(())
}

#[test]
fn every_buyer_fixture_builds_its_request_and_reads_its_answer() {
    let dir = fixtures_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= AT_LEAST, "{} fixtures in {}, want at least {AT_LEAST}", paths.len(), dir.display());
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let outcome = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Fixture>(&text).map_err(|e| format!("unreadable: {e}")))
            .and_then(|fixture| run(&fixture));
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures fail:\n{}", failures.len(), paths.len(), failures.join("\n\n"));
}
