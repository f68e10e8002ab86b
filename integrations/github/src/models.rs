//! The `Issue` model and the wire shape GitHub returns from `GET /repos/{owner}/{repo}/issues`.
//!
//! Field names and nullability follow GitHub's REST reference (API version 2022-11-28):
//! `body`, `state_reason`, `closed_at`, `user` and `assignees` may be `null`; `labels` items are
//! label objects (or, per the schema, bare strings); pull requests carry a `pull_request` key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::Model;

/// A repository issue as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Issue {
    /// GitHub's numeric issue id, in decimal (`"1296269"`); stable across renames and moves.
    pub id: String,
    /// The number shown in the repository (`#42`).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Markdown body; `None` when the issue has none.
    pub body: Option<String>,
    /// `"open"` or `"closed"`.
    pub state: String,
    /// Why it was closed or reopened (`"completed"`, `"not_planned"`, `"reopened"`,
    /// `"duplicate"`); `None` when GitHub gives none.
    pub state_reason: Option<String>,
    /// Login of the author; `None` when GitHub returns no user (a deleted account).
    pub user_login: Option<String>,
    /// Label names, in GitHub's order.
    pub labels: Vec<String>,
    /// Logins of the assignees.
    pub assignees: Vec<String>,
    /// Number of comments.
    pub comments: u64,
    /// Whether the conversation is locked.
    pub locked: bool,
    /// Creation time, ISO 8601 UTC (`"2011-04-22T13:33:48Z"`).
    pub created_at: String,
    /// Last change, ISO 8601 UTC; the incremental checkpoint is the newest of these.
    pub updated_at: String,
    /// When it was closed; `None` while open.
    pub closed_at: Option<String>,
    /// The issue's page on github.com.
    pub html_url: String,
}

impl Model for Issue {
    const NAME: &'static str = "Issue";

    fn id(&self) -> String {
        self.id.clone()
    }
}

/// One item of the issues endpoint: an issue or a pull request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IssueItem {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    user: Option<UserRef>,
    #[serde(default)]
    labels: Vec<LabelRef>,
    #[serde(default)]
    assignees: Option<Vec<UserRef>>,
    comments: u64,
    locked: bool,
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
    html_url: String,
    /// Present (an object) only on pull requests.
    #[serde(default)]
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
struct UserRef {
    login: String,
}

/// GitHub's schema allows a label to be a bare name or a label object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum LabelRef {
    Name(String),
    Object { name: Option<String> },
}

impl IssueItem {
    /// Whether this item is a pull request (the issues endpoint returns both).
    pub(crate) fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// GitHub's numeric id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Last change, `YYYY-MM-DDTHH:MM:SSZ` (string order is time order).
    pub(crate) fn updated_at(&self) -> &str {
        &self.updated_at
    }
}

impl From<IssueItem> for Issue {
    fn from(item: IssueItem) -> Self {
        Issue {
            id: item.id.to_string(),
            number: item.number,
            title: item.title,
            body: item.body,
            state: item.state,
            state_reason: item.state_reason,
            user_login: item.user.map(|u| u.login),
            labels: item
                .labels
                .into_iter()
                .filter_map(|label| match label {
                    LabelRef::Name(name) => Some(name),
                    LabelRef::Object { name } => name,
                })
                .collect(),
            assignees: item
                .assignees
                .unwrap_or_default()
                .into_iter()
                .map(|u| u.login)
                .collect(),
            comments: item.comments,
            locked: item.locked,
            created_at: item.created_at,
            updated_at: item.updated_at,
            closed_at: item.closed_at,
            html_url: item.html_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed issue in the documented shape of `GET /repos/{owner}/{repo}/issues` items,
    /// with every field GitHub sends (most of which the model drops).
    const DOCUMENTED_ISSUE: &str = include_str!("../tests/fixtures/issue.json");

    #[test]
    fn documented_issue_shape_maps_to_the_model() {
        let item: IssueItem = serde_json::from_str(DOCUMENTED_ISSUE).expect("fixture parses");
        assert!(
            !item.is_pull_request(),
            "an item without pull_request is an issue"
        );
        let issue = Issue::from(item);
        assert_eq!(
            issue,
            Issue {
                id: "1296269".into(),
                number: 1347,
                title: "Found a bug".into(),
                body: Some("I'm having a problem with this.".into()),
                state: "closed".into(),
                state_reason: Some("completed".into()),
                user_login: Some("octocat".into()),
                labels: vec!["bug".into(), "good first issue".into()],
                assignees: vec!["octocat".into(), "hubot".into()],
                comments: 42,
                locked: true,
                created_at: "2011-04-22T13:33:48Z".into(),
                updated_at: "2011-04-22T13:33:48Z".into(),
                closed_at: Some("2011-04-23T09:12:00Z".into()),
                html_url: "https://github.com/octocat/Hello-World/issues/1347".into(),
            },
            "the model differs from the documented sample"
        );
        assert_eq!(Model::id(&issue), "1296269");
    }

    #[test]
    fn nullable_fields_and_pull_requests_are_recognised() {
        let mut value: serde_json::Value = serde_json::from_str(DOCUMENTED_ISSUE).unwrap();
        for field in ["body", "state_reason", "closed_at", "user", "assignees"] {
            value[field] = serde_json::Value::Null;
        }
        value["labels"] = serde_json::json!(["plain-name", {"name": null}]);
        value["pull_request"] = serde_json::json!({
            "url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347",
            "merged_at": null
        });
        let item: IssueItem = serde_json::from_value(value).expect("nulls are accepted");
        assert!(item.is_pull_request(), "an item with pull_request is a PR");
        let issue = Issue::from(item);
        assert_eq!(issue.body, None);
        assert_eq!(issue.state_reason, None);
        assert_eq!(issue.closed_at, None);
        assert_eq!(issue.user_login, None);
        assert!(
            issue.assignees.is_empty(),
            "null assignees become an empty list"
        );
        assert_eq!(
            issue.labels,
            ["plain-name"],
            "string labels kept, nameless dropped"
        );
    }
}
