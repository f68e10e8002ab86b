//! The `issues` sync: every issue of one repository, incrementally by `updated_at`.
//!
//! Every page is `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
//! &per_page=100[&since=<since>][&page=<n>]`. Pull requests come back from the same endpoint:
//! they are not stored, but their `updated_at` still advances the checkpoint.
//!
//! # Keyset pagination on `since`, not the `Link` header
//!
//! GitHub's `rel="next"` links number pages (`page=2`, `page=3`, …) over a list sorted by
//! `updated_at`. An item on an already fetched page that is edited while a pass is in flight
//! moves to the end of that list (a deleted issue leaves it); every later item shifts one place
//! left and the item at the next page boundary is never served in that pass. The checkpoint
//! then moves past it, so incremental runs would not ask for it again until it changes.
//!
//! So the sync ignores the links and pages on the sort key itself. After a page whose newest
//! item was updated at second `T`, the next request asks for `since=T` (GitHub's `since` keeps
//! items updated *at or after* it) and skips the ids it has already served at exactly `T`.
//! Whatever happens between two requests, every item not yet served has `updated_at >= T`:
//! an edited item moves to a later second, a deleted one is simply gone, and nothing shifts out
//! of the window. `since` has one-second precision, so when a full page of 100 items all share
//! one second, `since` cannot move forward; the sync then pages by number *within* that
//! `since` (`page=2`, `3`, …) until a page reaches a later second, and returns to keyset paging
//! from there. Only inside such a block (more than 100 items updated in the same second) can
//! an edit or delete during those few requests still shift an item past a page boundary.
//!
//! A page with fewer than [`PER_PAGE`] items ends the pass (GitHub honours `per_page` up to
//! 100). Ending early is never a loss: every item not served has `updated_at` at or after the
//! checkpoint, and the next run asks from there.
//!
//! The page cursor is compact JSON that survives a crash and resume, e.g.
//! `{"v":1,"since":"2024-05-01T12:00:00Z","seen":[1296269,1296270],"page":1}`: `since` for the
//! next request, `seen` the ids of the previous page updated at exactly `since`, `page` the page
//! number within `since` (1 unless a single second fills whole pages).

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
///
/// Each page is `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
/// &per_page=100&since=<T>`, where `T` is the newest `updated_at` served so far (the
/// checkpoint on a pass's first page); ids already served at exactly `T` are skipped. GitHub's
/// numbered `rel="next"` links are not followed: an issue edited or deleted mid-pass shifts
/// numbered pages, and the item at the next boundary would be missed while the checkpoint
/// moves past it. Paging on `since` cannot shift, since every item not yet served is updated
/// at or after `T`. When a full page shares one second, `since` cannot advance and the sync
/// adds `page=2`, `3`, … within that second until a page reaches a later one; only there can
/// an edit during those requests still shift an item past a page boundary.
///
/// A page shorter than [`PER_PAGE`] ends the pass. The page cursor is compact JSON, e.g.
/// `{"v":1,"since":"2024-05-01T12:00:00Z","seen":[1296269],"page":1}`; a cursor that does not
/// parse is an internal error naming it.
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
        let position = match request.cursor {
            Some(cursor) => Position::parse(cursor)?,
            None => Position::start(request.checkpoint),
        };
        let owner = repo_segment(cx, "owner")?;
        let repo = repo_segment(cx, "repo")?;
        let page = (position.page > 1).then_some(position.page);
        let response = send(
            github_get(cx, &format!("/repos/{owner}/{repo}/issues"))
                .query("state", "all")
                .query("sort", "updated")
                .query("direction", "asc")
                .query("per_page", PER_PAGE)
                .query_opt("since", position.since.as_deref())
                .query_opt("page", page),
        )
        .await?;
        let items: Vec<IssueItem> = response.records("")?;
        let next = position.next(&items);
        let fresh: Vec<IssueItem> = items
            .into_iter()
            .filter(|item| !position.already_served(item))
            .collect();
        let (pulls, issues): (Vec<IssueItem>, Vec<IssueItem>) =
            fresh.into_iter().partition(IssueItem::is_pull_request);
        if !pulls.is_empty() {
            cx.log()
                .debug(format_args!("skipped {} pull requests", pulls.len()));
        }
        Ok(Page::new(issues.into_iter().map(Issue::from).collect())
            .skipped(pulls.into_iter().map(Issue::from).collect())
            .next_opt(next.map(|p| p.to_cursor())))
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

