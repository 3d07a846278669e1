//! TOML texts → [`Config`]. The caller reads the files (this crate does no I/O) and hands
//! over their names and contents.

use super::raw::*;
use super::validate::{validate, ConfigError, Located, Origin, RawConfig};
use super::{Config, ConfigDocument};
use serde::Deserialize;
use toml::Spanned;

/// One configuration file's name (as it should appear in errors) and text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    verticals: Vec<Spanned<RawVertical>>,
    #[serde(default)]
    offers: Vec<Spanned<RawOffer>>,
    #[serde(default)]
    partners: Vec<Spanned<RawPartner>>,
    #[serde(default)]
    buyers: Vec<Spanned<RawBuyer>>,
    #[serde(default)]
    contracts: Vec<Spanned<RawContract>>,
    #[serde(default)]
    return_reasons: Vec<Spanned<RawReturnReason>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes().iter().take(offset).filter(|b| **b == b'\n').count() + 1
}

fn located<T>(file: &SourceFile, items: Vec<Spanned<T>>) -> Vec<Located<T>> {
    items
        .into_iter()
        .map(|s| {
            let line = line_of(&file.text, s.span().start);
            Located { origin: Origin { file: file.name.clone(), line: Some(line) }, value: s.into_inner() }
        })
        .collect()
}

/// Parses and validates a set of files. Syntax errors and validation errors are all reported.
pub fn load_files(files: &[SourceFile]) -> Result<Config, Vec<ConfigError>> {
    load_document(files).map(|(_, config)| config)
}

