//! A loopback fake of GitHub's `GET /repos/{owner}/{repo}/issues`, strict where the sync must
//! be exact:
//!
//! - `state`, `sort` and `direction` are required (422 "Validation Failed" without them; GitHub
//!   itself defaults them, the fake refuses so the tests prove the sync sends them), and an
//!   `X-GitHub-Api-Version` other than 2022-11-28 is a 400, as on GitHub;
//! - `since` (`YYYY-MM-DDTHH:MM:SSZ`, anything else is a 422) keeps the items whose
//!   `updated_at` is *at or after* it, to the second: GitHub's v3 reference describes it as
//!   "only issues updated at or after this time are returned" (today's page says "after",
//!   and clients observe the inclusive behaviour); `sort=updated&direction=asc` orders by
//!   `updated_at`, ties by number (GitHub documents no tie order; the sync must not need one);
//! - pages of `per_page` items (default 30, at most 100, as on GitHub), `page` counting from 1;
//!   the `Link` header carries `rel="next"` and `rel="last"` (and `prev`/`first`) pointing at
//!   `/repositories/{id}/issues?…&page=N`, the form GitHub uses, though the sync no longer
//!   follows them;
//! - issues and pull requests in GitHub's JSON shape; PRs carry a `pull_request` object;
//! - unknown repositories answer 404 `{"message":"Not Found",…}`.
//!
//! Time is logical: every mutation advances the clock by one second from 2024-05-01T00:00:00Z.
#![allow(dead_code)] // each test crate uses part of the fake

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

const REPO_ID: u64 = 1_296_269;
const ISSUE_ID_BASE: u64 = 2_000_000_000;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: HashMap<String, String>,
    pub accept: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug, Clone)]
struct Item {
    number: u64,
    title: String,
    body: Option<String>,
    pull_request: bool,
    closed: Option<(u64, &'static str)>,
    labels: Vec<String>,
    assignees: Vec<String>,
    comments: u64,
    created: u64,
    updated: u64,
}

#[derive(Debug)]
struct FakeState {
    owner: String,
    repo: String,
    base_url: String,
    items: Vec<Item>,
    clock: u64,
    requests: Vec<Seen>,
    /// Answer like GitHub once the primary rate limit is used up.
    rate_limit_exhausted: bool,
    /// The 1-based number of a request never answered (a sync stuck mid-page).
    stall_request: Option<usize>,
    /// (after this many requests, change this item): edits made while a run pages.
    edits_during_run: Vec<(usize, Edit)>,
}

/// A change made by someone else while a sync is paging.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Comment(u64),
    Delete(u64),
}

impl FakeState {
    /// Delete an issue, as a repository admin can: it leaves every listing.
    fn delete(&mut self, number: u64) {
        let before = self.items.len();
        self.items.retain(|i| i.number != number);
        assert_eq!(before - 1, self.items.len(), "no item #{number} to delete");
    }

    fn touch(&mut self, number: u64, change: impl FnOnce(&mut Item, u64)) {
        self.clock += 1;
        let now = self.clock;
        let item = self
            .items
            .iter_mut()
            .find(|i| i.number == number)
            .unwrap_or_else(|| panic!("no item #{number}"));
        change(item, now);
        item.updated = now;
    }
}

/// The running fake.
#[derive(Debug, Clone)]
pub struct FakeGithub {
    state: Arc<Mutex<FakeState>>,
    base_url: String,
}

