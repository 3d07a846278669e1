//! Secrets, a write-only resource: `PUT /v1/admin/secrets/{name}` `{"value"}` creates or
//! replaces one, `DELETE` removes it, `GET /v1/admin/secrets` lists names, when each was
//! written and where it comes from. No answer ever holds a value — not the write's, not an
//! error's (a refused value is described, never quoted) — and nothing here logs one.

use super::auth::Operator;
use super::body;
use super::config::Deleted;
use crate::body::RequestBody;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pingpost_core::Timestamp;
use pingpost_engine::secrets::{SecretError, SecretListing, SecretName, SecretSource, SecretValue};
use serde_json::Value;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(put, delete))
}

/// A secret as the operators see it: never its value.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct SecretItem {
    /// Lower case, as stored (names are read without regard to case).
    #[schema(value_type = String, pattern = "^[a-z0-9_]{1,64}$")]
    name: SecretName,
    /// When it was last written; `null` for one from this node's environment.
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<Timestamp>,
    source: Source,
}

/// Where the value in force on this node comes from: its environment
/// (`PINGPOST_SECRET_<NAME>`, which overrides the store), or the store, shared by every node.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Source {
    Environment,
    Store,
}

impl From<SecretListing> for SecretItem {
    fn from(l: SecretListing) -> Self {
        let source = match l.source {
            SecretSource::Environment => Source::Environment,
            SecretSource::Store => Source::Store,
        };
        SecretItem { name: l.name, updated_at: l.updated_at, source }
    }
}

/// `{"items": [...]}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct SecretItems {
    items: Vec<SecretItem>,
}

/// What a write takes: the value alone (the name is the path's).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents `put`'s body, which is read by hand so that no error quotes it
#[serde(deny_unknown_fields)]
struct SecretBody {
    /// Kept as given; never answered, listed, logged or shown.
    #[schema(write_only, format = Password, min_length = 1, max_length = 8192)]
    value: String,
}

const NAME: &str = "The secret's name: letters, digits and `_`, read without regard to case.";

/// List the secrets.
///
/// Names, when each was written and where it comes from — never a value. A name set by
/// this node's environment (`PINGPOST_SECRET_<NAME>`) is listed as `environment`: it
/// overrides the store's on this node.
#[utoipa::path(get, path = "/secrets", tag = "operator", security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every secret, by name.", body = SecretItems),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn list(_: Operator, State(state): State<Arc<AppState>>) -> Result<Json<SecretItems>, ApiError> {
    let listed = state.engine.list_secrets().await?;
    Ok(Json(SecretItems { items: listed.into_iter().map(SecretItem::from).collect() }))
}

/// Create or replace a secret.
///
/// In force on this node at once and on every other within a second. The answer never
/// holds the value.
#[utoipa::path(put, path = "/secrets/{name}", tag = "operator", security(("operator_token" = [])),
    params(("name" = String, Path, description = NAME, pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = SecretBody,
    responses(
        (status = 200, description = "Replaced.", body = SecretItem),
        (status = 201, description = "Created.", body = SecretItem),
        (status = 400, description = "The body is not valid JSON.", body = ErrorBody),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 409, description = "This node's environment sets it (`set_by_environment`): change it there.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "An invalid name or value (`field` names it), or the store holds the most secrets it keeps (`too_many_secrets`).", body = ErrorBody),
        (status = 503, description = "The store could not be reached; the secret may or may not be stored (send it again).", body = ErrorBody),
    ))]
async fn put(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: RequestBody,
) -> Result<(StatusCode, Json<SecretItem>), ApiError> {
    let name = name_of(&name)?;
    let value = value_of(body::json::<Value>(body).await?)?;
    let written = state.engine.put_secret(name.clone(), value).await.map_err(secret_error)?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(SecretItem { name, updated_at: Some(written.updated_at), source: Source::Store })))
}

/// Delete a secret.
#[utoipa::path(delete, path = "/secrets/{name}", tag = "operator", security(("operator_token" = [])),
    params(("name" = String, Path, description = NAME, pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses(
        (status = 200, description = "Deleted.", body = Deleted),
        (status = 401, description = "No or wrong operator token.", body = ErrorBody),
        (status = 404, description = "No such secret in the store.", body = ErrorBody),
        (status = 409, description = "This node's environment sets it (`set_by_environment`): unset it there.", body = ErrorBody),
        (status = 422, description = "An invalid name.", body = ErrorBody),
        (status = 503, description = "The store could not be reached.", body = ErrorBody),
    ))]
async fn delete(
    _: Operator,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let name = name_of(&name)?;
    state.engine.delete_secret(name.clone()).await.map_err(secret_error)?;
    Ok(Json(Deleted::new(name.to_string())))
}

fn name_of(text: &str) -> Result<SecretName, ApiError> {
    SecretName::parse(text).map_err(|e| ApiError::invalid("name", e.to_string()))
}

/// The body's value. Read by hand: serde's messages quote what they refuse, and a refused
/// value may be the secret itself (a number, say).
fn value_of(body: Value) -> Result<SecretValue, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::invalid("body", "must be a JSON object: {\"value\": \"…\"}"));
    };
    if let Some(other) = fields.keys().find(|k| *k != "value") {
        return Err(ApiError::invalid(
            other.clone(),
            "is not a field of a secret (only `value`; the name is the path's)",
        ));
    }
    match fields.remove("value") {
        None | Some(Value::Null) => Err(ApiError::invalid("value", "is required")),
        Some(Value::String(text)) => SecretValue::new(text).map_err(|e| ApiError::invalid("value", e.to_string())),
        Some(_) => Err(ApiError::invalid("value", "must be a string")),
    }
}

fn secret_error(e: SecretError) -> ApiError {
    let message = e.to_string();
    match e {
        SecretError::FromEnvironment(_) => ApiError {
            field: Some("name".into()),
            ..ApiError::new(StatusCode::CONFLICT, "set_by_environment", message)
        },
        SecretError::NotFound(_) => ApiError::not_found(message),
        SecretError::Full => ApiError {
            field: Some("name".into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_secrets", message)
        },
        SecretError::Store(s) => ApiError::from(s),
    }
}
