//! Suppression lists: add, remove and check identifiers, and import a CSV file of them.
//! Emails and phones are normalized and hashed here, at the edge, with the rules of pings;
//! only hashes go to the store, and no answer or log line repeats a plaintext identifier.

use super::auth::Operator;
use super::body;
use super::identifiers;
use crate::body::{BodyError, RequestBody};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::suppression_csv::{self, Row, RowError, RowParser};
use pingpost_core::Timestamp;
use pingpost_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Largest CSV body an import reads. The body is streamed, so this bounds the work of one
/// request, not memory: a list of tens of millions of rows fits.
pub const IMPORT_BODY_LIMIT: u64 = 1 << 30;
/// Rows handed to the store at once: large enough that pipelining pays, small enough that a
/// batch is a few MiB and one store call stays well inside its time limit.
const IMPORT_BATCH_ROWS: usize = 10_000;
/// Batches parsed ahead of the store; parsing and writing overlap, memory stays bounded.
const BATCHES_AHEAD: usize = 2;
/// Invalid rows listed in an import's answer (all are counted).
const LISTED_INVALID_ROWS: usize = 100;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/suppression", post(add).delete(remove))
        .route("/suppression/check", get(check))
        .route("/suppression/import", post(import))
}

/// `{"emails": [], "phones": [], "sha256": []}`; every list is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Lists {
    emails: Vec<String>,
    phones: Vec<String>,
    sha256: Vec<String>,
}

impl Lists {
    /// Every identifier hashed, or the first invalid one named (`emails[3]`): nothing is
    /// applied unless everything is valid.
    fn hashes(&self) -> Result<Vec<Sha256Hex>, ApiError> {
        let emails = self.emails.iter().enumerate().map(|(i, e)| identifiers::email(format!("emails[{i}]"), e));
        let phones = self.phones.iter().enumerate().map(|(i, p)| identifiers::phone(format!("phones[{i}]"), p));
        let hashes = self.sha256.iter().enumerate().map(|(i, h)| identifiers::sha256(format!("sha256[{i}]"), h));
        emails.chain(phones).chain(hashes).collect()
    }
}

#[derive(Debug, Serialize)]
struct Added {
    added: usize,
}

#[derive(Debug, Serialize)]
struct Removed {
    removed: u64,
}

