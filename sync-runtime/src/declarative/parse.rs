//! Parse a `*.sync.toml` file into a [`SyncFile`], reporting every problem it can find as a
//! [`Diagnostic`] naming the file, line, column and key, with the valid choices.
//!
//! Each top-level key and table is deserialized on its own, so one mistake does not hide the
//! others; semantic checks (durations, pagination keys, `${env:NAME}`…) run once the shapes
//! are right.

use std::fmt;
use std::ops::Range;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sync_sdk::{Frequency, parse_duration_text};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::format::{
    AuthType, DeleteStrategy, Records, Request, RequestMethod, SyncFile, TOP_LEVEL_KEYS,
};

/// One problem in a declarative sync file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as given.
    pub file: String,
    /// 1-based line; 0 for a problem with the whole file (it cannot be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key (`"pagination.type"`).
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (_, true) => write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            ),
            _ => write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.key, self.message
            ),
        }
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

struct Reporter<'a> {
    file: &'a str,
    text: &'a str,
    out: Vec<Diagnostic>,
}

impl Reporter<'_> {
    fn at(&mut self, offset: usize, key: impl Into<String>, message: impl Into<String>) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let d = Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        };
        if !self.out.contains(&d) {
            self.out.push(d);
        }
    }
}

/// Parse and validate `text`, read from `file`, expanding `${env:NAME}` in string values.
///
/// # Errors
/// Every problem found, each naming the file, line, column and key.
pub fn parse(text: &str, file: &str) -> Result<SyncFile, Diagnostics> {
    let mut r = Reporter {
        file,
        text,
        out: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let key = line_key(text, offset);
            r.at(offset, key, format!("invalid TOML: {}", e.message().trim()));
            return Err(Diagnostics(r.out));
        }
    };
    let root = root.into_inner();

    // Unknown top-level keys.
    for (key, _) in root.iter() {
        let name: &str = key.get_ref();
        if !TOP_LEVEL_KEYS.contains(&name) {
            let message = format!(
                "unknown key{}; valid keys: {}",
                suggest(name, TOP_LEVEL_KEYS),
                TOP_LEVEL_KEYS.join(", ")
            );
            r.at(key.span().start, name, message);
        }
    }

    // Each section on its own, so every section's problems are reported.
    let name: Option<String> = section(&mut r, &root, "name");
    let model: Option<String> = section(&mut r, &root, "model");
    let description = section(&mut r, &root, "description");
    let frequency = section(&mut r, &root, "frequency");
    let base_url: Option<String> = section(&mut r, &root, "base_url");
    let auth = section(&mut r, &root, "auth");
    let request = section(&mut r, &root, "request");
    let records = section(&mut r, &root, "records");
    let pagination = section(&mut r, &root, "pagination");
    let incremental = section(&mut r, &root, "incremental");
    let deletes = section(&mut r, &root, "deletes");
    let rate_limit = section(&mut r, &root, "rate_limit");
    for required in ["name", "model", "base_url", "request", "records"] {
        if root.get(required).is_none() {
            let hint = match required {
                "request" => " (a [request] table with at least `path`)",
                "records" => " (a [records] table with at least `id`)",
                _ => "",
            };
            r.at(0, required, format!("required key is missing{hint}"));
        }
    }
    // Shape errors stop the file from running, but the semantic checks of the sections that
    // did parse still run, so one `check` reports as much as it can. Broken or missing
    // sections get placeholders whose semantic findings are dropped.
    let mut broken: Vec<&str> = Vec::new();
    let mut take = |key: &'static str, ok: bool| {
        if !ok {
            broken.push(key);
        }
    };
    let auth = auth.or_absent(&root, "auth");
    let pagination = pagination.or_absent(&root, "pagination");
    let incremental = incremental.or_absent(&root, "incremental");
    let deletes = deletes.or_absent(&root, "deletes");
    let rate_limit = rate_limit.or_absent(&root, "rate_limit");
    let description = description.or_absent(&root, "description");
    let frequency = frequency.or_absent(&root, "frequency");
    take("name", name.is_some());
    take("model", model.is_some());
    take("base_url", base_url.is_some());
    take("auth", auth.is_some());
    take("request", request.is_some());
    take("records", records.is_some());
    take("pagination", pagination.is_some());
    take("incremental", incremental.is_some());
    take("deletes", deletes.is_some());
    take("rate_limit", rate_limit.is_some());
    take("description", description.is_some());
    take("frequency", frequency.is_some());
    let shape_errors = !r.out.is_empty();
    let mut file = SyncFile {
        name: name.unwrap_or_else(|| "placeholder".into()),
        model: model.unwrap_or_else(|| "Placeholder".into()),
        description: description.flatten(),
        frequency: frequency.flatten(),
        base_url: base_url.unwrap_or_else(|| "http://placeholder".into()),
        auth: auth.unwrap_or_default(),
        request: request.unwrap_or_else(|| Request {
            method: RequestMethod::Get,
            path: "/".into(),
            params: Default::default(),
            headers: Default::default(),
        }),
        records: records.unwrap_or_else(|| Records {
            path: String::new(),
            id: "id".into(),
        }),
        pagination: pagination.unwrap_or_default(),
        incremental: incremental.flatten(),
        deletes: deletes.unwrap_or_default(),
        rate_limit: rate_limit.flatten(),
    };
    let before = r.out.len();
    validate(&mut r, &root, &mut file, &broken);
    let semantic = r.out.split_off(before);
    r.out.extend(semantic.into_iter().filter(|d| {
        let section = d.key.split('.').next().unwrap_or_default();
        !broken.contains(&section)
    }));
    if r.out.is_empty() && !shape_errors {
        Ok(file)
    } else {
        r.out.sort_by_key(|d| (d.line, d.column));
        Err(Diagnostics(r.out))
    }
}

