//! Verticals, offers, partners, buyers, contracts and return reasons: list, read, create-or-replace,
//! delete, and merge-patch for contracts. Every write goes through
//! [`Engine::edit_config`](pingpost_engine::Engine::edit_config): the whole configuration is
//! validated with the change, and the change is stored (and seen by every node) or refused
//! with a 422 naming the field — never half-applied.

use super::auth::Operator;
use super::body;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pingpost_core::config::document::{hash_buyer_key, hash_partner_key};
use pingpost_core::config::raw::{RawBuyer, RawContract, RawOffer, RawPartner, RawReturnReason, RawVertical};
use pingpost_core::config::{ConfigDocument, ConfigError, Resource};
use pingpost_engine::config_sync::EditError;
use serde_json::{json, Value};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(verticals::list))
        .routes(routes!(verticals::read, verticals::put, verticals::delete))
        .routes(routes!(offers::list))
        .routes(routes!(offers::read, offers::put, offers::delete))
        .routes(routes!(partners::list))
        .routes(routes!(partners::read, partners::put, partners::delete))
        .routes(routes!(buyers::list))
        .routes(routes!(buyers::read, buyers::put, buyers::delete))
        .routes(routes!(return_reasons::list))
        .routes(routes!(return_reasons::read, return_reasons::put, return_reasons::delete))
        .routes(routes!(contracts::list))
        .routes(routes!(contracts::read, contracts::put, contracts::delete, patch_contract))
}

/// A resource kind's list, read, create-or-replace and delete, each documented: the
/// generic handlers below, under the kind's own paths and words.
macro_rules! resource {
    ($module:ident, $raw:ty, $list:literal, $item:literal, $kind:literal) => {
        mod $module {
            use super::*;

            /// The body of a PUT: the resource, its `id` taken from the path.
            pub struct PutBody;

            impl utoipa::PartialSchema for PutBody {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    crate::openapi::id_from_path(<$raw as AdminResource>::written())
                }
            }

            impl utoipa::ToSchema for PutBody {
                fn name() -> std::borrow::Cow<'static, str> {
                    std::borrow::Cow::Borrowed(concat!(stringify!($raw), "Put"))
                }

                fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                    <$raw as utoipa::ToSchema>::schemas(out)
                }
            }

            #[utoipa::path(get, path = $list, tag = "operator", security(("operator_token" = [])),
                summary = concat!("List the ", $kind, "."),
                responses(
                    (status = 200, description = "Every one, as stored.", body = Items<$raw>),
                    (status = 401, description = "No or wrong operator token.", body = ErrorBody),
                    (status = 503, description = "The store could not be reached.", body = ErrorBody),
                ))]
            pub async fn list(op: Operator, state: State<Arc<AppState>>) -> Result<Json<Items<$raw>>, ApiError> {
                super::list::<$raw>(op, state).await
            }

            #[utoipa::path(get, path = $item, tag = "operator", security(("operator_token" = [])),
                summary = concat!("Read one of the ", $kind, "."),
                params(("id" = String, Path, description = "Its id.")),
                responses(
                    (status = 200, description = "As stored.", body = $raw),
                    (status = 401, description = "No or wrong operator token.", body = ErrorBody),
                    (status = 404, description = "No such id.", body = ErrorBody),
                    (status = 503, description = "The store could not be reached.", body = ErrorBody),
                ))]
            pub async fn read(op: Operator, state: State<Arc<AppState>>, id: Path<String>) -> Result<Json<$raw>, ApiError> {
                super::read::<$raw>(op, state, id).await
            }

            #[utoipa::path(put, path = $item, tag = "operator", security(("operator_token" = [])),
                summary = concat!("Create or replace one of the ", $kind, "."),
                description = "Validated with the whole configuration; applied on every node, or refused with nothing changed.",
                params(("id" = String, Path, description = "Its id (the body's `id`, when given, must agree).")),
                request_body = PutBody,
                responses(
                    (status = 200, description = "Replaced; as stored.", body = $raw),
                    (status = 201, description = "Created; as stored.", body = $raw),
                    (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
                    (status = 401, description = "No or wrong operator token.", body = ErrorBody),
                    (status = 409, description = "Another edit won; send it again.", body = ErrorBody),
                    (status = 413, description = "The body is too large.", body = ErrorBody),
                    (status = 422, description = "A field is invalid, or the change would break another resource; `field` names it.", body = ErrorBody),
                    (status = 503, description = "The store could not be reached, or holds no configuration (`config_missing`).", body = ErrorBody),
                ))]
            pub async fn put(
                op: Operator,
                state: State<Arc<AppState>>,
                id: Path<String>,
                body: RequestBody,
            ) -> Result<(StatusCode, Json<$raw>), ApiError> {
                super::put::<$raw>(op, state, id, body).await
            }

            #[utoipa::path(delete, path = $item, tag = "operator", security(("operator_token" = [])),
                summary = concat!("Delete one of the ", $kind, "."),
                params(("id" = String, Path, description = "Its id.")),
                responses(
                    (status = 200, description = "Deleted.", body = Deleted),
                    (status = 401, description = "No or wrong operator token.", body = ErrorBody),
                    (status = 404, description = "No such id.", body = ErrorBody),
                    (status = 409, description = "Another edit won; send it again.", body = ErrorBody),
                    (status = 422, description = "Others still use it (`id` names them).", body = ErrorBody),
                    (status = 503, description = "The store could not be reached, or holds no configuration (`config_missing`).", body = ErrorBody),
                ))]
            pub async fn delete(op: Operator, state: State<Arc<AppState>>, id: Path<String>) -> Result<Json<Deleted>, ApiError> {
                super::delete::<$raw>(op, state, id).await
            }
        }
    };
}