async fn add(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Added>, ApiError> {
    let hashes = body::json::<Lists>(body).await?.hashes()?;
    let new = state.engine.store().suppress(hashes, state.engine.now()).await?;
    Ok(Json(Added { added: new.into_iter().filter(|n| *n).count() }))
}

async fn remove(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Removed>, ApiError> {
    let hashes = body::json::<Lists>(body).await?.hashes()?;
    let removed = state.engine.store().unsuppress(hashes).await?;
    Ok(Json(Removed { removed }))
}

/// `?email=…`, `?phone=…` or `?sha256=…`: exactly one.
#[derive(Debug, Deserialize)]
struct CheckQuery {
    email: Option<String>,
    phone: Option<String>,
    sha256: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    suppressed: bool,
    since: Option<Timestamp>,
}

async fn check(
    _: Operator,
    State(state): State<Arc<AppState>>,
    query: Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Status>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let hash = match (q.email, q.phone, q.sha256) {
        (Some(e), None, None) => identifiers::email("email", &e)?,
        (None, Some(p), None) => identifiers::phone("phone", &p)?,
        (None, None, Some(h)) => identifiers::sha256("sha256", &h)?,
        _ => return Err(ApiError::invalid("query", "must name exactly one of email, phone or sha256")),
    };
    let since = state.engine.store().suppression_status(vec![hash]).await?.into_iter().next().flatten();
    Ok(Json(Status { suppressed: since.is_some(), since }))
}

/// What an import answers.
#[derive(Debug, Default, Serialize)]
struct ImportReport {
    rows: u64,
    added: u64,
    skipped: u64,
    invalid: u64,
    invalid_rows: Vec<InvalidRow>,
}

#[derive(Debug, Serialize)]
struct InvalidRow {
    line: u64,
    error: String,
}

/// Rows parsed from the body, in file order, for one store call.
#[derive(Debug, Default)]
struct Batch {
    rows: Vec<Vec<Sha256Hex>>,
    invalid: Vec<RowError>,
}

/// `POST /suppression/import`: a CSV body (see [`suppression_csv`]), read as a stream.
/// A blocking task parses it with the `csv` crate into batches that this task applies in
/// order; the bounded channel between them keeps memory flat however large the file is.
/// An import stopped midway (store down, client gone) has applied its earlier batches;
/// running it again is harmless, those rows then count as skipped.
async fn import(
    _: Operator,
    State(state): State<Arc<AppState>>,
    body: RequestBody,
) -> Result<Json<ImportReport>, ApiError> {
    let stream = body.chunks(IMPORT_BODY_LIMIT).await?.into_stream().map(|c| c.map_err(std::io::Error::other));
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
    let parser = tokio::task::spawn_blocking(move || parse_batches(reader, &tx));

    let store = state.engine.store();
    let mut report = ImportReport::default();
    while let Some(batch) = rx.recv().await {
        apply(&**store, batch?, state.engine.now(), &mut report).await?;
    }
    if let Err(e) = parser.await {
        tracing::error!(error = %e, "suppression import parser failed");
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"));
    }
    Ok(Json(report))
}

/// Reads the CSV and sends batches until the end, a read error, or a gone receiver.
fn parse_batches(reader: impl Read, tx: &mpsc::Sender<Result<Batch, ApiError>>) {
    let mut csv = suppression_csv::reader_builder().from_reader(reader);
    let mut parser = RowParser::new();
    let mut batch = Batch::default();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match parser.record(&record) {
                Ok(Row::Header) => {}
                Ok(Row::Idents(idents)) => batch.rows.push(idents.into_iter().map(|i| i.hash).collect()),
                Err(e) => batch.invalid.push(e),
            },
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(io) => {
                    // Every error the body stream yields is a BodyError.
                    let err = io.get_ref().and_then(|e| e.downcast_ref::<BodyError>()).copied();
                    let _ = tx.blocking_send(Err(ApiError::from(err.unwrap_or(BodyError::Unreadable))));
                    return;
                }
                _ => batch.invalid.push(suppression_csv::read_error(&e)),
            },
        }
        if batch.rows.len() + batch.invalid.len() >= IMPORT_BATCH_ROWS
            && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err()
        {
            return;
        }
    }
    let _ = tx.blocking_send(Ok(batch));
}

/// Suppresses a batch's hashes in one store call and counts its rows: a row is added when
/// one of its identifiers was new, skipped when all were suppressed already or came earlier
/// in the file.
async fn apply(store: &dyn Store, batch: Batch, now: Timestamp, report: &mut ImportReport) -> Result<(), ApiError> {
    // Each hash is sent once, for the first row naming it: a later row repeating it is a
    // repeat, not a new suppression, whatever order the store applies a call in.
    let mut first_row: HashMap<Sha256Hex, usize> = HashMap::new();
    let mut hashes = Vec::new();
    let mut owners = Vec::new();
    for (row, idents) in batch.rows.iter().enumerate() {
        for h in idents {
            first_row.entry(h.clone()).or_insert_with(|| {
                hashes.push(h.clone());
                owners.push(row);
                row
            });
        }
    }
    let new = store.suppress(hashes, now).await?;
    let mut row_added = vec![false; batch.rows.len()];
    for (owner, new) in owners.into_iter().zip(new) {
        if new {
            row_added[owner] = true;
        }
    }
    let added = row_added.iter().filter(|a| **a).count() as u64;
    report.added += added;
    report.skipped += row_added.len() as u64 - added;
    report.invalid += batch.invalid.len() as u64;
    report.rows += (row_added.len() + batch.invalid.len()) as u64;
    for e in batch.invalid {
        if report.invalid_rows.len() < LISTED_INVALID_ROWS {
            report.invalid_rows.push(InvalidRow { line: e.line, error: e.message });
        }
    }
    Ok(())
}
