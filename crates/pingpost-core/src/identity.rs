//! Consumer identity: normalization and SHA-256 hashing of email and phone, done at the
//! edge so that plaintext never travels further than the request that carried it.
//!
//! Rules (also in the README, so partners can pre-hash):
//! - email: refuse bidirectional controls and other format characters, remove the invisible
//!   ones listed in [`chars`], trim, lower-case; must look like `local@domain.tld`.
//! - phone: keep the digits (fullwidth and Arabic-Indic ones as their ASCII digit, any other
//!   numeral refused); 10 digits get a leading `1` (North America); the result must be 11-15
//!   digits (E.164 without `+`).
//! - hash: SHA-256 of the normalized UTF-8 text, lower-case hex.

mod chars;

use chars::Unseen;
use sha2::{Digest, Sha256};
use std::fmt;

/// 64 lower-case hex characters: a SHA-256 digest. The invariant is checked on construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hex({})", &self.0)
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of the empty string: a partner that hashes an empty field sends this, and it
/// must never match anything.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lower-case hex of a digest. `hex::encode` collects the string one `char` at a time, which
/// cost ~1 500 instructions a digest, and a ping takes three (its key, email and phone);
/// writing the bytes at once costs a fifth of that.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    if hex::encode_to_slice(bytes, &mut text).is_err() {
        return hex::encode(bytes);
    }
    // Hex digits are ASCII: the fallback is never taken.
    match String::from_utf8(text) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

impl Sha256Hex {
    pub fn digest(text: &str) -> Self {
        Sha256Hex(lower_hex(&Sha256::digest(text.as_bytes())))
    }

    /// Accepts 64 hex characters in either case.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Sha256Hex(t.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest as bytes. Always 64 hex digits by construction; were it not, the answer
    /// would be all zeros, the digest of nothing anyone can send.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        if hex::decode_to_slice(&self.0, &mut bytes).is_err() {
            bytes = [0; 32];
        }
        bytes
    }

    /// Whether this is the SHA-256 of the empty string, which must never match anything.
    pub fn is_empty_digest(&self) -> bool {
        self.0 == EMPTY_SHA256
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Sha256Hex::parse(&text).ok_or_else(|| serde::de::Error::custom("must be 64 hexadecimal characters"))
    }
}

/// Which identifier matched, as the audit log reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentKind {
    Email,
    Phone,
}

impl IdentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentKind::Email => "email",
            IdentKind::Phone => "phone",
        }
    }
}

/// One hashed identifier of a consumer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    pub kind: IdentKind,
    pub hash: Sha256Hex,
}

/// A consumer's hashed identifiers; at least one is present (checked by [`Identity::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    email: Option<Sha256Hex>,
    phone: Option<Sha256Hex>,
}

/// A field that failed normalization; `field` is the request field to name in a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IdentityError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> IdentityError {
    IdentityError { field, message: message.into() }
}

pub fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    // Removing before trimming, so that whitespace next to a byte-order mark is still trimmed.
    let email = without_unseen(raw)?.trim().to_lowercase();
    let bad = || invalid("email", "is not an email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err(bad());
    }
    Ok(email)
}

/// The email with the invisible characters of [`chars::REMOVED`] taken out, or a refusal
/// naming the first bidirectional control or other format character in it.
fn without_unseen(raw: &str) -> Result<String, IdentityError> {
    let mut kept = String::with_capacity(raw.len());
    for c in raw.chars() {
        match chars::unseen(c) {
            None => kept.push(c),
            Some(Unseen::Removed) => {}
            Some(Unseen::Bidi) => {
                return Err(invalid(
                    "email",
                    format!(
                    "contains the bidirectional control {}, which changes the order in which the address is displayed",
                    code_point(c)
                ),
                ))
            }
            Some(Unseen::Other) => {
                return Err(invalid("email", format!("contains the invisible format character {}", code_point(c))))
            }
        }
    }
    Ok(kept)
}

fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

pub fn normalize_phone(raw: &str) -> Result<String, IdentityError> {
    let mut digits = String::with_capacity(raw.len());
    for c in raw.chars() {
        match chars::decimal_digit(c) {
            Some(d) => digits.push(d),
            // Dropped like punctuation, a digit of another script or a superscript would
            // silently turn the phone into another number.
            None if c.is_numeric() => {
                return Err(invalid(
                    "phone",
                    format!(
                        "contains {}, a numeral other than 0-9 in ASCII, fullwidth or Arabic-Indic digits",
                        code_point(c)
                    ),
                ))
            }
            // Punctuation, spaces, and invisible and bidirectional characters: none changes
            // which digits, in which order, the phone has.
            None => {}
        }
    }
    let e164 = if digits.len() == 10 { format!("1{digits}") } else { digits };
    if !(11..=15).contains(&e164.len()) {
        return Err(invalid("phone", "must have 10 digits (North America) or 11-15 digits with the country code"));
    }
    Ok(e164)
}

