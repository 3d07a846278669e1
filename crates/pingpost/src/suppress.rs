//! `pingpost suppress import FILE`: hashing at the edge for bulk suppression. The file is
//! read as a stream and every row normalized and hashed here; only a CSV of hashes
//! (`email_sha256,phone_sha256`) is sent to the engine's import endpoint, in batches, so
//! no plaintext email or phone leaves this machine and memory stays flat.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use pingpost_core::identity::IdentKind;
use pingpost_core::suppression_csv::{self, Row, RowError, RowParser};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// CSV file: a header naming `email`, `phone`, `email_sha256`, `phone_sha256` columns,
    /// or no header (a cell with `@` is an email, any other a phone).
    pub file: PathBuf,
    /// Base URL of a running engine.
    #[arg(long, env = "PINGPOST_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Operator token.
    #[arg(long, env = "PINGPOST_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Rows sent per request.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_rows: u32,
}

/// Invalid rows printed (all are counted).
const LISTED_INVALID_ROWS: usize = 100;
/// Hashed batches prepared ahead of the one in flight.
const BATCHES_AHEAD: usize = 2;
/// One batch's request, the engine's work on it included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// One request's worth of rows: the hashed CSV and, for each of its data rows, the line of
/// the file it came from (to report an invalid row the engine found by its real line).
struct Batch {
    body: Vec<u8>,
    lines: Vec<u64>,
}

/// What the file holds, counted locally, and what the engine answered.
#[derive(Debug, Default)]
struct Totals {
    rows: u64,
    added: u64,
    skipped: u64,
    invalid: u64,
    invalid_rows: Vec<RowError>,
}

