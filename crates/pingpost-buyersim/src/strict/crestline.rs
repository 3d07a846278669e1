//! `crestline`, an insurance carrier's ping/post API: JSON both ways, its key (`ApiToken`)
//! and the marketplace's campaign (`tagId`) in every body, the lead nested under `Lead`.
//!
//! The ping (`POST /crestline/v2/ping`) carries no personal data and is answered
//! `{"leadAuctionId": "LA-000001", "price": 10.00, "status": "success"}` (or
//! `{"status": "no_bid"}`); the post (`POST /crestline/v2/post`) must carry that
//! `leadAuctionId` back — an id this carrier never issued is refused 400, one already posted
//! 409 — and is answered `{"leadId": "CL-000001", "price": 10.00, "status": "accepted"}`
//! (with `redirectUrl` when one is set), `{"message": …, "status": "rejected"}` or
//! `{"message": …, "status": "duplicate"}`. A refused request is answered
//! `{"errors": [{"field", "message"}], "message": "…", "status": "error"}`.

use super::check::{self, Field, Format, JsonBody, Refusal};
use super::{Answer, Arrival, Call, Desk, Verdict};
use serde_json::{json, Value};

/// The campaign this carrier opened for the marketplace.
pub const TAG_ID: i64 = 4417;

const CREDENTIALS: [Field; 2] = [
    Field { name: "ApiToken", format: Format::Secret("crestline_api_token") },
    Field { name: "tagId", format: Format::FixedInteger(TAG_ID) },
];

/// The ping's fields: no name, email, phone or birth date before the carrier has bought.
pub const PING_FIELDS: &[Field] = &[
    CREDENTIALS[0],
    CREDENTIALS[1],
    Field { name: "Lead.ZipCode", format: Format::Zip },
    Field { name: "Lead.State", format: Format::State },
    Field { name: "Lead.Age", format: Format::Integer { min: 16, max: 110 } },
    // The carrier's own codes: 1 male, 2 female.
    Field { name: "Lead.Gender", format: Format::IntegerCode(&[1, 2]) },
];

pub const POST_FIELDS: &[Field] = &[
    CREDENTIALS[0],
    CREDENTIALS[1],
    Field { name: "leadAuctionId", format: Format::PingReference },
    Field { name: "Lead.FirstName", format: Format::Text { max: 50 } },
    Field { name: "Lead.LastName", format: Format::Text { max: 50 } },
    Field { name: "Lead.Email", format: Format::Email },
    Field { name: "Lead.Phone", format: Format::PhoneE164 },
    Field { name: "Lead.DateOfBirth", format: Format::DateIso },
    Field { name: "Lead.ZipCode", format: Format::Zip },
    Field { name: "Lead.State", format: Format::State },
];

const AUCTION_IDS: &str = "LA";
const LEAD_IDS: &str = "CL";

pub(crate) fn answer(desk: &Desk<'_>, call: Call, arrival: &Arrival) -> Answer {
    let decided = read(desk, call, arrival).and_then(|body| match call {
        Call::Bid => Ok(ping(desk)),
        Call::Post => post(desk, &body),
    });
    decided.unwrap_or_else(|refusal| refused(&refusal))
}

fn read(desk: &Desk<'_>, call: Call, arrival: &Arrival) -> Result<Value, Refusal> {
    check::method(&arrival.method)?;
    check::content_type(&arrival.headers, "application/json")?;
    let body: Value =
        serde_json::from_slice(&arrival.body).map_err(|_| Refusal::malformed("the body is not valid JSON"))?;
    if !body.is_object() {
        return Err(Refusal::malformed("the body must be a JSON object"));
    }
    let spec = match call {
        Call::Bid => PING_FIELDS,
        Call::Post => POST_FIELDS,
    };
    check::fields(spec, &JsonBody(&body), desk.credentials)?;
    Ok(body)
}

fn ping(desk: &Desk<'_>) -> Answer {
    match &desk.behaviour.bid {
        Some(price) => {
            let auction = desk.registry.open_auction(AUCTION_IDS, desk.sandbox, price);
            ok(json!({"status": "success", "leadAuctionId": auction}), Some(price))
        }
        None => ok(json!({"status": "no_bid"}), None),
    }
}

fn post(desk: &Desk<'_>, body: &Value) -> Result<Answer, Refusal> {
    let auction = body.get("leadAuctionId").and_then(Value::as_str).unwrap_or_default();
    let bid = desk.registry.post_auction("leadAuctionId", auction, desk.sandbox)?;
    Ok(match desk.verdict {
        Verdict::Accept => {
            let mut accepted = json!({"status": "accepted", "leadId": desk.registry.issue(LEAD_IDS, desk.sandbox)});
            if let Some(url) = &desk.behaviour.redirect_url {
                accepted["redirectUrl"] = json!(url);
            }
            ok(accepted, Some(desk.behaviour.price.as_deref().unwrap_or(&bid)))
        }
        Verdict::Reject => {
            ok(json!({"status": "rejected", "message": "The lead does not meet the carrier's criteria"}), None)
        }
        Verdict::Duplicate => ok(json!({"status": "duplicate", "message": "The lead was already received"}), None),
    })
}

/// A 200 answer, with `price` as a JSON number written from its decimal text.
fn ok(mut answer: Value, price: Option<&str>) -> Answer {
    let mut text = answer.to_string();
    if let Some(price) = price {
        // A placeholder keeps serde_json's key order; the number replaces its quoted form.
        answer["price"] = json!("\u{0}price");
        text = answer.to_string().replacen("\"\\u0000price\"", &json_number(price), 1);
    }
    Answer::new(axum::http::StatusCode::OK, "application/json", text)
}

fn refused(refusal: &Refusal) -> Answer {
    let errors: Vec<Value> = refusal.problems.iter().map(|p| json!({"field": p.field, "message": p.message})).collect();
    let body = json!({"status": "error", "message": refusal.summary(), "errors": errors});
    Answer::new(refusal.status, "application/json", body.to_string()).with_headers_for(refusal)
}

/// A price as a JSON number, written from its decimal text: money never passes through a
/// float, even in a simulator. Anything but a plain decimal is written as a JSON string.
fn json_number(price: &str) -> String {
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let decimal = match price.split_once('.') {
        Some((units, cents)) => plain(units) && plain(cents),
        None => plain(price),
    };
    if decimal {
        price.to_string()
    } else {
        Value::String(price.to_string()).to_string()
    }
}