/// `2024-05-01T00:00:00Z` plus `seconds` (within the day), as GitHub writes timestamps.
pub fn timestamp(seconds: u64) -> String {
    assert!(seconds < 86_400, "the fake's clock stays within one day");
    format!(
        "2024-05-01T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Seconds from 2024-05-01T00:00:00Z to a `YYYY-MM-DDTHH:MM:SSZ` time (any date, as GitHub
/// accepts; a time before the fake's day counts as its start).
fn parse_timestamp(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let numbers = |text: &str, sep: char| -> Option<Vec<i64>> {
        text.split(sep).map(|p| p.parse::<i64>().ok()).collect()
    };
    let (d, t) = (numbers(date, '-')?, numbers(time, ':')?);
    let ([y, mo, day], [h, m, sec]) =
        (<[i64; 3]>::try_from(d).ok()?, <[i64; 3]>::try_from(t).ok()?);
    let valid = date.len() == 10
        && time.len() == 8
        && (1..=12).contains(&mo)
        && (1..=31).contains(&day)
        && h < 24
        && m < 60
        && sec < 60;
    if !valid {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let days = |y: i64, mo: i64, d: i64| {
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    };
    let seconds = (days(y, mo, day) - days(2024, 5, 1)) * 86_400 + h * 3600 + m * 60 + sec;
    Some(seconds.max(0) as u64)
}

fn user(login: &str, id: u64) -> Value {
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "site_admin": false
    })
}

impl Item {
    fn id(&self) -> u64 {
        ISSUE_ID_BASE + self.number
    }

    fn state(&self) -> &'static str {
        if self.closed.is_some() {
            "closed"
        } else {
            "open"
        }
    }

    /// The item as GitHub serves it.
    fn to_github_json(&self, owner: &str, repo: &str) -> Value {
        let api = format!("https://api.github.com/repos/{owner}/{repo}");
        let kind = if self.pull_request { "pull" } else { "issues" };
        let assignees: Vec<Value> = self
            .assignees
            .iter()
            .enumerate()
            .map(|(i, l)| user(l, 100 + i as u64))
            .collect();
        let mut v = json!({
            "url": format!("{api}/issues/{}", self.number),
            "repository_url": api,
            "labels_url": format!("{api}/issues/{}/labels{{/name}}", self.number),
            "comments_url": format!("{api}/issues/{}/comments", self.number),
            "events_url": format!("{api}/issues/{}/events", self.number),
            "html_url": format!("https://github.com/{owner}/{repo}/{kind}/{}", self.number),
            "id": self.id(),
            "node_id": format!("I_kwDOAbc{}", self.number),
            "number": self.number,
            "title": self.title,
            "user": user("octocat", 1),
            "labels": self.labels.iter().enumerate().map(|(i, name)| json!({
                "id": 208_045_946 + i as u64,
                "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                "url": format!("{api}/labels/{name}"),
                "name": name,
                "color": "f29513",
                "default": false,
                "description": null
            })).collect::<Vec<_>>(),
            "state": self.state(),
            "locked": false,
            "assignee": assignees.first().cloned().unwrap_or(Value::Null),
            "assignees": assignees,
            "milestone": null,
            "comments": self.comments,
            "created_at": timestamp(self.created),
            "updated_at": timestamp(self.updated),
            "closed_at": self.closed.map(|(t, _)| timestamp(t)),
            "author_association": "OWNER",
            "active_lock_reason": null,
            "body": self.body,
            "closed_by": if self.closed.is_some() { user("octocat", 1) } else { Value::Null },
            "reactions": { "url": format!("{api}/issues/{}/reactions", self.number),
                           "total_count": 0, "+1": 0, "-1": 0 },
            "timeline_url": format!("{api}/issues/{}/timeline", self.number),
            "performed_via_github_app": null,
            "state_reason": self.closed.map(|(_, r)| r),
        });
        if self.pull_request {
            let pulls = format!("{api}/pulls/{}", self.number);
            v["draft"] = json!(false);
            v["pull_request"] = json!({
                "url": pulls,
                "html_url": format!("https://github.com/{owner}/{repo}/pull/{}", self.number),
                "diff_url": format!("https://github.com/{owner}/{repo}/pull/{}.diff", self.number),
                "patch_url": format!("https://github.com/{owner}/{repo}/pull/{}.patch", self.number),
                "merged_at": null
            });
        }
        v
    }

    /// What the sync should store for this issue, written from GitHub's semantics (not from
    /// the sync's code).
    fn expected_record(&self, owner: &str, repo: &str) -> Value {
        json!({
            "id": self.id().to_string(),
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": self.state(),
            "state_reason": self.closed.map(|(_, r)| r),
            "user_login": "octocat",
            "labels": self.labels,
            "assignees": self.assignees,
            "comments": self.comments,
            "locked": false,
            "created_at": timestamp(self.created),
            "updated_at": timestamp(self.updated),
            "closed_at": self.closed.map(|(t, _)| timestamp(t)),
            "html_url": format!("https://github.com/{owner}/{repo}/issues/{}", self.number),
        })
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn list_by_name(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/issues");
    let found = {
        let s = state.lock().unwrap();
        s.owner.eq_ignore_ascii_case(&owner) && s.repo.eq_ignore_ascii_case(&repo)
    };
    let response = list(&state, path, found, query, &headers);
    stall_if_due(&state).await;
    response
}

async fn list_by_id(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(id): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repositories/{id}/issues");
    let response = list(&state, path, id == REPO_ID, query, &headers);
    stall_if_due(&state).await;
    response
}

/// Never answer the request chosen by [`FakeGithub::stall_request`].
async fn stall_if_due(state: &Mutex<FakeState>) {
    let due = {
        let s = state.lock().unwrap();
        s.stall_request == Some(s.requests.len())
    };
    if due {
        std::future::pending::<()>().await;
    }
}

fn list(
    state: &Mutex<FakeState>,
    path: String,
    found: bool,
    query: HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut s = state.lock().unwrap();
    s.requests.push(Seen {
        path,
        query: query.clone(),
        accept: header("accept"),
        api_version: header("x-github-api-version"),
    });
    if let Some(version) = header("x-github-api-version")
        && version != "2022-11-28"
    {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"message": format!("API version {version} is not supported."),
                   "documentation_url": "https://docs.github.com/rest/overview/api-versions"}),
        );
    }
    if s.rate_limit_exhausted {
        let mut response = error(
            StatusCode::FORBIDDEN,
            json!({"message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                   "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                   "status": "403"}),
        );
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-used", HeaderValue::from_static("5000"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1714525200"));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
        return response;
    }
    if !found {
        return error(
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found",
                   "documentation_url": "https://docs.github.com/rest/issues/issues#list-repository-issues",
                   "status": "404"}),
        );
    }
    let allowed: [(&str, &[&str]); 3] = [
        ("state", &["open", "closed", "all"]),
        ("sort", &["created", "updated", "comments"]),
        ("direction", &["asc", "desc"]),
    ];
    for (name, values) in allowed {
        match query.get(name) {
            Some(v) if values.contains(&v.as_str()) => {}
            other => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed",
                           "errors": [{"resource": "Issue", "field": name,
                                       "code": if other.is_some() { "invalid" } else { "missing_field" }}],
                           "documentation_url": "https://docs.github.com/rest/issues/issues#list-repository-issues",
                           "status": "422"}),
                );
            }
        }
    }
    let since = match query.get("since").map(|s| parse_timestamp(s)) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Validation Failed",
                       "errors": [{"resource": "Issue", "field": "since", "code": "invalid"}]}),
            );
        }
    };
    let per_page = query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);

    let mut items: Vec<&Item> = s
        .items
        .iter()
        .filter(|i| match query["state"].as_str() {
            "open" => i.closed.is_none(),
            "closed" => i.closed.is_some(),
            _ => true,
        })
        .filter(|i| since.is_none_or(|t| i.updated >= t))
        .collect();
    let key = |i: &&Item| match query["sort"].as_str() {
        "updated" => (i.updated, i.number),
        "comments" => (i.comments, i.number),
        _ => (i.created, i.number),
    };
    items.sort_by_key(key);
    if query["direction"] == "desc" {
        items.reverse();
    }
    let last_page = items.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| i.to_github_json(&s.owner, &s.repo))
        .collect();

    // GitHub's links repeat the query (page last) on the /repositories/{id} form.
    let link_to = |n: usize| {
        let mut params: Vec<(&String, &String)> =
            query.iter().filter(|(k, _)| k.as_str() != "page").collect();
        params.sort();
        let mut q: Vec<String> = params
            .into_iter()
            .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A")))
            .collect();
        q.push(format!("page={n}"));
        format!(
            "<{}/repositories/{REPO_ID}/issues?{}>",
            s.base_url,
            q.join("&")
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page < last_page {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last_page)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    let used = s.requests.len();
    let due: Vec<Edit> = s
        .edits_during_run
        .iter()
        .filter(|(after, _)| *after == used)
        .map(|(_, edit)| *edit)
        .collect();
    for edit in due {
        match edit {
            Edit::Comment(number) => s.touch(number, |i, _| i.comments += 1),
            Edit::Delete(number) => s.delete(number),
        }
    }
    let mut response = axum::Json(Value::Array(body)).into_response();
    let h = response.headers_mut();
    if !links.is_empty() {
        h.insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
    }
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(5000 - used as u64),
    );
    h.insert("x-ratelimit-used", HeaderValue::from(used as u64));
    h.insert("x-ratelimit-reset", HeaderValue::from_static("1714525200"));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    response
}

