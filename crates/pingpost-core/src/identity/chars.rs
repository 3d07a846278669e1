//! The characters an identifier may carry without anyone seeing them, and the digits a
//! phone may be typed in. The lists are written out, not derived from a Unicode property
//! table, because partners who pre-hash must apply exactly the same ones (README,
//! "For partners: identifiers") whatever Unicode version their language ships.

use std::ops::RangeInclusive;

/// What email normalization does with a character that is not plain visible text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unseen {
    /// Renders as nothing and means nothing in an address; copy-paste, word processors and
    /// byte-order marks put them there by accident. Removed, so the address hashes like the
    /// visible one.
    Removed,
    /// Changes the order in which the text around it is displayed: what the consumer typed
    /// and what the partner saw may differ, and removing it could merge two addresses that
    /// look different. Refused.
    Bidi,
    /// Any other format or default-ignorable character. None has a use in an address, and
    /// removing one we do not know could drop something meaningful. Refused.
    Other,
}

pub(super) const REMOVED: &[RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}', // soft hyphen
    '\u{180E}'..='\u{180E}', // Mongolian vowel separator (whitespace before Unicode 6.3)
    '\u{200B}'..='\u{200D}', // zero width space, non-joiner, joiner
    '\u{2060}'..='\u{2064}', // word joiner; invisible function application, times, separator, plus
    '\u{FEFF}'..='\u{FEFF}', // zero width no-break space / byte-order mark
];

pub(super) const BIDI: &[RangeInclusive<char>] = &[
    '\u{061C}'..='\u{061C}', // Arabic letter mark
    '\u{200E}'..='\u{200F}', // left-to-right and right-to-left marks
    '\u{202A}'..='\u{202E}', // embeddings, pop directional formatting, overrides
    '\u{2066}'..='\u{2069}', // isolates and pop directional isolate
];

/// Format characters (general category Cf) and default-ignorable code points that are in
/// neither list above.
pub(super) const OTHER: &[RangeInclusive<char>] = &[
    '\u{034F}'..='\u{034F}',   // combining grapheme joiner
    '\u{0600}'..='\u{0605}',   // Arabic number signs
    '\u{06DD}'..='\u{06DD}',   // Arabic end of ayah
    '\u{070F}'..='\u{070F}',   // Syriac abbreviation mark
    '\u{0890}'..='\u{0891}',   // Arabic pound and piastre marks above
    '\u{08E2}'..='\u{08E2}',   // Arabic disputed end of ayah
    '\u{115F}'..='\u{1160}',   // Hangul choseong and jungseong fillers
    '\u{17B4}'..='\u{17B5}',   // Khmer inherent vowels
    '\u{180B}'..='\u{180D}',   // Mongolian free variation selectors one to three
    '\u{180F}'..='\u{180F}',   // Mongolian free variation selector four
    '\u{2065}'..='\u{2065}',   // reserved default-ignorable
    '\u{206A}'..='\u{206F}',   // deprecated format characters
    '\u{3164}'..='\u{3164}',   // Hangul filler
    '\u{FE00}'..='\u{FE0F}',   // variation selectors
    '\u{FFA0}'..='\u{FFA0}',   // halfwidth Hangul filler
    '\u{FFF0}'..='\u{FFFB}',   // reserved default-ignorables; interlinear annotation
    '\u{110BD}'..='\u{110BD}', // Kaithi number sign
    '\u{110CD}'..='\u{110CD}', // Kaithi number sign above
    '\u{13430}'..='\u{1343F}', // Egyptian hieroglyph format controls
    '\u{1BCA0}'..='\u{1BCA3}', // shorthand format controls
    '\u{1D173}'..='\u{1D17A}', // musical symbol beams, ties, slurs and phrases
    '\u{E0000}'..='\u{E0FFF}', // tags, variation selectors supplement, reserved
];

pub(super) fn unseen(c: char) -> Option<Unseen> {
    if c.is_ascii() {
        return None;
    }
    let within = |ranges: &[RangeInclusive<char>]| ranges.iter().any(|r| r.contains(&c));
    if within(REMOVED) {
        Some(Unseen::Removed)
    } else if within(BIDI) {
        Some(Unseen::Bidi)
    } else if within(OTHER) {
        Some(Unseen::Other)
    } else {
        None
    }
}

/// The zeros of the decimal digit sets a phone is typed in besides ASCII: fullwidth
/// (Japanese and Chinese input methods), Arabic-Indic (Arabic keyboards) and extended
/// Arabic-Indic (Persian and Urdu keyboards). Each set is ten consecutive code points.
pub(super) const DIGIT_ZEROS: &[char] = &['0', '\u{FF10}', '\u{0660}', '\u{06F0}'];

/// The ASCII digit `c` stands for, when it is a digit of one of [`DIGIT_ZEROS`]' sets.
pub(super) fn decimal_digit(c: char) -> Option<char> {
    DIGIT_ZEROS.iter().find_map(|&zero| {
        let value = u32::from(c).checked_sub(u32::from(zero))?;
        char::from_digit(value, 10)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn each(ranges: &[RangeInclusive<char>]) -> impl Iterator<Item = char> + '_ {
        ranges.iter().flat_map(|r| r.clone())
    }

    #[test]
    fn each_character_is_in_one_list_and_none_is_whitespace_or_a_numeral() {
        // Whitespace would make the order of removing and trimming matter; a numeral would be
        // refused in a phone and removed in an email.
        let lists = [REMOVED, BIDI, OTHER];
        for (i, list) in lists.iter().enumerate() {
            for c in each(list) {
                let elsewhere = lists.iter().enumerate().filter(|(j, _)| *j != i);
                assert!(elsewhere.flat_map(|(_, l)| each(l)).all(|o| o != c), "U+{:04X} is in two lists", u32::from(c));
                assert!(!c.is_whitespace() && !c.is_numeric() && !c.is_control(), "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn lower_casing_never_yields_an_unseen_character() {
        // Normalization removes and refuses before it lower-cases.
        let all = (0..=u32::from(char::MAX)).filter_map(char::from_u32);
        for c in all.filter(|c| unseen(*c).is_none()) {
            assert!(c.to_lowercase().all(|l| unseen(l).is_none()), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn each_digit_set_is_ten_numerals_from_its_zero() {
        for &zero in DIGIT_ZEROS {
            let at = |offset: u32| char::from_u32(u32::from(zero) + offset).expect("an assigned code point");
            for value in 0..10 {
                assert!(at(value).is_numeric(), "U+{:04X}", u32::from(at(value)));
                assert_eq!(decimal_digit(at(value)), char::from_digit(value, 10));
            }
            assert_eq!(decimal_digit(at(10)), None, "U+{:04X}", u32::from(at(10)));
        }
    }
}
