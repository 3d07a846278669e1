//! `contracts/adapters.toml` (the configuration that sells to the strict buyers) stays in
//! step with the simulator: each call goes where the buyer listens,
//! in its encoding, with its credentials; every field the buyer checks is produced, by a
//! template that writes it in the buyer's format; and the answer rules read the buyer's real
//! answers as meant.
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::strict::check::{Field, Format};
use pingpost_buyersim::strict::{
    crestline, pinecrest, ridgeline, CRESTLINE, CRESTLINE_PING_PATH, CRESTLINE_POST_PATH, PINECREST,
    PINECREST_POST_PATH, RIDGELINE, RIDGELINE_POST_PATH, SANDBOX_PREFIX, SECRET_NAMES,
};
use pingpost_buyersim::{Credentials, PostReply};
use regex::Regex;
use std::collections::BTreeSet;
use toml::Value;

/// Where `pingpost buyers` listens by default.
const SIMULATOR: &str = "http://127.0.0.1:9001";

fn examples() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/adapters.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn buyer<'a>(examples: &'a Value, id: &str) -> &'a Value {
    examples["buyers"].as_array().unwrap().iter().find(|b| b["id"].as_str() == Some(id)).unwrap()
}

fn call<'a>(examples: &'a Value, id: &str, call: &str) -> &'a Value {
    &buyer(examples, id)["calls"][call]
}

fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("no {key} in {value}"))
}

/// The calls the simulator serves: buyer, call, path, encoding, spec.
const CALLS: [(&str, &str, &str, &str, &[Field]); 4] = [
    (CRESTLINE, "bid", CRESTLINE_PING_PATH, "json", crestline::PING_FIELDS),
    (CRESTLINE, "post", CRESTLINE_POST_PATH, "json", crestline::POST_FIELDS),
    (RIDGELINE, "post", RIDGELINE_POST_PATH, "form", ridgeline::POST_FIELDS),
    (PINECREST, "post", PINECREST_POST_PATH, "xml", pinecrest::POST_FIELDS),
];

#[test]
fn each_call_goes_where_the_buyer_listens_in_its_encoding() {
    let examples = examples();
    for (id, name, path, encoding, _) in CALLS {
        let call = call(&examples, id, name);
        assert_eq!(str_at(call, "url"), format!("{SIMULATOR}{path}"), "{id}.{name}");
        assert_eq!(str_at(call, "sandbox_url"), format!("{SIMULATOR}{SANDBOX_PREFIX}{path}"), "{id}.{name}");
        assert_eq!(str_at(call, "method"), "POST", "{id}.{name}");
        assert_eq!(str_at(call, "encoding"), encoding, "{id}.{name}");
    }
    let pinecrest = call(&examples, PINECREST, "post");
    assert_eq!(str_at(pinecrest, "form_field"), pinecrest::FORM_FIELD);
    assert_eq!(str_at(pinecrest, "xml_root"), pinecrest::ROOT);
    // Only the calls the simulator serves are described.
    for buyer in examples["buyers"].as_array().unwrap() {
        for name in buyer["calls"].as_table().unwrap().keys() {
            let id = str_at(buyer, "id");
            assert!(
                CALLS.iter().any(|(b, c, ..)| *b == id && c == name),
                "{id}.{name} is served by no simulated buyer"
            );
        }
    }
}

#[test]
fn every_field_a_buyer_checks_is_produced_in_its_format() {
    let examples = examples();
    for (id, name, _, _, spec) in CALLS {
        let fields = call(&examples, id, name)["fields"].as_table().unwrap();
        let produced: BTreeSet<&str> = fields.keys().map(String::as_str).collect();
        let checked: BTreeSet<&str> = spec.iter().map(|f| f.name).collect();
        assert_eq!(produced, checked, "{id}.{name}: the fields sent are the fields the buyer checks");
        for field in spec {
            let template = fields[field.name].as_str().unwrap();
            assert!(
                produces(field.format, template),
                "{id}.{name}.{}: {template:?} does not write {:?}",
                field.name,
                field.format
            );
        }
    }
}

/// Whether `template` writes a value of `format` (given a lead that passes pingpost's checks).
fn produces(format: Format, template: &str) -> bool {
    // An integer must be one expression, so the JSON body keeps it a number.
    let typed = template.starts_with("{{ ") && template.ends_with(" }}") && template.matches("{{").count() == 1;
    match format {
        Format::Secret(name) => template == format!("{{{{ secret('{name}') }}}}"),
        Format::Fixed(id) => template == id,
        Format::FixedInteger(id) => template == format!("{{{{ {id} }}}}"),
        Format::PingReference => template == "{{ bid.token }}",
        Format::Text { .. } => typed && template.starts_with("{{ lead."),
        Format::Email => template == "{{ lead.email }}",
        Format::Zip => template == "{{ lead.zip }}",
        Format::State => template == "{{ lead.state }}",
        Format::Integer { .. } => typed && template.ends_with(" | int }}"),
        Format::Code(_) => typed && template.contains(" | map('"),
        Format::IntegerCode(_) => typed && template.contains(" | map('") && template.ends_with(" | int }}"),
        Format::Phone10 => template == "{{ lead.phone | phone('digits10') }}",
        Format::PhoneE164 => template == "{{ lead.phone | phone('e164') }}",
        Format::PhoneDashed => template == "{{ lead.phone | phone('dashed') }}",
        Format::DateMdy => template == "{{ lead.birth_date | date('%m/%d/%Y') }}",
        Format::DateIso => template == "{{ lead.birth_date | date('%Y-%m-%d') }}",
    }
}