resource!(verticals, RawVertical, "/verticals", "/verticals/{id}", "verticals");
resource!(offers, RawOffer, "/offers", "/offers/{id}", "offers");
resource!(partners, RawPartner, "/partners", "/partners/{id}", "partners");
resource!(buyers, RawBuyer, "/buyers", "/buyers/{id}", "buyers");
resource!(return_reasons, RawReturnReason, "/return_reasons", "/return_reasons/{id}", "return reasons");
resource!(contracts, RawContract, "/contracts", "/contracts/{id}", "contracts");

/// `{"items": [...]}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Items<R> {
    items: Vec<R>,
}

/// `{"deleted": id}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Deleted {
    deleted: String,
}

impl Deleted {
    pub(super) fn new(id: String) -> Self {
        Deleted { deleted: id }
    }
}

/// Per-kind preparation of a written resource before it is validated with the rest.
trait AdminResource: Resource + Sync + utoipa::ToSchema {
    fn prepare(&mut self, _state: &AppState) -> Result<(), ApiError> {
        Ok(())
    }

    /// The schema of what a write takes: the stored fields, and what `prepare` reads besides.
    fn written() -> RefOr<Schema> {
        <Self as utoipa::PartialSchema>::schema()
    }
}

impl AdminResource for RawVertical {}
impl AdminResource for RawOffer {}
impl AdminResource for RawContract {}
impl AdminResource for RawReturnReason {}

/// Refuses the operator token as a partner's or buyer's key: one secret must never open two
/// APIs. (Partners' and buyers' keys are kept apart by the configuration's validation.)
fn not_the_operator_token(state: &AppState, plain: Option<&str>, digest: Option<&str>) -> Result<(), ApiError> {
    let operator = state.admin_token.digest().as_str().as_bytes();
    let is_operator = |d: &str| bool::from(d.to_ascii_lowercase().as_bytes().ct_eq(operator));
    if plain.is_some_and(|k| state.admin_token.accepts(k)) || digest.is_some_and(is_operator) {
        return Err(ApiError::invalid("api_key", "must not be the operator token"));
    }
    Ok(())
}

impl AdminResource for RawPartner {
    /// Keeps only the key's digest.
    fn prepare(&mut self, state: &AppState) -> Result<(), ApiError> {
        hash_partner_key(self);
        not_the_operator_token(state, self.api_key.as_deref(), self.api_key_sha256.as_deref())
    }

    fn written() -> RefOr<Schema> {
        with_plain_key(<Self as utoipa::PartialSchema>::schema())
    }
}

impl AdminResource for RawBuyer {
    /// Keeps only the key's digest.
    fn prepare(&mut self, state: &AppState) -> Result<(), ApiError> {
        hash_buyer_key(self);
        not_the_operator_token(state, self.api_key.as_deref(), self.api_key_sha256.as_deref())
    }

    fn written() -> RefOr<Schema> {
        with_plain_key(<Self as utoipa::PartialSchema>::schema())
    }
}

/// A partner's or buyer's schema with `api_key`, which a write accepts and no answer shows
/// (it is not serialized, so the stored type's schema does not have it).
fn with_plain_key(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else { return schema };
    let key = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("The key in plain text: kept only as its SHA-256 (`api_key_sha256`), never answered."))
        .write_only(Some(true));
    object.properties.insert("api_key".into(), key.into());
    RefOr::T(Schema::Object(object))
}

async fn list<R: AdminResource>(_: Operator, State(state): State<Arc<AppState>>) -> Result<Json<Items<R>>, ApiError> {
    let doc = state.engine.config_document().await.map_err(|e| edit_error(e, R::TABLE, ""))?;
    Ok(Json(Items { items: R::table(&doc).to_vec() }))
}

async fn read<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<R>, ApiError> {
    let doc = state.engine.config_document().await.map_err(|e| edit_error(e, R::TABLE, &id))?;
    let item = doc.get::<R>(&id).ok_or_else(|| not_found(R::TABLE, &id))?;
    Ok(Json(item.clone()))
}

