//! JSON helpers: dotted paths and record-by-record parsing with errors that name the record.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::SyncError;

/// The value at dotted `path` (`"paging.next.after"`, `"items.0.id"`); `""` is the value itself.
///
/// ```
/// let v = serde_json::json!({"paging": {"next": {"after": "abc"}}, "items": [{"id": 1}]});
/// assert_eq!(sync_sdk::json::get_path(&v, "paging.next.after").unwrap(), "abc");
/// assert_eq!(sync_sdk::json::get_path(&v, "items.0.id").unwrap(), 1);
/// assert!(sync_sdk::json::get_path(&v, "paging.prev").is_none());
/// ```
pub fn get_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A record id read from `value` at `path`: strings as they are, integers in decimal.
/// `None` when absent, null, empty, or of another type.
///
/// ```
/// let v = serde_json::json!({"id": 42, "key": "a-1", "blank": ""});
/// assert_eq!(sync_sdk::json::id_at(&v, "id").as_deref(), Some("42"));
/// assert_eq!(sync_sdk::json::id_at(&v, "key").as_deref(), Some("a-1"));
/// assert_eq!(sync_sdk::json::id_at(&v, "blank"), None);
/// ```
pub fn id_at(value: &Value, path: &str) -> Option<String> {
    match get_path(value, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Deserialize the array at `path` of `body` record by record.
///
/// # Errors
/// A data error when the path is missing or not an array, or when a record does not match
/// `T`; the message names the record's index and, when it has one, its `id`.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct R { id: u32, name: String }
/// let body = serde_json::json!({"results": [{"id": 1, "name": "a"}, {"id": 2, "name": null}]});
/// let err = sync_sdk::json::records_at::<R>(&body, "results").unwrap_err();
/// assert!(err.to_string().contains("record 1 (id \"2\")"), "{err}");
/// assert!(err.to_string().contains("field \"name\""), "{err}");
/// ```
pub fn records_at<T: DeserializeOwned>(body: &Value, path: &str) -> Result<Vec<T>, SyncError> {
    let where_ = if path.is_empty() {
        "the body".to_string()
    } else {
        format!("{path:?}")
    };
    let items = match get_path(body, path) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => {
            return Err(SyncError::data(format!("no records array at {where_}")));
        }
        Some(other) => {
            return Err(SyncError::data(format!(
                "expected an array of records at {where_}, found {}",
                type_name(other)
            )));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            // Plain deserialization first; a failure is re-run with path tracking to say where.
            T::deserialize(item)
                .or_else(|_| serde_path_to_error::deserialize(item))
                .map_err(|e| {
                    let id = id_at(item, "id")
                        .map(|id| format!(" (id {id:?})"))
                        .unwrap_or_default();
                    let field = e.path().to_string();
                    let field = if field == "." {
                        String::new()
                    } else {
                        format!(" field {field:?}:")
                    };
                    SyncError::data(format!(
                        "record {i}{id} at {where_} does not match its model:{field} {}",
                        e.inner()
                    ))
                })
        })
        .collect()
}

/// `"object"`, `"array"`, `"string"`… for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