impl Totals {
    fn invalid_row(&mut self, e: RowError) {
        self.invalid += 1;
        self.rows += 1;
        if self.invalid_rows.len() < LISTED_INVALID_ROWS {
            self.invalid_rows.push(e);
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct Answer {
    rows: u64,
    added: u64,
    skipped: u64,
    invalid: u64,
    invalid_rows: Vec<AnswerRow>,
}

#[derive(Debug, serde::Deserialize)]
struct AnswerRow {
    line: u64,
    error: String,
}

/// Rows of hashes as CSV. Columns are `email_sha256` then `phone_sha256`, repeated as often
/// as the widest row of the batch needs (a header-less file may hold several of each).
fn hashed_csv(rows: &[Vec<(IdentKind, String)>]) -> Vec<u8> {
    let width = |kind: IdentKind| rows.iter().map(|r| r.iter().filter(|(k, _)| *k == kind).count()).max().unwrap_or(0);
    let (emails, phones) = (width(IdentKind::Email), width(IdentKind::Phone));
    let mut out = Vec::with_capacity(rows.len() * 130 + 32);
    let header: Vec<&str> =
        std::iter::repeat_n("email_sha256", emails).chain(std::iter::repeat_n("phone_sha256", phones)).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    for row in rows {
        let mut cells: Vec<&str> = Vec::with_capacity(emails + phones);
        for (kind, n) in [(IdentKind::Email, emails), (IdentKind::Phone, phones)] {
            let mine: Vec<&str> = row.iter().filter(|(k, _)| *k == kind).map(|(_, h)| h.as_str()).collect();
            cells.extend((0..n).map(|i| mine.get(i).copied().unwrap_or("")));
        }
        out.extend_from_slice(cells.join(",").as_bytes());
        out.push(b'\n');
    }
    out
}

/// Reads, checks and hashes the file, sending batches until the end or a gone receiver.
/// Answers what it found invalid locally.
fn hash_file(reader: impl Read, batch_rows: usize, tx: &mpsc::Sender<Batch>) -> Result<Totals> {
    let mut csv = suppression_csv::reader_builder().from_reader(reader);
    let mut parser = RowParser::new();
    let mut local = Totals::default();
    let mut rows: Vec<Vec<(IdentKind, String)>> = Vec::with_capacity(batch_rows);
    let mut lines = Vec::with_capacity(batch_rows);
    let mut record = csv::StringRecord::new();
    let send = |rows: &mut Vec<_>, lines: &mut Vec<u64>| {
        let batch = Batch { body: hashed_csv(rows), lines: std::mem::take(lines) };
        rows.clear();
        tx.blocking_send(batch).is_ok()
    };
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match parser.record(&record) {
                Ok(Row::Header) => {}
                Ok(Row::Idents(idents)) => {
                    rows.push(idents.into_iter().map(|i| (i.kind, i.hash.to_string())).collect());
                    lines.push(record.position().map_or(0, |p| p.line()));
                }
                Err(e) => local.invalid_row(e),
            },
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(e).context("reading the file"),
            Err(e) => local.invalid_row(suppression_csv::read_error(&e)),
        }
        if rows.len() >= batch_rows && !send(&mut rows, &mut lines) {
            return Ok(local);
        }
    }
    if !rows.is_empty() {
        send(&mut rows, &mut lines);
    }
    Ok(local)
}

pub async fn import(args: ImportArgs) -> Result<()> {
    let started = Instant::now();
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::new(size);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = progress.wrap_read(file);

    let endpoint = format!("{}/v1/admin/suppression/import", args.url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;

    let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
    let batch_rows = args.batch_rows as usize;
    let hasher = tokio::task::spawn_blocking(move || hash_file(reader, batch_rows, &tx));

    let mut sent = Totals::default();
    // Batches go one at a time, in file order, so a row repeated in a later batch always
    // counts as skipped, as it would in one request.
    while let Some(batch) = rx.recv().await {
        let answer = send_batch(&client, &endpoint, &args.admin_token, batch.body).await?;
        sent.rows += answer.rows;
        sent.added += answer.added;
        sent.skipped += answer.skipped;
        for r in answer.invalid_rows {
            // The engine numbers lines of the hashed CSV: line 1 is its header.
            let line = usize::try_from(r.line).ok().and_then(|l| l.checked_sub(2)).and_then(|i| batch.lines.get(i));
            sent.invalid_rows.push(RowError { line: line.copied().unwrap_or(0), message: r.error });
        }
        sent.invalid += answer.invalid;
    }
    let local = hasher.await.context("the file reader stopped")??;
    progress.finish_and_clear();

    let mut invalid_rows = local.invalid_rows;
    invalid_rows.extend(sent.invalid_rows);
    invalid_rows.sort_by_key(|e| e.line);
    invalid_rows.truncate(LISTED_INVALID_ROWS);
    let invalid = local.invalid + sent.invalid;
    println!(
        "{}: {} rows, {} added, {} skipped, {} invalid ({:.1} s)",
        args.file.display(),
        local.rows + sent.rows,
        sent.added,
        sent.skipped,
        invalid,
        started.elapsed().as_secs_f64()
    );
    for e in &invalid_rows {
        println!("  line {}: {}", e.line, e.message);
    }
    if invalid > invalid_rows.len() as u64 {
        println!("  … and {} more invalid rows ({invalid} in all)", invalid - invalid_rows.len() as u64);
    }
    Ok(())
}

async fn send_batch(client: &reqwest::Client, endpoint: &str, token: &str, body: Vec<u8>) -> Result<Answer> {
    let resp = client
        .post(endpoint)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending a batch to {endpoint}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.with_context(|| format!("reading the answer of {endpoint}"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        bail!("the engine refused the import ({status}): {message}");
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{endpoint} answered something that is not an import report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_batches_have_a_column_per_identifier_of_the_widest_row() {
        let rows = vec![
            vec![(IdentKind::Email, "e1".to_string()), (IdentKind::Phone, "p1".to_string())],
            vec![(IdentKind::Phone, "p2".to_string()), (IdentKind::Phone, "p3".to_string())],
        ];
        let text = String::from_utf8(hashed_csv(&rows)).expect("text");
        assert_eq!(text, "email_sha256,phone_sha256,phone_sha256\ne1,p1,\n,p2,p3\n");
    }
}
