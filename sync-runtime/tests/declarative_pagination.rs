//! The SDK's pagination helpers over real HTTP on 127.0.0.1: each style over several pages,
//! an empty last page, a short last page, and providers that repeat a cursor or a link.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use sync_runtime::connection::Credentials;
use sync_runtime::fake_crm::{FakeCrm, Fault};
use sync_runtime::http::{ReqwestTransport, RunCounters};
use sync_sdk::{ErrorKind, HttpClient, OffsetCalculation, Pagination, SyncError};

fn client(base_url: &str) -> HttpClient {
    let transport = ReqwestTransport::standalone(
        sync_runtime::http::build_client().unwrap(),
        Credentials::None,
        Arc::new(RunCounters::default()),
    );
    HttpClient::new(Arc::new(transport), base_url)
}

/// Drive the helper the way the runtime does: one call per page, feeding back the cursor.
/// Returns the ids in order and the page sizes.
async fn drain(
    http: &HttpClient,
    path: &str,
    paging: &Pagination,
) -> Result<(Vec<String>, Vec<usize>), SyncError> {
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..1_000 {
        let page = paging.fetch_page(http.get(path), cursor.as_deref()).await?;
        sizes.push(page.records.len());
        ids.extend(page.records.iter().map(|r| match &r["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((ids, sizes)),
        }
    }
    panic!("pagination of {path} did not stop after 1000 pages");
}

fn ids_in_order(crm: &FakeCrm) -> Vec<String> {
    let mut ids: Vec<u64> = crm.snapshot().keys().map(|k| k.parse().unwrap()).collect();
    ids.sort_unstable();
    ids.into_iter().map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn cursor_in_body_walks_every_page_then_stops_on_a_null_cursor() {
    let crm = FakeCrm::start(95).await.unwrap();
    let paging = Pagination::cursor("next_cursor", "cursor")
        .with_limit("limit", 20)
        .with_response_path("results");
    let (ids, sizes) = drain(&client(&crm.base_url()), "/contacts", &paging)
        .await
        .unwrap();
    assert_eq!(
        ids,
        ids_in_order(&crm),
        "records differ from the provider's"
    );
    assert_eq!(sizes, [20, 20, 20, 20, 15], "page sizes");
}

#[tokio::test]
async fn link_header_is_followed_exactly_as_given() {
    let crm = FakeCrm::start(61).await.unwrap();
    let paging = Pagination::link_header("next").with_response_path("results");
    let http = client(&crm.base_url());
    // The static `limit` rides on the first request only; the provider's links carry it on.
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = paging
            .fetch_page(http.get("/contacts").query("limit", 25), cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        ids.extend(
            page.records
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match page.next_cursor {
            Some(link) => {
                assert!(
                    link.starts_with("http://127.0.0.1") && link.contains("limit=25"),
                    "next link should be the provider's absolute URL: {link}"
                );
                cursor = Some(link);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, ids_in_order(&crm));
}

#[tokio::test]
async fn next_link_in_body_walks_every_page() {
    let crm = FakeCrm::start(70).await.unwrap();
    let paging = Pagination::link_body("links.next").with_response_path("data");
    let mut http_ids = Vec::new();
    let http = client(&crm.base_url());
    let mut cursor: Option<String> = None;
    loop {
        let page = paging
            .fetch_page(
                http.get("/v2/contacts/link-body").query("limit", 30),
                cursor.as_deref(),
            )
            .await
            .unwrap();
        http_ids.extend(
            page.records
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(http_ids, ids_in_order(&crm));
}

#[tokio::test]
async fn offset_stops_on_a_short_last_page_without_asking_again() {
    let crm = FakeCrm::start(90).await.unwrap();
    let paging = Pagination::offset("offset", OffsetCalculation::ByResponseSize)
        .with_limit("limit", 40)
        .with_response_path("items");
    let before = crm.requests();
    let (ids, sizes) = drain(&client(&crm.base_url()), "/v2/contacts/offset", &paging)
        .await
        .unwrap();
    assert_eq!(ids, ids_in_order(&crm));
    assert_eq!(sizes, [40, 40, 10], "a short page is the last one");
    assert_eq!(
        crm.requests() - before,
        3,
        "no request after the short page"
    );
}

#[tokio::test]
async fn offset_stops_on_an_empty_last_page() {
    let crm = FakeCrm::start(80).await.unwrap();
    let paging = Pagination::offset("offset", OffsetCalculation::ByResponseSize)
        .with_limit("limit", 40)
        .with_response_path("items");
    let (ids, sizes) = drain(&client(&crm.base_url()), "/v2/contacts/offset", &paging)
        .await
        .unwrap();
    assert_eq!(ids, ids_in_order(&crm));
    assert_eq!(
        sizes,
        [40, 40, 0],
        "full pages, then an empty one ends the pass"
    );
}

#[tokio::test]
async fn page_numbers_walk_a_bare_array_body() {
    let crm = FakeCrm::start(55).await.unwrap();
    let paging = Pagination::offset("page", OffsetCalculation::PerPage)
        .with_start(1)
        .with_limit("per_page", 20);
    let (ids, sizes) = drain(&client(&crm.base_url()), "/v2/contacts/pages", &paging)
        .await
        .unwrap();
    assert_eq!(ids, ids_in_order(&crm));
    assert_eq!(sizes, [20, 20, 15]);
}

#[tokio::test]
async fn typed_pages_deserialize_each_record() {
    #[derive(serde::Deserialize)]
    struct Contact {
        id: String,
        email: String,
    }
    let crm = FakeCrm::start(12).await.unwrap();
    let paging = Pagination::cursor("next_cursor", "cursor")
        .with_limit("limit", 10)
        .with_response_path("results");
    let http = client(&crm.base_url());
    let (first, next) = paging
        .fetch_page_as::<Contact>(http.get("/contacts"), None)
        .await
        .unwrap();
    assert_eq!(first.len(), 10);
    assert!(first.iter().all(|c| c.email.contains('@')));
    let (second, last) = paging
        .fetch_page_as::<Contact>(http.get("/contacts"), next.as_deref())
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["11", "12"]
    );
    assert_eq!(last, None);
}

#[tokio::test]
async fn a_repeated_cursor_is_an_error_naming_it() {
    let crm = FakeCrm::start(100).await.unwrap();
    crm.fail_always_after(1, Fault::RepeatCursor);
    let paging = Pagination::cursor("next_cursor", "cursor")
        .with_limit("limit", 10)
        .with_response_path("results");
    let err = drain(&client(&crm.base_url()), "/contacts", &paging)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("cursor \"") && message.contains("again"),
        "the error should name the repeated cursor: {message}"
    );
    assert_eq!(crm.requests(), 2, "it stops at the first repeat");
}

/// A provider with its own quirks: an empty last page after a cursor, and a next link that
/// points at itself.
async fn quirky_provider() -> SocketAddr {
    #[derive(Clone)]
    struct S {
        hits: Arc<AtomicU64>,
    }
    async fn cursor_then_empty(Query(q): Query<BTreeMap<String, String>>) -> impl IntoResponse {
        let page: u64 = q.get("after").map_or(0, |a| a.parse().unwrap());
        // Pages 0 and 1 are full, page 2 is empty but still carries a cursor.
        let records: Vec<Value> = if page < 2 {
            (0..5).map(|i| json!({"id": page * 5 + i})).collect()
        } else {
            Vec::new()
        };
        axum::Json(json!({"items": records, "paging": {"next": {"after": (page + 1).to_string()}}}))
    }
    async fn self_link(State(s): State<S>, headers: HeaderMap) -> impl IntoResponse {
        s.hits.fetch_add(1, Ordering::Relaxed);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut out = HeaderMap::new();
        out.insert(
            header::LINK,
            HeaderValue::from_str(&format!("<http://{host}/loop?page=2>; rel=\"next\"")).unwrap(),
        );
        (out, axum::Json(json!([{"id": 1}])))
    }
    let app = Router::new()
        .route("/cursor", get(cursor_then_empty))
        .route("/loop", get(self_link))
        .with_state(S {
            hits: Arc::new(AtomicU64::new(0)),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn an_empty_page_ends_the_pass_even_with_a_cursor() {
    let addr = quirky_provider().await;
    let paging = Pagination::cursor("paging.next.after", "after").with_response_path("items");
    let (ids, sizes) = drain(&client(&format!("http://{addr}")), "/cursor", &paging)
        .await
        .unwrap();
    assert_eq!(sizes, [5, 5, 0]);
    assert_eq!(ids.len(), 10);
}

#[tokio::test]
async fn a_next_link_equal_to_the_current_one_is_an_error_naming_it() {
    let addr = quirky_provider().await;
    let paging = Pagination::link_header("next");
    let err = drain(&client(&format!("http://{addr}")), "/loop", &paging)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("next link") && message.contains("/loop?page=2"),
        "the error should name the repeated link: {message}"
    );
}

#[tokio::test]
async fn a_missing_records_array_is_a_data_error_naming_the_path() {
    let crm = FakeCrm::start(5).await.unwrap();
    let paging = Pagination::none().with_response_path("contacts");
    let err = paging
        .fetch_page(client(&crm.base_url()).get("/contacts"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data);
    assert!(
        err.to_string().contains("\"contacts\"") && err.to_string().contains("GET /contacts"),
        "{err}"
    );
}