/// What a lead field other than `email`/`phone` holds when its name says it is an email or
/// a phone in plaintext (`Email`, `e-mail`, `email_address`, `phone_number`, `mobile`,
/// `cell`…). Only the exact names are identifiers, hashed at the edge; such a field would go
/// to every real-time bidder as it was sent, so the ping refuses it. A name is compared with
/// its letters and digits only, in lower case; a hash's name (ending in `sha256`, `md5` or
/// `hash`) is not plaintext.
pub fn plaintext_identifier_name(name: &str) -> Option<IdentKind> {
    const EMAILS: [&str; 10] = [
        "email",
        "emailaddress",
        "emailaddr",
        "mail",
        "emailid",
        "primaryemail",
        "workemail",
        "homeemail",
        "useremail",
        "contactemail",
    ];
    const PHONES: [&str; 22] = [
        "phone",
        "phonenumber",
        "phoneno",
        "phonenum",
        "telephone",
        "telephonenumber",
        "tel",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "mobileno",
        "cell",
        "cellphone",
        "cellnumber",
        "cellphonenumber",
        "homephone",
        "workphone",
        "primaryphone",
        "dayphone",
        "daytimephone",
        "eveningphone",
        "msisdn",
    ];
    let folded: String = name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    if EMAILS.contains(&folded.as_str()) {
        Some(IdentKind::Email)
    } else if PHONES.contains(&folded.as_str()) {
        Some(IdentKind::Phone)
    } else {
        None
    }
}

/// The identifier fields as a partner sent them, before normalization. Empty or blank
/// strings (whitespace and removed invisible characters only) count as absent so that an
/// empty field never matches every other lead.
#[derive(Clone, Debug, Default)]
pub struct RawIdentity<'a> {
    pub email: Option<&'a str>,
    pub email_sha256: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub phone_sha256: Option<&'a str>,
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| s.chars().any(|c| !c.is_whitespace() && chars::unseen(c) != Some(Unseen::Removed)))
}

fn one_hash(
    plain: Option<&str>,
    hashed: Option<&str>,
    plain_field: &'static str,
    hash_field: &'static str,
    normalize: fn(&str) -> Result<String, IdentityError>,
) -> Result<Option<Sha256Hex>, IdentityError> {
    let from_plain = present(plain).map(normalize).transpose()?.map(|n| Sha256Hex::digest(&n));
    let from_hash = present(hashed)
        .map(|h| Sha256Hex::parse(h).ok_or_else(|| invalid(hash_field, "must be 64 hexadecimal characters")))
        .transpose()?
        .filter(|h| !h.is_empty_digest());
    match (from_plain, from_hash) {
        (Some(p), Some(h)) if p != h => {
            Err(invalid(hash_field, format!("does not match the SHA-256 of the normalized {plain_field}")))
        }
        (p, h) => Ok(p.or(h)),
    }
}

impl Identity {
    pub fn new(email: Option<Sha256Hex>, phone: Option<Sha256Hex>) -> Result<Self, IdentityError> {
        if email.is_none() && phone.is_none() {
            return Err(invalid("email", "the lead needs an email or a phone (plain or sha256)"));
        }
        Ok(Identity { email, phone })
    }

    /// Normalizes and hashes what the partner sent.
    pub fn from_raw(raw: &RawIdentity<'_>) -> Result<Self, IdentityError> {
        let email = one_hash(raw.email, raw.email_sha256, "email", "email_sha256", normalize_email)?;
        let phone = one_hash(raw.phone, raw.phone_sha256, "phone", "phone_sha256", normalize_phone)?;
        Identity::new(email, phone)
    }

    pub fn email(&self) -> Option<&Sha256Hex> {
        self.email.as_ref()
    }

    pub fn phone(&self) -> Option<&Sha256Hex> {
        self.phone.as_ref()
    }

