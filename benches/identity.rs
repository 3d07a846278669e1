//! Identity at the edge: what a ping costs before it reaches the engine. Every ping pays
//! one of these (plaintext: normalize + SHA-256; pre-hashed: validate + lower-case).
//!
//! `cargo bench -p pingpost-benches --bench identity`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pingpost_core::identity::{normalize_email, normalize_phone, Identity, RawIdentity, Sha256Hex};
use std::hint::black_box;
use std::time::Duration;

// Partner-shaped input: mixed case and padding for email, punctuation for phone, so the
// normalizers do their real work instead of taking a fast path.
const EMAIL: &str = "  Jane.Q.Doe+auto@Example-Mail.COM ";
const PHONE: &str = "(555) 123-4567";
const EMAIL_NORMALIZED: &str = "jane.q.doe+auto@example-mail.com";
const PHONE_NORMALIZED: &str = "15551234567";

fn identity(c: &mut Criterion) {
    // The constants above must be what the normalizers make of the raw input.
    assert_eq!(normalize_email(EMAIL).unwrap(), EMAIL_NORMALIZED);
    assert_eq!(normalize_phone(PHONE).unwrap(), PHONE_NORMALIZED);
    let mut g = c.benchmark_group("identity");
    g.throughput(Throughput::Elements(1));
    // These are sub-microsecond: a short run already gives tight intervals.
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    g.bench_function("normalize_email", |b| b.iter(|| normalize_email(black_box(EMAIL)).unwrap()));
    g.bench_function("normalize_phone", |b| b.iter(|| normalize_phone(black_box(PHONE)).unwrap()));
    g.bench_function("sha256_hex", |b| b.iter(|| Sha256Hex::digest(black_box(EMAIL_NORMALIZED))));

    // The whole edge step the server runs per ping (`Identity::from_raw`).
    let email = RawIdentity { email: Some(EMAIL), ..Default::default() };
    g.bench_function("email", |b| b.iter(|| Identity::from_raw(black_box(&email)).unwrap()));
    let phone = RawIdentity { phone: Some(PHONE), ..Default::default() };
    g.bench_function("phone", |b| b.iter(|| Identity::from_raw(black_box(&phone)).unwrap()));
    let both = RawIdentity { email: Some(EMAIL), phone: Some(PHONE), ..Default::default() };
    g.bench_function("email_and_phone", |b| b.iter(|| Identity::from_raw(black_box(&both)).unwrap()));
    // Upper-case hex, as a partner hashing with another library may send it: parsing
    // validates and lower-cases it (no hashing).
    let email_upper = Sha256Hex::digest(EMAIL_NORMALIZED).as_str().to_ascii_uppercase();
    let phone_upper = Sha256Hex::digest(PHONE_NORMALIZED).as_str().to_ascii_uppercase();
    let prehashed =
        RawIdentity { email_sha256: Some(&email_upper), phone_sha256: Some(&phone_upper), ..Default::default() };
    g.bench_function("prehashed_email_and_phone", |b| b.iter(|| Identity::from_raw(black_box(&prehashed)).unwrap()));
    // A partner sending both plaintext and hash: the hash is checked against the plaintext.
    let email_hex = Sha256Hex::digest(EMAIL_NORMALIZED);
    let plain_and_hash =
        RawIdentity { email: Some(EMAIL), email_sha256: Some(email_hex.as_str()), ..Default::default() };
    g.bench_function("email_plain_and_hash", |b| b.iter(|| Identity::from_raw(black_box(&plain_and_hash)).unwrap()));
    g.finish();
}

criterion_group!(benches, identity);
criterion_main!(benches);
