//! The API document, `GET /openapi.json` (OpenAPI 3.1), generated from the code: each
//! handler carries its own description (`#[utoipa::path]`), and the routers that mount the
//! handlers (`utoipa_axum::OpenApiRouter` with `routes!`) collect them, so a handler cannot be
//! mounted without one. Answers are documented by the types that produce them (the
//! disclosure views, [`ErrorBody`]); request bodies that are parsed by hand (a lead's fields
//! are open-ended) by the schemas below. When the document is assembled ([`split`]) each
//! operation is named after its method and path (`operationId`), and what every operation of
//! a kind shares is stated once there.

use crate::error::ErrorBody;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pingpost",
        description = "A ping-post lead auction engine: partners ping leads and post them to the winning buyers; \
                       buyers read their sales and return bad leads; operators run the marketplace."
    ),
    components(schemas(ErrorBody, StatsBy, AccountsBy, ReturnStatusParam, CheckpointParam, LedgerStateParam)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "partner", description = "Lead partners: pings, posts, their own report. Partner key."),
        (name = "buyer", description = "Buyers: their sales and returns. Buyer key."),
        (name = "operator", description = "Operators: configuration, suppression, erasure, audit, statistics, ledger, money, returns. Operator token."),
        (name = "health", description = "Probes, unauthenticated (metrics are served on an address of their own, `--metrics-listen`)."),
    )
)]
pub struct ApiDoc;

/// The three credentials, each `Authorization: Bearer <secret>`; none opens another's API.
/// (Handlers name them as literals: `security(("partner_key" = []))`.)
const PARTNER_KEY: &str = "partner_key";
const BUYER_KEY: &str = "buyer_key";
const OPERATOR_TOKEN: &str = "operator_token";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (PARTNER_KEY, "A lead partner's API key."),
            (BUYER_KEY, "A buyer's API key (opens /v1/buyer/ only)."),
            (OPERATOR_TOKEN, "The operators' token (opens /v1/admin/ only)."),
        ] {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The router and its document, with what every operators' operation may also answer: a
/// console session's change without the session's CSRF token is refused (403), whichever
/// handler it was for — stated once here rather than on each handler.
pub fn split<S: Clone + Send + Sync + 'static>(
    router: utoipa_axum::router::OpenApiRouter<S>,
) -> (axum::Router<S>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = router.split_for_parts();
    name_operations(&mut doc);
    empty_query_values_are_absent(&mut doc);
    let refused = utoipa::openapi::ResponseBuilder::new()
        .description("A console session's change without the session's CSRF token (`csrf_failed`).")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item).filter(|(method, _)| *method != "get") {
            let operator = op
                .security
                .iter()
                .flatten()
                .any(|s| serde_json::to_value(s).is_ok_and(|v| v.get(OPERATOR_TOKEN).is_some()));
            if operator {
                op.responses.responses.entry("403".into()).or_insert_with(|| RefOr::T(refused.clone()));
            }
        }
    }
    (router, doc)
}

/// Every operation of a path, with its method's name.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// Names each operation after its method and path (`GET /v1/admin/buyers/{id}` is
/// `get_v1_admin_buyers_id`). utoipa names an operation after its handler, and the generic
/// handlers of the configuration resources share theirs (`list`, `read`, …) across six paths,
/// which OpenAPI forbids (an `operationId` is unique) and client generators trip over.
fn name_operations(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            op.operation_id = Some(operation_id(method, path));
        }
    }
}

fn operation_id(method: &str, path: &str) -> String {
    let words = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    std::iter::once(method).chain(words).collect::<Vec<_>>().join("_")
}