#[test]
fn coded_fields_map_to_exactly_the_buyers_codes() {
    let examples = examples();
    let map_filter = Regex::new(r"map\('([a-z_]+)'\)").unwrap();
    for (id, name, _, _, spec) in CALLS {
        let fields = call(&examples, id, name)["fields"].as_table().unwrap();
        for field in spec {
            let codes: BTreeSet<String> = match field.format {
                Format::Code(codes) => codes.iter().map(|c| c.to_string()).collect(),
                Format::IntegerCode(codes) => codes.iter().map(i64::to_string).collect(),
                _ => continue,
            };
            let template = fields[field.name].as_str().unwrap();
            let map = map_filter.captures(template).unwrap()[1].to_string();
            let values: BTreeSet<String> = buyer(&examples, id)["value_maps"][&map]
                .as_table()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(values, codes, "{id}.{name}.{}: value map {map}", field.name);
        }
    }
}

#[test]
fn credentials_are_secrets_by_the_names_the_simulator_reads() {
    let examples = examples();
    let secret = Regex::new(r"secret\('([a-z0-9_]+)'\)").unwrap();
    let mut templates = Vec::new();
    strings(&examples["buyers"], &mut templates);
    let named: BTreeSet<&str> =
        templates.iter().flat_map(|t| secret.captures_iter(t)).map(|c| c.get(1).unwrap().as_str()).collect();
    assert_eq!(
        named,
        SECRET_NAMES.into_iter().collect(),
        "every secret used is one the simulator checks, and each is used"
    );
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/adapters.toml")).unwrap();
    // No secret's value is written in the file, demo values included.
    let demo = Credentials::demo();
    for name in SECRET_NAMES {
        assert!(!text.contains(&format!("= \"{}\"", demo.secret(name).unwrap())), "{name}'s value is in the file");
    }
    let basic = &call(&examples, RIDGELINE, "post")["auth"]["basic"];
    assert_eq!(str_at(basic, "username"), demo.ridgeline_username);
    assert_eq!(str_at(basic, "password"), "{{ secret('ridgeline_password') }}");
}

/// Every string in a TOML value.
fn strings<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => into.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        Value::Table(table) => table.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

#[test]
fn contracts_sell_each_strict_buyer_on_an_offer_of_the_example_contracts() {
    let examples = examples();
    let offers: Value = toml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/offers.toml")).unwrap(),
    )
    .unwrap();
    let offer_ids: BTreeSet<&str> = offers["offers"].as_array().unwrap().iter().map(|o| str_at(o, "id")).collect();
    let contracts = examples["contracts"].as_array().unwrap();
    for id in [CRESTLINE, RIDGELINE, PINECREST] {
        let contract =
            contracts.iter().find(|c| str_at(c, "buyer") == id).unwrap_or_else(|| panic!("no contract for {id}"));
        assert!(offer_ids.contains(str_at(contract, "offer")), "{id}'s contract names an offer of contracts/");
    }
}

// ------------------------------------------------------------------ answers

/// How an answer rule of the example reads a body: `json` pointers, `xml` paths, `text`
/// regexes (first capture group), as the SPEC says.
fn read(format: &str, body: &str, path: &str) -> Option<String> {
    match format {
        "json" => {
            let json: serde_json::Value = serde_json::from_str(body).ok()?;
            json.pointer(path).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        }
        "xml" => xml_text(body, path),
        _ => Regex::new(path).unwrap().captures(body).and_then(|c| c.get(1)).map(|m| m.as_str().to_string()),
    }
}

/// A price read from an answer, in cents: a JSON number reads back as `31.5` for `31.50`.
fn cents(price: Option<String>) -> Option<i64> {
    let price = price?;
    let (units, fraction) = price.split_once('.').unwrap_or((&price, ""));
    let fraction = format!("{fraction:0<2}");
    assert!(fraction.len() == 2, "{price}: more than cents");
    Some(units.parse::<i64>().ok()? * 100 + fraction.parse::<i64>().ok()?)
}

/// Whether a rule (`{path, equals}` or `{matches}`) holds for a body.
fn holds(format: &str, body: &str, rule: &Value) -> bool {
    match (rule.get("path"), rule.get("equals"), rule.get("matches")) {
        (Some(path), Some(equals), _) => read(format, body, path.as_str().unwrap()).as_deref() == equals.as_str(),
        (None, None, Some(matches)) => Regex::new(matches.as_str().unwrap()).unwrap().is_match(body),
        _ => panic!("a rule this test does not read: {rule}"),
    }
}

