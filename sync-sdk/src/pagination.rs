//! Pagination helpers with Nango's key names, so pagination configs port from Nango templates.
//!
//! A [`Pagination`] describes how a provider pages (`cursor`, `link` or `offset`);
//! [`Pagination::fetch_page`] sends ONE request for the page at an opaque cursor and returns
//! its records and the next page's cursor (`None` = last page). It never loops: the runtime
//! owns the loop and commits the cursor with each page, so a crash resumes where it stopped.
//!
//! Stop conditions (as Nango's): an empty page; a missing, null or empty cursor; a missing
//! next link; for `offset`, a page shorter than `limit`. Loop guard: a next cursor or next
//! link equal to the one just requested is an error naming it, never a hang.
//!
//! ```no_run
//! use sync_sdk::{Page, Pagination, SyncContext, SyncError};
//! # #[derive(serde::Deserialize)] struct Issue;
//! # async fn f(cx: &SyncContext, cursor: Option<&str>) -> Result<Page<Issue>, SyncError> {
//! // GitHub: `Link: <…?page=2>; rel="next"`, 100 per page.
//! let paging = Pagination::link_header("next").with_limit("per_page", 100);
//! let request = cx.http().get("/repos/acme/app/issues").query("state", "all");
//! let (issues, next) = paging.fetch_page_as::<Issue>(request, cursor).await?;
//! Ok(Page::new(issues).next_opt(next))
//! # }
//! ```

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{HttpRequest, HttpResponse, Method, RequestBuilder, status_error};
use crate::{SyncError, json};

/// How a provider pages: Nango's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaginationType {
    /// One request returns everything.
    #[default]
    None,
    /// The body carries the next page's cursor (`cursor_path_in_response`), sent back as
    /// `cursor_name_in_request`.
    Cursor,
    /// A next link in the `Link` header (`link_rel_in_response_header`) or the body
    /// (`link_path_in_response_body`), followed exactly as given.
    Link,
    /// An offset or page number (`offset_name_in_request`).
    Offset,
}

/// How the next offset is computed: Nango's `offset_calculation_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OffsetCalculation {
    /// Next offset = offset + records on this page.
    #[default]
    ByResponseSize,
    /// Next offset = offset + 1 (page numbers).
    PerPage,
}

/// A pagination config with Nango's keys.
///
/// ```
/// use sync_sdk::{Pagination, PaginationType};
/// // HubSpot: {"results": [...], "paging": {"next": {"after": "…"}}}
/// let hubspot = Pagination::cursor("paging.next.after", "after")
///     .with_limit("limit", 100)
///     .with_response_path("results");
/// assert_eq!(hubspot.kind, PaginationType::Cursor);
/// hubspot.validate().unwrap();
///
/// // The same from JSON, as in a Nango template.
/// let parsed: Pagination = serde_json::from_str(r#"{"type": "offset",
///     "offset_name_in_request": "page", "offset_calculation_method": "per-page",
///     "offset_start_value": 1, "limit_name_in_request": "per_page", "limit": 50}"#).unwrap();
/// parsed.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Pagination {
    /// `none`, `cursor`, `link` or `offset`.
    #[serde(rename = "type", default)]
    pub kind: PaginationType,
    /// cursor: dotted path of the next cursor in the body (e.g. `"paging.next.after"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_path_in_response: Option<String>,
    /// cursor: request parameter that carries the cursor (e.g. `"after"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_name_in_request: Option<String>,
    /// link: relation of the next page in the `Link` header (e.g. `"next"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_rel_in_response_header: Option<String>,
    /// link: dotted path of the next page's URL in the body (e.g. `"links.next"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_path_in_response_body: Option<String>,
    /// offset: request parameter that carries the offset or page number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_name_in_request: Option<String>,
    /// offset: the first page's offset (default 0; often 1 for page numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_start_value: Option<u64>,
    /// offset: `by-response-size` (default) or `per-page`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_calculation_method: Option<OffsetCalculation>,
    /// Request parameter that carries the page size (e.g. `"limit"`, `"per_page"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_name_in_request: Option<String>,
    /// Page size sent in `limit_name_in_request`; with `offset`, a shorter page is the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Dotted path of the records array in the body (`""` or absent = the body is the array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_path: Option<String>,
}

/// One page as [`Pagination::fetch_page`] returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RawPage {
    /// The records, in the provider's order.
    pub records: Vec<Value>,
    /// The next page's cursor; `None` when this page is the last.
    pub next_cursor: Option<String>,
    /// The provider's response (status, headers, body).
    pub response: HttpResponse,
}

impl Pagination {
    /// No pagination: one request returns every record.
    pub fn none() -> Self {
        Self::default()
    }

