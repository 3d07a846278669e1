//! Exact money: decimal strings at the edge, integer minor units (cents) inside.

use std::fmt;

/// An amount in minor units (cents). Never floating point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal string such as \"18.50\", got {0:?}")]
    Malformed(String),
    #[error("must not be negative, got {0:?}")]
    Negative(String),
    #[error("has more than two decimal places: {0:?}")]
    TooPrecise(String),
    #[error("is too large: {0:?}")]
    TooLarge(String),
}

/// Larger amounts are refused so that sums of many of them cannot overflow an i64.
const MAX_WHOLE_DIGITS: usize = 12;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_minor(minor: i64) -> Self {
        Money(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a non-negative decimal with at most two decimal places ("18", "18.5", "18.50").
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let malformed = || MoneyError::Malformed(text.to_string());
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix('-') {
            if !rest.is_empty() {
                return Err(MoneyError::Negative(text.to_string()));
            }
        }
        let (whole, frac) = match trimmed.split_once('.') {
            Some((w, f)) => (w, f),
            None => (trimmed, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || (trimmed.contains('.') && frac.is_empty()) {
            return Err(malformed());
        }
        if frac.len() > 2 {
            return Err(MoneyError::TooPrecise(text.to_string()));
        }
        if whole.trim_start_matches('0').len() > MAX_WHOLE_DIGITS {
            return Err(MoneyError::TooLarge(text.to_string()));
        }
        let whole: i64 = whole.parse().map_err(|_| malformed())?;
        let cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| malformed())? * 10,
            _ => frac.parse::<i64>().map_err(|_| malformed())?,
        };
        Ok(Money(whole * 100 + cents))
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    // Signed arithmetic for the books, where a rollback or a refund is a negative amount.
    // Checked rather than saturating: a sum of money that does not fit must be an error,
    // never a silently wrong figure.

    /// `self + other`, `None` on overflow.
    pub const fn checked_add(self, other: Money) -> Option<Money> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Money(v)),
            None => None,
        }
    }

    /// `self - other`, `None` on overflow.
    pub const fn checked_sub(self, other: Money) -> Option<Money> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Money(v)),
            None => None,
        }
    }

    /// `-self`, `None` for the one amount whose negation does not fit (`i64::MIN` minor units).
    pub const fn checked_neg(self) -> Option<Money> {
        match self.0.checked_neg() {
            Some(v) => Some(Money(v)),
            None => None,
        }
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `hundredths` hundredths of a percent of this amount, rounded half-up to the cent (15 %
    /// of 18.50 is 2.775, so 2.78): the one rounding rule of every share of a price, the
    /// marketplace's margin and a repeat lead's price alike.
    pub fn percent(self, hundredths: u32) -> Money {
        // i128: an amount of up to 10^14 cents times 10^4 does not fit an i64.
        let exact = i128::from(self.0) * i128::from(hundredths);
        let rounded = (exact + 5_000).div_euclid(10_000);
        Money(i64::try_from(rounded).unwrap_or(i64::MAX))
    }
}

/// The longest text of an amount: a sign, 17 whole digits, the point and two decimals.
const MAX_TEXT: usize = 21;

impl Money {
    /// The decimal text ("18.50", "-0.05"), written into `buf` digit by digit: every bid of
    /// every answer and record carries two amounts, and the formatting machinery cost a few
    /// thousand instructions per amount (issue 13's profile).
    fn text(self, buf: &mut [u8; MAX_TEXT]) -> &str {
        let mut abs = self.0.unsigned_abs();
        let mut at = MAX_TEXT;
        let mut put = |b: u8| {
            at -= 1;
            buf[at] = b;
        };
        for _ in 0..2 {
            put(b'0' + (abs % 10) as u8);
            abs /= 10;
        }
        put(b'.');
        loop {
            put(b'0' + (abs % 10) as u8);
            abs /= 10;
            if abs == 0 {
                break;
            }
        }
        if self.0 < 0 {
            put(b'-');
        }
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&buf[at..]).unwrap_or_default()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text(&mut [0; MAX_TEXT]))
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text(&mut [0; MAX_TEXT]))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::money_schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Money {}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<i64, &str>) {
        let got = Money::parse(input).map(Money::minor).map_err(|e| e.to_string());
        match expected {
            Ok(minor) => assert_eq!(got, Ok(minor), "{input}"),
            Err(fragment) => {
                let err = got.expect_err(input);
                assert!(err.contains(fragment), "{input}: {err}");
            }
        }
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        check("18.50", Ok(1850));
        check("18.5", Ok(1850));
        check("18", Ok(1800));
        check("0.01", Ok(1));
        check("0", Ok(0));
        check(" 7.25 ", Ok(725));
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        check("-1.00", Err("negative"));
        check("1.005", Err("two decimal"));
        check("abc", Err("decimal string"));
        check("", Err("decimal string"));
        check("1.", Err("decimal string"));
        check(".5", Err("decimal string"));
        check("1e3", Err("decimal string"));
        check("9999999999999.00", Err("too large"));
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Money::from_minor(1850).to_string(), "18.50");
        assert_eq!(Money::from_minor(5).to_string(), "0.05");
        assert_eq!(Money::from_minor(-5).to_string(), "-0.05");
        assert_eq!(Money::from_minor(0).to_string(), "0.00");
        assert_eq!(Money::from_minor(100).to_string(), "1.00");
        assert_eq!(Money::from_minor(i64::MAX).to_string(), "92233720368547758.07");
        assert_eq!(Money::from_minor(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(serde_json::to_string(&Money::from_minor(123_456)).ok().as_deref(), Some("\"1234.56\""));
    }

    #[test]
    fn signed_arithmetic_is_exact_or_refused() {
        let m = Money::from_minor;
        assert_eq!(m(1850).checked_sub(m(2000)), Some(m(-150)), "a difference may be negative");
        assert_eq!(m(-150).checked_add(m(150)), Some(Money::ZERO));
        assert_eq!(m(1850).checked_neg(), Some(m(-1850)));
        assert_eq!(m(-1850).checked_neg(), Some(m(1850)));
        assert_eq!(m(i64::MAX).checked_add(m(1)), None);
        assert_eq!(m(i64::MIN).checked_sub(m(1)), None);
        assert_eq!(m(i64::MIN).checked_neg(), None);
        assert!(m(-1).is_negative() && !Money::ZERO.is_negative());
        assert_eq!(m(-150).to_string(), "-1.50");
    }
}
