//! Actions: typed writes back to the provider (two-way sync).
//!
//! An action takes a typed input, calls the provider through the same [`crate::HttpClient`]
//! (credentials, rate limit and retries included) and returns a typed output. The runtime
//! validates the input against its JSON Schema before the action runs, so a bad input is
//! rejected naming the field and never reaches the provider.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ContextParts, SyncContext, SyncError, schema};

/// What an action declares about itself.
///
/// ```
/// let spec = sync_sdk::ActionSpec::new("create-contact")
///     .description("Create a contact in the CRM")
///     .triggers_sync("contacts");
/// assert_eq!(spec.trigger_syncs, vec!["contacts".to_string()]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActionSpec {
    /// Name, unique within the integration (`[a-z0-9_-]`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Syncs of the same integration to trigger for the connection once the action succeeded
    /// (so the cache picks up what it wrote).
    pub trigger_syncs: Vec<String>,
    /// JSON Schema of the input (filled in by the runtime's erased twin).
    pub input_schema: Value,
    /// JSON Schema of the output (filled in by the runtime's erased twin).
    pub output_schema: Value,
}

impl ActionSpec {
    /// An action named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            trigger_syncs: Vec::new(),
            input_schema: Value::Bool(true),
            output_schema: Value::Bool(true),
        }
    }

    /// Describe it.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Trigger the sync named `sync` after each successful call.
    pub fn triggers_sync(mut self, sync: impl Into<String>) -> Self {
        self.trigger_syncs.push(sync.into());
        self
    }
}

/// A typed write to the provider.
///
/// ```
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
/// use sync_sdk::{Action, ActionSpec, SyncContext, SyncError};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct NewNote { text: String }
/// #[derive(Serialize, JsonSchema)]
/// struct Created { id: String }
///
/// struct CreateNote;
///
/// impl Action for CreateNote {
///     type Input = NewNote;
///     type Output = Created;
///     type Metadata = ();
///
///     fn spec(&self) -> ActionSpec { ActionSpec::new("create-note") }
///
///     async fn run(&self, cx: &SyncContext, input: NewNote) -> Result<Created, SyncError> {
///         let body: serde_json::Value = cx
///             .http()
///             .post("/notes")
///             .json(&serde_json::json!({ "text": input.text }))
///             .send()
///             .await?
///             .json()?;
///         Ok(Created { id: body["id"].as_str().unwrap_or_default().to_string() })
///     }
/// }
/// let integration = sync_sdk::Integration::new("notes").action(CreateNote);
/// assert!(integration.find_action("create-note").is_some());
/// ```
pub trait Action: Send + Sync + 'static {
    /// What the caller sends; its JSON Schema validates the request.
    type Input: DeserializeOwned + JsonSchema + Send;
    /// What the action returns.
    type Output: Serialize + JsonSchema + Send;
    /// The connection's metadata, typed (`()` when unused).
    type Metadata: DeserializeOwned + JsonSchema + Send + Sync;

    /// Name, description and the syncs to trigger after success.
    fn spec(&self) -> ActionSpec;

    /// Perform the write.
    ///
    /// # Errors
    /// Whatever the provider or the action reports, classified by [`crate::ErrorKind`].
    fn run(
        &self,
        cx: &SyncContext<Self::Metadata>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, SyncError>> + Send;
}

/// The erased twin of [`Action`] that the runtime stores; authors never implement it.
pub trait ErasedAction: Send + Sync + 'static {
    /// The spec with input and output schemas filled in.
    fn spec(&self) -> ActionSpec;

    /// Run with a JSON input; the input was validated against its schema by the caller.
    fn run_json(
        self: Arc<Self>,
        parts: ContextParts,
        input: Value,
    ) -> BoxFuture<'static, Result<Value, SyncError>>;
}

impl std::fmt::Debug for dyn ErasedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErasedAction({})", self.spec().name)
    }
}

impl<A: Action> ErasedAction for A {
    fn spec(&self) -> ActionSpec {
        let mut spec = Action::spec(self);
        spec.input_schema = schema::<A::Input>();
        spec.output_schema = schema::<A::Output>();
        spec
    }

    fn run_json(
        self: Arc<Self>,
        parts: ContextParts,
        input: Value,
    ) -> BoxFuture<'static, Result<Value, SyncError>> {
        Box::pin(async move {
            let name = Action::spec(self.as_ref()).name;
            let input: A::Input = serde_json::from_value(input)
                .map_err(|e| SyncError::config(format!("action {name:?}: invalid input: {e}")))?;
            let metadata: A::Metadata = serde_json::from_value(parts.metadata).map_err(|e| {
                SyncError::config(format!(
                    "connection {:?}: metadata does not match the action's metadata schema: {e}",
                    parts.connection.id
                ))
            })?;
            let cx = SyncContext::new(parts.http, parts.connection, metadata, parts.log);
            let output = self.run(&cx, input).await?;
            serde_json::to_value(&output).map_err(|e| {
                SyncError::internal(format!("action {name:?}: output is not serializable: {e}"))
            })
        })
    }
}
