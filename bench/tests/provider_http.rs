//! The benchmark provider over raw HTTP/1.1 on 127.0.0.1: page shape, Link header, cursors,
//! the `updated_after` filter and its errors.

use std::net::SocketAddr;

use serde_json::Value;
use syncfn_bench::provider::{self, ProviderConfig, RunningProvider};
use syncfn_bench::workload::Workload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn provider(workload: Workload) -> RunningProvider {
    provider::start(ProviderConfig {
        workload,
        page_sizes: vec![10],
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    })
    .await
    .expect("provider starts")
}

/// `GET path` → (status, lowercase headers, body).
async fn get(p: &RunningProvider, path: &str) -> (u16, Vec<(String, String)>, Value) {
    let mut stream = tokio::net::TcpStream::connect(p.addr()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let body =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body of {path} is not JSON: {e}"));
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn pages_chain_by_next_cursor_and_link_header_until_null() {
    let p = provider(Workload::new(25, 3)).await;
    let mut path = "/contacts?limit=10".to_string();
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let (status, headers, body) = get(&p, &path).await;
        assert_eq!(status, 200, "status of {path}");
        pages += 1;
        for record in body["results"].as_array().unwrap() {
            ids.push(record["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(next.len(), 16, "cursor {next:?} is not 16 hex digits");
                let link = header(&headers, "link").expect("a Link header on a non-last page");
                assert_eq!(
                    link,
                    format!(
                        "<{}/contacts?cursor={next}&limit=10>; rel=\"next\"",
                        p.base_url()
                    )
                );
                path = format!("/contacts?cursor={next}&limit=10");
            }
            None => {
                assert!(
                    header(&headers, "link").is_none(),
                    "Link header on the last page"
                );
                break;
            }
        }
    }
    let expected: Vec<String> = (1..=25).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected, "ids over all pages");
    assert_eq!(pages, 3);
    assert_eq!(p.stats().requests, 3, "requests counted by the provider");
    assert_eq!(p.stats().records, 25, "records counted by the provider");
}

#[tokio::test]
async fn updated_after_lists_only_newer_contacts_and_bad_input_is_a_400_naming_it() {
    let w = Workload::new(500, 3).at_revision(2, 10.0);
    let p = provider(w).await;
    let since = p.info().previous_max_updated_at.clone();
    let mut path = format!("/contacts?limit=10&updated_after={since}");
    let mut seen = 0;
    loop {
        let (status, _, body) = get(&p, &path).await;
        assert_eq!(status, 200, "status of {path}");
        for record in body["results"].as_array().unwrap() {
            assert!(
                record["updated_at"].as_str().unwrap() >= since.as_str(),
                "record {} older than the filter",
                record["id"]
            );
            seen += 1;
        }
        match body["next_cursor"].as_str() {
            Some(next) => path = format!("/contacts?cursor={next}&limit=10"),
            None => break,
        }
    }
    let changed = p.info().changed;
    assert!(
        seen == changed || seen == changed + 1,
        "{seen} records for {changed} changed (plus at most the newest unchanged one)"
    );

    let (status, _, body) = get(&p, "/contacts?limit=10&cursor=0123456789abcdef").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("0123456789abcdef"),
        "{body}"
    );
    let (status, _, body) = get(&p, "/contacts?limit=10&updated_after=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("updated_after"),
        "{body}"
    );
}
