//! Raw shapes → domain types. Every problem is collected (not just the first) and named by
//! file, line, table, id and field, so an operator fixes a config in one pass.

use super::raw::*;
use super::*;
use crate::adapter::{BuyerCalls, CompiledBuyer};
use crate::filter::FieldFilter;
use crate::margin::{Disclosure, Margin};
use crate::repeat::{RepeatPrice, RepeatTerms};
use crate::schedule::parse_weekday;
use chrono::NaiveTime;
use chrono_tz::Tz;
use std::collections::HashSet;
use std::fmt;

/// Where a raw resource came from, for error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Located<T> {
    pub origin: Origin,
    pub value: T,
}

/// Every resource of a configuration before validation.
#[derive(Clone, Debug, Default)]
pub struct RawConfig {
    pub verticals: Vec<Located<RawVertical>>,
    pub offers: Vec<Located<RawOffer>>,
    pub partners: Vec<Located<RawPartner>>,
    pub buyers: Vec<Located<RawBuyer>>,
    pub contracts: Vec<Located<RawContract>>,
    pub return_reasons: Vec<Located<RawReturnReason>>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub origin: Origin,
    /// `verticals`, `offers`, `partners`, `buyers` or `contracts`; empty for file-level errors.
    pub table: &'static str,
    pub id: String,
    /// Dotted path of the field, e.g. `dedup.window_days`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin.file)?;
        if let Some(line) = self.origin.line {
            write!(f, ":{line}")?;
        }
        if !self.table.is_empty() {
            write!(f, ": [[{}]] id {:?}", self.table, self.id)?;
        }
        if !self.field.is_empty() {
            write!(f, ", field {:?}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collects the errors of one resource with its context.
pub(super) struct Errors<'a> {
    origin: &'a Origin,
    table: &'static str,
    id: &'a str,
    out: &'a mut Vec<ConfigError>,
}

impl Errors<'_> {
    pub(super) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.out.push(ConfigError {
            origin: self.origin.clone(),
            table: self.table,
            id: self.id.to_string(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn window(&mut self, field: &str, days: Option<i64>, default: i64) -> WindowDays {
        WindowDays::new(days.unwrap_or(default)).unwrap_or_else(|e| {
            self.push(field, e.to_string());
            WindowDays::MAX
        })
    }

    /// A repeat's threshold: a window of days, shorter than the window `than` (the field
    /// `than_field`) it opens early.
    fn shorter_window(&mut self, field: &str, days: i64, than: WindowDays, than_field: &str) -> WindowDays {
        let w = self.window(field, Some(days), days);
        if w >= than {
            self.push(field, format!("must be shorter than {than_field} ({} days), got {days}", than.days()));
        }
        w
    }

    fn repeat(&mut self, r: Option<&RawRepeat>, dedup: &DedupSettings) -> Option<RepeatTerms> {
        let r = r?;
        if !dedup.enabled {
            self.push("repeat", "needs the contract's dedup enabled: a repeat is a consumer its window would drop");
        }
        let Some(days) = r.after_days else {
            self.push("repeat.after_days", "is required");
            return None;
        };
        let after = self.shorter_window("repeat.after_days", days, dedup.window, "dedup.window_days");
        let price = match self.margin("repeat.price", r.price.as_ref()) {
            Some(Margin::Percent(hundredths)) => RepeatPrice::Percent(hundredths),
            Some(Margin::Fixed(amount)) => RepeatPrice::Fixed(amount),
            None if r.price.is_none() => {
                self.push("repeat.price", "is required: {\"percent\": \"40.00\"} or {\"fixed\": \"4.00\"}");
                return None;
            }
            None => return None,
        };
        Some(RepeatTerms { after, price })
    }

    fn money(&mut self, field: &str, text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|e| {
            self.push(field, e.to_string());
            Money::ZERO
        })
    }

    fn margin(&mut self, field: &str, raw: Option<&RawMargin>) -> Option<Margin> {
        let raw = raw?;
        match (&raw.percent, &raw.fixed) {
            (Some(p), None) => {
                Margin::parse_percent(p).map_err(|e| self.push(&format!("{field}.percent"), e.to_string())).ok()
            }
            (None, Some(f)) => Some(Margin::Fixed(self.money(&format!("{field}.fixed"), f))),
            _ => {
                self.push(field, "give exactly one of percent or fixed");
                None
            }
        }
    }

    /// An API key given as plaintext (hashed here) or as its SHA-256; both must agree.
    fn api_key(&mut self, plain: Option<&str>, hashed: Option<&str>) -> Option<Sha256Hex> {
        let from_plain = plain.map(|k| {
            if k.len() < 16 {
                self.push("api_key", "must be at least 16 characters");
            }
            Sha256Hex::digest(k)
        });
        let from_hash = hashed.map(|h| {
            Sha256Hex::parse(h).unwrap_or_else(|| {
                self.push("api_key_sha256", "must be 64 hexadecimal characters");
                Sha256Hex::digest("")
            })
        });
        if let (Some(p), Some(h)) = (&from_plain, &from_hash) {
            if p != h {
                self.push("api_key_sha256", "does not match the SHA-256 of api_key; give one of them");
            }
        }
        from_plain.or(from_hash)
    }

    fn returns(&mut self, field: &str, r: Option<&RawReturns>) -> ReturnOverride {
        let Some(r) = r else { return ReturnOverride::default() };
        let window = r.window_days.map(|d| self.window(&format!("{field}.window_days"), Some(d), 7));
        let max_rate = r.max_rate_percent.as_deref().and_then(|p| match Margin::parse_percent(p) {
            Ok(Margin::Percent(hundredths)) => Some(hundredths),
            Ok(Margin::Fixed(_)) => None,
            Err(e) => {
                self.push(&format!("{field}.max_rate_percent"), e.to_string());
                None
            }
        });
        ReturnOverride { window, max_rate, auto_approve: r.auto_approve }
    }

    fn millis(&mut self, field: &str, value: Option<i64>, default: u32, max: u32) -> u32 {
        let v = value.unwrap_or(i64::from(default));
        if v < 1 || v > i64::from(max) {
            self.push(field, format!("must be in 1..={max} ms, got {v}"));
            return default;
        }
        v as u32
    }

    fn time_zone(&mut self, field: &str, name: Option<&str>) -> Tz {
        match name {
            None => Tz::UTC,
            Some(n) => n.parse().unwrap_or_else(|_| {
                self.push(field, format!("unknown time zone {n:?} (use an IANA name such as America/New_York)"));
                Tz::UTC
            }),
        }
    }

    fn url(&mut self, field: &str, url: &str) -> String {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            self.push(field, format!("must be an http:// or https:// URL, got {url:?}"));
        }
        url.to_string()
    }

    fn reference<K: Ord + std::borrow::Borrow<str>, V>(
        &mut self,
        field: &str,
        map: &BTreeMap<K, V>,
        id: &str,
        what: &str,
    ) {
        if !map.contains_key(id) {
            self.push(field, format!("unknown {what} {id:?}"));
        }
    }
}

/// Ids become parts of store keys, so they are restricted to a safe alphabet.
fn check_id(e: &mut Errors<'_>, id: &str) {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        e.push("id", "must be 1-64 characters of letters, digits, '-', '_' or '.'");
    }
}

fn vertical(e: &mut Errors<'_>, r: &RawVertical) -> Vertical {
    let (fields, unknown) = super::intake::fields(e, r);
    let dedup_window = e.window("dedup_window_days", r.dedup_window_days, 30);
    Vertical {
        id: VerticalId::new(&r.id),
        name: r.name.clone(),
        dedup_window,
        repeat_after: r
            .repeat_after_days
            .map(|d| e.shorter_window("repeat_after_days", d, dedup_window, "dedup_window_days")),
        fields,
        unknown,
    }
}

fn offer(e: &mut Errors<'_>, r: &RawOffer, verticals: &BTreeMap<VerticalId, Vertical>) -> Offer {
    e.reference("vertical", verticals, &r.vertical, "vertical");
    let mode = match r.mode.as_deref().unwrap_or("exclusive") {
        "exclusive" => SaleMode::Exclusive,
        "multisell" => SaleMode::Multisell,
        other => {
            e.push("mode", format!("must be \"exclusive\" or \"multisell\", got {other:?}"));
            SaleMode::Exclusive
        }
    };
    let max_buyers = match (mode, r.max_buyers) {
        (SaleMode::Exclusive, None | Some(1)) => 1,
        (SaleMode::Exclusive, Some(n)) => {
            e.push("max_buyers", format!("must be 1 for an exclusive offer, got {n}"));
            1
        }
        (SaleMode::Multisell, Some(n)) if (1..=50).contains(&n) => n as u16,
        (SaleMode::Multisell, n) => {
            e.push("max_buyers", format!("a multisell offer needs max_buyers in 1..=50, got {n:?}"));
            1
        }
    };
    let ttl = r.ping_ttl_s.unwrap_or(300);
    if !(1..=86_400).contains(&ttl) {
        e.push("ping_ttl_s", format!("must be in 1..=86400 s, got {ttl}"));
    }
    let disclosure = match r.disclosure.as_deref() {
        None => Disclosure::default(),
        Some(d) => Disclosure::parse(d).unwrap_or_else(|| {
            e.push("disclosure", format!("must be \"payout\", \"consent\" or \"full\", got {d:?}"));
            Disclosure::default()
        }),
    };
    Offer {
        id: OfferId::new(&r.id),
        name: r.name.clone(),
        vertical: VerticalId::new(&r.vertical),
        mode,
        max_buyers,
        ping_budget_ms: e.millis("ping_budget_ms", r.ping_budget_ms, 100, 10_000),
        ping_ttl_s: ttl.clamp(1, 86_400) as u32,
        margin: e.margin("margin", r.margin.as_ref()),
        disclosure,
        consent: super::intake::consent(e, r.consent.as_ref()),
        buyers: Arc::from(Vec::new()),
    }
}

fn partner(e: &mut Errors<'_>, r: &RawPartner, offers: &BTreeMap<OfferId, Offer>) -> Partner {
    for (i, o) in r.offers.iter().enumerate() {
        e.reference(&format!("offers[{i}]"), offers, o, "offer");
    }
    let key = e.api_key(r.api_key.as_deref(), r.api_key_sha256.as_deref());
    let key = key.unwrap_or_else(|| {
        e.push("api_key_sha256", "a partner needs api_key_sha256 (or api_key through the admin API)");
        Sha256Hex::digest("")
    });
    Partner {
        id: PartnerId::new(&r.id),
        name: r.name.clone(),
        api_key_digest: key.to_bytes(),
        api_key_sha256: key,
        offers: r.offers.iter().map(OfferId::new).collect(),
        margin: e.margin("margin", r.margin.as_ref()),
        min_payout: r.min_payout.as_deref().map(|m| e.money("min_payout", m)),
        field_aliases: super::intake::aliases(e, &r.field_aliases),
        mode: match r.mode.as_deref() {
            None | Some("live") => PartnerMode::Live,
            Some("test") => PartnerMode::Test,
            Some(other) => {
                e.push("mode", format!("must be \"live\" or \"test\", got {other:?}"));
                PartnerMode::Live
            }
        },
    }
}

fn rule(e: &mut Errors<'_>, field: &str, r: &RawRule) -> Option<ResponseRule> {
    match (&r.pointer, &r.equals, &r.http_status, &r.contains) {
        (Some(p), Some(v), None, None) => {
            if !p.is_empty() && !p.starts_with('/') {
                e.push(&format!("{field}.pointer"), "a JSON pointer starts with '/'");
            }
            Some(ResponseRule::Pointer { pointer: p.clone(), equals: v.clone() })
        }
        (None, None, Some(codes), None) => {
            let valid: Vec<u16> = codes.iter().filter(|c| (100..=599).contains(*c)).map(|c| *c as u16).collect();
            if valid.len() != codes.len() || valid.is_empty() {
                e.push(&format!("{field}.http_status"), "must list HTTP status codes in 100..=599");
            }
            Some(ResponseRule::HttpStatus(valid))
        }
        (None, None, None, Some(text)) if !text.is_empty() => Some(ResponseRule::Contains(text.clone())),
        _ => {
            e.push(field, "give exactly one of {pointer, equals}, {http_status} or {contains}");
            None
        }
    }
}

/// The names of the secrets a configuration's templates may use (`secret('name')`).
pub trait SecretNames {
    fn has(&self, name: &str) -> bool;
}

/// Any name: for checking files away from the engine (`pingpost check`), where the secrets
/// set through the API cannot be seen. A name set nowhere fails the call that renders it.
pub struct AnySecret;

impl SecretNames for AnySecret {
    fn has(&self, _: &str) -> bool {
        true
    }
}

impl<F: Fn(&str) -> bool> SecretNames for F {
    fn has(&self, name: &str) -> bool {
        self(name)
    }
}

fn buyer(e: &mut Errors<'_>, r: &RawBuyer, secrets: &dyn SecretNames) -> Buyer {
    let defaults = ResponseRules::default();
    let response = match &r.response {
        None => defaults,
        Some(raw) => ResponseRules {
            accepted: raw.accepted.as_ref().and_then(|x| rule(e, "response.accepted", x)).unwrap_or(defaults.accepted),
            duplicate: raw
                .duplicate
                .as_ref()
                .and_then(|x| rule(e, "response.duplicate", x))
                .unwrap_or(defaults.duplicate),
            price: raw.price.clone(),
        },
    };
    let calls = BuyerCalls { calls: r.calls.as_ref(), value_maps: &r.value_maps, response: &response };
    let adapter = match crate::adapter::compile(calls, &|name| secrets.has(name)) {
        Ok(compiled) => compiled,
        Err(errors) => {
            for err in errors {
                e.push(&err.field, err.message);
            }
            CompiledBuyer::pingpost(&response)
        }
    };
    let post_url = match &r.post_url {
        Some(url) => Some(e.url("post_url", url)),
        None if adapter.post().has_url() => None,
        None => {
            e.push("post_url", "is required unless calls.post.url gives the post call's URL");
            None
        }
    };
    let id = BuyerId::new(&r.id);
    let adapter = Arc::new(adapter);
    Buyer {
        balance_keys: crate::caps::BalanceKeys::new(&id),
        adapter: Arc::clone(&adapter),
        id,
        name: r.name.clone(),
        post_url,
        // The post call's own timeout, when it gives one, is the delivery's: reservations'
        // leases and the claim's are counted from it.
        timeout_ms: {
            let buyers = e.millis("timeout_ms", r.timeout_ms, 2000, 60_000);
            adapter.post().timeout_ms().unwrap_or(buyers)
        },
        balance: r.balance.as_deref().map(|b| e.money("balance", b)),
        response,
        legal_name: r.legal_name.as_ref().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        margin: e.margin("margin", r.margin.as_ref()),
        api_key_sha256: e.api_key(r.api_key.as_deref(), r.api_key_sha256.as_deref()),
        returns: e.returns("returns", r.returns.as_ref()).over(ReturnPolicy::default()),
    }
}

fn caps(e: &mut Errors<'_>, r: Option<&RawCaps>) -> Caps {
    let Some(r) = r else { return Caps::default() };
    let mut count = |field: &str, v: Option<i64>| {
        v.and_then(|n| {
            u32::try_from(n).ok().or_else(|| {
                e.push(&format!("caps.{field}"), format!("must be a count of 0 or more, got {n}"));
                None
            })
        })
    };
    let hourly = count("hourly", r.hourly);
    let daily = count("daily", r.daily);
    let weekly = count("weekly", r.weekly);
    let monthly = count("monthly", r.monthly);
    Caps {
        hourly,
        daily,
        weekly,
        monthly,
        daily_spend: r.daily_spend.as_deref().map(|s| e.money("caps.daily_spend", s)),
        time_zone: e.time_zone("caps.time_zone", r.time_zone.as_deref()),
    }
}

fn schedule(e: &mut Errors<'_>, r: &RawSchedule) -> Schedule {
    let mut time = |field: &str, text: &str| {
        NaiveTime::parse_from_str(text, "%H:%M").unwrap_or_else(|_| {
            e.push(&format!("schedule.{field}"), format!("must be HH:MM, got {text:?}"));
            NaiveTime::MIN
        })
    };
    let start = time("start", &r.start);
    let end = if r.end == "24:00" {
        NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)
    } else {
        time("end", &r.end)
    };
    if start >= end {
        e.push("schedule.end", "must be after schedule.start (use two contracts for overnight hours)");
    }
    let mut days = Vec::new();
    for (i, d) in r.days.iter().enumerate() {
        match parse_weekday(d) {
            Some(w) => days.push(w),
            None => e.push(&format!("schedule.days[{i}]"), format!("unknown day {d:?} (mon..sun)")),
        }
    }
    if r.days.is_empty() {
        e.push("schedule.days", "must list at least one day");
    }
    Schedule { time_zone: e.time_zone("schedule.time_zone", r.time_zone.as_deref()), days, start, end }
}