/// [`load_files`], also answering the files as one [`ConfigDocument`] (partner keys hashed),
/// the form the store keeps.
pub fn load_document(files: &[SourceFile]) -> Result<(ConfigDocument, Config), Vec<ConfigError>> {
    let mut raw = RawConfig::default();
    let mut errors = Vec::new();
    for file in files {
        match toml::from_str::<RawFile>(&file.text) {
            Ok(parsed) => {
                raw.verticals.extend(located(file, parsed.verticals));
                raw.offers.extend(located(file, parsed.offers));
                raw.partners.extend(located(file, parsed.partners));
                raw.buyers.extend(located(file, parsed.buyers));
                raw.contracts.extend(located(file, parsed.contracts));
                raw.return_reasons.extend(located(file, parsed.return_reasons));
            }
            Err(e) => errors.push(ConfigError {
                origin: Origin { file: file.name.clone(), line: e.span().map(|s| line_of(&file.text, s.start)) },
                table: "",
                id: String::new(),
                field: String::new(),
                message: e.message().to_string(),
            }),
        }
    }
    // Files are checked away from the engine's secrets: a template may name any (the engine
    // checks the names again against its own when it loads or edits the configuration).
    match validate(&raw, &super::validate::AnySecret) {
        Ok(config) if errors.is_empty() => Ok((ConfigDocument::from_raw(&raw), config)),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PostBounds;
    use crate::ids::PartnerId;

    const GOOD: &str = r#"
[[verticals]]
id = "auto"
name = "Auto insurance"
dedup_window_days = 30

[[offers]]
id = "auto-excl"
vertical = "auto"
mode = "exclusive"

[[partners]]
id = "p1"
name = "Acme"
api_key_sha256 = "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"
offers = ["auto-excl"]

[[buyers]]
id = "b1"
name = "Buyer One"
post_url = "http://127.0.0.1:9001/b1/post"

[[contracts]]
id = "c1"
buyer = "b1"
offer = "auto-excl"
price = "18.50"
dedup = { enabled = true, window_days = 90 }
"#;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }

    #[test]
    fn repeat_terms_are_read_and_each_bad_one_is_named() {
        let ok = format!(
            "{GOOD}{}",
            r#"
[[verticals]]
id = "home"
dedup_window_days = 30
repeat_after_days = 14

[[contracts]]
id = "c2"
buyer = "b1"
offer = "auto-excl"
price = "10.00"
repeat = { after_days = 14, price = { percent = "40.00" } }
"#
        );
        let config = match load_files(&[file("ok.toml", &ok)]) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        };
        let c2 = &config.contracts[&crate::ids::ContractId::new("c2")];
        let terms = c2.repeat.expect("repeat terms");
        assert_eq!((terms.after.days(), terms.price), (14, crate::repeat::RepeatPrice::Percent(4_000)));
        assert_eq!(config.verticals[&crate::ids::VerticalId::new("home")].repeat_after.map(|w| w.days()), Some(14));
        assert_eq!(config.verticals[&crate::ids::VerticalId::new("auto")].repeat_after, None, "off by default");

        let errors = errors_with(
            r#"
[[verticals]]
id = "home"
dedup_window_days = 30
repeat_after_days = 30

[[contracts]]
id = "c2"
buyer = "b1"
offer = "auto-excl"
price = "10.00"
repeat = { after_days = 90, price = { fixed = "4.00" } }

[[contracts]]
id = "c3"
buyer = "b1"
offer = "auto-excl"
price = "10.00"
dedup = { enabled = false }
repeat = { after_days = 7, price = { percent = "140.00" } }

[[contracts]]
id = "c4"
buyer = "b1"
offer = "auto-excl"
price = "10.00"
repeat = { price = { fixed = "1.00" } }
"#,
        );
        let expected = [
            "field \"repeat_after_days\": must be shorter than dedup_window_days (30 days), got 30",
            "id \"c2\", field \"repeat.after_days\": must be shorter than dedup.window_days (30 days), got 90",
            "id \"c3\", field \"repeat\": needs the contract's dedup enabled",
            "id \"c3\", field \"repeat.price.percent\": must be at most 100.00",
            "id \"c4\", field \"repeat.after_days\": is required",
        ];
        for want in expected {
            assert!(errors.iter().any(|e| e.contains(want)), "expected {want:?} in {errors:#?}");
        }
    }

    /// Loads GOOD plus `extra` and returns the error lines.
    fn errors_with(extra: &str) -> Vec<String> {
        match load_files(&[file("good.toml", GOOD), file("extra.toml", extra)]) {
            Ok(_) => vec![],
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    fn check(extra: &str, expected: &[&str]) {
        let got = errors_with(extra);
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(g.contains(e), "expected {e:?} in {g:?}");
        }
    }

    #[test]
    fn a_valid_config_loads_with_defaults() {
        let config = load_files(&[file("good.toml", GOOD)]).unwrap();
        let c = &config.contracts[&crate::ids::ContractId::new("c1")];
        assert_eq!(c.dedup.window.days(), 90);
        assert_eq!(config.offers[&crate::ids::OfferId::new("auto-excl")].ping_ttl_s, 300);
        assert_eq!(config.contracts_of(&crate::ids::OfferId::new("auto-excl")).len(), 1);
    }

    #[test]
    fn a_partners_post_bounds_are_the_most_any_of_its_offers_needs() {
        let more = r#"
[[offers]]
id = "auto-slow"
vertical = "auto"
mode = "exclusive"
ping_ttl_s = 900

[[offers]]
id = "not-p1s"
vertical = "auto"
mode = "exclusive"
ping_ttl_s = 3600

[[partners]]
id = "p2"
name = "Other"
api_key_sha256 = "9c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"
offers = ["not-p1s"]

[[buyers]]
id = "b2"
name = "Buyer Two"
post_url = "http://127.0.0.1:9001/b2/post"
timeout_ms = 700

[[contracts]]
id = "c2"
buyer = "b2"
offer = "auto-excl"
price = "1.00"

[[contracts]]
id = "c3"
buyer = "b1"
offer = "not-p1s"
price = "1.00"

[[contracts]]
id = "c4"
buyer = "b2"
offer = "not-p1s"
price = "1.00"

[[contracts]]
id = "c5"
buyer = "b1"
offer = "not-p1s"
price = "1.00"
"#;
        let p1 = GOOD.replace("offers = [\"auto-excl\"]", "offers = [\"auto-excl\", \"auto-slow\"]");
        let config = load_files(&[file("good.toml", &p1), file("more.toml", more)]).unwrap();
        let b1 = i64::from(config.buyers[&crate::ids::BuyerId::new("b1")].timeout_ms);
        // p1: auto-excl's c1 (b1) and c2 (b2, 700 ms); auto-slow has no contract but the
        // longer ping TTL. p2's offer is not p1's.
        let p1_bounds = config.post_bounds(&PartnerId::new("p1"));
        assert_eq!(p1_bounds, PostBounds { delivery_ms: b1 + 700, ping_ttl_s: 900 });
        let p2_bounds = config.post_bounds(&PartnerId::new("p2"));
        assert_eq!(p2_bounds, PostBounds { delivery_ms: 2 * b1 + 700, ping_ttl_s: 3600 });
        assert_eq!(config.post_bounds(&PartnerId::new("nobody")), PostBounds::default());
    }

    #[test]
    fn errors_name_file_line_table_id_and_field() {
        check(
            "\n[[contracts]]\nid = \"c2\"\nbuyer = \"nobody\"\noffer = \"auto-excl\"\nprice = \"1.00\"\n",
            &["extra.toml:2: [[contracts]] id \"c2\", field \"buyer\": unknown buyer \"nobody\""],
        );
    }

    #[test]
    fn every_bad_field_is_reported() {
        check(
            r#"
[[contracts]]
id = "c2"
buyer = "b1"
offer = "auto-excl"
price = "-1.00"
dedup = { window_days = 0 }
caps = { time_zone = "Mars/Olympus", daily = -1 }

[[contracts]]
id = "c3"
buyer = "b1"
offer = "auto-excl"
price = "2.00"
dq = { url = "http://127.0.0.1:9001/dq", window_days = 366 }
"#,
            &[
                "field \"price\": must not be negative",
                "field \"caps.daily\"",
                "field \"caps.time_zone\": unknown time zone",
                "field \"dedup.window_days\": must be a whole number of days in 1..=365, got 0",
                "id \"c3\", field \"dq.window_days\": must be a whole number of days in 1..=365, got 366",
            ],
        );
    }

    #[test]
    fn duplicate_ids_across_files_are_refused() {
        check(
            "[[buyers]]\nid = \"b1\"\npost_url = \"http://127.0.0.1:9/x\"\n",
            &["extra.toml:1: [[buyers]] id \"b1\", field \"id\": duplicate id, first defined at good.toml:18"],
        );
    }

    #[test]
    fn unknown_vertical_and_offer_references_are_refused() {
        check(
            "[[offers]]\nid = \"o2\"\nvertical = \"solar\"\n\n[[partners]]\nid = \"p2\"\napi_key_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\noffers = [\"nope\"]\n",
            &["[[offers]] id \"o2\", field \"vertical\": unknown vertical \"solar\"", "field \"offers[0]\": unknown offer \"nope\""],
        );
    }

    #[test]
    fn a_partner_key_given_both_ways_must_agree() {
        check(
            "[[partners]]\nid = \"p2\"\napi_key = \"a-long-enough-partner-key\"\napi_key_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
            &["[[partners]] id \"p2\", field \"api_key_sha256\": does not match the SHA-256 of api_key"],
        );
    }

    #[test]
    fn a_partner_is_live_unless_put_in_test_mode() {
        let config = load_files(&[file("good.toml", GOOD)]).unwrap();
        assert_eq!(config.partners[&PartnerId::new("p1")].mode, crate::config::PartnerMode::Live);
        let test = "[[partners]]\nid = \"p2\"\napi_key = \"a-long-enough-partner-key\"\nmode = \"test\"\n";
        let config = load_files(&[file("good.toml", GOOD), file("extra.toml", test)]).unwrap();
        assert_eq!(config.partners[&PartnerId::new("p2")].mode, crate::config::PartnerMode::Test);
        check(
            &test.replace("\"test\"", "\"sandbox\""),
            &["[[partners]] id \"p2\", field \"mode\": must be \"live\" or \"test\", got \"sandbox\""],
        );
    }

    #[test]
    fn syntax_and_unknown_fields_are_reported_with_lines() {
        check("[[verticals]]\nid = \"x\"\nwindow = 3\n", &["extra.toml:3: unknown field `window`"]);
        check("this is not toml", &["extra.toml:1"]);
    }
}