/// Where the next request starts: the page cursor, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// Format version of the cursor.
    v: u32,
    /// `since` of the next request; `None` only on the first page of a first run.
    since: Option<String>,
    /// Ids already served whose `updated_at` is exactly `since` (at most one page of them:
    /// when paging by number within one second, those of the previous page).
    seen: Vec<u64>,
    /// Page number within `since` (1 unless one second fills whole pages).
    page: u32,
}

impl Position {
    const VERSION: u32 = 1;

    /// The first page of a pass: from the checkpoint, nothing served yet.
    fn start(checkpoint: Option<&Since>) -> Self {
        Self {
            v: Self::VERSION,
            since: checkpoint.map(|c| c.updated_at.clone()),
            seen: Vec::new(),
            page: 1,
        }
    }

    fn parse(cursor: &str) -> Result<Self, SyncError> {
        let invalid = |why: String| {
            SyncError::internal(format!(
                "github/issues page cursor {cursor:?} is invalid ({why}); a full resync \
                 starts the pass over"
            ))
        };
        let position: Self = serde_json::from_str(cursor).map_err(|e| invalid(e.to_string()))?;
        if position.v != Self::VERSION {
            return Err(invalid(format!(
                "version {} where {} is expected",
                position.v,
                Self::VERSION
            )));
        }
        if let Some(since) = &position.since
            && !is_github_timestamp(since)
        {
            return Err(invalid(format!(
                "since {since:?} is not of the form YYYY-MM-DDTHH:MM:SSZ"
            )));
        }
        if position.page == 0 {
            return Err(invalid("page 0; pages count from 1".into()));
        }
        Ok(position)
    }

    fn to_cursor(&self) -> String {
        serde_json::to_string(self).expect("a position serializes")
    }

    /// Whether `item` was served by an earlier page of this pass (same id, same second).
    fn already_served(&self, item: &IssueItem) -> bool {
        self.since.as_deref() == Some(item.updated_at()) && self.seen.contains(&item.id())
    }

    /// Where to continue after this position's request answered `items` (sorted by
    /// `updated_at` ascending); `None` when the answer was not a full page.
    fn next(&self, items: &[IssueItem]) -> Option<Self> {
        if items.len() < PER_PAGE as usize {
            return None;
        }
        let first = items.first()?.updated_at();
        let last = items.last()?.updated_at();
        let at_last = items
            .iter()
            .filter(|i| i.updated_at() == last)
            .map(IssueItem::id);
        let next = if first != last {
            // The usual case: continue from the newest second on this page.
            Self {
                seen: at_last.collect(),
                since: Some(last.to_string()),
                page: 1,
                v: Self::VERSION,
            }
        } else if self.since.as_deref() == Some(last) {
            // Still inside a second that fills whole pages: the next page of it. Only this
            // page's ids are kept, so the cursor stays bounded by the page size: numbered
            // pages of one second overlap only if the list shifts right, by fewer than a page.
            Self {
                seen: at_last.collect(),
                since: self.since.clone(),
                page: self.page + 1,
                v: Self::VERSION,
            }
        } else {
            // A full page of one later second: `since=last` would serve this page again,
            // so go on with its page 2.
            Self {
                seen: at_last.collect(),
                since: Some(last.to_string()),
                page: 2,
                v: Self::VERSION,
            }
        };
        Some(next)
    }
}