/// A contract bids in real time when it names a `bid_url`, or when its buyer describes a bid
/// call with a URL of its own (its `price`, if any, is then what it is ranked at until its
/// bid is in); otherwise its price is fixed.
fn pricing(e: &mut Errors<'_>, r: &RawContract, buyer: Option<&Buyer>) -> Pricing {
    let price = r.price.as_deref().map(|p| e.money("price", p));
    let buyer_bids = buyer.is_some_and(|b| b.adapter.bid().has_url());
    match &r.bid_url {
        None if !buyer_bids => {
            if r.bid_floor.is_some() || r.bid_ceiling.is_some() {
                e.push("bid_url", "bid_floor and bid_ceiling need a bid_url");
            }
            Pricing::Fixed(price.unwrap_or_else(|| {
                e.push("price", "a contract needs a price or a bid_url");
                Money::ZERO
            }))
        }
        url => {
            let floor = r.bid_floor.as_deref().map(|p| e.money("bid_floor", p));
            let ceiling = r.bid_ceiling.as_deref().map(|p| e.money("bid_ceiling", p));
            if let (Some(f), Some(c)) = (floor, ceiling) {
                if f > c {
                    e.push("bid_ceiling", "must not be below bid_floor");
                }
            }
            Pricing::RealTime {
                url: url.as_ref().map(|u| e.url("bid_url", u)),
                timeout_ms: e.millis("bid_timeout_ms", r.bid_timeout_ms, 80, 10_000),
                floor,
                ceiling,
                expected: price.or(floor).unwrap_or(Money::ZERO),
            }
        }
    }
}