/// An optional query parameter sent empty (`?since=`) counts as absent, as
/// [`crate::query::get`] reads it, so a form or a script may send every field: the document
/// says so with `allowEmptyValue`, the keyword OpenAPI has for it (discouraged in 3.1 but
/// valid; utoipa does not model it, so it goes in as an extension would).
fn empty_query_values_are_absent(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            for param in op.parameters.iter_mut().flatten() {
                if param.parameter_in == ParameterIn::Query && !matches!(param.required, Required::True) {
                    let keywords = param.extensions.get_or_insert_with(Default::default);
                    keywords.insert("allowEmptyValue".into(), true.into());
                }
            }
        }
    }
}

/// A resource's schema as a PUT on its own path (`/…/{id}`) takes it: the path names the
/// resource, so the body's `id` may be left out (or `null`), and one that differs from the
/// path's is refused (422).
pub fn id_from_path(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else { return schema };
    object.required.retain(|name| name != "id");
    let id = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("The path's `id`: may be left out, and must equal it when given."));
    object.properties.insert("id".into(), id.into());
    RefOr::T(Schema::Object(object))
}

/// A lead: the consumer's identifiers (each as plaintext or as its SHA-256; at least one of
/// email and phone) and any qualifying fields (strings, numbers or booleans; at most 200).
pub struct Lead;

impl utoipa::PartialSchema for Lead {
    fn schema() -> RefOr<Schema> {
        let text = |what: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(what)).build();
        let value = Schema::OneOf(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(ObjectBuilder::new().schema_type(Type::Number))
                .item(ObjectBuilder::new().schema_type(Type::Boolean))
                .build(),
        );
        ObjectBuilder::new()
            .description(Some(
                "The consumer's identifiers and qualifying fields (strings, numbers or booleans; at most 200).",
            ))
            .property("email", text("The consumer's email."))
            .property("phone", text("The consumer's phone."))
            .property("email_sha256", text("SHA-256 (hex) of the normalized email."))
            .property("phone_sha256", text("SHA-256 (hex) of the normalized phone (E.164 digits)."))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(value))))
            .into()
    }
}

impl ToSchema for Lead {}

/// What a query parameter may name: the values the handlers accept, stated for the
/// document (the handlers parse the text themselves and refuse anything else with a 422).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents a query parameter
pub enum StatsBy {
    Partner,
    Buyer,
    Vertical,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents a query parameter
pub enum AccountsBy {
    Partner,
    Buyer,
    Offer,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents a query parameter
pub enum ReturnStatusParam {
    Pending,
    Approved,
    Denied,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents a query parameter
pub enum CheckpointParam {
    Suppressed,
    VerticalDuplicate,
    InAuctionDuplicate,
    ContractDuplicate,
    DqDuplicate,
    PostDuplicate,
    NoSandbox,
    VerticalRepeat,
    ContractRepeat,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents a query parameter
pub enum LedgerStateParam {
    Unconfirmed,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents a body parsed by `wire`
pub struct PingRequest {
    #[schema(min_length = 1)]
    offer: String,
    lead: Lead,
    /// A retry with the same key returns the first answer (remembered an hour).
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    idempotency_key: Option<String>,
    /// A test lead: every checkpoint and the auction run, but nothing is recorded, charged or
    /// counted, and buyers are called only at their sandbox URLs. Every ping of a partner in
    /// test mode is one.
    test: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents a body parsed by `wire`
pub struct PostRequest {
    #[schema(min_length = 1)]
    ping_id: String,
    /// The full lead; its identifiers must be the pinged ones (one may be left out).
    lead: Lead,
    /// The bids to try: on a `consent` offer in this order, elsewhere a narrowing of the ranking.
    bid_ids: Option<Vec<String>>,
    /// Must say what the ping was: a test ping is only posted as a test, a live ping never
    /// (else 422, field `test`). A partner in test mode posts only test leads.
    test: Option<bool>,
}

/// A ping as a form (`application/x-www-form-urlencoded`): `offer`, `idempotency_key` and
/// `test` are the request's own fields, every other field is a lead field (a string).
pub struct PingForm;

impl utoipa::PartialSchema for PingForm {
    fn schema() -> RefOr<Schema> {
        let own = ObjectBuilder::new()
            .description(Some(
                "A ping as a form: `offer`, `idempotency_key` and `test` are the request's own fields, every \
                 other field is a lead field (a string; numeric text passes range filters as a number). The \
                 lead follows the rules of a JSON ping's. A field given twice is refused.",
            ))
            .property("offer", ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)))
            .required("offer")
            .property(
                "idempotency_key",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(128))
                    .pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f]*$"))
                    .description(Some("As a JSON ping's; empty is absent.")),
            );
        form(own)
    }
}

impl ToSchema for PingForm {}

/// A post as a form: `ping_id`, `bid_ids` (comma-separated) and `test` are the request's own
/// fields, every other field is a lead field (a string).
pub struct PostForm;

impl utoipa::PartialSchema for PostForm {
    fn schema() -> RefOr<Schema> {
        let own = ObjectBuilder::new()
            .description(Some(
                "A post as a form: `ping_id`, `bid_ids` and `test` are the request's own fields, every other \
                 field is a lead field (a string), forwarded to the buyer as sent. A field given twice is refused.",
            ))
            .property("ping_id", ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)))
            .required("ping_id")
            .property(
                "bid_ids",
                ObjectBuilder::new().schema_type(Type::String).description(Some(
                    "The bids to try, comma-separated (`a,b`), as a JSON post's `bid_ids`; empty is absent.",
                )),
            );
        form(own)
    }
}

