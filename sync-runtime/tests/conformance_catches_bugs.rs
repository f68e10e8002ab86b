//! The conformance suite must fail, with a message naming the check and what differed, for
//! each classic sync bug — and pass the same sync without the bug.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_runtime::testing::conformance::{Check, Conformance, ConformanceFailure, Outcome};
use sync_runtime::testing::{FakeProvider, Source};
use sync_sdk::{
    Integration, Model, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Item {
    id: String,
    /// Must not be empty.
    #[schemars(length(min = 1))]
    name: String,
    revision: u64,
    archived: bool,
    updated_at: String,
    /// Present only when a provider echoes the caller's credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_token: Option<String>,
}

impl Model for Item {
    const NAME: &'static str = "Item";
    fn id(&self) -> String {
        self.id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Since {
    updated_at: String,
}

#[derive(Deserialize)]
struct ItemsPage {
    data: Vec<Item>,
    next_cursor: Option<String>,
}

/// What is wrong with a sync under test.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    None,
    /// The checkpoint is rounded up an hour past the newest record.
    CheckpointSkips,
    /// Forgets to send the cursor, so every page is the first page and returns the same next
    /// cursor.
    LoopingCursor,
    /// Drops the echoed credential from records but logs the raw first record.
    LogsRawRecords,
}

struct Items(Bug);

fn add_hour(ts: &str) -> String {
    let rfc = &time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(ts, rfc).expect("RFC 3339 updated_at");
    (t + time::Duration::hours(1))
        .format(rfc)
        .expect("formattable")
}

impl SyncFunction for Items {
    type Record = Item;
    type Checkpoint = Since;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("items")
            .frequency("every 30 minutes")
            .incremental()
            .build()
            .expect("static spec")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, Since>,
    ) -> Result<Page<Item>, SyncError> {
        let response = cx
            .http()
            .get("/items")
            .query("limit", 10)
            .query_opt(
                "cursor",
                request.cursor.filter(|_| self.0 != Bug::LoopingCursor),
            )
            .query_opt("updated_after", request.checkpoint.map(|c| &c.updated_at))
            .send()
            .await?;
        let mut page: ItemsPage = response.json()?;
        if self.0 == Bug::LogsRawRecords {
            if let Some(first) = page.data.first() {
                cx.log().debug(format!("first item on the page: {first:?}"));
            }
            page.data.iter_mut().for_each(|item| item.api_token = None);
        }
        Ok(Page::new(page.data).next_opt(page.next_cursor))
    }

    fn advance_checkpoint(&self, since: Option<Since>, records: &[Item]) -> Option<Since> {
        let newest = records.iter().map(|r| r.updated_at.clone()).max();
        let newest = match (self.0, newest) {
            (Bug::CheckpointSkips, Some(n)) => Some(add_hour(&n)),
            (_, n) => n,
        };
        match (since, newest) {
            (Some(s), Some(n)) if s.updated_at >= n => Some(s),
            (_, Some(n)) => Some(Since { updated_at: n }),
            (s, None) => s,
        }
    }

    fn is_deleted(&self, item: &Item) -> bool {
        item.archived
    }
}

fn integration(bug: Bug) -> Integration {
    Integration::new("fake").sync(Items(bug))
}

async fn provider(builder: sync_runtime::testing::FakeProviderBuilder) -> FakeProvider {
    builder
        .items(25)
        .page_size(10)
        .start()
        .await
        .expect("fake provider starts")
}

fn failed(failure: &ConformanceFailure, check: Check) -> Vec<String> {
    let report = failure
        .report()
        .unwrap_or_else(|| panic!("the suite could not run: {failure}"));
    match report.outcome(check) {
        Some(Outcome::Failed(problems)) => problems.clone(),
        other => panic!(
            "{} was expected to fail but is {other:?}\n{report}",
            check.title()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_sync_passes_every_check_including_provider_changes() {
    let fake = provider(FakeProvider::builder()).await;
    let changed = fake.clone();
    let report = Conformance::new(
        integration(Bug::None),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .changes(move || {
        changed.update(&[2, 17]);
        changed.archive(&[5]);
        changed.add(3);
    })
    .run()
    .await
    .unwrap_or_else(|failure| panic!("a correct sync must pass: {failure}"));
    assert_eq!(
        report.pages, 3,
        "25 items at 10 per page should be 3 pages\n{report}"
    );
    for check in [
        Check::Records,
        Check::Pagination,
        Check::Resume,
        Check::Incremental,
        Check::Secrets,
        Check::Spec,
    ] {
        assert!(
            matches!(report.outcome(check), Some(Outcome::Passed(_))),
            "{} did not pass:\n{report}",
            check.title()
        );
    }
    assert!(
        matches!(
            report.outcome(Check::DeletesFailClosed),
            Some(Outcome::Skipped(_))
        ),
        "an incremental sync without full refresh must skip check 5:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_skips_records_fails_check_4() {
    let fake = provider(FakeProvider::builder()).await;
    let changed = fake.clone();
    let failure = Conformance::new(
        integration(Bug::CheckpointSkips),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .changes(move || changed.update(&[2, 17]))
    .run()
    .await
    .expect_err("a checkpoint past the newest record loses the next changes");
    let problems = failed(&failure, Check::Incremental);
    let text = problems.join("\n");
    assert!(
        text.contains("the checkpoint skips records") && text.contains("id \"2\""),
        "the message should say the checkpoint skips records and name a missed id: {text}"
    );
    assert!(failure.to_string().contains("check 4"), "{failure}");
}

/// A provider that drops a record from its listing (no tombstone) leaves it live after an
/// incremental run that cannot see the drop; a full resync does not have it: a missed delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_provider_dropped_but_still_live_fails_check_4() {
    let fake = provider(FakeProvider::builder()).await;
    let changed = fake.clone();
    let failure = Conformance::new(
        integration(Bug::None),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .changes(move || changed.remove(&[5]))
    .run()
    .await
    .expect_err("a dropped record left live is a missed delete");
    let text = failed(&failure, Check::Incremental).join("\n");
    assert!(
        text.contains("id \"5\" is live but a full resync does not have it (a missed delete)"),
        "the message should name the record a full resync does not have: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_looping_on_the_same_cursor_fails_check_2() {
    let fake = provider(FakeProvider::builder()).await;
    let failure = Conformance::new(
        integration(Bug::LoopingCursor),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .run()
    .await
    .expect_err("a repeated cursor must fail");
    let text = failed(&failure, Check::Pagination).join("\n");
    assert!(
        text.contains("page 2 returned next cursor \"0-10\"") && text.contains("loop forever"),
        "the message should name the page, the repeated cursor and the loop: {text}"
    );
    assert!(
        text.contains("the driver's loop guard stopped a clean run"),
        "the driver run must stop on its loop guard, not hang: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_violating_its_schema_fails_check_1() {
    let fake = provider(FakeProvider::builder().record(|id, revision| {
        json!({"name": if id == 7 { String::new() } else { format!("item {id}") }, "revision": revision})
    }))
    .await;
    let failure = Conformance::new(
        integration(Bug::None),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .run()
    .await
    .expect_err("an empty name violates minLength");
    let text = failed(&failure, Check::Records).join("\n");
    assert!(
        text.contains("id \"7\"") && text.contains("Item schema at /name"),
        "the message should name the record and the failing field: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_leaked_into_records_fails_check_6() {
    let fake = provider(FakeProvider::builder().echo_credential_as("api_token")).await;
    let failure = Conformance::new(
        integration(Bug::None),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .run()
    .await
    .expect_err("records holding the bearer token must fail");
    let problems = failed(&failure, Check::Secrets);
    let text = problems.join("\n");
    assert!(
        text.contains("holds a credential") && text.contains("/api_token"),
        "the message should say where the credential sits: {text}"
    );
    assert!(
        !failure.to_string().contains("sfn-conformance-secret-"),
        "the failure message itself must not print the secret: {failure}"
    );
    // Nothing else is wrong with this sync.
    let report = failure.report().expect("report");
    for check in [
        Check::Records,
        Check::Pagination,
        Check::Resume,
        Check::Spec,
    ] {
        assert!(
            matches!(report.outcome(check), Some(Outcome::Passed(_))),
            "{} should pass:\n{report}",
            check.title()
        );
    }
    let _: Value = json!(null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_to_the_logs_fails_check_6() {
    let fake = provider(FakeProvider::builder().echo_credential_as("api_token")).await;
    let failure = Conformance::new(
        integration(Bug::LogsRawRecords),
        "items",
        Source::Upstream(fake.base_url()),
    )
    .run()
    .await
    .expect_err("a log line holding the bearer token must fail");
    let text = failed(&failure, Check::Secrets).join("\n");
    assert!(
        text.contains("log line(s) contain a credential") && text.contains("<SECRET>"),
        "the message should say a log line holds the credential, masked: {text}"
    );
    assert!(
        !text.contains("holds a credential at"),
        "records were cleaned, only the logs leak: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_reports_changes_deletes_and_checkpoints_across_fake_provider_mutations() {
    use sync_runtime::testing::Harness;
    let fake = provider(FakeProvider::builder()).await;
    let harness = Harness::new(&integration(Bug::None), "items", &fake.base_url()).unwrap();
    let first = harness.run().await.unwrap();
    assert_eq!(
        first.report.status.as_str(),
        "SUCCESS",
        "{:?}",
        first.report.error
    );
    assert_eq!((first.report.pages, first.live.len()), (3, 25));
    assert_eq!(
        first.checkpoint,
        Some(json!({"updated_at": "2024-01-01T00:00:25Z"})),
        "the checkpoint is the newest updated_at"
    );

    fake.update(&[2]);
    fake.archive(&[5]);
    let added = fake.add(3);
    fake.remove(&[9]);
    let second = harness.run().await.unwrap();
    let c = second.report.counts;
    assert_eq!(
        (c.added, c.updated, c.deleted),
        (3, 1, 1),
        "the incremental run should add the 3 new items, update item 2 and delete archived item 5"
    );
    assert!(
        second.deleted.contains("5"),
        "deleted ids: {:?}",
        second.deleted
    );
    assert!(
        added
            .iter()
            .all(|id| second.live.contains_key(&id.to_string()))
    );
    assert_eq!(
        second.live["2"]["revision"],
        json!(1),
        "item 2 has its new revision"
    );
    assert!(
        second.live.contains_key("9"),
        "an incremental sync without full refresh cannot see a removed item"
    );
    assert_eq!(harness.runs().await.unwrap().len(), 2);
}
