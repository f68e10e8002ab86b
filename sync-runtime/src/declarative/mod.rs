//! Declarative syncs: a `*.sync.toml` file describes a REST sync (endpoint, auth, pagination,
//! records path, id, incremental parameter, deletes, rate limit) that runs with no Rust code,
//! through the same driver as a Rust sync.
//!
//! - [`format`]: the file format (and its JSON Schema).
//! - [`parse`]: parsing with every error named by file, line, column and key.
//! - [`sync`]: the parsed file as an `ErasedSync`.

pub mod format;
pub mod parse;
pub mod sync;

use std::path::Path;

pub use format::SyncFile;
pub use parse::{Diagnostic, Diagnostics};
pub use sync::DeclarativeSync;

/// The file name suffix that marks a declarative sync.
pub const SUFFIX: &str = ".sync.toml";

/// Whether `reference` names a declarative sync file.
pub fn is_declarative(reference: &str) -> bool {
    reference.ends_with(SUFFIX)
}

/// The integration name of a declarative sync: its file stem (`crm.sync.toml` → `crm`).
pub fn integration_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(SUFFIX).unwrap_or(&file).to_string()
}

/// Read, parse and validate a declarative sync file.
///
/// # Errors
/// Every problem found, each naming the file, line, column and key.
pub fn load(path: &Path) -> Result<DeclarativeSync, Diagnostics> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: shown.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    from_text(&text, &shown)
}

/// Parse and validate the text of a declarative sync file named `file` (for messages).
///
/// # Errors
/// Every problem found, each naming the file, line, column and key.
pub fn from_text(text: &str, file: &str) -> Result<DeclarativeSync, Diagnostics> {
    let parsed = parse::parse(text, file)?;
    DeclarativeSync::new(parsed).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 1,
            key: String::new(),
            message: e.to_string(),
        }])
    })
}

/// The JSON Schema of the file format, for editors.
pub fn schema() -> serde_json::Value {
    sync_sdk::schema::<SyncFile>()
}
