//! `pinecrest`, a lead exchange that takes its XML inside one form field
//! (`POST /pinecrest/api/post`, `application/x-www-form-urlencoded`, `xml=<lead>…</lead>`),
//! its key in the XML (`<source><vendor_id>…</vendor_id><api_key>…</api_key></source>`),
//! phones as `555-123-4567` and dates as `MM/DD/YYYY`, and answers XML:
//! `<response><result>success</result><lead_id>PC-000001</lead_id></response>` (with
//! `<price>` and `<redirect>` when set), `<result>duplicate</result>` or
//! `<result>rejected</result>` with a `<message>`, or `<result>error</result>` with a
//! `<message>` and a 4xx.

use super::check::{self, Body, Field, FormBody, Format, Refusal};
use super::xml;
use super::{Answer, Arrival, Desk, Verdict};
use axum::http::StatusCode;
use quick_xml::escape::escape;

/// The vendor id this exchange assigned the marketplace.
pub const VENDOR_ID: &str = "PP-2207";
/// The form field holding the XML document.
pub const FORM_FIELD: &str = "xml";
/// The document's root element.
pub const ROOT: &str = "lead";

pub const POST_FIELDS: &[Field] = &[
    Field { name: "source.vendor_id", format: Format::Fixed(VENDOR_ID) },
    Field { name: "source.api_key", format: Format::Secret("pinecrest_api_key") },
    Field { name: "contact.first_name", format: Format::Text { max: 50 } },
    Field { name: "contact.last_name", format: Format::Text { max: 50 } },
    Field { name: "contact.email", format: Format::Email },
    Field { name: "contact.phone", format: Format::PhoneDashed },
    Field { name: "contact.zip", format: Format::Zip },
    Field { name: "contact.state", format: Format::State },
    Field { name: "applicant.dob", format: Format::DateMdy },
];

const LEAD_IDS: &str = "PC";
const XML: &str = "application/xml; charset=utf-8";

pub(crate) fn answer(desk: &Desk<'_>, arrival: &Arrival) -> Answer {
    match read(desk, arrival) {
        Ok(()) => decided(desk),
        Err(refusal) => refused(&refusal),
    }
}

fn read(desk: &Desk<'_>, arrival: &Arrival) -> Result<(), Refusal> {
    check::method(&arrival.method)?;
    check::content_type(&arrival.headers, "application/x-www-form-urlencoded")?;
    let form = FormBody::read(&arrival.body)?;
    let document = match form.field(FORM_FIELD) {
        Ok(Some(input)) => input.text().map_err(|m| Refusal::invalid(FORM_FIELD, m))?,
        _ => return Err(Refusal::invalid(FORM_FIELD, "is required")),
    };
    let lead = xml::parse(document).map_err(|m| Refusal::invalid(FORM_FIELD, m))?;
    if lead.name != ROOT {
        return Err(Refusal::invalid(FORM_FIELD, format!("the root element must be <{ROOT}>")));
    }
    check::fields(POST_FIELDS, &lead, desk.credentials)
}

fn decided(desk: &Desk<'_>) -> Answer {
    let body = match desk.verdict {
        Verdict::Accept => {
            let lead_id = desk.registry.issue(LEAD_IDS, desk.sandbox);
            let mut elements = vec![("lead_id", lead_id.as_str())];
            elements.extend(desk.behaviour.price.as_deref().map(|p| ("price", p)));
            elements.extend(desk.behaviour.redirect_url.as_deref().map(|u| ("redirect", u)));
            response("success", &elements)
        }
        Verdict::Reject => response("rejected", &[("message", "Lead does not meet the exchange's criteria")]),
        Verdict::Duplicate => response("duplicate", &[("message", "Lead already exists")]),
    };
    Answer::new(StatusCode::OK, XML, body)
}

fn refused(refusal: &Refusal) -> Answer {
    Answer::new(refusal.status, XML, response("error", &[("message", &refusal.summary())])).with_headers_for(refusal)
}

fn response(result: &str, elements: &[(&str, &str)]) -> String {
    let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><result>{result}</result>");
    for (name, value) in elements {
        xml.push_str(&format!("<{name}>{}</{name}>", escape(*value)));
    }
    xml.push_str("</response>");
    xml
}
