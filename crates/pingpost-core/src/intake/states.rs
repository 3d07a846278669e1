//! The US states and territories a `state` field may name, by USPS code or by name.
//!
//! The list is the USPS one for addresses in the United States: the 50 states, the District
//! of Columbia, the five inhabited territories (PR, GU, VI, AS, MP) and the three military
//! "states" (AA, AE, AP), since a service member's address is a US address a lead form can
//! carry. The freely associated states (FM, MH, PW) are foreign countries and are left out.

/// `(code, name)`, by code. A few names people commonly write are listed as extra entries.
const STATES: [(&str, &str); 63] = [
    ("AA", "Armed Forces Americas"),
    ("AE", "Armed Forces Europe"),
    ("AK", "Alaska"),
    ("AL", "Alabama"),
    ("AP", "Armed Forces Pacific"),
    ("AR", "Arkansas"),
    ("AS", "American Samoa"),
    ("AZ", "Arizona"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DC", "District of Columbia"),
    ("DC", "Washington DC"),
    ("DC", "Washington D.C."),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("GU", "Guam"),
    ("HI", "Hawaii"),
    ("IA", "Iowa"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("MA", "Massachusetts"),
    ("MD", "Maryland"),
    ("ME", "Maine"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MO", "Missouri"),
    ("MP", "Northern Mariana Islands"),
    ("MS", "Mississippi"),
    ("MT", "Montana"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("NE", "Nebraska"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NV", "Nevada"),
    ("NY", "New York"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("PR", "Puerto Rico"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VA", "Virginia"),
    ("VI", "U.S. Virgin Islands"),
    ("VI", "US Virgin Islands"),
    ("VI", "Virgin Islands"),
    ("VT", "Vermont"),
    ("WA", "Washington"),
    ("WI", "Wisconsin"),
    ("WV", "West Virginia"),
    ("WY", "Wyoming"),
];

/// The code of the state `text` names (its code or its name, in any case, surrounding
/// spaces ignored). A linear scan of 63 short entries is faster than hashing the text.
pub fn code_of(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let by_code = |(code, _): &&(&'static str, &str)| code.eq_ignore_ascii_case(text);
    let by_name = |(_, name): &&(&'static str, &str)| name.eq_ignore_ascii_case(text);
    let found = if text.len() == 2 { STATES.iter().find(by_code) } else { STATES.iter().find(by_name) };
    found.map(|(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_read_as_the_code() {
        for (input, expected) in [
            ("CA", Some("CA")),
            ("ca", Some("CA")),
            (" Ny ", Some("NY")),
            ("california", Some("CA")),
            ("NEW YORK", Some("NY")),
            ("District of Columbia", Some("DC")),
            ("washington dc", Some("DC")),
            ("Washington", Some("WA")),
            ("Puerto Rico", Some("PR")),
            ("GU", Some("GU")),
            ("vi", Some("VI")),
            ("as", Some("AS")),
            ("MP", Some("MP")),
            ("AE", Some("AE")),
            ("Armed Forces Pacific", Some("AP")),
            ("XX", None),
            ("FM", None),
            ("Calif", None),
            ("", None),
        ] {
            assert_eq!(code_of(input), expected, "{input:?}");
        }
    }

    #[test]
    fn the_table_holds_the_fifty_states_dc_five_territories_and_three_military_codes() {
        let mut codes: Vec<&str> = STATES.iter().map(|(c, _)| *c).collect();
        assert!(codes.windows(2).all(|w| w[0] <= w[1]), "sorted by code");
        codes.dedup();
        assert_eq!(codes.len(), 50 + 1 + 5 + 3);
    }
}
