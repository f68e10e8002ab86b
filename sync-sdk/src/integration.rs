//! An integration: a provider's syncs, default base URL and rate limit, registered by name.

use std::fmt;
use std::sync::Arc;

use crate::{Action, ErasedAction, ErasedSync, RateLimit, RateLimitHeaders, SyncFunction};

/// A provider integration as a crate exports it: a name, its default base URL, the provider's
/// quota and its syncs.
///
/// ```
/// # use sync_sdk::*;
/// # struct Issues;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Issue { id: u64 }
/// # impl Model for Issue { const NAME: &'static str = "Issue"; fn id(&self) -> String { self.id.to_string() } }
/// # impl SyncFunction for Issues {
/// #   type Record = Issue; type Checkpoint = (); type Metadata = ();
/// #   fn spec(&self) -> SyncSpec { SyncSpec::builder("issues").build().unwrap() }
/// #   async fn fetch_page(&self, _: &SyncContext, _: PageRequest<'_, ()>) -> Result<Page<Issue>, SyncError> { Ok(Page::last(vec![])) }
/// # }
/// let github = Integration::new("github")
///     .base_url("https://api.github.com")
///     .rate_limit(RateLimit::per_hour(5000))
///     .sync(Issues);
/// assert_eq!(github.syncs().len(), 1);
/// ```
#[derive(Clone)]
pub struct Integration {
    name: String,
    base_url: Option<String>,
    rate_limit: Option<RateLimit>,
    rate_limit_headers: Option<RateLimitHeaders>,
    syncs: Vec<Arc<dyn ErasedSync>>,
    actions: Vec<Arc<dyn ErasedAction>>,
}

impl fmt::Debug for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Integration")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field(
                "syncs",
                &self.syncs.iter().map(|s| s.spec().name).collect::<Vec<_>>(),
            )
            .field(
                "actions",
                &self
                    .actions
                    .iter()
                    .map(|a| a.spec().name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Integration {
    /// An integration named `name` (`"github"`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: None,
            rate_limit: None,
            rate_limit_headers: None,
            syncs: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// The provider's API root; a connection may override it.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The provider's quota, shared by every sync of one connection.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The provider's own rate-limit headers, read in addition to the standard ones.
    ///
    /// ```
    /// use sync_sdk::{Integration, RateLimitHeaders, ResetFormat};
    /// let acme = Integration::new("acme").rate_limit_headers(RateLimitHeaders::new(
    ///     "x-acme-calls-left",
    ///     "x-acme-reset-ms",
    ///     ResetFormat::EpochMillis,
    /// ));
    /// assert!(acme.declared_rate_limit_headers().is_some());
    /// ```
    pub fn rate_limit_headers(mut self, headers: RateLimitHeaders) -> Self {
        self.rate_limit_headers = Some(headers);
        self
    }

    /// Add a typed sync.
    pub fn sync<S: SyncFunction>(mut self, sync: S) -> Self {
        self.syncs.push(Arc::new(sync));
        self
    }

    /// Add an already erased sync (declarative syncs).
    pub fn erased_sync(mut self, sync: Arc<dyn ErasedSync>) -> Self {
        self.syncs.push(sync);
        self
    }

    /// Add a typed action (a write back to the provider).
    ///
    /// ```
    /// # use sync_sdk::*;
    /// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct In { title: String }
    /// # struct CreateIssue;
    /// # impl Action for CreateIssue {
    /// #   type Input = In; type Output = (); type Metadata = ();
    /// #   fn spec(&self) -> ActionSpec { ActionSpec::new("create-issue") }
    /// #   async fn run(&self, _: &SyncContext, _: In) -> Result<(), SyncError> { Ok(()) }
    /// # }
    /// let github = Integration::new("github").action(CreateIssue);
    /// assert_eq!(github.actions().len(), 1);
    /// ```
    pub fn action<A: Action>(mut self, action: A) -> Self {
        self.actions.push(Arc::new(action));
        self
    }

    /// The actions.
    pub fn actions(&self) -> &[Arc<dyn ErasedAction>] {
        &self.actions
    }

    /// The action named `name`.
    pub fn find_action(&self, name: &str) -> Option<&Arc<dyn ErasedAction>> {
        self.actions.iter().find(|a| a.spec().name == name)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default base URL.
    pub fn default_base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// The declared quota.
    pub fn default_rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The provider-declared rate-limit headers, if any.
    pub fn declared_rate_limit_headers(&self) -> Option<&RateLimitHeaders> {
        self.rate_limit_headers.as_ref()
    }

    /// The syncs.
    pub fn syncs(&self) -> &[Arc<dyn ErasedSync>] {
        &self.syncs
    }

    /// The sync named `name`.
    pub fn find_sync(&self, name: &str) -> Option<&Arc<dyn ErasedSync>> {
        self.syncs.iter().find(|s| s.spec().name == name)
    }
}
