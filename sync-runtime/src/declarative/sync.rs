//! A parsed `*.sync.toml` as an [`ErasedSync`]: it runs through the same driver, client and
//! guarantees as a Rust sync.

use std::sync::Arc;

use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sync_sdk::{
    ContextParts, DeletionStrategy, ErasedPage, ErasedRecord, ErasedRequest, ErasedSync,
    HttpClient, Method, ModelSpec, Pagination, RateLimit, SyncError, SyncKind, SyncRunner,
    SyncSpec, json::get_path, json::id_at, json::type_name, parse_duration_text,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::format::{AuthType, DeleteStrategy, RequestMethod, SyncFile, TimeFormat};
use crate::connection::Credentials;

/// A declarative sync, validated and ready to run.
#[derive(Debug, Clone)]
pub struct DeclarativeSync {
    file: SyncFile,
    spec: SyncSpec,
    pagination: Pagination,
    lookback_ms: i64,
}

impl DeclarativeSync {
    /// Build from a parsed and validated file.
    ///
    /// # Errors
    /// A config error for what the parser's validation could not catch (a spec the SDK
    /// rejects).
    pub fn new(file: SyncFile) -> Result<Self, SyncError> {
        let mut builder = SyncSpec::builder(&file.name)
            .description(file.description.clone().unwrap_or_else(|| {
                format!("{} from {}{}", file.model, file.base_url, file.request.path)
            }))
            .frequency(
                file.frequency
                    .clone()
                    .unwrap_or_else(|| "every 1 hour".into()),
            )
            .kind(if file.incremental.is_some() {
                SyncKind::Incremental
            } else {
                SyncKind::Full
            })
            .deletion(match file.deletes.strategy {
                DeleteStrategy::FullRefresh => DeletionStrategy::FullRefresh,
                DeleteStrategy::None | DeleteStrategy::Tombstone => DeletionStrategy::None,
            });
        if let Some(limit) = &file.rate_limit {
            let mut rate = RateLimit::new(limit.requests, parse_duration_text(&limit.per)?);
            if let Some(burst) = limit.burst {
                rate = rate.with_burst(burst);
            }
            builder = builder.rate_limit(rate);
        }
        let mut spec = builder.build()?;
        let top = file.records.id.split('.').next().unwrap_or_default();
        spec.models = vec![ModelSpec::new(
            file.model.clone(),
            json!({
                "type": "object",
                "required": [top],
                "description": format!("{} records (free-form; id at {:?})", file.model, file.records.id),
            }),
        )];
        if file.incremental.is_some() {
            spec.checkpoint_schema = Some(json!({
                "type": "object",
                "required": ["max_ms"],
                "properties": {"max_ms": {"type": "integer", "description": "newest change time seen, ms since 1970"}},
            }));
        }
        let lookback_ms = match file
            .incremental
            .as_ref()
            .and_then(|i| i.lookback.as_deref())
        {
            Some(text) => parse_duration_text(text)?.as_millis() as i64,
            None => 0,
        };
        let mut pagination = file.pagination.clone();
        pagination.response_path = Some(file.records.path.clone());
        Ok(Self {
            file,
            spec,
            pagination,
            lookback_ms,
        })
    }

    /// The parsed file.
    pub fn file(&self) -> &SyncFile {
        &self.file
    }

    /// The base URL (with `${env:…}` expanded).
    pub fn base_url(&self) -> &str {
        &self.file.base_url
    }

    /// The credentials the transport injects.
    ///
    /// # Errors
    /// A config error for an auth type the runtime cannot inject yet (oauth2).
    pub fn credentials(&self) -> Result<Credentials, SyncError> {
        let a = &self.file.auth;
        let missing = |key: &str| SyncError::config(format!("auth.{key} is required"));
        Ok(match a.kind {
            AuthType::None => Credentials::None,
            AuthType::Bearer => Credentials::Bearer {
                token: a.token.clone().ok_or_else(|| missing("token"))?,
            },
            AuthType::ApiKey => Credentials::ApiKey {
                key: a.key.clone().ok_or_else(|| missing("key"))?,
                header: a.header.clone(),
                query: a.query.clone(),
            },
            AuthType::Basic => Credentials::Basic {
                username: a.username.clone().ok_or_else(|| missing("username"))?,
                password: a
                    .password
                    .clone()
                    .unwrap_or_else(|| SecretString::from(String::new())),
            },
            AuthType::Oauth2 => {
                return Err(SyncError::config(
                    "auth.type \"oauth2\" is not supported for declarative syncs yet; use \"bearer\" with an access token",
                ));
            }
        })
    }

    /// The newest change time (ms since 1970) among `records`, or the running one.
    fn advance(
        &self,
        running: Option<i64>,
        records: &[ErasedRecord],
    ) -> Result<Option<i64>, SyncError> {
        let Some(inc) = &self.file.incremental else {
            return Ok(None);
        };
        let mut max = running;
        for (i, record) in records.iter().enumerate() {
            let Some(value) = record.value().and_then(|v| get_path(v, &inc.field)) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            let ms = parse_time(value, inc.format).ok_or_else(|| {
                SyncError::data(format!(
                    "record {i} (id {:?}): incremental field {:?} is {} {value}, not a {} time",
                    record.id,
                    inc.field,
                    type_name(value),
                    format_name(inc.format)
                ))
            })?;
            max = Some(max.map_or(ms, |m| m.max(ms)));
        }
        Ok(max)
    }
}

fn format_name(format: TimeFormat) -> &'static str {
    match format {
        TimeFormat::Rfc3339 => "rfc3339",
        TimeFormat::UnixSeconds => "unix_seconds",
        TimeFormat::UnixMillis => "unix_millis",
    }
}