    /// A cursor read from `cursor_path_in_response` and sent as `cursor_name_in_request`.
    pub fn cursor(
        cursor_path_in_response: impl Into<String>,
        cursor_name_in_request: impl Into<String>,
    ) -> Self {
        Self {
            kind: PaginationType::Cursor,
            cursor_path_in_response: Some(cursor_path_in_response.into()),
            cursor_name_in_request: Some(cursor_name_in_request.into()),
            ..Self::default()
        }
    }

    /// A next link in the `Link` header under relation `rel`.
    pub fn link_header(rel: impl Into<String>) -> Self {
        Self {
            kind: PaginationType::Link,
            link_rel_in_response_header: Some(rel.into()),
            ..Self::default()
        }
    }

    /// A next link at dotted `path` in the body.
    pub fn link_body(path: impl Into<String>) -> Self {
        Self {
            kind: PaginationType::Link,
            link_path_in_response_body: Some(path.into()),
            ..Self::default()
        }
    }

    /// An offset (or page number) sent as `offset_name_in_request`.
    pub fn offset(offset_name_in_request: impl Into<String>, method: OffsetCalculation) -> Self {
        Self {
            kind: PaginationType::Offset,
            offset_name_in_request: Some(offset_name_in_request.into()),
            offset_calculation_method: Some(method),
            ..Self::default()
        }
    }

    /// The first page's offset.
    pub fn with_start(mut self, offset_start_value: u64) -> Self {
        self.offset_start_value = Some(offset_start_value);
        self
    }

    /// Send `limit` as the request parameter `name`.
    pub fn with_limit(mut self, name: impl Into<String>, limit: u64) -> Self {
        self.limit_name_in_request = Some(name.into());
        self.limit = Some(limit);
        self
    }

    /// Records are at dotted `path` in the body.
    pub fn with_response_path(mut self, path: impl Into<String>) -> Self {
        self.response_path = Some(path.into());
        self
    }

