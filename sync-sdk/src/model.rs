//! Record types stored in the records cache.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

/// A record type a sync produces: serializable, with a JSON Schema, a model name and a string id.
///
/// The runtime validates every record against [`schema`] before storing it, keys the cache by
/// `(connection, model name, id)` and detects changes from the record's canonical JSON.
///
/// ```
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
/// use sync_sdk::Model;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct Contact { id: u64, email: String }
///
/// impl Model for Contact {
///     const NAME: &'static str = "Contact";
///     fn id(&self) -> String { self.id.to_string() }
/// }
///
/// assert_eq!(Contact { id: 7, email: "a@b.c".into() }.id(), "7");
/// ```
pub trait Model: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The model's name in the records cache and the records API (`"GithubIssue"`).
    const NAME: &'static str;

    /// The record's unique id within the model. Must not be empty.
    fn id(&self) -> String;
}

/// The JSON Schema of a model (or any schemars type) as a `serde_json::Value`.
///
/// ```
/// let schema = sync_sdk::schema::<String>();
/// assert_eq!(schema["type"], "string");
/// ```
pub fn schema<T: JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(T).to_value()
}
