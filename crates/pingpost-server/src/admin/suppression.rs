//! Suppression lists: add, remove and check identifiers, and import a CSV file of them.
//! Emails and phones are normalized and hashed here, at the edge, with the rules of pings;
//! only hashes go to the store, and no answer or log line repeats a plaintext identifier.
//!
//! A suppression entry lives with that consumer's dedup state (on Redis, `pp:{<hash>}:sup`
//! in the identifier's slot, no TTL), so the admission checks it atomically with the vertical
//! reservation. The `pingpost suppress import` CLI hashes on the operator's machine and sends
//! only a CSV of hashes; reading a suppression CSV (header detection, the email/phone guess,
//! line numbers) is the pure `pingpost_core::suppression_csv`, so server and CLI agree.
//!
//! The import endpoint never holds the body: a blocking task parses the stream with the `csv`
//! crate into batches of 10 000 rows, passed through a channel of 2 to the handler, which
//! makes one store `suppress` call per batch; that call answers per hash whether it was new,
//! which is how rows are counted as added or skipped. On Redis, bulk suppression uses
//! pipelines of 1 000 commands (4 in flight) on a single server; on a cluster it sends
//! single-key commands, 256 at a time, because the keys spread over all slots and redis-rs
//! refuses cross-slot pipelines.

use super::auth::Operator;
use super::body;
use super::identifiers;
use crate::body::{BodyError, RequestBody};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use futures_util::StreamExt;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::suppression_csv::{self, Row, RowError, RowParser};
use pingpost_core::Timestamp;
use pingpost_store::Suppression;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa_axum::{router::OpenApiRouter, routes};

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

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(add, remove)).routes(routes!(check)).routes(routes!(import))
}

/// `{"emails": [], "phones": [], "sha256": []}`; every list is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Added {
    added: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Removed {
    removed: u64,
}

/// Suppress emails, phones and hashes.
///
/// Identifiers are normalized and hashed as a ping's are; nothing is applied unless every
/// one is valid. Answers how many were not suppressed before.
#[utoipa::path(post, path = "/suppression", tag = "operator", security(("operator_token" = [])),
    request_body = Lists,
    responses(
        (status = 200, description = "Suppressed.", body = Added),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "An identifier is invalid; `field` names it (`emails[3]`).", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn add(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Added>, ApiError> {
    let hashes = body::json::<Lists>(body).await?.hashes()?;
    let new = state.engine.store().suppress(hashes, state.engine.now()).await?;
    Ok(Json(Added { added: new.into_iter().filter(|n| *n).count() }))
}

/// Lift the suppression of emails, phones and hashes.
#[utoipa::path(delete, path = "/suppression", tag = "operator", security(("operator_token" = [])),
    request_body = Lists,
    responses(
        (status = 200, description = "How many were suppressed and are not any more.", body = Removed),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "An identifier is invalid; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn remove(_: Operator, State(state): State<Arc<AppState>>, body: RequestBody) -> Result<Json<Removed>, ApiError> {
    let hashes = body::json::<Lists>(body).await?.hashes()?;
    let removed = state.engine.store().unsuppress(hashes).await?;
    Ok(Json(Removed { removed }))
}

/// `?email=…`, `?phone=…` or `?sha256=…`: exactly one.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CheckQuery {
    email: Option<String>,
    phone: Option<String>,
    sha256: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Status {
    suppressed: bool,
    /// When it was suppressed.
    #[schema(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
}

/// Whether one identifier is suppressed (exactly one of `email`, `phone`, `sha256`).
#[utoipa::path(get, path = "/suppression/check", tag = "operator", security(("operator_token" = [])),
    params(CheckQuery),
    responses(
        (status = 200, description = "Whether, and since when.", body = Status),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 422, description = "Not exactly one identifier, or an invalid one.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn check(
    _: Operator,
    State(state): State<Arc<AppState>>,
    query: Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Status>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    // An empty value is absent, as in every query string (`query::get`).
    let given = |v: Option<String>| v.filter(|v| !v.is_empty());
    let hash = match (given(q.email), given(q.phone), given(q.sha256)) {
        (Some(e), None, None) => identifiers::email("email", &e)?,
        (None, Some(p), None) => identifiers::phone("phone", &p)?,
        (None, None, Some(h)) => identifiers::sha256("sha256", &h)?,
        _ => return Err(ApiError::invalid("query", "must name exactly one of email, phone or sha256")),
    };
    let since = state.engine.store().suppression_status(vec![hash]).await?.into_iter().next().flatten();
    Ok(Json(Status { suppressed: since.is_some(), since }))
}

/// What an import answers.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
struct ImportReport {
    rows: u64,
    added: u64,
    skipped: u64,
    invalid: u64,
    invalid_rows: Vec<InvalidRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Import a CSV file of identifiers to suppress.
///
/// The body (see [`suppression_csv`]) is read as a stream. A blocking task parses it with the `csv` crate into batches that this task applies in
/// order; the bounded channel between them keeps memory flat however large the file is.
/// An import stopped midway (store down, client gone) has applied its earlier batches;
/// running it again is harmless, those rows then count as skipped.
#[utoipa::path(post, path = "/suppression/import", tag = "operator", security(("operator_token" = [])),
    request_body(content = String, content_type = "text/csv",
        description = "A header naming `email`, `phone`, `email_sha256`, `phone_sha256` columns, or none (a cell with `@` is an email). Up to 1 GiB, streamed."),
    responses(
        (status = 200, description = "Rows read, added, already suppressed (skipped) and invalid (the first 100 listed by line).", body = ImportReport),
        (status = 400, description = "The body was broken off.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 413, description = "The body is over 1 GiB.", body = ErrorBody),
        (status = 422, description = "The CSV cannot be read.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
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
async fn apply(
    store: &dyn Suppression,
    batch: Batch,
    now: Timestamp,
    report: &mut ImportReport,
) -> Result<(), ApiError> {
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