    /// Check that the keys the type needs are set and no key of another type is.
    ///
    /// # Errors
    /// A config error naming the missing or misplaced key.
    ///
    /// ```
    /// let mut p = sync_sdk::Pagination::cursor("next", "cursor");
    /// p.cursor_name_in_request = None;
    /// let err = p.validate().unwrap_err().to_string();
    /// assert!(err.contains("cursor_name_in_request"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), SyncError> {
        self.problems()
            .into_iter()
            .next()
            .map_or(Ok(()), |(key, message)| {
                Err(SyncError::config(format!("pagination: {key}: {message}")))
            })
    }

    /// Every problem [`validate`](Self::validate) would report, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let kind = match self.kind {
            PaginationType::None => "none",
            PaginationType::Cursor => "cursor",
            PaginationType::Link => "link",
            PaginationType::Offset => "offset",
        };
        let mut require = |key: &'static str, value: &Option<String>| {
            if value.as_deref().is_none_or(str::is_empty) {
                out.push((key, format!("required for type = \"{kind}\"")));
            }
        };
        match self.kind {
            PaginationType::Cursor => {
                require("cursor_path_in_response", &self.cursor_path_in_response);
                require("cursor_name_in_request", &self.cursor_name_in_request);
            }
            PaginationType::Offset => {
                require("offset_name_in_request", &self.offset_name_in_request);
            }
            PaginationType::Link => match (
                &self.link_rel_in_response_header,
                &self.link_path_in_response_body,
            ) {
                (None, None) => out.push((
                    "link_rel_in_response_header",
                    "type = \"link\" needs link_rel_in_response_header or link_path_in_response_body"
                        .into(),
                )),
                (Some(_), Some(_)) => out.push((
                    "link_path_in_response_body",
                    "set link_rel_in_response_header or link_path_in_response_body, not both"
                        .into(),
                )),
                _ => {}
            },
            PaginationType::None => {}
        }
        let foreign: [(&'static str, bool, PaginationType); 7] = [
            (
                "cursor_path_in_response",
                self.cursor_path_in_response.is_some(),
                PaginationType::Cursor,
            ),
            (
                "cursor_name_in_request",
                self.cursor_name_in_request.is_some(),
                PaginationType::Cursor,
            ),
            (
                "link_rel_in_response_header",
                self.link_rel_in_response_header.is_some(),
                PaginationType::Link,
            ),
            (
                "link_path_in_response_body",
                self.link_path_in_response_body.is_some(),
                PaginationType::Link,
            ),
            (
                "offset_name_in_request",
                self.offset_name_in_request.is_some(),
                PaginationType::Offset,
            ),
            (
                "offset_start_value",
                self.offset_start_value.is_some(),
                PaginationType::Offset,
            ),
            (
                "offset_calculation_method",
                self.offset_calculation_method.is_some(),
                PaginationType::Offset,
            ),
        ];
        for (key, set, belongs) in foreign {
            if set && belongs != self.kind {
                out.push((key, format!("does not apply to type = \"{kind}\"")));
            }
        }
        if self.limit == Some(0) {
            out.push(("limit", "must be at least 1".into()));
        }
        if self.limit.is_some() != self.limit_name_in_request.is_some() {
            out.push((
                if self.limit.is_some() {
                    "limit_name_in_request"
                } else {
                    "limit"
                },
                "limit and limit_name_in_request go together".into(),
            ));
        }
        out
    }

    /// Fetch ONE page: `request` with the page cursor applied, sent, checked for a 2xx status,
    /// its records read at `response_path`, and the next page's cursor derived.
    ///
    /// `cursor` is what the previous call returned (`None` for the first page). For `cursor`
    /// and `offset` it is added to `request`'s parameters (to the JSON body for a request
    /// that has a JSON object body, e.g. a search POST); for `link` it is the next URL, which is
    /// requested exactly as the provider gave it (the static query of `request` is dropped,
    /// method and headers are kept).
    ///
    /// # Errors
    /// Whatever sending returns; a non-2xx status classified by [`status_error`]; a data error
    /// when the body is not JSON or has no records array at `response_path`, when the
    /// cursor is not a string or number, or when an offset cursor is not a number; a provider
    /// error when the next cursor or link equals the one just requested (loop guard).
    pub async fn fetch_page(
        &self,
        request: RequestBuilder<'_>,
        cursor: Option<&str>,
    ) -> Result<RawPage, SyncError> {
        let client = request.client();
        let mut request = request.build()?;
        let offset = self.apply(&mut request, cursor)?;
        let described = request.describe();
        let response = client.execute(request).await?;
        if !(200..300).contains(&response.status) {
            return Err(status_error(&response));
        }
        let body: Value = response.json()?;
        let path = self.response_path.as_deref().unwrap_or("");
        let records = match json::get_path(&body, path) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => {
                return Err(SyncError::data(format!(
                    "no records array at {} in the response",
                    where_(path)
                ))
                .context(&described));
            }
            Some(other) => {
                return Err(SyncError::data(format!(
                    "expected an array of records at {}, found {}",
                    where_(path),
                    json::type_name(other)
                ))
                .context(&described));
            }
        };
        let next = self
            .next_cursor(&response, &body, records.len(), cursor, offset)
            .map_err(|e| e.context(&described))?;
        Ok(RawPage {
            records,
            next_cursor: next,
            response,
        })
    }

    /// [`fetch_page`](Self::fetch_page) with the records deserialized as `T`, one by one so
    /// an error names the record's index and id.
    ///
    /// # Errors
    /// As [`fetch_page`](Self::fetch_page), plus a data error for a record that is not a `T`.
    pub async fn fetch_page_as<T: DeserializeOwned>(
        &self,
        request: RequestBuilder<'_>,
        cursor: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>), SyncError> {
        let page = self.fetch_page(request, cursor).await?;
        let records = json::records_at(&Value::Array(page.records), "")
            .map_err(|e| e.context(&page.response.request))?;
        Ok((records, page.next_cursor))
    }

    /// Put the cursor into the request; returns the offset used (for `offset`).
    fn apply(&self, request: &mut HttpRequest, cursor: Option<&str>) -> Result<u64, SyncError> {
        let mut params: Vec<(String, Value)> = Vec::new();
        let mut offset = 0;
        match self.kind {
            PaginationType::None => {}
            PaginationType::Cursor => {
                if let (Some(c), Some(name)) = (cursor, &self.cursor_name_in_request) {
                    params.push((name.clone(), Value::String(c.to_string())));
                }
            }
            PaginationType::Link => {
                if let Some(link) = cursor {
                    let base = request.url.clone();
                    request.url = resolve_link(&base, link);
                    request.query.clear();
                    // A next link is complete; a POST body is kept as is.
                    return Ok(0);
                }
            }
            PaginationType::Offset => {
                offset = match cursor {
                    None => self.offset_start_value.unwrap_or(0),
                    Some(c) => c.parse::<u64>().map_err(|_| {
                        SyncError::data(format!(
                            "page cursor {c:?} is not an offset (a non-negative integer)"
                        ))
                    })?,
                };
                if let Some(name) = &self.offset_name_in_request {
                    params.push((name.clone(), Value::from(offset)));
                }
            }
        }
        if let (Some(name), Some(limit)) = (&self.limit_name_in_request, self.limit) {
            params.push((name.clone(), Value::from(limit)));
        }
        let json_body = request.method != Method::Get
            && request
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .is_some_and(|v| v.is_object());
        if json_body {
            let mut body: Value = serde_json::from_slice(request.body.as_deref().unwrap_or(b"{}"))
                .unwrap_or_default();
            if let Value::Object(map) = &mut body {
                for (k, v) in params {
                    map.insert(k, v);
                }
            }
            request.body = Some(serde_json::to_vec(&body).unwrap_or_default().into());
        } else {
            for (k, v) in params {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                request.query.retain(|(name, _)| *name != k);
                request.query.push((k, text));
            }
        }
        Ok(offset)
    }

    fn next_cursor(
        &self,
        response: &HttpResponse,
        body: &Value,
        count: usize,
        current: Option<&str>,
        offset: u64,
    ) -> Result<Option<String>, SyncError> {
        if count == 0 {
            return Ok(None);
        }
        let next = match self.kind {
            PaginationType::None => None,
            PaginationType::Cursor => {
                let path = self.cursor_path_in_response.as_deref().unwrap_or("");
                match json::get_path(body, path) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.trim().is_empty() => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(other) => {
                        return Err(SyncError::data(format!(
                            "the cursor at {path:?} is {}, expected a string or number",
                            json::type_name(other)
                        )));
                    }
                }
            }
            PaginationType::Link => {
                let link = match (
                    &self.link_rel_in_response_header,
                    &self.link_path_in_response_body,
                ) {
                    (Some(rel), _) => response.link(rel),
                    (None, Some(path)) => match json::get_path(body, path) {
                        Some(Value::String(s)) => Some(s.clone()),
                        None | Some(Value::Null) => None,
                        Some(other) => {
                            return Err(SyncError::data(format!(
                                "the next link at {path:?} is {}, expected a URL string",
                                json::type_name(other)
                            )));
                        }
                    },
                    (None, None) => None,
                };
                link.filter(|l| !l.trim().is_empty())
            }
            PaginationType::Offset => {
                if self.limit.is_some_and(|limit| (count as u64) < limit) {
                    None
                } else {
                    Some(match self.offset_calculation_method.unwrap_or_default() {
                        OffsetCalculation::ByResponseSize => offset + count as u64,
                        OffsetCalculation::PerPage => offset + 1,
                    })
                    .map(|o| o.to_string())
                }
            }
        };
        if let (Some(next), Some(current)) = (&next, current)
            && next == current
        {
            let what = if self.kind == PaginationType::Link {
                "next link"
            } else {
                "cursor"
            };
            return Err(SyncError::provider(format!(
                "the provider returned {what} {next:?} again for the page it names; stopping instead of looping"
            )));
        }
        Ok(next)
    }
}

