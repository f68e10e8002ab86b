//! The `*.sync.toml` file format: one struct per table, each documented, unknown keys denied.
//!
//! `syncfn schema --declarative` prints the JSON Schema generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use sync_sdk::Pagination;

/// A declarative sync: a REST endpoint described in a `*.sync.toml` file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "syncfn declarative sync (*.sync.toml)")]
pub struct SyncFile {
    /// Sync name: a-z, 0-9, `_` and `-` (e.g. `"contacts"`).
    pub name: String,
    /// Model name in the records cache (e.g. `"Contact"`).
    pub model: String,
    /// One line shown by `syncfn list`.
    #[serde(default)]
    pub description: Option<String>,
    /// How often the scheduler runs it (default `"every 1 hour"`, minimum 30 s).
    #[serde(default)]
    pub frequency: Option<String>,
    /// The provider's API root (e.g. `"https://api.example.com"` or `"${env:CRM_URL}"`).
    pub base_url: String,
    /// How requests authenticate (default `type = "none"`).
    #[serde(default)]
    pub auth: Auth,
    /// The request for the first page.
    pub request: Request,
    /// Where the records and their ids are.
    pub records: Records,
    /// How pages follow each other, with Nango's key names (default `type = "none"`).
    #[serde(default)]
    pub pagination: Pagination,
    /// Fetch only what changed since the last run (absent = a full sync every run).
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// How deletes at the provider are detected (default `strategy = "none"`).
    #[serde(default)]
    pub deletes: Deletes,
    /// The provider's quota (e.g. `requests = 50`, `per = "1s"`).
    #[serde(default)]
    pub rate_limit: Option<RateLimitTable>,
}

/// `[auth].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// An API key in a header (`header`, default `X-API-Key`) or a query parameter (`query`).
    ApiKey,
    /// HTTP basic auth (`username`, `password`).
    Basic,
    /// OAuth2 (`token_url`, `client_id`, `client_secret`, `refresh_token`, `scopes`).
    Oauth2,
}

/// `[auth]`: secrets are best given as `"${env:NAME}"`; they never appear in logs or errors.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `none`, `bearer`, `api_key`, `basic` or `oauth2`.
    #[serde(rename = "type", default)]
    pub kind: AuthType,
    /// bearer: the token (e.g. `"${env:CRM_TOKEN}"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token: Option<SecretString>,
    /// api_key: the key (e.g. `"${env:CRM_KEY}"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub key: Option<SecretString>,
    /// api_key: header carrying the key (default `X-API-Key` unless `query` is set).
    #[serde(default)]
    pub header: Option<String>,
    /// api_key: query parameter carrying the key instead of a header.
    #[serde(default)]
    pub query: Option<String>,
    /// basic: user name.
    #[serde(default)]
    pub username: Option<String>,
    /// basic: password (e.g. `"${env:CRM_PASSWORD}"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password: Option<SecretString>,
    /// oauth2: token endpoint URL.
    #[serde(default)]
    pub token_url: Option<String>,
    /// oauth2: client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// oauth2: client secret.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client_secret: Option<SecretString>,
    /// oauth2: refresh token (refresh-token grant; absent = client credentials).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub refresh_token: Option<SecretString>,
    /// oauth2: scopes requested.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `[request].method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum RequestMethod {
    /// Parameters in the query string.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// Parameters in a JSON body.
    #[serde(rename = "POST")]
    Post,
}

/// `[request]`: the first page's request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET` (default) or `POST` (POST sends the params in a JSON body).
    #[serde(default)]
    pub method: RequestMethod,
    /// Path joined onto `base_url` (e.g. `"/v1/contacts"`).
    pub path: String,
    /// Static parameters of the first request (e.g. `{ archived = "false" }`); a next link
    /// is followed exactly as the provider gave it.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Headers sent with every request (e.g. `{ "Accept" = "application/json" }`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A static parameter value.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    /// Text (may be `"${env:NAME}"`).
    String(String),
    /// An integer.
    Integer(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl ParamValue {
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::String(s) => s.clone().into(),
            ParamValue::Integer(i) => (*i).into(),
            ParamValue::Float(f) => (*f).into(),
            ParamValue::Bool(b) => (*b).into(),
        }
    }
}

/// `[records]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Records {
    /// Dotted path of the records array in the body; `""` (default) = the body is the array.
    #[serde(default)]
    pub path: String,
    /// Dotted path of each record's id (a string or an integer).
    pub id: String,
}

/// `[incremental].format`: how the checkpoint is written into the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2024-01-01T00:00:00Z`.
    #[default]
    Rfc3339,
    /// Seconds since 1970.
    UnixSeconds,
    /// Milliseconds since 1970.
    UnixMillis,
}

/// `[incremental]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// Dotted path of the change timestamp in each record (e.g. `"updatedAt"`).
    pub field: String,
    /// Request parameter that receives the checkpoint (e.g. `"updated_since"`).
    pub param: String,
    /// `rfc3339` (default), `unix_seconds` or `unix_millis`; records carry the field the same way.
    #[serde(default)]
    pub format: TimeFormat,
    /// Subtracted from the checkpoint for clock skew (default `"0s"`); records fetched again at
    /// the boundary are unchanged, so they are not reported as changes.
    #[serde(default)]
    pub lookback: Option<String>,
}

/// `[deletes].strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteStrategy {
    /// Deletes are not detected.
    #[default]
    None,
    /// After a complete full pass, cached records it did not see are marked deleted.
    FullRefresh,
    /// A record whose `field` is truthy is marked deleted.
    Tombstone,
}

/// `[deletes]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deletes {
    /// `none` (default), `full_refresh` or `tombstone`.
    #[serde(default)]
    pub strategy: DeleteStrategy,
    /// tombstone: dotted path of the field whose truthy value marks a deleted record.
    #[serde(default)]
    pub field: Option<String>,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitTable {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window (e.g. `"1s"`, `"1 hour"`).
    pub per: String,
    /// Requests that may go out back to back.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The top-level keys and tables, for suggestions.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "model",
    "description",
    "frequency",
    "base_url",
    "auth",
    "request",
    "records",
    "pagination",
    "incremental",
    "deletes",
    "rate_limit",
];