/// An optional section: a missing one is its default.
trait OrAbsent<T> {
    fn or_absent(self, root: &DeTable<'_>, key: &str) -> Option<T>;
}

impl<T: Default> OrAbsent<T> for Option<T> {
    fn or_absent(self, root: &DeTable<'_>, key: &str) -> Option<T> {
        match self {
            Some(v) => Some(v),
            None if root.get(key).is_none() => Some(T::default()),
            None => None,
        }
    }
}

/// Deserialize `root[key]`; `None` when absent or wrong (the error is reported).
fn section<T: DeserializeOwned>(r: &mut Reporter<'_>, root: &DeTable<'_>, key: &str) -> Option<T> {
    let value = root.get(key)?;
    let de = ValueDeserializer::from(value.clone());
    match T::deserialize(de) {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or_else(|| value.span());
            report_serde(r, root, key, span, e.message());
            None
        }
    }
}

fn report_serde(
    r: &mut Reporter<'_>,
    root: &DeTable<'_>,
    section: &str,
    span: Range<usize>,
    message: &str,
) {
    let mut key = key_at(root, span.start).unwrap_or_else(|| section.to_string());
    let mut message = message.trim().to_string();
    if let Some(missing) = between_backticks(&message, "missing field `") {
        key = format!("{key}.{missing}");
        message = "required key is missing".into();
    } else if let Some(unknown) = between_backticks(&message, "unknown field `") {
        let choices = expected_list(&message);
        let choices: Vec<&str> = choices.iter().map(String::as_str).collect();
        message = format!(
            "unknown key{}; valid keys: {}",
            suggest(&unknown, &choices),
            choices.join(", ")
        );
    } else if let Some(unknown) = between_backticks(&message, "unknown variant `") {
        let choices = expected_list(&message);
        let choices: Vec<&str> = choices.iter().map(String::as_str).collect();
        message = format!(
            "{unknown:?} is not a valid choice{}; valid choices: {}",
            suggest(&unknown, &choices),
            choices.join(", ")
        );
    } else if message.starts_with("data did not match any variant of untagged enum ParamValue") {
        message = "a parameter must be a string, number or boolean".into();
    }
    r.at(span.start, key, message);
}

fn between_backticks(message: &str, prefix: &str) -> Option<String> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split('`').next()?.to_string())
}