fn contract(
    e: &mut Errors<'_>,
    r: &RawContract,
    offers: &BTreeMap<OfferId, Offer>,
    buyers: &BTreeMap<BuyerId, Arc<Buyer>>,
) -> Contract {
    e.reference("buyer", buyers, &r.buyer, "buyer");
    e.reference("offer", offers, &r.offer, "offer");
    let status = match r.status.as_deref().unwrap_or("active") {
        "active" => ContractStatus::Active,
        "paused" => ContractStatus::Paused,
        other => {
            e.push("status", format!("must be \"active\" or \"paused\", got {other:?}"));
            ContractStatus::Paused
        }
    };
    let dedup = r.dedup.clone().unwrap_or_default();
    let filters: Filters =
        r.filters.iter().filter(|(_, f)| !f.is_empty()).map(|(k, f)| (k.clone(), f.clone())).collect();
    for (name, f) in &r.filters {
        if f.min.zip(f.max).is_some_and(|(min, max)| min > max) {
            e.push(&format!("filters.{name}.max"), "must not be below min");
        }
        if *f == FieldFilter::default() {
            e.push(&format!("filters.{name}"), "a filter needs equals, in, not_in, min, max or prefix");
        }
    }
    let id = ContractId::new(&r.id);
    let buyer = BuyerId::new(&r.buyer);
    // In the fields' order, so errors are reported as they appear.
    let pricing = pricing(e, r, buyers.get(r.buyer.as_str()).map(|b| &**b));
    let caps = caps(e, r.caps.as_ref());
    let schedule = r.schedule.as_ref().map(|s| schedule(e, s));
    let dedup_settings = DedupSettings {
        enabled: dedup.enabled.unwrap_or(true),
        window: e.window("dedup.window_days", dedup.window_days, 30),
    };
    let repeat = e.repeat(r.repeat.as_ref(), &dedup_settings);
    Contract {
        counter_keys: crate::caps::CounterKeys::new(&buyer, &id),
        id,
        buyer,
        offer: OfferId::new(&r.offer),
        status,
        pricing,
        filters,
        caps,
        schedule,
        dedup: dedup_settings,
        dq: r.dq.as_ref().map(|d| DqSettings {
            url: match &d.url {
                Some(url) => Some(e.url("dq.url", url)),
                None if buyers.get(r.buyer.as_str()).is_some_and(|b| b.adapter.dq().has_url()) => None,
                None => {
                    e.push("dq.url", "is required unless the buyer's calls.dq.url gives the DQ call's URL");
                    None
                }
            },
            window: e.window("dq.window_days", d.window_days, 30),
            timeout_ms: e.millis("dq.timeout_ms", d.timeout_ms, 80, 10_000),
        }),
        returns: e.returns("returns", r.returns.as_ref()),
        repeat,
    }
}