fn where_(path: &str) -> String {
    if path.is_empty() {
        "the body".into()
    } else {
        format!("{path:?}")
    }
}

/// A next link may be absolute, root-relative (`/items?page=2`) or just a query (`?page=2`).
fn resolve_link(current: &str, link: &str) -> String {
    if link.starts_with("http://") || link.starts_with("https://") {
        return link.to_string();
    }
    let origin_end = current
        .find("://")
        .and_then(|i| current[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(current.len());
    if link.starts_with('/') {
        format!("{}{}", &current[..origin_end], link)
    } else if link.starts_with('?') {
        let path_end = current.find('?').unwrap_or(current.len());
        format!("{}{}", &current[..path_end], link)
    } else {
        let dir_end = current[..current.find('?').unwrap_or(current.len())]
            .rfind('/')
            .map_or(current.len(), |i| i + 1);
        format!("{}{}", &current[..dir_end], link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_resolve_against_the_current_url() {
        let cur = "http://h:1/api/items?page=1";
        assert_eq!(
            resolve_link(cur, "/api/items?page=2"),
            "http://h:1/api/items?page=2"
        );
        assert_eq!(resolve_link(cur, "?page=2"), "http://h:1/api/items?page=2");
        assert_eq!(
            resolve_link(cur, "items?page=2"),
            "http://h:1/api/items?page=2"
        );
        assert_eq!(resolve_link(cur, "https://x/y"), "https://x/y");
    }

    #[test]
    fn problems_name_missing_and_foreign_keys() {
        let p = Pagination {
            kind: PaginationType::Offset,
            cursor_name_in_request: Some("after".into()),
            limit: Some(10),
            ..Pagination::default()
        };
        let keys: Vec<&str> = p.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "offset_name_in_request",
                "cursor_name_in_request",
                "limit_name_in_request"
            ]
        );
    }
}