fn expected_list(message: &str) -> Vec<String> {
    let Some((_, list)) = message.split_once("expected ") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `" (did you mean `x`?)"` when a choice is close to `given`.
fn suggest(given: &str, choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| (strsim::jaro_winkler(given, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The dotted key whose key or value covers byte `offset`, deepest first.
fn key_at(table: &DeTable<'_>, offset: usize) -> Option<String> {
    for (key, value) in table.iter() {
        let name: &str = key.get_ref();
        if key.span().contains(&offset) {
            return Some(name.to_string());
        }
        if value.span().contains(&offset) || value.span().start == offset {
            if let DeValue::Table(inner) = value.get_ref()
                && let Some(deeper) = key_at(inner, offset)
            {
                return Some(format!("{name}.{deeper}"));
            }
            return Some(name.to_string());
        }
    }
    // Tables declared with a `[header]` may not cover their keys' spans: search inside them.
    for (key, value) in table.iter() {
        if let DeValue::Table(inner) = value.get_ref()
            && let Some(deeper) = key_at(inner, offset)
        {
            return Some(format!("{}.{deeper}", key.get_ref()));
        }
    }
    None
}

/// The span of dotted `path` (its value), if present.
fn span_of(table: &DeTable<'_>, path: &str) -> Option<usize> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let value: &Spanned<DeValue<'_>> = table.get(head)?;
    match (rest, value.get_ref()) {
        (None, _) => Some(value.span().start),
        (Some(rest), DeValue::Table(inner)) => span_of(inner, rest).or(Some(value.span().start)),
        (Some(_), _) => Some(value.span().start),
    }
}

/// The key on the line of `offset` (`key = …`), for syntax errors.
fn line_key(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() => k.trim().trim_matches('"').to_string(),
        _ => line.trim().to_string(),
    }
}

/// Expand every `${env:NAME}` in `s`; the name of the first unset variable on failure.
pub(crate) fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${env:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn validate(r: &mut Reporter<'_>, root: &DeTable<'_>, f: &mut SyncFile, broken: &[&str]) {
    let intact = |sections: &[&str]| sections.iter().all(|s| !broken.contains(s));
    let at = |path: &str| span_of(root, path).unwrap_or(0);
    let env = |r: &mut Reporter<'_>, path: &str, value: &mut String| match expand_env(value) {
        Ok(v) => *value = v,
        Err(name) => r.at(
            at(path),
            path,
            format!("environment variable {name} is not set"),
        ),
    };
    let env_secret = |r: &mut Reporter<'_>, path: &str, value: &mut Option<SecretString>| {
        if let Some(secret) = value {
            match expand_env(secret.expose_secret()) {
                Ok(v) => *secret = SecretString::from(v),
                Err(name) => r.at(
                    at(path),
                    path,
                    format!("environment variable {name} is not set"),
                ),
            }
        }
    };

    if f.name.is_empty()
        || !f
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        r.at(
            at("name"),
            "name",
            format!(
                "{:?} must be non-empty and use only a-z, 0-9, '_' and '-'",
                f.name
            ),
        );
    }
    if f.model.trim().is_empty() {
        r.at(at("model"), "model", "must not be empty");
    }
    if let Some(freq) = &f.frequency
        && let Err(e) = freq.parse::<Frequency>()
    {
        r.at(at("frequency"), "frequency", strip_kind(&e.to_string()));
    }
    env(r, "base_url", &mut f.base_url);
    let expanded_or_pending = f.base_url.contains("${env:");
    let has_scheme = f.base_url.starts_with("http://") || f.base_url.starts_with("https://");
    if !expanded_or_pending && !has_scheme {
        r.at(
            at("base_url"),
            "base_url",
            format!("{:?} must start with http:// or https://", f.base_url),
        );
    }
    if f.request.path.is_empty() {
        r.at(at("request.path"), "request.path", "must not be empty");
    }
    for (name, value) in f.request.headers.iter_mut() {
        env(r, &format!("request.headers.{name}"), value);
    }
    for (name, value) in f.request.params.iter_mut() {
        if let super::format::ParamValue::String(s) = value {
            env(r, &format!("request.params.{name}"), s);
        }
    }
    if f.records.id.is_empty() {
        r.at(at("records.id"), "records.id", "must not be empty");
    }

    for (key, message) in f.pagination.problems() {
        let path = format!("pagination.{key}");
        let offset = span_of(root, &path).unwrap_or_else(|| at("pagination"));
        r.at(offset, path, message);
    }
    if let Some(rp) = &f.pagination.response_path
        && intact(&["records"])
        && *rp != f.records.path
    {
        r.at(
            at("pagination.response_path"),
            "pagination.response_path",
            format!(
                "{rp:?} differs from [records].path {:?}; set the records path once, in [records].path",
                f.records.path
            ),
        );
    }

    if let Some(inc) = &f.incremental {
        if inc.field.is_empty() {
            r.at(
                at("incremental.field"),
                "incremental.field",
                "must not be empty",
            );
        }
        if inc.param.is_empty() {
            r.at(
                at("incremental.param"),
                "incremental.param",
                "must not be empty",
            );
        }
        if let Some(lookback) = &inc.lookback
            && let Err(e) = parse_duration_text(lookback)
        {
            r.at(
                at("incremental.lookback"),
                "incremental.lookback",
                strip_kind(&e.to_string()),
            );
        }
    }

    match (f.deletes.strategy, &f.deletes.field) {
        (DeleteStrategy::Tombstone, None) => r.at(
            at("deletes"),
            "deletes.field",
            "required for strategy = \"tombstone\" (the field whose truthy value marks a deleted record)",
        ),
        (DeleteStrategy::Tombstone, Some(field)) if field.is_empty() => {
            r.at(at("deletes.field"), "deletes.field", "must not be empty")
        }
        (DeleteStrategy::None | DeleteStrategy::FullRefresh, Some(_)) => r.at(
            at("deletes.field"),
            "deletes.field",
            "only applies to strategy = \"tombstone\"",
        ),
        _ => {}
    }
    if f.deletes.strategy == DeleteStrategy::FullRefresh
        && f.incremental.is_some()
        && intact(&["incremental"])
    {
        r.at(
            at("deletes.strategy"),
            "deletes.strategy",
            "\"full_refresh\" needs a full pass every run, but [incremental] fetches only changes: \
             remove [incremental] or use strategy = \"tombstone\"",
        );
    }

    if let Some(limit) = &f.rate_limit {
        if limit.requests == 0 {
            r.at(
                at("rate_limit.requests"),
                "rate_limit.requests",
                "must be at least 1",
            );
        }
        match parse_duration_text(&limit.per) {
            Ok(d) if d.is_zero() => r.at(
                at("rate_limit.per"),
                "rate_limit.per",
                "must be longer than zero",
            ),
            Ok(_) => {}
            Err(e) => r.at(
                at("rate_limit.per"),
                "rate_limit.per",
                strip_kind(&e.to_string()),
            ),
        }
        if limit.burst == Some(0) {
            r.at(
                at("rate_limit.burst"),
                "rate_limit.burst",
                "must be at least 1",
            );
        }
    }

    let a = &mut f.auth;
    let need = |r: &mut Reporter<'_>, key: &str, present: bool, kind: &str| {
        if !present {
            r.at(
                at("auth"),
                format!("auth.{key}"),
                format!("required for type = \"{kind}\""),
            );
        }
    };
    let set: [(&str, bool); 11] = [
        ("token", a.token.is_some()),
        ("key", a.key.is_some()),
        ("header", a.header.is_some()),
        ("query", a.query.is_some()),
        ("username", a.username.is_some()),
        ("password", a.password.is_some()),
        ("token_url", a.token_url.is_some()),
        ("client_id", a.client_id.is_some()),
        ("client_secret", a.client_secret.is_some()),
        ("refresh_token", a.refresh_token.is_some()),
        ("scopes", a.scopes.is_some()),
    ];
    let (kind, allowed): (&str, &[&str]) = match a.kind {
        AuthType::None => ("none", &[]),
        AuthType::Bearer => ("bearer", &["token"]),
        AuthType::ApiKey => ("api_key", &["key", "header", "query"]),
        AuthType::Basic => ("basic", &["username", "password"]),
        AuthType::Oauth2 => (
            "oauth2",
            &[
                "token_url",
                "client_id",
                "client_secret",
                "refresh_token",
                "scopes",
            ],
        ),
    };
    for (key, present) in set {
        if present && !allowed.contains(&key) {
            r.at(
                at(&format!("auth.{key}")),
                format!("auth.{key}"),
                format!(
                    "does not apply to type = \"{kind}\" (its keys: {})",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            );
        }
    }
    match a.kind {
        AuthType::Bearer => need(r, "token", a.token.is_some(), kind),
        AuthType::ApiKey => {
            need(r, "key", a.key.is_some(), kind);
            if a.header.is_some() && a.query.is_some() {
                r.at(at("auth.query"), "auth.query", "set header or query, not both");
            }
        }
        AuthType::Basic => {
            need(r, "username", a.username.is_some(), kind);
            need(r, "password", a.password.is_some(), kind);
        }
        AuthType::Oauth2 => r.at(
            at("auth.type"),
            "auth.type",
            "\"oauth2\" is not supported for declarative syncs yet; use \"bearer\" with an access token",
        ),
        AuthType::None => {}
    }
    env_secret(r, "auth.token", &mut a.token);
    env_secret(r, "auth.key", &mut a.key);
    env_secret(r, "auth.password", &mut a.password);
    if let Some(user) = &mut a.username {
        env(r, "auth.username", user);
    }
}

/// `"config error: invalid duration…"` → `"invalid duration…"`.
fn strip_kind(message: &str) -> String {
    message
        .split_once(" error: ")
        .map_or(message, |(_, rest)| rest)
        .to_string()
}