/// A record's change time in ms since 1970.
fn parse_time(value: &Value, format: TimeFormat) -> Option<i64> {
    let number = || -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    };
    match format {
        TimeFormat::Rfc3339 => {
            let t = OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()?;
            Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
        }
        TimeFormat::UnixSeconds => Some((number()? * 1000.0).floor() as i64),
        TimeFormat::UnixMillis => Some(number()?.floor() as i64),
    }
}

/// The checkpoint as the request parameter's text.
fn format_time(ms: i64, format: TimeFormat) -> Result<String, SyncError> {
    match format {
        TimeFormat::Rfc3339 => OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .ok_or_else(|| SyncError::config(format!("checkpoint {ms} ms is out of range"))),
        TimeFormat::UnixSeconds => Ok(ms.div_euclid(1000).to_string()),
        TimeFormat::UnixMillis => Ok(ms.to_string()),
    }
}

/// Whether a tombstone field's value marks a record deleted: `true`, a non-zero number, or a
/// non-empty string other than `"false"`, `"0"` and `"no"`.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => {
            let s = s.trim();
            !s.is_empty()
                && !s.eq_ignore_ascii_case("false")
                && s != "0"
                && !s.eq_ignore_ascii_case("no")
        }
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn checkpoint_ms(value: Option<&Value>) -> Result<Option<i64>, SyncError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.get("max_ms").and_then(Value::as_i64).map(Some).ok_or_else(|| {
            SyncError::config(format!(
                "stored checkpoint {v} is not a declarative sync checkpoint (reset the sync to start over)"
            ))
        }),
    }
}

impl ErasedSync for DeclarativeSync {
    fn spec(&self) -> SyncSpec {
        self.spec.clone()
    }

    fn start(self: Arc<Self>, parts: ContextParts) -> Result<Box<dyn SyncRunner>, SyncError> {
        Ok(Box::new(Runner {
            sync: self,
            http: parts.http,
        }))
    }
}

struct Runner {
    sync: Arc<DeclarativeSync>,
    http: HttpClient,
}

impl SyncRunner for Runner {
    fn fetch_page<'a>(
        &'a self,
        request: ErasedRequest<'a>,
    ) -> BoxFuture<'a, Result<ErasedPage, SyncError>> {
        Box::pin(async move {
            let sync = &self.sync;
            let file = &sync.file;
            let method = match file.request.method {
                RequestMethod::Get => Method::Get,
                RequestMethod::Post => Method::Post,
            };
            let mut params: Vec<(String, Value)> = file
                .request
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            if let (Some(inc), Some(since)) = (&file.incremental, checkpoint_ms(request.filter)?) {
                let text = format_time(since - sync.lookback_ms, inc.format)?;
                params.push((inc.param.clone(), Value::String(text)));
            }
            let mut builder = self.http.request(method, &file.request.path);
            for (name, value) in &file.request.headers {
                builder = builder.header(name, value);
            }
            builder = match method {
                Method::Post => {
                    let body: Map<String, Value> = params.into_iter().collect();
                    builder.json(&body)
                }
                _ => params.into_iter().fold(builder, |b, (k, v)| match v {
                    Value::String(s) => b.query(k, s),
                    other => b.query(k, other),
                }),
            };
            let page = sync.pagination.fetch_page(builder, request.cursor).await?;
            let mut records = Vec::with_capacity(page.records.len());
            for (i, value) in page.records.into_iter().enumerate() {
                let Some(id) = id_at(&value, &file.records.id) else {
                    let found = get_path(&value, &file.records.id)
                        .map_or("missing".to_string(), |v| format!("{} {v}", type_name(v)));
                    return Err(SyncError::data(format!(
                        "record {i}: id at {:?} is {found}, expected a non-empty string or an integer",
                        file.records.id
                    )));
                };
                let deleted = match (&file.deletes.strategy, &file.deletes.field) {
                    (DeleteStrategy::Tombstone, Some(field)) => truthy(get_path(&value, field)),
                    _ => false,
                };
                records.push(ErasedRecord::new(id, value, deleted));
            }
            let running = checkpoint_ms(request.checkpoint)?;
            let checkpoint = sync
                .advance(running, &records)?
                .map(|ms| json!({ "max_ms": ms }));
            let mut out = ErasedPage::default();
            out.records = records;
            out.next_cursor = page.next_cursor;
            out.checkpoint = checkpoint;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_each_format() {
        let v = json!("2024-01-01T00:00:05Z");
        let ms = parse_time(&v, TimeFormat::Rfc3339).unwrap();
        assert_eq!(ms, 1_704_067_205_000);
        assert_eq!(
            format_time(ms, TimeFormat::Rfc3339).unwrap(),
            "2024-01-01T00:00:05Z"
        );
        assert_eq!(
            parse_time(&json!(1_704_067_205), TimeFormat::UnixSeconds),
            Some(ms)
        );
        assert_eq!(
            format_time(ms + 999, TimeFormat::UnixSeconds).unwrap(),
            "1704067205"
        );
        assert_eq!(
            parse_time(&json!("1704067205000"), TimeFormat::UnixMillis),
            Some(ms)
        );
    }

    #[test]
    fn truthy_follows_common_tombstone_conventions() {
        for yes in [json!(true), json!(1), json!("yes"), json!("2024-01-01")] {
            assert!(truthy(Some(&yes)), "{yes} should mark a record deleted");
        }
        for no in [
            json!(false),
            json!(0),
            json!(""),
            json!("false"),
            json!(null),
        ] {
            assert!(!truthy(Some(&no)), "{no} should not mark a record deleted");
        }
        assert!(!truthy(None));
    }
}
