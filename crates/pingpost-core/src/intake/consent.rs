//! The consent and source fields every vertical has built in, their formats, and what an
//! offer requires of them. Their names are fixed (a vertical cannot redeclare them) so that
//! every buyer template and every partner reads them the same way on every offer.

use super::schema::FieldType;
use super::types::{self, is_web_url};
use super::Stage;
use serde_json::{json, Value};

/// One built-in consent or source field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsentField {
    TrustedformCertUrl,
    JornayaLeadid,
    TcpaOptin,
    TcpaText,
    IpAddress,
    UserAgent,
    LandingPageUrl,
}

const TCPA_TEXT: FieldType = FieldType::Text { min_length: None, max_length: Some(5_000) };
const TEXT: FieldType = FieldType::Text { min_length: None, max_length: None };

impl ConsentField {
    /// In the order the partners' docs list them.
    pub const ALL: [ConsentField; 7] = [
        ConsentField::TrustedformCertUrl,
        ConsentField::JornayaLeadid,
        ConsentField::TcpaOptin,
        ConsentField::TcpaText,
        ConsentField::IpAddress,
        ConsentField::UserAgent,
        ConsentField::LandingPageUrl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConsentField::TrustedformCertUrl => "trustedform_cert_url",
            ConsentField::JornayaLeadid => "jornaya_leadid",
            ConsentField::TcpaOptin => "tcpa_optin",
            ConsentField::TcpaText => "tcpa_text",
            ConsentField::IpAddress => "ip_address",
            ConsentField::UserAgent => "user_agent",
            ConsentField::LandingPageUrl => "landing_page_url",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field type it reads closest to, for the docs' type column.
    pub fn type_name(self) -> &'static str {
        match self {
            ConsentField::TrustedformCertUrl | ConsentField::LandingPageUrl => "url",
            ConsentField::JornayaLeadid | ConsentField::TcpaText | ConsentField::UserAgent => "text",
            ConsentField::TcpaOptin => "boolean",
            ConsentField::IpAddress => "ip",
        }
    }

