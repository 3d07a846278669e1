//! Suppression lists as CSV: which identifiers each row of a file names. Shared by the
//! import endpoint and the CLI, so a file is read the same way on both sides of the wire.
//!
//! Format:
//! - An optional header naming columns `email`, `phone`, `email_sha256`, `phone_sha256`
//!   (case-insensitive; other columns are ignored). The first record is a header when one of
//!   its cells is such a name.
//! - Without a header, each cell is an email if it contains `@`, else a phone.
//! - Empty cells are ignored (so is the SHA-256 of the empty string); a row without any
//!   identifier, or with one that fails normalization, is invalid as a whole.
//!
//! Error messages name the column, never the cell's text: a bad cell may be a plaintext
//! email or phone, and answers and logs must not carry those.

use crate::identity::{normalize_email, normalize_phone, Ident, IdentKind, Sha256Hex};

/// What one cell holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Email,
    Phone,
    EmailSha256,
    PhoneSha256,
    Ignored,
}

impl Column {
    fn from_header(cell: &str) -> Column {
        match cell.trim().to_ascii_lowercase().as_str() {
            "email" => Column::Email,
            "phone" => Column::Phone,
            "email_sha256" => Column::EmailSha256,
            "phone_sha256" => Column::PhoneSha256,
            _ => Column::Ignored,
        }
    }

    fn kind(self) -> IdentKind {
        match self {
            Column::Phone | Column::PhoneSha256 => IdentKind::Phone,
            Column::Email | Column::EmailSha256 | Column::Ignored => IdentKind::Email,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Column::Email => "email",
            Column::Phone => "phone",
            Column::EmailSha256 => "email_sha256",
            Column::PhoneSha256 => "phone_sha256",
            Column::Ignored => "ignored",
        }
    }
}

/// Why a row is invalid; `line` is the 1-based physical line where the row starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// What a row of the file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// The header: no identifiers.
    Header,
    /// The hashed identifiers of a valid row, in column order, at least one.
    Idents(Vec<Ident>),
}

/// Reads rows of one file in order; the first record decides whether there is a header.
#[derive(Debug, Default)]
pub struct RowParser {
    /// `None` until the first record; then the header's columns, empty when there is none.
    columns: Option<Vec<Column>>,
}

/// A `csv` reader with the settings the format needs: rows may have any number of cells,
/// and the first record is handed to [`RowParser`] (which tells a header from data).
pub fn reader_builder() -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false).flexible(true).trim(csv::Trim::All);
    b
}

impl RowParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The row that starts on `line` (1-based); cells are UTF-8 text.
    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>, line: u64) -> Result<Row, RowError> {
        let cells: Vec<&str> = cells.into_iter().collect();
        let columns = match &self.columns {
            Some(c) => c,
            None => {
                let header: Vec<Column> = cells.iter().map(|c| Column::from_header(c)).collect();
                if header.iter().any(|c| *c != Column::Ignored) {
                    self.columns = Some(header);
                    return Ok(Row::Header);
                }
                self.columns.insert(Vec::new())
            }
        };
        let mut idents = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let column = if columns.is_empty() {
                if cell.contains('@') {
                    Column::Email
                } else {
                    Column::Phone
                }
            } else {
                columns.get(i).copied().unwrap_or(Column::Ignored)
            };
            let hash = match column {
                Column::Ignored => continue,
                Column::Email => normalize_email(cell).map(|n| Sha256Hex::digest(&n)).map_err(|e| e.message),
                Column::Phone => normalize_phone(cell).map(|n| Sha256Hex::digest(&n)).map_err(|e| e.message),
                Column::EmailSha256 | Column::PhoneSha256 => {
                    Sha256Hex::parse(cell).ok_or_else(|| "must be 64 hexadecimal characters".to_string())
                }
            };
            match hash {
                Ok(h) if h.is_empty_digest() => {}
                Ok(hash) => idents.push(Ident { kind: column.kind(), hash }),
                Err(message) => {
                    return Err(RowError { line, message: format!("{} (column {}) {message}", column.name(), i + 1) })
                }
            }
        }
        if idents.is_empty() {
            return Err(RowError { line, message: "no email or phone in this row".into() });
        }
        Ok(Row::Idents(idents))
    }

    /// A record from a reader made by [`reader_builder`].
    pub fn record(&mut self, record: &csv::StringRecord) -> Result<Row, RowError> {
        let line = record.position().map_or(0, |p| p.line());
        self.row(record.iter(), line)
    }
}

