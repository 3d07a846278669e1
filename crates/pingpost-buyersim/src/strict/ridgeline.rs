//! `ridgeline`, a lead buyer taking form posts (`POST /ridgeline/api/leads`,
//! `application/x-www-form-urlencoded`) with dotted names (`Lead.FirstName`), HTTP Basic
//! auth, phones as 10 digits and dates as `MM/DD/YYYY`, and answering in plain text:
//! `SUCCESS|lead_id=RL-000001` (then `|price=…` and `|redirect=…` when set), `DUPLICATE`,
//! `REJECTED|<reason>`, or `ERROR|<what is wrong>` with a 4xx (a 401 with
//! `WWW-Authenticate`).

use super::check::{self, Field, FormBody, Format, Refusal};
use super::{Answer, Arrival, Desk, Verdict};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;

pub const POST_FIELDS: &[Field] = &[
    Field { name: "Lead.FirstName", format: Format::Text { max: 50 } },
    Field { name: "Lead.LastName", format: Format::Text { max: 50 } },
    Field { name: "Lead.Email", format: Format::Email },
    Field { name: "Lead.Phone", format: Format::Phone10 },
    Field { name: "Lead.DOB", format: Format::DateMdy },
    Field { name: "Lead.ZipCode", format: Format::Zip },
    Field { name: "Lead.State", format: Format::State },
    // The buyer's own codes.
    Field { name: "Lead.Gender", format: Format::Code(&["M", "F"]) },
];

const LEAD_IDS: &str = "RL";
const TEXT: &str = "text/plain; charset=utf-8";
const REALM: &str = "Basic realm=\"Ridgeline Leads\"";

pub(crate) fn answer(desk: &Desk<'_>, arrival: &Arrival) -> Answer {
    match read(desk, arrival) {
        Ok(()) => decided(desk),
        Err(refusal) => refused(&refusal),
    }
}

fn read(desk: &Desk<'_>, arrival: &Arrival) -> Result<(), Refusal> {
    check::method(&arrival.method)?;
    check::content_type(&arrival.headers, "application/x-www-form-urlencoded")?;
    basic_auth(&arrival.headers, &desk.credentials.ridgeline_username, &desk.credentials.ridgeline_password)?;
    let body = FormBody::read(&arrival.body)?;
    check::fields(POST_FIELDS, &body, desk.credentials)
}

/// `Authorization: Basic base64(user:password)`, exactly these.
fn basic_auth(headers: &HeaderMap, username: &str, password: &str) -> Result<(), Refusal> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Err(Refusal::unauthorized(None, "authentication required"));
    };
    let pair = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match pair.as_deref().and_then(|p| p.split_once(':')) {
        Some((user, pass)) if user == username && pass == password => Ok(()),
        _ => Err(Refusal::unauthorized(None, "invalid credentials")),
    }
}

fn decided(desk: &Desk<'_>) -> Answer {
    let body = match desk.verdict {
        Verdict::Accept => {
            let mut line = format!("SUCCESS|lead_id={}", desk.registry.issue(LEAD_IDS, desk.sandbox));
            if let Some(price) = &desk.behaviour.price {
                line.push_str(&format!("|price={price}"));
            }
            if let Some(url) = &desk.behaviour.redirect_url {
                line.push_str(&format!("|redirect={url}"));
            }
            line
        }
        Verdict::Reject => "REJECTED|Lead does not meet buying criteria".to_string(),
        Verdict::Duplicate => "DUPLICATE".to_string(),
    };
    Answer::new(StatusCode::OK, TEXT, body)
}

fn refused(refusal: &Refusal) -> Answer {
    let mut answer =
        Answer::new(refusal.status, TEXT, format!("ERROR|{}", refusal.summary())).with_headers_for(refusal);
    if refusal.status == StatusCode::UNAUTHORIZED {
        answer.headers.push((WWW_AUTHENTICATE, REALM.to_string()));
    }
    answer
}
