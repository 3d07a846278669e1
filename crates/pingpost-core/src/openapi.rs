//! How the domain's own value types appear in the API document (feature `openapi`): money as
//! a decimal string with exactly two decimals, ids as plain strings.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// `"12.50"`, `"-3.00"`: minor units written as a decimal, never a JSON number.
pub fn money_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^-?[0-9]+\.[0-9]{2}$"))
        .description(Some("An amount of money: a decimal string with two decimals, e.g. \"12.50\"."))
        .into()
}

/// A configured resource's id.
pub fn id_schema() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).into()
}