    /// One line for partners: what it holds and in which format.
    pub fn description(self) -> &'static str {
        match self {
            ConsentField::TrustedformCertUrl => {
                "TrustedForm certificate URL (https://cert.trustedform.com/ and 40 hex characters) or TrustedForm ping URL (https://ping.trustedform.com/…)"
            }
            ConsentField::JornayaLeadid => "Jornaya LeadiD token: 36 characters of hex digits and dashes",
            ConsentField::TcpaOptin => "Whether the consumer agreed to be contacted (TCPA consent): true or false",
            ConsentField::TcpaText => "The consent wording the consumer agreed to, up to 5 000 characters",
            ConsentField::IpAddress => "The consumer's IP address (IPv4 or IPv6)",
            ConsentField::UserAgent => "The consumer's browser user agent",
            ConsentField::LandingPageUrl => "The http(s) URL of the page where the consumer filled in the form",
        }
    }

    /// `value` (present) checked by this field's format, in its kept form.
    pub fn read(self, value: &Value) -> Result<Value, String> {
        match self {
            ConsentField::TrustedformCertUrl => trustedform(value).map(|(kept, _)| kept),
            ConsentField::JornayaLeadid => leadid(value),
            ConsentField::TcpaOptin => types::read(&FieldType::Boolean, value),
            ConsentField::TcpaText => types::read(&TCPA_TEXT, value),
            ConsentField::IpAddress => types::read(&FieldType::Ip, value),
            ConsentField::UserAgent => types::read(&TEXT, value),
            ConsentField::LandingPageUrl => types::read(&FieldType::Url, value),
        }
    }

    /// [`ConsentField::read`] for a lead on `stage`. A TrustedForm certificate URL is
    /// refused on a ping: within its claim period anyone holding it sees the certificate,
    /// the consumer's contact details included, and a ping goes to every bidder. TrustedForm
    /// makes ping URLs for exactly this; the certificate URL goes on the post.
    pub fn read_on(self, stage: Stage, value: &Value) -> Result<Value, String> {
        match (self, stage) {
            (ConsentField::TrustedformCertUrl, Stage::Ping) => match trustedform(value)? {
                (_, TrustedForm::Certificate) => Err(format!(
                    "is a TrustedForm certificate URL, which shows the consumer's details to every bidder: send its ping URL ({PING_PREFIX}…) on the ping and the certificate URL on the post"
                )),
                (kept, TrustedForm::Ping) => Ok(kept),
            },
            _ => self.read(value),
        }
    }

    /// A value that passes [`ConsentField::read_on`] on both stages, for the docs' example ping and post.
    pub fn example(self) -> Value {
        match self {
            ConsentField::TrustedformCertUrl => {
                json!("https://ping.trustedform.com/0123456789abcdef0123456789abcdef01234567")
            }
            ConsentField::JornayaLeadid => json!("01234567-89AB-CDEF-0123-456789ABCDEF"),
            ConsentField::TcpaOptin => json!(true),
            ConsentField::TcpaText => json!("By clicking Submit I agree to be contacted about my quote."),
            ConsentField::IpAddress => json!("203.0.113.7"),
            ConsentField::UserAgent => json!("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            ConsentField::LandingPageUrl => json!("https://example.com/quote"),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

const CERT_PREFIX: &str = "https://cert.trustedform.com/";
const PING_PREFIX: &str = "https://ping.trustedform.com/";

/// Which of TrustedForm's two URLs a `trustedform_cert_url` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TrustedForm {
    Certificate,
    Ping,
}

/// A certificate URL is the prefix and the certificate's 40 hex characters, nothing else;
/// a ping URL (what a seller gives bidders instead, proving a certificate exists without
/// showing it) is the ping host and a path of its own making. Kept as sent.
fn trustedform(value: &Value) -> Result<(Value, TrustedForm), String> {
    let t = match value {
        Value::String(s) => s.trim(),
        _ => "",
    };
    let starts = |prefix: &str| {
        t.len() > prefix.len() && t.is_char_boundary(prefix.len()) && t[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let cert = starts(CERT_PREFIX) && {
        let id = &t[CERT_PREFIX.len()..];
        id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let ping = starts(PING_PREFIX) && is_web_url(t);
    if cert {
        Ok((Value::String(t.to_string()), TrustedForm::Certificate))
    } else if ping {
        Ok((Value::String(t.to_string()), TrustedForm::Ping))
    } else {
        Err(format!(
            "must be a TrustedForm certificate URL ({CERT_PREFIX} and 40 hex characters) or ping URL ({PING_PREFIX}…)"
        ))
    }
}

/// 36 characters of hex digits and dashes (a LeadiD token is a UUID in upper case); kept
/// as sent, since the token is what Jornaya looks up.
fn leadid(value: &Value) -> Result<Value, String> {
    let t = match value {
        Value::String(s) => s.trim(),
        _ => "",
    };
    if t.len() == 36 && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(Value::String(t.to_string()))
    } else {
        Err("must be a Jornaya LeadiD token: 36 characters of hex digits and dashes".to_string())
    }
}

/// A set of consent fields, as bits: copied, compared and iterated without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConsentSet(u8);

impl ConsentSet {
    pub const EMPTY: ConsentSet = ConsentSet(0);

    pub fn with(self, field: ConsentField) -> Self {
        ConsentSet(self.0 | field.bit())
    }

    pub fn contains(self, field: ConsentField) -> bool {
        self.0 & field.bit() != 0
    }

    pub fn union(self, other: ConsentSet) -> Self {
        ConsentSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// In [`ConsentField::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = ConsentField> {
        ConsentField::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<ConsentField> for ConsentSet {
    fn from_iter<I: IntoIterator<Item = ConsentField>>(iter: I) -> Self {
        iter.into_iter().fold(ConsentSet::EMPTY, ConsentSet::with)
    }
}

/// What an offer requires: `ping`'s fields on the ping (and so on the post), `post`'s on
/// the post. A required `tcpa_optin` must also be true.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Consent {
    ping: ConsentSet,
    post: ConsentSet,
}

impl Consent {
    pub fn new(ping: ConsentSet, post: ConsentSet) -> Self {
        Consent { ping, post }
    }

    /// Every field `stage` requires: the ping's, and on the post the post's too.
    pub fn required_on(self, stage: Stage) -> ConsentSet {
        match stage {
            Stage::Ping => self.ping,
            Stage::Post => self.ping.union(self.post),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads each input as `field`: `Ok(kept)` or `Err(part of the message)`.
    fn check(field: ConsentField, table: &[(Value, Result<Value, &str>)]) {
        for (input, expected) in table {
            let got = field.read(input);
            match (expected, &got) {
                (Ok(kept), Ok(value)) => assert_eq!(value, kept, "{} {input}", field.name()),
                (Err(part), Err(message)) => assert!(message.contains(part), "{} {input}: {message}", field.name()),
                _ => panic!("{} {input}: expected {expected:?}, got {got:?}", field.name()),
            }
        }
    }

    #[test]
    fn trustedform_certificate_and_ping_urls() {
        let cert = "https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c";
        let ping = "https://ping.trustedform.com/0.2.0/ping?pt=AbC123";
        check(
            ConsentField::TrustedformCertUrl,
            &[
                (json!(cert), Ok(json!(cert))),
                (json!(format!(" {cert} ")), Ok(json!(cert))),
                (json!(ping), Ok(json!(ping))),
                (json!("https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886"), Err("40 hex")),
                (json!("https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886z"), Err("40 hex")),
                (json!("http://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c"), Err("40 hex")),
                (
                    json!("https://cert.trustedform.com.evil.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c"),
                    Err("40 hex"),
                ),
                (json!("https://ping.trustedform.com/"), Err("ping URL")),
                (json!("https://ping.trustedform.com/a b"), Err("ping URL")),
                (json!(true), Err("certificate URL")),
            ],
        );
    }

    #[test]
    fn a_trustedform_certificate_url_stays_off_the_ping() {
        let cert = json!("https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c");
        let ping = json!("https://ping.trustedform.com/abc");
        let field = ConsentField::TrustedformCertUrl;
        assert!(field.read_on(Stage::Ping, &cert).is_err_and(|m| m.contains("send its ping URL")));
        assert_eq!(field.read_on(Stage::Post, &cert), Ok(cert));
        assert_eq!(field.read_on(Stage::Ping, &ping), Ok(ping.clone()));
        assert_eq!(field.read_on(Stage::Post, &ping), Ok(ping));
        assert!(field.read_on(Stage::Ping, &json!("x")).is_err_and(|m| m.contains("40 hex")));
    }

    #[test]
    fn jornaya_leadid_is_36_hex_digits_and_dashes() {
        check(
            ConsentField::JornayaLeadid,
            &[
                (json!("01234567-89AB-CDEF-0123-456789ABCDEF"), Ok(json!("01234567-89AB-CDEF-0123-456789ABCDEF"))),
                (json!("01234567-89ab-cdef-0123-456789abcdef"), Ok(json!("01234567-89ab-cdef-0123-456789abcdef"))),
                (json!("01234567-89AB-CDEF-0123-456789ABCDE"), Err("36 characters")),
                (json!("01234567-89AB-CDEF-0123-456789ABCDEG"), Err("36 characters")),
                (json!(12), Err("36 characters")),
            ],
        );
    }

    #[test]
    fn the_other_consent_fields_read_as_their_types() {
        check(ConsentField::TcpaOptin, &[(json!("Yes"), Ok(json!(true))), (json!("x"), Err("true or false"))]);
        check(
            ConsentField::TcpaText,
            &[(json!("I agree"), Ok(json!("I agree"))), (json!("x".repeat(5_001)), Err("at most 5000 characters"))],
        );
        check(ConsentField::IpAddress, &[(json!("::1"), Ok(json!("::1"))), (json!("localhost"), Err("IPv4 or IPv6"))]);
        check(ConsentField::UserAgent, &[(json!("Mozilla/5.0"), Ok(json!("Mozilla/5.0")))]);
        check(
            ConsentField::LandingPageUrl,
            &[(json!("https://example.com/q"), Ok(json!("https://example.com/q"))), (json!("/q"), Err("absolute"))],
        );
    }

    #[test]
    fn names_round_trip_and_examples_pass_their_own_check() {
        for field in ConsentField::ALL {
            assert_eq!(ConsentField::from_name(field.name()), Some(field));
            for stage in [Stage::Ping, Stage::Post] {
                assert_eq!(field.read_on(stage, &field.example()), Ok(field.example()), "{}", field.name());
            }
            assert!(!field.description().is_empty());
        }
        assert_eq!(ConsentField::from_name("tcpa"), None);
    }

    #[test]
    fn the_post_requires_the_pings_consent_too() {
        let ping: ConsentSet = [ConsentField::JornayaLeadid].into_iter().collect();
        let post: ConsentSet = [ConsentField::TcpaOptin, ConsentField::TrustedformCertUrl].into_iter().collect();
        let consent = Consent::new(ping, post);
        assert_eq!(consent.required_on(Stage::Ping).iter().collect::<Vec<_>>(), [ConsentField::JornayaLeadid]);
        assert_eq!(
            consent.required_on(Stage::Post).iter().collect::<Vec<_>>(),
            [ConsentField::TrustedformCertUrl, ConsentField::JornayaLeadid, ConsentField::TcpaOptin]
        );
        assert!(Consent::default().required_on(Stage::Post).is_empty());
    }
}