impl FakeGithub {
    /// Serve an empty `owner/repo` on 127.0.0.1.
    pub async fn start(owner: &str, repo: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind loopback");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            owner: owner.into(),
            repo: repo.into(),
            base_url: base_url.clone(),
            items: Vec::new(),
            clock: 0,
            requests: Vec::new(),
            rate_limit_exhausted: false,
            edits_during_run: Vec::new(),
            stall_request: None,
        }));
        let app = Router::new()
            .route("/repos/{owner}/{repo}/issues", get(list_by_name))
            .route("/repositories/{id}/issues", get(list_by_id))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake github serves");
        });
        Self { state, base_url }
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn create(&self, pull_request: bool, title: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.clock += 1;
        let number = s.items.iter().map(|i| i.number).max().unwrap_or(0) + 1;
        let now = s.clock;
        s.items.push(Item {
            number,
            title: title.into(),
            body: (!number.is_multiple_of(3)).then(|| format!("Steps to reproduce #{number}")),
            pull_request,
            closed: None,
            labels: match number % 4 {
                0 => vec!["bug".into(), "good first issue".into()],
                1 => vec!["enhancement".into()],
                _ => vec![],
            },
            assignees: if number.is_multiple_of(5) {
                vec!["hubot".into(), "octocat".into()]
            } else {
                vec![]
            },
            comments: number % 7,
            created: now,
            updated: now,
        });
        number
    }

    /// Open a new issue; returns its number.
    pub fn add_issue(&self, title: &str) -> u64 {
        self.create(false, title)
    }

    /// Open a new pull request; returns its number.
    pub fn add_pull_request(&self, title: &str) -> u64 {
        self.create(true, title)
    }

    fn touch(&self, number: u64, change: impl FnOnce(&mut Item, u64)) {
        self.state.lock().unwrap().touch(number, change);
    }

    /// Comment on item `number` right after the fake has answered `requests` requests (an
    /// edit made by someone while a sync is paging).
    pub fn comment_after_requests(&self, requests: usize, number: u64) {
        self.state
            .lock()
            .unwrap()
            .edits_during_run
            .push((requests, Edit::Comment(number)));
    }

    /// Never answer the `request`-th request (1-based), so a run hangs with that page in
    /// flight until it is killed.
    pub fn stall_request(&self, request: usize) {
        self.state.lock().unwrap().stall_request = Some(request);
    }

    /// Delete issue `number` right after the fake has answered `requests` requests.
    pub fn delete_after_requests(&self, requests: usize, number: u64) {
        self.state
            .lock()
            .unwrap()
            .edits_during_run
            .push((requests, Edit::Delete(number)));
    }

    /// Open `count` issues within one second (a bulk import); returns their numbers.
    pub fn add_issues_in_one_second(&self, count: usize) -> Vec<u64> {
        let numbers: Vec<u64> = (0..count)
            .map(|k| self.create(false, &format!("Imported {k}")))
            .collect();
        let mut s = self.state.lock().unwrap();
        let second = s
            .items
            .iter()
            .find(|i| i.number == numbers[0])
            .map(|i| i.created)
            .unwrap();
        for item in s.items.iter_mut().filter(|i| numbers.contains(&i.number)) {
            item.created = second;
            item.updated = second;
        }
        s.clock = second;
        numbers
    }

    /// Edit an issue or PR: a new comment (bumps `updated_at`).
    pub fn comment(&self, number: u64) {
        self.touch(number, |i, _| i.comments += 1);
    }

    /// Close an issue as completed.
    pub fn close(&self, number: u64) {
        self.touch(number, |i, now| i.closed = Some((now, "completed")));
    }

    /// The numbers of every issue (not PR).
    pub fn issue_numbers(&self) -> Vec<u64> {
        let s = self.state.lock().unwrap();
        s.items
            .iter()
            .filter(|i| !i.pull_request)
            .map(|i| i.number)
            .collect()
    }

    /// The numbers of every pull request.
    pub fn pull_request_numbers(&self) -> Vec<u64> {
        let s = self.state.lock().unwrap();
        s.items
            .iter()
            .filter(|i| i.pull_request)
            .map(|i| i.number)
            .collect()
    }

    /// GitHub's id (as the record id) of item `number`.
    pub fn id_of(&self, number: u64) -> String {
        (ISSUE_ID_BASE + number).to_string()
    }

    /// What the cache should hold: every issue (no PR) as the model, keyed by id.
    pub fn expected_issues(&self) -> HashMap<String, Value> {
        let s = self.state.lock().unwrap();
        s.items
            .iter()
            .filter(|i| !i.pull_request)
            .map(|i| (i.id().to_string(), i.expected_record(&s.owner, &s.repo)))
            .collect()
    }

    /// The newest `updated_at` over issues and pull requests.
    pub fn newest_update(&self) -> String {
        let s = self.state.lock().unwrap();
        timestamp(s.items.iter().map(|i| i.updated).max().unwrap_or(0))
    }

    /// `updated_at` of every item (issues and PRs) in the order `sort=updated&direction=asc`
    /// lists them.
    pub fn updated_at_in_list_order(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let mut keys: Vec<(u64, u64)> = s.items.iter().map(|i| (i.updated, i.number)).collect();
        keys.sort();
        keys.into_iter().map(|(t, _)| timestamp(t)).collect()
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().requests.clone()
    }

    /// From now on answer 403 with `x-ratelimit-remaining: 0`, as GitHub does when the
    /// primary rate limit is used up.
    pub fn exhaust_rate_limit(&self) {
        self.state.lock().unwrap().rate_limit_exhausted = true;
    }

    /// Forget the requests received so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}