async fn put<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<(StatusCode, Json<R>), ApiError> {
    let value = with_path_id(body::json::<Value>(body).await?, &id)?;
    let mut item: R = body::from_value(value)?;
    item.prepare(&state)?;
    let stored = item.clone();
    let created = state
        .engine
        .edit_config(move |doc: &mut ConfigDocument| Ok(doc.put(item.clone())))
        .await
        .map_err(|e| edit_error(e, R::TABLE, &id))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(stored)))
}

async fn delete<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let target = id.clone();
    state
        .engine
        .edit_config(move |doc: &mut ConfigDocument| {
            if doc.remove::<R>(&target) {
                Ok(())
            } else {
                Err(EditError::NotFound(format!("{} {target:?}", R::TABLE)))
            }
        })
        .await
        .map_err(|e| edit_error(e, R::TABLE, &id))?;
    Ok(Json(Deleted { deleted: id }))
}

/// Edit a contract with a merge patch.
///
/// An RFC 7396 merge patch over the stored contract, e.g. `{"dedup": {"window_days": 90}}`,
/// `{"dedup": {"enabled": false}}`, `{"status": "paused"}`; validated like a PUT.
#[utoipa::path(patch, path = "/contracts/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path, description = "The contract's id.")),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Fields to change; `null` removes one."),
    responses(
        (status = 200, description = "The contract as stored.", body = RawContract),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such contract.", body = ErrorBody),
        (status = 409, description = "Another edit won; send it again.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it.", body = ErrorBody),
        (status = 503, description = "The store could not be reached, or holds no configuration (`config_missing`).", body = ErrorBody),
    ))]
async fn patch_contract(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<Json<RawContract>, ApiError> {
    let patch = body::json::<Value>(body).await?;
    if !patch.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object (a merge patch)"));
    }
    if patch.get("id").is_some_and(|v| v.as_str() != Some(id.as_str())) {
        return Err(ApiError::invalid("id", "cannot be changed (PUT a new contract and DELETE this one)"));
    }
    let target = id.clone();
    let patched = state
        .engine
        .edit_config(move |doc: &mut ConfigDocument| {
            let current =
                doc.get::<RawContract>(&target).ok_or_else(|| EditError::NotFound(format!("contracts {target:?}")))?;
            let mut value = json!(current);
            merge_patch(&mut value, &patch);
            let contract: RawContract =
                body::shape(value).map_err(|e| EditError::Refused { field: e.field, message: e.message })?;
            doc.put(contract.clone());
            Ok(contract)
        })
        .await
        .map_err(|e| edit_error(e, "contracts", &id))?;
    Ok(Json(patched))
}

/// The body's `id` defaults to the path's and must agree with it.
fn with_path_id(mut value: Value, id: &str) -> Result<Value, ApiError> {
    let Value::Object(map) = &mut value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    match map.get("id") {
        None | Some(Value::Null) => {
            map.insert("id".into(), Value::String(id.to_string()));
        }
        Some(Value::String(s)) if s == id => {}
        Some(_) => return Err(ApiError::invalid("id", format!("must match the id in the path ({id:?})"))),
    }
    Ok(value)
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                target_map.remove(k);
            } else {
                merge_patch(target_map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn not_found(table: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("no {table} with id {id:?}"))
}

/// Maps an edit's failure to its answer. A validation error in the edited resource names
/// its field; one elsewhere (a contract that would lose its buyer) is reported on `id`
/// with the resource and field that would break.
fn edit_error(e: EditError, table: &str, id: &str) -> ApiError {
    match e {
        EditError::NotFound(_) => not_found(table, id),
        EditError::Refused { field, message } => ApiError::invalid(field, message),
        EditError::Invalid(errors) => invalid_config(&errors, table, id),
        EditError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        EditError::Missing => {
            tracing::error!("configuration document missing from the store: edit refused");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "config_missing", e.to_string())
        }
        EditError::Store(s) => ApiError::from(s),
        EditError::Corrupt(message) => {
            tracing::error!(error = %message, "stored configuration unreadable");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

fn invalid_config(errors: &[ConfigError], table: &str, id: &str) -> ApiError {
    let own = errors.iter().find(|e| e.table == table && e.id == id);
    match (own, errors.first()) {
        (Some(e), _) => ApiError::invalid(e.field.clone(), e.message.clone()),
        (None, Some(e)) => ApiError::invalid(
            "id",
            format!("cannot be applied: {} {:?} field {:?} would be invalid: {}", e.table, e.id, e.field, e.message),
        ),
        (None, None) => ApiError::invalid("body", "invalid configuration"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_merges_objects_removes_nulls_and_replaces_the_rest() {
        let mut target = json!({"dedup": null, "status": "active", "caps": {"daily": 5, "hourly": 1}});
        merge_patch(&mut target, &json!({"dedup": {"window_days": 90}, "caps": {"hourly": null}, "status": "paused"}));
        assert_eq!(target, json!({"dedup": {"window_days": 90}, "status": "paused", "caps": {"daily": 5}}));
    }
}