/// The text of the element at `/a/b/c`, entities resolved.
fn xml_text(body: &str, path: &str) -> Option<String> {
    use quick_xml::events::Event;
    let want: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut reader = quick_xml::Reader::from_str(body);
    let mut at: Vec<String> = Vec::new();
    let mut text: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                at.push(e.name().0.to_string());
                if at == want {
                    text = Some(String::new());
                }
            }
            Event::End(_) => {
                if at == want {
                    return text;
                }
                at.pop();
            }
            Event::Text(t) if at == want => text.as_mut()?.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if at == want => {
                text.as_mut()?.push_str(quick_xml::escape::resolve_predefined_entity(&r.xml10_content())?)
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// What the post answer rules make of an answer: (accepted, duplicate, price, lead id, redirect, reason).
type Reading = (bool, bool, Option<String>, Option<String>, Option<String>, Option<String>);

fn reading(answer: &Value, body: &str) -> Reading {
    let format = str_at(answer, "format");
    let at = |key: &str| answer.get(key).and_then(|p| read(format, body, p.as_str().unwrap()));
    (
        holds(format, body, &answer["accepted"]),
        holds(format, body, &answer["duplicate"]),
        at("price"),
        at("lead_id"),
        at("redirect_url"),
        at("reason"),
    )
}

#[tokio::test]
async fn the_bid_answer_rules_read_crestlines_price_and_auction_id() {
    let examples = examples();
    let answer = &call(&examples, CRESTLINE, "bid")["answer"];
    let sim = start().await;
    sim.buyers.update(CRESTLINE, |b| b.bid = Some("31.50".into()));
    let ping = sim.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await;
    assert_eq!(cents(read("json", &ping.body, str_at(answer, "price"))), Some(3150));
    assert_eq!(read("json", &ping.body, str_at(answer, "token")).as_deref(), Some("LA-000001"));
    sim.buyers.update(CRESTLINE, |b| b.bid = None);
    let no_bid = sim.post_json(CRESTLINE_PING_PATH, &crestline_ping()).await;
    assert_eq!(read("json", &no_bid.body, str_at(answer, "price")), None, "no price: no bid");
}

#[tokio::test]
async fn the_post_answer_rules_read_each_buyers_answers() {
    let examples = examples();
    let sim = start().await;
    let redirect = "https://buyer.example/welcome?a=1&b=2";
    for id in [CRESTLINE, RIDGELINE, PINECREST] {
        let answer = &call(&examples, id, "post")["answer"];
        let mut answers = Vec::new();
        for (verdict, price) in [
            (PostReply::Accept, None),
            (PostReply::Accept, Some("13.25")),
            (PostReply::Duplicate, None),
            (PostReply::Reject, None),
        ] {
            sim.buyers.update(id, |b| {
                b.post = verdict;
                b.price = price.map(str::to_string);
                b.redirect_url = price.map(|_| redirect.to_string());
            });
            answers.push(post_good_lead(&sim, id).await.body);
        }
        let prefix = match id {
            CRESTLINE => "CL",
            RIDGELINE => "RL",
            _ => "PC",
        };
        let id_n = |n: usize| Some(format!("{prefix}-{n:06}"));
        let r: Vec<Reading> = answers.iter().map(|body| reading(answer, body)).collect();
        assert_eq!((r[0].0, r[0].1, r[0].3.clone()), (true, false, id_n(1)), "{id} accepted: {}", answers[0]);
        // crestline states the price it bid (the simulator's default 10.00); the others none.
        let stated = if id == CRESTLINE { Some(1000) } else { None };
        assert_eq!(cents(r[0].2.clone()), stated, "{id}: {}", answers[0]);
        assert_eq!(
            (r[1].0, cents(r[1].2.clone()), r[1].3.clone(), r[1].4.clone()),
            (true, Some(1325), id_n(2), Some(redirect.to_string())),
            "{id} accepted with a price and a redirect: {}",
            answers[1]
        );
        assert_eq!((r[2].0, r[2].1), (false, true), "{id} duplicate: {}", answers[2]);
        assert_eq!((r[3].0, r[3].1), (false, false), "{id} rejected: {}", answers[3]);
        assert!(r[3].5.as_deref().is_some_and(|reason| !reason.is_empty()), "{id} gives its reason: {}", answers[3]);
    }
    // A refusal is neither accepted nor a duplicate, and its reason is read.
    let refused = sim.ridgeline(&ridgeline_with("Lead.Phone", Some("555123456"))).await;
    let r = reading(&call(&examples, RIDGELINE, "post")["answer"], &refused.body);
    assert_eq!((r.0, r.1, r.5.as_deref()), (false, false, Some("Lead.Phone: must be exactly 10 digits")));
}

async fn post_good_lead(sim: &Sim, id: &str) -> Reply {
    match id {
        CRESTLINE => {
            let auction = sim.crestline_auction().await;
            sim.post_json(CRESTLINE_POST_PATH, &crestline_post(&auction)).await
        }
        RIDGELINE => sim.ridgeline(&RIDGELINE_LEAD).await,
        _ => sim.pinecrest(&pinecrest_xml(None)).await,
    }
}