impl ToSchema for PostForm {}

/// What a ping's and a post's forms share: `test`, the identifiers, and lead fields as strings.
fn form(own: ObjectBuilder) -> RefOr<Schema> {
    let text = |what: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(what)).build();
    own.property(
        "test",
        ObjectBuilder::new().schema_type(Type::Boolean).description(Some(
            "A test lead: `true`/`false`, `1`/`0` or `yes`/`no` in any case (empty is absent, which is \
             live).",
        )),
    )
    .property("email", text("The consumer's email."))
    .property("phone", text("The consumer's phone."))
    .property("email_sha256", text("SHA-256 (hex) of the normalized email."))
    .property("phone_sha256", text("SHA-256 (hex) of the normalized phone (E.164 digits)."))
    .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
        ObjectBuilder::new().schema_type(Type::String).build(),
    )))))
    .into()
}

#[cfg(test)]
mod tests {
    use super::{operations_mut, split, OPERATOR_TOKEN};
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::{RefOr, Required};

    fn operations() -> Vec<(String, String, Operation)> {
        let (_, mut doc) = split(crate::routes::api());
        let mut out = Vec::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
        out
    }

    /// OpenAPI requires each `operationId` to be unique; handlers that share a name (the
    /// configuration resources' generic `list`, `read`, …) once gave six operations one id.
    #[test]
    fn every_operation_has_its_own_operation_id() {
        let mut seen = std::collections::BTreeMap::new();
        for (method, path, op) in operations() {
            let what = format!("{method} {path}");
            let id = op.operation_id.unwrap_or_default();
            assert!(!id.is_empty(), "{what}: no operationId");
            if let Some(other) = seen.insert(id.clone(), what.clone()) {
                panic!("{what} and {other} share the operationId {id:?}");
            }
        }
        assert_eq!(seen.get("get_v1_admin_buyers_id").map(String::as_str), Some("get /v1/admin/buyers/{id}"));
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_three_credentials() {
        let (_, doc) = split(crate::routes::api());
        let json = serde_json::to_value(&doc).unwrap_or_default();
        assert!(json["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", json["openapi"]);
        let schemes = &json["components"]["securitySchemes"];
        for name in ["partner_key", "buyer_key", "operator_token"] {
            assert_eq!(schemes[name]["scheme"], "bearer", "{name}: {schemes}");
        }
    }

    /// A handler mounted without its description, or an error status without the error
    /// object, fails here instead of drifting from the document.
    #[test]
    fn every_operation_is_described_secured_and_answers_errors_as_the_error_object() {
        let ops = operations();
        assert!(ops.len() >= 48, "{} operations", ops.len());
        for (method, path, op) in ops {
            let what = format!("{method} {path}");
            let summary = op.summary.as_deref().unwrap_or_default();
            assert!(!summary.is_empty() && !summary.contains('\n'), "{what}: summary {summary:?} is not one line");
            let public = ["/healthz", "/readyz"].contains(&path.as_str());
            assert_eq!(op.security.as_ref().is_some_and(|s| !s.is_empty()), !public, "{what}: security");
            assert!(op.tags.as_ref().is_some_and(|t| !t.is_empty()), "{what}: no tag");
            for (status, response) in &op.responses.responses {
                let RefOr::T(response) = response else { continue };
                let json = serde_json::to_value(response).unwrap_or_default();
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        json["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{what} {status}"
                    );
                }
            }
            let operator = serde_json::to_value(&op.security).unwrap_or_default().to_string().contains(OPERATOR_TOKEN);
            if operator && method != "get" {
                assert!(op.responses.responses.contains_key("403"), "{what}: a console change without its CSRF token");
            }
            if let Some(body) = &op.request_body {
                assert!(matches!(body.required, Some(Required::True)), "{what}: a body is required");
            }
        }
    }

    fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_string()),
                        _ => refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// A reference to a schema the document does not hold makes the whole operation
    /// unusable to a client generator (and to schemathesis).
    #[test]
    fn every_reference_in_the_document_resolves() {
        let (_, doc) = split(crate::routes::api());
        let json = serde_json::to_value(&doc).unwrap_or_default();
        let mut found = Vec::new();
        refs(&json, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
            assert!(json["components"]["schemas"].get(name).is_some(), "unresolved {r}");
        }
    }

