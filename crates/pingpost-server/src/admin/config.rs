//! Verticals, offers, partners, buyers, contracts and return reasons: list, read, create-or-replace,
//! delete, and merge-patch for contracts. Every write goes through
//! [`Engine::edit_config`](pingpost_engine::Engine::edit_config): the whole configuration is
//! validated with the change, and the change is stored (and seen by every node) or refused
//! with a 422 naming the field — never half-applied.

use super::auth::Operator;
use super::body;
use crate::body::RequestBody;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use pingpost_core::config::document::{hash_buyer_key, hash_partner_key};
use pingpost_core::config::raw::{RawBuyer, RawContract, RawOffer, RawPartner, RawReturnReason, RawVertical};
use pingpost_core::config::{ConfigDocument, ConfigError, Resource};
use pingpost_engine::config_sync::EditError;
use serde_json::{json, Value};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    router = with_resource::<RawVertical>(router);
    router = with_resource::<RawOffer>(router);
    router = with_resource::<RawPartner>(router);
    router = with_resource::<RawBuyer>(router);
    router = with_resource::<RawReturnReason>(router);
    router.route("/contracts", get(list::<RawContract>)).route(
        "/contracts/{id}",
        get(read::<RawContract>).put(put::<RawContract>).delete(delete::<RawContract>).patch(patch_contract),
    )
}

fn with_resource<R: AdminResource>(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
        .route(&format!("/{}", R::TABLE), get(list::<R>))
        .route(&format!("/{}/{{id}}", R::TABLE), get(read::<R>).put(put::<R>).delete(delete::<R>))
}

/// Per-kind preparation of a written resource before it is validated with the rest.
trait AdminResource: Resource + Sync {
    fn prepare(&mut self, _state: &AppState) -> Result<(), ApiError> {
        Ok(())
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
}

impl AdminResource for RawBuyer {
    /// Keeps only the key's digest.
    fn prepare(&mut self, state: &AppState) -> Result<(), ApiError> {
        hash_buyer_key(self);
        not_the_operator_token(state, self.api_key.as_deref(), self.api_key_sha256.as_deref())
    }
}

async fn list<R: AdminResource>(_: Operator, State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let doc = state.engine.config_document().await.map_err(|e| edit_error(e, R::TABLE, ""))?;
    Ok(Json(json!({ "items": R::table(&doc) })))
}

async fn read<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let doc = state.engine.config_document().await.map_err(|e| edit_error(e, R::TABLE, &id))?;
    let item = doc.get::<R>(&id).ok_or_else(|| not_found(R::TABLE, &id))?;
    Ok(Json(json!(item)))
}

async fn put<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    Ok((status, Json(json!(stored))))
}

async fn delete<R: AdminResource>(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({ "deleted": id })))
}

/// `PATCH /contracts/{id}`: an RFC 7396 merge patch over the stored contract, e.g.
/// `{"dedup": {"window_days": 90}}`, `{"dedup": {"enabled": false}}`, `{"status": "paused"}`.
async fn patch_contract(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: RequestBody,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!(patched)))
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