/// A record the `csv` reader could not read (not UTF-8): invalid, at the line it starts on.
pub fn read_error(e: &csv::Error) -> RowError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_string(),
        _ => "is not a readable CSV row".to_string(),
    };
    RowError { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `text` but the header: its line and either its hashes or its error.
    fn check(text: &str) -> Vec<(u64, Result<Vec<String>, String>)> {
        let mut parser = RowParser::new();
        let mut out = Vec::new();
        for record in reader_builder().from_reader(text.as_bytes()).records() {
            let record = record.expect("readable");
            let line = record.position().expect("position").line();
            match parser.record(&record) {
                Ok(Row::Header) => {}
                Ok(Row::Idents(h)) => out.push((line, Ok(h.iter().map(|i| i.hash.to_string()).collect()))),
                Err(e) => out.push((e.line, Err(e.message))),
            }
        }
        out
    }

    fn sha(text: &str) -> String {
        Sha256Hex::digest(text).to_string()
    }

    /// Like [`check`], with the number of identifiers of each valid row.
    fn lines(text: &str) -> Vec<(u64, Result<usize, String>)> {
        check(text).into_iter().map(|(line, r)| (line, r.map(|h| h.len()))).collect()
    }

    #[test]
    fn without_a_header_cells_are_emails_or_phones() {
        let rows = check("Jane@Example.com,(555) 123-4567\n5551234568\n");
        assert_eq!(rows[0].1, Ok(vec![sha("jane@example.com"), sha("15551234567")]));
        assert_eq!(rows[1].1, Ok(vec![sha("15551234568")]));
        let mut parser = RowParser::new();
        let kinds = match parser.row(["a@example.com", "5551234567", "b@example.com"], 1) {
            Ok(Row::Idents(i)) => i.iter().map(|i| i.kind).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(kinds, [IdentKind::Email, IdentKind::Phone, IdentKind::Email]);
    }

    #[test]
    fn a_header_names_columns_in_any_case_and_others_are_ignored() {
        let hash = sha("15551234567").to_uppercase();
        let text = format!("First_Name,EMAIL,Phone_SHA256\nZed,zed@example.com,{hash}\nAnn,,\n");
        let rows = check(&text);
        assert_eq!(rows[0].1, Ok(vec![sha("zed@example.com"), sha("15551234567")]));
        assert_eq!(rows[1], (3, Err("no email or phone in this row".into())), "a name alone is no identifier");
    }

    #[test]
    fn quoted_cells_may_hold_commas_and_newlines_and_lines_stay_physical() {
        let text = "email,phone\n\"a@example.com\",\"+1 (555) 123-4567\"\n\"x\ny\",5551234567\nb@example.com,\n";
        assert_eq!(
            lines(text),
            vec![
                (2, Ok(2)),
                (3, Err("email (column 1) is not an email address".into())),
                (5, Ok(1)), // the quoted cell above spans lines 3 and 4
            ]
        );
    }

    #[test]
    fn invalid_rows_name_the_line_and_column_but_not_the_value() {
        let text = "a@example.com\nnot-an-email@\n123\n,,\n\n";
        let rows = lines(text);
        assert_eq!(rows[0], (1, Ok(1)));
        assert_eq!(rows[1], (2, Err("email (column 1) is not an email address".into())));
        assert!(matches!(&rows[2], (3, Err(m)) if m.starts_with("phone (column 1)")), "{rows:?}");
        assert_eq!(rows[3], (4, Err("no email or phone in this row".into())));
        assert_eq!(rows.len(), 4, "a blank line is no record");
        for (_, r) in &rows {
            if let Err(m) = r {
                assert!(!m.contains("not-an-email") && !m.contains("123"), "{m}");
            }
        }
    }

    #[test]
    fn one_bad_identifier_makes_the_whole_row_invalid() {
        let rows = lines("email,phone\ngood@example.com,12\n");
        assert!(matches!(&rows[0], (2, Err(m)) if m.starts_with("phone (column 2)")), "{rows:?}");
    }

    #[test]
    fn hash_columns_must_be_hex_and_the_empty_digest_counts_as_empty() {
        let empty = sha("");
        let rows = lines(&format!("email_sha256,phone_sha256\n{empty},\nzz,\n{},{empty}\n", sha("a@b.co")));
        assert_eq!(rows[0], (2, Err("no email or phone in this row".into())));
        assert_eq!(rows[1], (3, Err("email_sha256 (column 1) must be 64 hexadecimal characters".into())));
        assert_eq!(rows[2], (4, Ok(1)));
    }

    #[test]
    fn text_that_is_not_utf8_is_an_invalid_row_and_reading_goes_on() {
        let mut parser = RowParser::new();
        let bytes = b"a@example.com\n\xff\xfe@example.com\nb@example.com\n";
        let mut out = Vec::new();
        for r in reader_builder().from_reader(&bytes[..]).records() {
            out.push(match r {
                Ok(r) => parser.record(&r).map(|_| r.position().expect("position").line()).map_err(|e| e.line),
                Err(e) => Err(read_error(&e).line),
            });
        }
        assert_eq!(out, vec![Ok(1), Err(2), Ok(3)]);
    }
}