    /// A ping and a post come as JSON or as a form, each body with its own schema, and any
    /// other content type is answered 415.
    #[test]
    fn ping_and_post_take_json_or_a_form_and_refuse_other_types() {
        let (_, doc) = split(crate::routes::api());
        let json = serde_json::to_value(&doc).unwrap_or_default();
        for (path, schemas) in [("/v1/ping", ["PingRequest", "PingForm"]), ("/v1/post", ["PostRequest", "PostForm"])] {
            let op = &json["paths"][path]["post"];
            let content = &op["requestBody"]["content"];
            let types: Vec<&String> = content.as_object().map(|c| c.keys().collect()).unwrap_or_default();
            assert_eq!(types, ["application/json", "application/x-www-form-urlencoded"], "{path}");
            for (content_type, schema) in types.iter().zip(schemas) {
                let reference = &content[content_type.as_str()]["schema"]["$ref"];
                assert_eq!(reference.as_str(), Some(format!("#/components/schemas/{schema}").as_str()), "{path}");
            }
            assert!(op["responses"]["415"].is_object(), "{path}: no 415");
        }
        let form = &json["components"]["schemas"]["PostForm"];
        assert_eq!(form["additionalProperties"]["type"], "string", "{form}");
        assert_eq!(form["properties"]["test"]["type"], "boolean", "{form}");
    }

    /// A test lead's answers say `test`, which a live answer leaves out: optional, boolean.
    #[test]
    fn the_answers_document_their_test_mark() {
        let (_, doc) = split(crate::routes::api());
        let json = serde_json::to_value(&doc).unwrap_or_default();
        for view in ["PingView", "PostView"] {
            let schema = &json["components"]["schemas"][view];
            assert!(schema["properties"]["test"].to_string().contains("boolean"), "{view}: {schema}");
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            assert!(!required.contains(&serde_json::json!("test")), "{view}: {schema}");
        }
    }

