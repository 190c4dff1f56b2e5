//! Request bodies of the admin API read as Rails reads them: `{"dlmlock": {…}}` or the fields at
//! the top level, with Rails' casting of booleans and ids.

use std::time::Duration;

use actix_web::web;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::locks::model::{halt_reason_problem, HaltChange};
use crate::locks::policy::{LeaseExpiry, PolicyChanges, Window};

/// Reads a request body within `timeout` and at most `max_bytes`: a slow or endless body ties
/// up nothing for longer than that.
pub async fn read_body(
    mut payload: web::Payload,
    timeout: Duration,
    max_bytes: usize,
) -> Result<web::BytesMut, ApiError> {
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
            if body.len() + chunk.len() > max_bytes {
                return Err(ApiError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

/// The lock attributes of a create/update body (Rails' wrap_parameters accepts both shapes).
pub fn lock_attributes(body: Value) -> Result<Map<String, Value>, ApiError> {
    let mut object = match body {
        Value::Object(object) => object,
        _ => {
            return Err(ApiError::BadRequest(
                "the request body must be a JSON object".into(),
            ))
        }
    };
    match object.remove("dlmlock") {
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(ApiError::BadRequest("dlmlock must be a JSON object".into())),
        None => Ok(object),
    }
}

/// A field that cannot be used: Foreman's 422 names it.
pub type FieldResult<T> = Result<T, (&'static str, String)>;

/// Absent → None; null → Some(None); text → Some(Some(text)).
pub fn text_field(
    attributes: &Map<String, Value>,
    field: &'static str,
) -> FieldResult<Option<Option<String>>> {
    match attributes.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) if text.contains('\0') => {
            Err((field, "must not contain NUL characters".into()))
        }
        Some(Value::String(text)) => Ok(Some(Some(text.clone()))),
        Some(_) => Err((field, "must be a string".into())),
    }
}

/// Rails' boolean casting: true/false, "true"/"false", "1"/"0", 1/0.
pub fn bool_field(
    attributes: &Map<String, Value>,
    field: &'static str,
) -> FieldResult<Option<bool>> {
    match attributes.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "f" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err((field, "must be true or false".into())),
        },
        Some(_) => Err((field, "must be true or false".into())),
    }
}

/// Rails' integer casting: a number or its digits as text; null or "" is no value. Absent → None.
fn integer_field(
    attributes: &Map<String, Value>,
    field: &'static str,
    message: &str,
) -> FieldResult<Option<Option<i32>>> {
    let invalid = || (field, message.to_string());
    match attributes.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => s
            .parse::<i32>()
            .map(|n| Some(Some(n)))
            .map_err(|_| invalid()),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(|n| Some(Some(n)))
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// A host id, its digits as text, or null/"" for no host.
pub fn host_id_field(attributes: &Map<String, Value>) -> FieldResult<Option<Option<i32>>> {
    integer_field(attributes, "host_id", "must be a host id or null")
}

/// `max_holders`, `lease_seconds` (null: no lease) and `windows` (null: none), as given.
pub fn policy_fields(attributes: &Map<String, Value>) -> FieldResult<PolicyChanges> {
    let max_holders = match integer_field(
        attributes,
        "max_holders",
        "must be a whole number of at least 1",
    )? {
        Some(Some(n)) => Some(n),
        Some(None) => return Err(("max_holders", "must be a whole number of at least 1".into())),
        None => None,
    };
    let lease_seconds = integer_field(
        attributes,
        "lease_seconds",
        "must be a whole number of seconds, or null for no lease",
    )?;
    let windows = match attributes.get("windows") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(value @ Value::Array(_)) => Some(
            Vec::<Window>::deserialize(value)
                .map_err(|e| ("windows", format!("are invalid: {e}")))?,
        ),
        Some(_) => return Err(("windows", "must be a list of windows".into())),
    };
    let on_lease_expiry = match text_field(attributes, "on_lease_expiry")? {
        None => None,
        Some(text) => Some(text.as_deref().and_then(LeaseExpiry::parse).ok_or((
            "on_lease_expiry",
            "must be \"halt\" or \"release\"".to_string(),
        ))?),
    };
    let cooldown_message = "must be a whole number of seconds (0 for none)";
    let cooldown_seconds = match integer_field(attributes, "cooldown_seconds", cooldown_message)? {
        Some(None) => Some(0),
        other => other.flatten(),
    };
    // "" is no gate, as null is: a cleared form field.
    let block_on_alerts = text_field(attributes, "block_on_alerts")?
        .map(|expression| expression.filter(|e| !e.is_empty()));
    Ok(PolicyChanges {
        max_holders,
        lease_seconds,
        windows,
        on_lease_expiry,
        cooldown_seconds,
        block_on_alerts,
    })
}

/// `halted` (true halts the lock, false resumes it) and `halt_reason`, which only a halt reads.
pub fn halt_fields(attributes: &Map<String, Value>) -> FieldResult<Option<HaltChange>> {
    let reason = text_field(attributes, "halt_reason")?.flatten();
    match (bool_field(attributes, "halted")?, reason) {
        (Some(true), reason) => {
            let reason = reason.unwrap_or_else(|| "halted by an admin".to_string());
            if let Some(problem) = halt_reason_problem(&reason) {
                return Err(("halt_reason", problem));
            }
            Ok(Some(HaltChange::Halt { reason }))
        }
        (Some(false), None) => Ok(Some(HaltChange::Resume)),
        (Some(false), Some(_)) | (None, Some(_)) => {
            Err(("halt_reason", "is only read with halted: true".to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// Foreman's 422 for one field.
pub fn unprocessable(id: Option<i32>) -> impl Fn((&'static str, String)) -> ApiError {
    move |(field, message)| ApiError::Unprocessable {
        id,
        errors: vec![(field, message)],
    }
}