/// GitHub's timestamp form, `YYYY-MM-DDTHH:MM:SSZ`.
fn is_github_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
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

    fn item(id: u64, updated_at: &str) -> IssueItem {
        let mut value: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/issue.json")).unwrap();
        value["id"] = id.into();
        value["updated_at"] = updated_at.into();
        serde_json::from_value(value).unwrap()
    }

    fn position(since: &str, seen: &[u64], page: u32) -> Position {
        Position {
            v: Position::VERSION,
            since: Some(since.into()),
            seen: seen.to_vec(),
            page,
        }
    }

    const T1: &str = "2024-05-01T00:00:01Z";
    const T2: &str = "2024-05-01T00:00:02Z";
    const T3: &str = "2024-05-01T00:00:03Z";

    #[test]
    fn a_short_page_ends_the_pass() {
        let items: Vec<IssueItem> = (0..99).map(|k| item(k, T1)).collect();
        assert_eq!(Position::start(None).next(&items), None);
        assert_eq!(Position::start(None).next(&[]), None);
    }

    #[test]
    fn a_full_page_continues_from_its_newest_second() {
        let mut items: Vec<IssueItem> = (0..98).map(|k| item(k, T1)).collect();
        items.push(item(500, T2));
        items.push(item(501, T2));
        let next = Position::start(None).next(&items).expect("more pages");
        assert_eq!(next, position(T2, &[500, 501], 1));
        let cursor = next.to_cursor();
        assert_eq!(
            cursor,
            r#"{"v":1,"since":"2024-05-01T00:00:02Z","seen":[500,501],"page":1}"#
        );
        assert_eq!(Position::parse(&cursor).unwrap(), next, "round trip");
        assert!(next.already_served(&item(500, T2)));
        assert!(
            !next.already_served(&item(500, T3)),
            "an issue seen at T2 and edited since is served again"
        );
        assert!(!next.already_served(&item(502, T2)));
    }

    #[test]
    fn a_full_page_of_one_second_pages_by_number_within_it() {
        let page1: Vec<IssueItem> = (0..100).map(|k| item(k, T2)).collect();
        let second = position(T1, &[7], 1).next(&page1).expect("more pages");
        assert_eq!(second.since.as_deref(), Some(T2));
        assert_eq!(second.page, 2, "since=T2 page 1 would repeat this page");
        let page2: Vec<IssueItem> = (100..200).map(|k| item(k, T2)).collect();
        let third = second.next(&page2).expect("more pages");
        assert_eq!(
            (third.since.as_deref(), third.page, third.seen.len()),
            (Some(T2), 3, 100),
            "the cursor keeps one page of ids, not the whole second"
        );
        let mut page3: Vec<IssueItem> = (200..250).map(|k| item(k, T2)).collect();
        page3.extend((250..300).map(|k| item(k, T3)));
        let back = third.next(&page3).expect("more pages");
        assert_eq!(
            (back.since.as_deref(), back.page, back.seen.len()),
            (Some(T3), 1, 50),
            "a page reaching a later second returns to keyset paging"
        );
    }

    #[test]
    fn invalid_cursors_are_errors_naming_the_cursor() {
        for (cursor, why) in [
            ("page=3", "expected"),
            (r#"{"v":2,"since":null,"seen":[],"page":1}"#, "version 2"),
            (
                r#"{"v":1,"since":"2024-05-01 00:00:00","seen":[],"page":1}"#,
                "YYYY-MM-DDTHH:MM:SSZ",
            ),
            (r#"{"v":1,"since":null,"seen":[],"page":0}"#, "page 0"),
        ] {
            let err = Position::parse(cursor).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Internal, "{cursor}");
            let message = err.to_string();
            assert!(
                message.contains(why) && message.contains("page cursor"),
                "error for {cursor:?} names the cursor and why: {message}"
            );
        }
    }
}
