//! `conformance_test!` — the one line an integration crate adds — over checked-in fixtures
//! (recorded from the fake provider by the ignored `record_items_fixtures` test below).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_runtime::conformance_test;
use sync_sdk::{
    Integration, Model, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Ticket {
    id: String,
    #[schemars(length(min = 1))]
    subject: String,
    revision: u64,
    archived: bool,
    updated_at: String,
}

impl Model for Ticket {
    const NAME: &'static str = "Ticket";
    fn id(&self) -> String {
        self.id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Since {
    updated_at: String,
}

#[derive(Deserialize)]
struct TicketsPage {
    data: Vec<Ticket>,
    next_cursor: Option<String>,
}

struct Tickets;

impl SyncFunction for Tickets {
    type Record = Ticket;
    type Checkpoint = Since;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("tickets")
            .frequency("every 1 hour")
            .incremental()
            .build()
            .expect("static spec")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, Since>,
    ) -> Result<Page<Ticket>, SyncError> {
        let page: TicketsPage = cx
            .http()
            .get("/tickets")
            .query("limit", 10)
            .query_opt("cursor", request.cursor)
            .query_opt("updated_after", request.checkpoint.map(|c| &c.updated_at))
            .send()
            .await?
            .json()?;
        Ok(Page::new(page.data).next_opt(page.next_cursor))
    }

    fn advance_checkpoint(&self, since: Option<Since>, records: &[Ticket]) -> Option<Since> {
        let newest = records.iter().map(|r| r.updated_at.clone()).max();
        match (since, newest) {
            (Some(s), Some(n)) if s.updated_at >= n => Some(s),
            (_, Some(n)) => Some(Since { updated_at: n }),
            (s, None) => s,
        }
    }

    fn is_deleted(&self, ticket: &Ticket) -> bool {
        ticket.archived
    }
}

fn integration() -> Integration {
    Integration::new("helpdesk").sync(Tickets)
}

conformance_test!(
    tickets_conform_over_checked_in_fixtures,
    integration(),
    "tickets",
    "tests/fixtures/helpdesk-tickets"
);

/// Regenerate the fixtures: `cargo test -p sync-runtime --test conformance_macro -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "rewrites tests/fixtures/helpdesk-tickets; run by hand after changing the fake"]
async fn record_items_fixtures() {
    use sync_runtime::cli::dryrun::{DryRunArgs, dry_run};
    use sync_runtime::testing::FakeProvider;
    let fake = FakeProvider::builder()
        .path("/tickets")
        .items(25)
        .record(|id, revision| serde_json::json!({"subject": format!("printer {id} is on fire"), "revision": revision}))
        .start()
        .await
        .unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helpdesk-tickets");
    let _ = std::fs::remove_dir_all(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("connection.json");
    std::fs::write(
        &config,
        serde_json::json!({"base_url": fake.base_url(), "credentials": {"type": "bearer", "token": "tok-recording"}}).to_string(),
    )
    .unwrap();
    let registry = sync_runtime::Registry::new().register(integration());
    let mut args = DryRunArgs {
        sync: "helpdesk/tickets".into(),
        connection_config: config,
        metadata: None,
        checkpoint: None,
        max_pages: None,
        save_responses: Some(dir),
        connection: "dryrun".into(),
    };
    let mut out = std::io::stdout();
    let first = dry_run(&registry, &args, &mut out).await.unwrap();
    let last = first.summary.checkpoint.clone().unwrap();
    for checkpoint in [
        last.clone(),
        sync_runtime::testing::conformance::future_checkpoint(&last).unwrap(),
    ] {
        args.checkpoint = Some(checkpoint.to_string());
        dry_run(&registry, &args, &mut out).await.unwrap();
    }
}