/// A raw resource with an id.
trait Identified {
    fn id(&self) -> &str;
}

macro_rules! identified {
    ($($t:ty),*) => {$(
        impl Identified for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    )*};
}

identified!(RawVertical, RawOffer, RawPartner, RawBuyer, RawContract, RawReturnReason);

fn return_reason(_: &mut Errors<'_>, r: &RawReturnReason) -> ReturnReason {
    ReturnReason { id: r.id.clone(), name: r.name.clone(), claw_back: r.claw_back.unwrap_or(true) }
}

/// Validates one table: ids unique and well-formed, then each entry.
fn table<R: Identified, T, K: Ord>(
    name: &'static str,
    entries: &[Located<R>],
    key_of: impl Fn(&str) -> K,
    mut build: impl FnMut(&mut Errors<'_>, &R) -> T,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<K, T> {
    let mut seen: HashMap<String, Origin> = HashMap::new();
    let mut out = BTreeMap::new();
    for entry in entries {
        let id = entry.value.id();
        let mut e = Errors { origin: &entry.origin, table: name, id, out: errors };
        check_id(&mut e, id);
        if let Some(first) = seen.get(id) {
            let at = match first.line {
                Some(l) => format!("{}:{l}", first.file),
                None => first.file.clone(),
            };
            e.push("id", format!("duplicate id, first defined at {at}"));
            continue;
        }
        seen.insert(id.to_string(), entry.origin.clone());
        let value = build(&mut e, &entry.value);
        out.insert(key_of(id), value);
    }
    out
}

/// Validates a whole configuration: every field, every id, every reference; a buyer's calls
/// are compiled, their templates naming only secrets `secrets` has.
pub fn validate(raw: &RawConfig, secrets: &dyn SecretNames) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let verticals = table("verticals", &raw.verticals, |s: &str| VerticalId::new(s), vertical, &mut errors);
    let offers = table("offers", &raw.offers, |s: &str| OfferId::new(s), |e, r| offer(e, r, &verticals), &mut errors);
    let partners =
        table("partners", &raw.partners, |s: &str| PartnerId::new(s), |e, r| partner(e, r, &offers), &mut errors);
    let buyers =
        table("buyers", &raw.buyers, |s: &str| BuyerId::new(s), |e, r| Arc::new(buyer(e, r, secrets)), &mut errors);
    let contracts = table(
        "contracts",
        &raw.contracts,
        |s: &str| ContractId::new(s),
        |e, r| Arc::new(contract(e, r, &offers, &buyers)),
        &mut errors,
    );
    let mut return_reasons =
        table("return_reasons", &raw.return_reasons, |s: &str| s.to_string(), return_reason, &mut errors);
    if raw.return_reasons.is_empty() {
        return_reasons = DEFAULT_RETURN_REASONS
            .iter()
            .map(|id| {
                (id.to_string(), ReturnReason { id: id.to_string(), name: id.replace('_', " "), claw_back: true })
            })
            .collect();
    }
    // A key must identify exactly one partner or buyer, or one could act as another (and a
    // buyer's key must never open the partners' API, nor a partner's the buyers').
    let mut keys = HashSet::new();
    for entry in &raw.partners {
        let Some(p) = partners.get(entry.value.id.as_str()) else { continue };
        if !keys.insert(p.api_key_sha256.clone()) {
            let mut e = Errors { origin: &entry.origin, table: "partners", id: &entry.value.id, out: &mut errors };
            e.push("api_key_sha256", "another partner has the same key");
        }
    }
    for entry in &raw.buyers {
        let Some(key) = buyers.get(entry.value.id.as_str()).and_then(|b| b.api_key_sha256.clone()) else { continue };
        if !keys.insert(key) {
            let mut e = Errors { origin: &entry.origin, table: "buyers", id: &entry.value.id, out: &mut errors };
            e.push("api_key_sha256", "another buyer or a partner has the same key");
        }
    }
    if errors.is_empty() {
        Ok(Config { verticals, offers, partners, buyers, contracts, return_reasons, ..Config::default() }.indexed())
    } else {
        Err(errors)
    }
}