    /// The identifiers in a fixed order (email first): stores take them in this order so
    /// that two concurrent pings of one consumer contend on the same identifier first.
    pub fn idents(&self) -> Vec<Ident> {
        let email = self.email.iter().map(|h| Ident { kind: IdentKind::Email, hash: h.clone() });
        let phone = self.phone.iter().map(|h| Ident { kind: IdentKind::Phone, hash: h.clone() });
        email.chain(phone).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_plaintext_identifiers_are_recognised_whatever_their_spelling() {
        for name in ["Email", "EMAIL", "e-mail", "email_address", "E_Mail_Address", "primary email"] {
            assert_eq!(plaintext_identifier_name(name), Some(IdentKind::Email), "{name}");
        }
        for name in ["phone_number", "Phone", "mobile", "cell", "Cell-Phone", "TEL", "home_phone"] {
            assert_eq!(plaintext_identifier_name(name), Some(IdentKind::Phone), "{name}");
        }
        for name in ["email_sha256", "EMAIL_SHA256", "phone_md5", "state", "email_optin", "cellular_carrier", "zip"] {
            assert_eq!(plaintext_identifier_name(name), None, "{name}");
        }
    }

    fn email(raw: &str) -> Result<String, String> {
        normalize_email(raw).map_err(|e| e.to_string())
    }

    fn phone(raw: &str) -> Result<String, String> {
        normalize_phone(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(email("  Jane.Doe@Example.COM "), Ok("jane.doe@example.com".into()));
    }

    #[test]
    fn email_that_is_not_an_address_is_refused() {
        for bad in ["jane", "jane@", "@example.com", "jane@example", "a b@example.com", "a@@b.com", "a@b..com"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_keeps_digits_and_adds_north_american_prefix() {
        assert_eq!(phone("(555) 123-4567"), Ok("15551234567".into()));
        assert_eq!(phone("+1 555 123 4567"), Ok("15551234567".into()));
        assert_eq!(phone("+44 20 7946 0958"), Ok("442079460958".into()));
    }

    #[test]
    fn phone_with_wrong_length_is_refused() {
        for bad in ["123", "555-1234", "1234567890123456"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_lowercase_hex_sha256_of_normalized_text() {
        let id = Identity::from_raw(&RawIdentity { email: Some(" Jane@Example.com"), ..Default::default() }).unwrap();
        // printf 'jane@example.com' | sha256sum
        assert_eq!(id.email().unwrap().as_str(), "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d");
    }

    #[test]
    fn prehashed_identifiers_are_accepted_and_lowercased() {
        let upper = "8C87B489CE35CF2E2F39F80E282CB2E804932A56A213983EEEB428407D43B52D";
        let id = Identity::from_raw(&RawIdentity { email_sha256: Some(upper), ..Default::default() }).unwrap();
        assert_eq!(id.email().unwrap().as_str(), upper.to_ascii_lowercase());
    }

    #[test]
    fn empty_fields_count_as_absent() {
        let err = Identity::from_raw(&RawIdentity {
            email: Some("  "),
            phone: Some(""),
            email_sha256: Some(EMPTY_SHA256),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "email");
        let only_phone =
            Identity::from_raw(&RawIdentity { email: Some(""), phone: Some("5551234567"), ..Default::default() })
                .unwrap();
        assert!(only_phone.email().is_none());
        assert_eq!(only_phone.idents().len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let err = Identity::from_raw(&RawIdentity { phone_sha256: Some("xyz"), ..Default::default() }).unwrap_err();
        assert_eq!(err.field, "phone_sha256");
        let err = Identity::from_raw(&RawIdentity { email: Some("nope"), ..Default::default() }).unwrap_err();
        assert_eq!(err.field, "email");
    }

    /// What normalizing one field should give.
    #[derive(Clone, Copy, Debug)]
    enum Expected {
        /// The same hash as this visible spelling of the identifier.
        SameAs(&'static str),
        /// A refusal naming the field.
        Refused,
    }
    use Expected::{Refused, SameAs};
    use IdentKind::{Email, Phone};

    fn check(kind: IdentKind, input: &str, expected: Expected) {
        let hash = |text: &str| {
            let raw = match kind {
                IdentKind::Email => RawIdentity { email: Some(text), ..Default::default() },
                IdentKind::Phone => RawIdentity { phone: Some(text), ..Default::default() },
            };
            Identity::from_raw(&raw).map(|id| id.idents().into_iter().find(|i| i.kind == kind))
        };
        match (hash(input), expected) {
            (Ok(got), SameAs(visible)) => {
                assert_eq!(got, hash(visible).expect("the visible spelling is valid"), "{input:?} vs {visible:?}")
            }
            (Err(e), Refused) => assert_eq!(e.field, kind.as_str(), "{input:?}"),
            (got, expected) => panic!("{input:?}: expected {expected:?}, got {got:?}"),
        }
    }

    const VISIBLE_EMAIL: &str = "Jane.Doe@Example.com";

    /// `c` at the start, middle and end of the local part and of the domain.
    fn in_every_place(c: char) -> [String; 6] {
        [
            format!("{c}Jane.Doe@Example.com"),
            format!("Jane{c}.Doe@Example.com"),
            format!("Jane.Doe{c}@Example.com"),
            format!("Jane.Doe@{c}Example.com"),
            format!("Jane.Doe@Exam{c}ple.com"),
            format!("Jane.Doe@Example.com{c}"),
        ]
    }

    fn each(ranges: &[std::ops::RangeInclusive<char>]) -> impl Iterator<Item = char> + '_ {
        ranges.iter().flat_map(|r| r.clone())
    }

    #[test]
    fn invisible_formatting_is_removed_so_an_email_hashes_like_the_visible_one() {
        let named = ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{180E}', '\u{2062}'];
        assert!(named.iter().all(|&c| chars::unseen(c) == Some(Unseen::Removed)));
        for c in each(chars::REMOVED) {
            for input in in_every_place(c) {
                check(Email, &input, SameAs(VISIBLE_EMAIL));
            }
        }
        check(Email, "\u{FEFF} Jane.Doe@Example.com \u{200B}", SameAs(VISIBLE_EMAIL));
        check(Email, "Ja\u{200B}\u{200D}\u{00AD}ne.Doe@Exa\u{200D}mple.c\u{2060}om", SameAs(VISIBLE_EMAIL));
    }

    #[test]
    fn bidirectional_controls_in_an_email_are_refused() {
        let named = ['\u{202E}', '\u{202D}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2066}', '\u{2069}'];
        assert!(named.iter().all(|&c| chars::unseen(c) == Some(Unseen::Bidi)));
        for c in each(chars::BIDI) {
            for input in in_every_place(c) {
                check(Email, &input, Refused);
            }
        }
        // What the override displays is the visible address; what it holds is not.
        check(Email, "\u{202E}moc.elpmaxe@eod.enaj", Refused);
    }

    #[test]
    fn other_format_and_default_ignorable_characters_in_an_email_are_refused() {
        for c in each(chars::OTHER) {
            for input in in_every_place(c) {
                check(Email, &input, Refused);
            }
        }
    }

    #[test]
    fn controls_anywhere_and_whitespace_inside_an_email_are_refused() {
        for c in ['\u{0000}', '\u{0007}', '\u{001B}', '\u{007F}', '\u{0080}', '\u{009F}'] {
            for input in in_every_place(c) {
                check(Email, &input, Refused);
            }
        }
        for c in ['\t', '\n', ' ', '\u{00A0}', '\u{2028}', '\u{3000}'] {
            let [start, inside @ .., end] = in_every_place(c);
            for input in inside {
                check(Email, &input, Refused);
            }
            check(Email, &start, SameAs(VISIBLE_EMAIL));
            check(Email, &end, SameAs(VISIBLE_EMAIL));
        }
    }

    #[test]
    fn invisible_and_bidirectional_characters_in_a_phone_are_dropped_like_punctuation() {
        for c in each(chars::REMOVED).chain(each(chars::BIDI)).chain(each(chars::OTHER)) {
            for input in [format!("{c}(555) 123-4567"), format!("(555) 12{c}3-4567"), format!("(555) 123-4567{c}")] {
                check(Phone, &input, SameAs("5551234567"));
            }
        }
        check(Phone, "\u{202A}+1 555 123 4567\u{202C}", SameAs("5551234567"));
        check(Phone, "\u{2066}\u{202E}+1 555 123 4567\u{2069}", SameAs("5551234567"));
    }

    #[test]
    fn fullwidth_and_arabic_indic_digits_count_as_their_ascii_digit() {
        for (input, visible) in [
            ("５５５１２３４５６７", "5551234567"),
            ("＋４４ ２０ ７９４６ ０９５８", "+44 20 7946 0958"),
            ("٥٥٥-١٢٣-٤٥٦٧", "5551234567"),
            ("۵۵۵۱۲۳۴۵۶۷", "5551234567"),
            ("555 123 45６٧", "5551234567"),
            ("555 ٠۰０ 0000", "555 000 0000"),
        ] {
            check(Phone, input, SameAs(visible));
        }
    }

    #[test]
    fn numerals_that_are_not_supported_digits_are_refused_in_a_phone() {
        // Devanagari, Thai and Myanmar digits, mathematical double-struck zero, superscript,
        // fraction, circled and Roman numerals.
        for c in ['१', '๑', '၁', '𝟘', '²', '½', '①', 'Ⅲ'] {
            for input in [format!("{c}5551234567"), format!("555123{c}4567"), format!("5551234567{c}")] {
                check(Phone, &input, Refused);
            }
        }
    }

    #[test]
    fn a_field_of_only_removed_invisible_characters_counts_as_absent() {
        let id = Identity::from_raw(&RawIdentity {
            email: Some("\u{200B}\u{FEFF} "),
            email_sha256: Some("\u{FEFF}"),
            phone: Some("5551234567"),
            ..Default::default()
        })
        .expect("the phone identifies the lead");
        assert!(id.email().is_none());
        let err = Identity::from_raw(&RawIdentity { email: Some("\u{200B}"), ..Default::default() }).unwrap_err();
        assert_eq!(err.field, "email");
        check(Email, "\u{202E}", Refused);
    }

    #[test]
    fn plain_and_hash_must_agree() {
        let err = Identity::from_raw(&RawIdentity {
            email: Some("jane@example.com"),
            email_sha256: Some(&"a".repeat(64)),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "email_sha256");
    }
}
