//! The `issues` sync: every issue of one repository, incrementally by `updated_at`.
//!
//! First page: `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
//! &per_page=100[&since=<checkpoint>]`; later pages follow the `Link: <…>; rel="next"` URL
//! exactly as GitHub gave it. Pull requests come back from the same endpoint: they are not
//! stored, but their `updated_at` still advances the checkpoint.
//!
//! Known gap: GitHub pages by page number, so an item on an already fetched page that is
//! edited (or an issue deleted) while a multi-page pass is in flight shifts later items one
//! place left and the item at the next page boundary is not served in that pass; since the
//! checkpoint passes it, incremental runs do not fetch it again until it changes. A full
//! resync repairs it. The ignored test `issue_edited_mid_pass_does_not_hide_another_issue`
//! reproduces it; keyset paging on `since` would close it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::{
    ErrorKind, HttpResponse, Page, PageRequest, RequestBuilder, SyncContext, SyncError,
    SyncFunction, SyncSpec,
};

use crate::models::{Issue, IssueItem};

/// Media type GitHub recommends for REST calls.
pub const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version this sync was written against.
pub const API_VERSION: &str = "2022-11-28";
/// Items per page (GitHub's maximum).
pub const PER_PAGE: u32 = 100;

/// The incremental checkpoint: the newest `updated_at` seen among issues *and* pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Since {
    /// ISO 8601 UTC timestamp (`"2024-05-01T12:00:00Z"`); the next run asks for items
    /// updated at or after it. GitHub always writes this fixed-width form, so string order is
    /// time order.
    pub updated_at: String,
}

/// Issues of the repository named by the connection's `owner` and `repo` parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Issues;

impl SyncFunction for Issues {
    type Record = Issue;
    type Checkpoint = Since;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("issues")
            .description(
                "issues of a repository (pull requests skipped), incrementally by updated_at",
            )
            .frequency("every 30 minutes")
            .incremental()
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, Since>,
    ) -> Result<Page<Issue>, SyncError> {
        let response = match request.cursor {
            Some(next) => {
                check_same_origin(cx.http().base_url(), next)?;
                send(github_get(cx, next)).await?
            }
            None => {
                let owner = repo_segment(cx, "owner")?;
                let repo = repo_segment(cx, "repo")?;
                let since = request.checkpoint.map(|s| s.updated_at.as_str());
                send(
                    github_get(cx, &format!("/repos/{owner}/{repo}/issues"))
                        .query("state", "all")
                        .query("sort", "updated")
                        .query("direction", "asc")
                        .query("per_page", PER_PAGE)
                        .query_opt("since", since),
                )
                .await?
            }
        };
        let items: Vec<IssueItem> = response.records("")?;
        let (pulls, issues): (Vec<IssueItem>, Vec<IssueItem>) =
            items.into_iter().partition(IssueItem::is_pull_request);
        if !pulls.is_empty() {
            cx.log()
                .debug(format_args!("skipped {} pull requests", pulls.len()));
        }
        Ok(Page::new(issues.into_iter().map(Issue::from).collect())
            .skipped(pulls.into_iter().map(Issue::from).collect())
            .next_opt(response.link("next")))
    }

    fn advance_checkpoint(&self, since: Option<Since>, records: &[Issue]) -> Option<Since> {
        let newest = records.iter().map(|i| i.updated_at.as_str()).max();
        match (since, newest) {
            (Some(s), Some(n)) if s.updated_at.as_str() >= n => Some(s),
            (_, Some(n)) => Some(Since {
                updated_at: n.to_string(),
            }),
            (s, None) => s,
        }
    }
}

/// A GET with GitHub's headers.
fn github_get<'a>(cx: &'a SyncContext, path: &str) -> RequestBuilder<'a> {
    cx.http()
        .get(path)
        .header("Accept", ACCEPT)
        .header("X-GitHub-Api-Version", API_VERSION)
}

/// Send and classify GitHub's errors: a 403 or 429 that carries `x-ratelimit-remaining: 0` or
/// `retry-after` is GitHub's rate limit (primary or secondary), not an auth failure.
async fn send(request: RequestBuilder<'_>) -> Result<HttpResponse, SyncError> {
    let response = request.send_raw().await?;
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let error = sync_sdk::status_error(&response);
    let rate_limited = matches!(response.status, 403 | 429)
        && (response.header("x-ratelimit-remaining") == Some("0")
            || response.header("retry-after").is_some());
    if rate_limited {
        return Err(
            SyncError::new(ErrorKind::RateLimit, error.message()).with_status(response.status)
        );
    }
    Err(error)
}

/// A required `owner`/`repo` parameter, checked to be one path segment as GitHub allows it.
fn repo_segment<'a>(cx: &'a SyncContext, name: &str) -> Result<&'a str, SyncError> {
    let value = cx.connection().param(name)?;
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value != "."
        && value != "..";
    if valid {
        Ok(value)
    } else {
        Err(SyncError::config(format!(
            "connection {:?}: parameter {name:?} is {value:?}, which is not a GitHub {name} name \
             (letters, digits, '-', '_' and '.')",
            cx.connection().id
        )))
    }
}

/// Credentials go with every request, so a next link must stay on the API's origin.
fn check_same_origin(base_url: &str, next: &str) -> Result<(), SyncError> {
    let origin = |url: &str| {
        let rest = url.split_once("://").map(|(_, r)| r)?;
        let host = rest.split(['/', '?', '#']).next()?;
        Some(format!("{}://{host}", url.split_once("://")?.0).to_ascii_lowercase())
    };
    match (origin(base_url), origin(next)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(SyncError::provider(format!(
            "the Link header's next page {next:?} is not on the API origin {base_url:?}; \
             refusing to send credentials there"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(updated_at: &str) -> Issue {
        Issue {
            id: "1".into(),
            number: 1,
            title: "t".into(),
            body: None,
            state: "open".into(),
            state_reason: None,
            user_login: None,
            labels: vec![],
            assignees: vec![],
            comments: 0,
            locked: false,
            created_at: "2024-01-01T00:00:00Z".into(),
            updated_at: updated_at.into(),
            closed_at: None,
            html_url: "https://github.com/o/r/issues/1".into(),
        }
    }

    #[test]
    fn checkpoint_keeps_the_newest_updated_at() {
        let since = |s: &str| {
            Some(Since {
                updated_at: s.into(),
            })
        };
        let page = [issue("2024-03-01T00:00:00Z"), issue("2024-02-01T00:00:00Z")];
        assert_eq!(
            Issues.advance_checkpoint(None, &page),
            since("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            Issues.advance_checkpoint(since("2024-04-01T00:00:00Z"), &page),
            since("2024-04-01T00:00:00Z"),
            "an older page must not move the checkpoint back"
        );
        assert_eq!(
            Issues.advance_checkpoint(since("2024-01-01T00:00:00Z"), &[]),
            since("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn next_links_must_stay_on_the_api_origin() {
        let base = "https://api.github.com";
        assert!(
            check_same_origin(base, "https://api.github.com/repositories/1/issues?page=2").is_ok()
        );
        let err = check_same_origin(base, "https://evil.example/issues?page=2").unwrap_err();
        assert!(err.to_string().contains("evil.example"), "{err}");
        assert!(check_same_origin("http://127.0.0.1:80", "http://127.0.0.1:8080/x").is_err());
    }
}