    /// A PUT on a resource's own path takes the id from the path: the server accepts a body
    /// without one (and refuses one that differs), so the body's schema must not require it.
    /// Partners and buyers also take their key in plain text, which no answer shows.
    #[test]
    fn a_put_on_its_own_path_takes_the_id_from_the_path() {
        let (_, doc) = split(crate::routes::api());
        let json = serde_json::to_value(&doc).unwrap_or_default();
        let mut puts = Vec::new();
        for (path, item) in json["paths"].as_object().into_iter().flatten() {
            let Some(op) = item.get("put").filter(|_| path.ends_with("/{id}")) else { continue };
            let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            let name = body.as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).unwrap_or_default();
            let schema = &json["components"]["schemas"][name];
            assert!(schema["properties"]["id"].is_object(), "{path}: {schema}");
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            assert!(!required.contains(&"id".into()), "{path}: the body's id is required: {schema}");
            let plain_key = schema["properties"]["api_key"]["writeOnly"] == true;
            assert_eq!(plain_key, path.contains("/partners/") || path.contains("/buyers/"), "{path}: api_key");
            puts.push(path.clone());
        }
        assert_eq!(puts.len(), 6, "{puts:?}");
    }

    /// Every handler reads an empty query value as absent (`query::get`); the document says
    /// so of each optional parameter, and of no required one.
    #[test]
    fn optional_query_parameters_may_be_sent_empty() {
        let mut optional = 0;
        for (method, path, op) in operations() {
            for param in op.parameters.into_iter().flatten() {
                let json = serde_json::to_value(&param).unwrap_or_default();
                let what = format!("{method} {path} {}", param.name);
                let required = json["required"] == true;
                let empty = json["allowEmptyValue"] == true;
                if json["in"] == "query" {
                    assert_eq!(empty, !required, "{what}: {json}");
                    optional += usize::from(!required);
                } else {
                    assert!(!empty, "{what}: {json}");
                }
            }
        }
        assert!(optional >= 20, "{optional}");
    }

    fn enum_values<T: utoipa::PartialSchema>() -> Vec<String> {
        let json = serde_json::to_value(T::schema()).unwrap_or_default();
        json["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
    }

    /// The documented values of query parameters are the handlers' own, named once in the
    /// domain: a new checkpoint, grouping or status must appear in the document too.
    #[test]
    fn documented_parameter_values_are_the_ones_the_handlers_accept() {
        use pingpost_core::checkpoint::Checkpoint;
        use pingpost_engine::stats::GroupBy;
        use pingpost_store::ReturnStatus;
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let checkpoints: Vec<&str> = Checkpoint::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(enum_values::<super::CheckpointParam>(), names(&checkpoints));
        let groups: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(enum_values::<super::StatsBy>(), names(&groups));
        let statuses: Vec<&str> =
            [ReturnStatus::Pending, ReturnStatus::Approved, ReturnStatus::Denied].iter().map(|s| s.as_str()).collect();
        assert_eq!(enum_values::<super::ReturnStatusParam>(), names(&statuses));
        assert_eq!(enum_values::<super::AccountsBy>(), ["partner", "buyer", "offer"]);
        for by in ["partner", "buyer", "offer"] {
            assert!(by.parse::<pingpost_books::GroupBy>().is_ok(), "{by}");
        }
    }

    /// Routes are mounted with `routes!` (which requires each handler's `#[utoipa::path]`),
    /// never with axum's `.route(…)`, which would serve an undocumented endpoint. The
    /// exceptions are the document itself, the console's pages, and `/metrics`, which is
    /// served on an address of its own and is no part of the API.
    #[test]
    fn no_route_is_mounted_outside_the_document() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // The console's pages are HTML for people, not API: they are not in the document.
        let console = src.join("console");
        // Spelt out at run time, so this test does not find itself.
        let needle = [".", "route("].concat();
        let mut found = Vec::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.starts_with(&console) {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for (i, line) in text.lines().enumerate() {
                        let code = !line.trim_start().starts_with("//");
                        if code
                            && line.contains(needle.as_str())
                            && !line.contains("\"/openapi.json\"")
                            && !line.contains("\"/metrics\"")
                        {
                            found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "undocumented routes: {found:#?}");
    }
}
