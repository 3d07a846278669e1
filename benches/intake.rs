//! A lead's fields at the edge (`pingpost_core::intake`): what checking a ping or a post
//! against its vertical's declared fields and its offer's consent costs, and renaming a
//! partner's aliases. Every ping will pay one check.
//!
//! `cargo bench -p pingpost-benches --bench intake`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pingpost_core::config::ConfigDocument;
use pingpost_core::ids::{OfferId, PartnerId, VerticalId};
use pingpost_core::intake::{apply_aliases, check, Stage};
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::time::Duration;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a lead is an object"),
    }
}

fn intake(c: &mut Criterion) {
    // The SPEC's auto vertical and consent, and a partner with three aliases.
    let doc: ConfigDocument = serde_json::from_value(json!({
        "verticals": [{"id": "auto", "fields": [
            {"name": "zip",        "type": "zip",     "required": "ping"},
            {"name": "state",      "type": "state",   "required": "ping"},
            {"name": "age",        "type": "integer", "min": 18, "max": 120},
            {"name": "gender",     "type": "enum",    "values": ["male", "female", "other"]},
            {"name": "homeowner",  "type": "boolean"},
            {"name": "vehicle_year", "type": "integer", "min": 1950, "max": 2030},
            {"name": "first_name", "type": "text",    "required": "post", "pii": true, "max_length": 100},
            {"name": "last_name",  "type": "text",    "required": "post", "pii": true, "max_length": 100},
            {"name": "birth_date", "type": "date",    "pii": true}]}],
        "offers": [{"id": "auto-excl", "vertical": "auto",
                    "consent": {"ping": ["jornaya_leadid"], "post": ["trustedform_cert_url", "tcpa_optin"]}}],
        "partners": [{"id": "p1", "api_key": "a-partner-key-of-some-length", "offers": ["auto-excl"],
                      "field_aliases": {"zipcode": "zip", "leadid_token": "jornaya_leadid",
                                        "xxTrustedFormCertUrl": "trustedform_cert_url"}}]
    }))
    .unwrap();
    let config = doc.validate().unwrap();
    let vertical = &config.verticals[&VerticalId::new("auto")];
    let consent = config.offers[&OfferId::new("auto-excl")].consent;
    let aliases = &config.partners[&PartnerId::new("p1")].field_aliases;

    // As a form post sends it: every value text, names the partner's own.
    let ping = object(json!({
        "email_sha256": "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d",
        "zipcode": "90210-1234", "state": "California", "age": "34", "gender": "Female",
        "homeowner": "yes", "vehicle_year": "2019", "leadid_token": "01234567-89AB-CDEF-0123-456789ABCDEF",
        "ip_address": "203.0.113.7", "sub_id": "campaign-7"}));
    let mut post = ping.clone();
    post.extend(object(json!({
        "first_name": "Jane", "last_name": "Doe", "birth_date": "04/07/1990", "tcpa_optin": "Y",
        "xxTrustedFormCertUrl": "https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c"})));
    let mut ping_renamed = ping.clone();
    apply_aliases(&mut ping_renamed, aliases).unwrap();
    let mut post_renamed = post.clone();
    apply_aliases(&mut post_renamed, aliases).unwrap();
    // Each lead must pass, so the bench measures the path real pings take.
    assert_eq!(check(vertical, &consent, Stage::Ping, ping_renamed.clone()).unwrap()["zip"], "90210");
    assert_eq!(check(vertical, &consent, Stage::Post, post_renamed.clone()).unwrap()["birth_date"], "1990-04-07");

    let mut g = c.benchmark_group("intake");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("check_ping", |b| {
        b.iter(|| check(vertical, &consent, Stage::Ping, black_box(ping_renamed.clone())).unwrap())
    });
    g.bench_function("check_post", |b| {
        b.iter(|| check(vertical, &consent, Stage::Post, black_box(post_renamed.clone())).unwrap())
    });
    // Cloning the lead is part of the figure: the alias pass renames in place.
    g.bench_function("aliases_ping", |b| {
        b.iter(|| {
            let mut lead = black_box(&ping).clone();
            apply_aliases(&mut lead, aliases).unwrap();
            lead
        })
    });
    g.bench_function("clone_ping", |b| b.iter(|| black_box(&ping).clone()));
    g.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
