//! Write a stored record as the records API returns it — its fields plus `_metadata` — straight
//! from the stored canonical JSON bytes, without parsing them into a `serde_json::Value`.
//!
//! The output is byte for byte what `serde_json::to_vec(&StoredRecord::to_json())` gives for
//! canonical input (keys sorted, no whitespace, serde_json's number and string spellings): a
//! `serde_json::Map` is ordered by key, so `_metadata` goes where it sorts among the top-level
//! keys (before any lower-case key), replaces a stored `_metadata` field, and a stored value that
//! is not an object is wrapped as `{"_metadata":…,"_value":…}`.

use super::StoreError;

/// `_metadata` fields borrowed from a row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetadataRef<'a> {
    pub first_seen_at: &'a str,
    pub last_modified_at: &'a str,
    /// `"ADDED"`, `"UPDATED"` or `"DELETED"`.
    pub last_action: &'a str,
    pub deleted_at: Option<&'a str>,
    pub cursor: i64,
}

const KEY: &[u8] = b"_metadata";

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("stored record is corrupt: {what}"))
}

/// Append the record `data` (canonical JSON) with `meta` spliced in as `_metadata`.
pub(crate) fn write_record(
    data: &[u8],
    meta: &MetadataRef<'_>,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.reserve(data.len() + 160);
    if data.first() != Some(&b'{') {
        if data.is_empty() {
            return Err(corrupt("empty JSON"));
        }
        out.extend_from_slice(b"{\"_metadata\":");
        write_metadata(meta, out);
        out.extend_from_slice(b",\"_value\":");
        out.extend_from_slice(data);
        out.push(b'}');
        return Ok(());
    }
    if data.get(1) == Some(&b'}') {
        out.extend_from_slice(b"{\"_metadata\":");
        write_metadata(meta, out);
        out.push(b'}');
        return Ok(());
    }
    let mut pos = 1;
    loop {
        let key_end = skip_string(data, pos)?;
        let order = compare_key(&data[pos..key_end])?;
        if order == std::cmp::Ordering::Greater {
            out.extend_from_slice(&data[..pos]);
            out.extend_from_slice(b"\"_metadata\":");
            write_metadata(meta, out);
            out.push(b',');
            out.extend_from_slice(&data[pos..]);
            return Ok(());
        }
        if data.get(key_end) != Some(&b':') {
            return Err(corrupt("expected ':' after an object key"));
        }
        let value_end = skip_value(data, key_end + 1)?;
        if order == std::cmp::Ordering::Equal {
            out.extend_from_slice(&data[..pos]);
            out.extend_from_slice(b"\"_metadata\":");
            write_metadata(meta, out);
            out.extend_from_slice(&data[value_end..]);
            return Ok(());
        }
        match data.get(value_end) {
            Some(b',') => pos = value_end + 1,
            Some(b'}') => {
                out.extend_from_slice(&data[..value_end]);
                out.extend_from_slice(b",\"_metadata\":");
                write_metadata(meta, out);
                out.extend_from_slice(&data[value_end..]);
                return Ok(());
            }
            _ => return Err(corrupt("expected ',' or '}' after an object value")),
        }
    }
}

/// Order of the quoted JSON string `quoted` against `"_metadata"`, comparing unescaped text
/// as `String` does (bytes).
fn compare_key(quoted: &[u8]) -> Result<std::cmp::Ordering, StoreError> {
    let inner = &quoted[1..quoted.len() - 1];
    if !inner.contains(&b'\\') {
        return Ok(inner.cmp(KEY));
    }
    let key: String =
        serde_json::from_slice(quoted).map_err(|e| corrupt(&format!("object key: {e}")))?;
    Ok(key.as_bytes().cmp(KEY))
}

/// `data[start]` is `"`: the index just after the closing quote.
fn skip_string(data: &[u8], start: usize) -> Result<usize, StoreError> {
    if data.get(start) != Some(&b'"') {
        return Err(corrupt("expected a string"));
    }
    let mut i = start + 1;
    while let Some(&b) = data.get(i) {
        match b {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(corrupt("unterminated string"))
}

/// The index just after the JSON value starting at `data[start]`.
fn skip_value(data: &[u8], start: usize) -> Result<usize, StoreError> {
    match data.get(start) {
        Some(b'"') => skip_string(data, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&b) = data.get(i) {
                match b {
                    b'"' => {
                        i = skip_string(data, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(corrupt("unterminated object or array"))
        }
        Some(_) => {
            let rest = &data[start..];
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .unwrap_or(rest.len());
            Ok(start + len)
        }
        None => Err(corrupt("expected a value")),
    }
}

/// `{"cursor":…,"deleted_at":…,"first_seen_at":…,"last_action":…,"last_modified_at":…}`,
/// keys in the order serde_json's sorted map writes them.
fn write_metadata(meta: &MetadataRef<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"cursor\":\"");
    write_cursor(meta.cursor, out);
    out.extend_from_slice(b"\",\"deleted_at\":");
    match meta.deleted_at {
        Some(t) => write_str(t, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"first_seen_at\":");
    write_str(meta.first_seen_at, out);
    out.extend_from_slice(b",\"last_action\":");
    write_str(meta.last_action, out);
    out.extend_from_slice(b",\"last_modified_at\":");
    write_str(meta.last_modified_at, out);
    out.push(b'}');
}

/// The cursor as 16 lower-case hex digits (the spelling of `encode_cursor`).
fn write_cursor(n: i64, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = n as u64;
    for shift in (0..16).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

/// A JSON string as serde_json writes it.
fn write_str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_bytes;
    use crate::store::{LastAction, RecordMetadata, StoredRecord};
    use serde_json::{Value, json};

    fn spliced(data: &Value, metadata: &RecordMetadata) -> String {
        let meta = MetadataRef {
            first_seen_at: &metadata.first_seen_at,
            last_modified_at: &metadata.last_modified_at,
            last_action: metadata.last_action.as_str(),
            deleted_at: metadata.deleted_at.as_deref(),
            cursor: i64::from_str_radix(&metadata.cursor, 16).unwrap(),
        };
        let mut out = Vec::new();
        write_record(&canonical_bytes(data), &meta, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn old(data: &Value, metadata: &RecordMetadata) -> String {
        let record = StoredRecord {
            id: "x".into(),
            data: data.clone(),
            metadata: metadata.clone(),
        };
        serde_json::to_string(&record.to_json()).unwrap()
    }

    #[test]
    fn splices_metadata_exactly_where_the_sorted_map_puts_it() {
        let metadata = RecordMetadata {
            first_seen_at: "2026-01-02T03:04:05.000000Z".into(),
            last_modified_at: "2026-01-02T03:04:06.000000Z".into(),
            last_action: LastAction::Deleted,
            deleted_at: Some("2026-01-02T03:04:06.000000Z".into()),
            cursor: "00000000000003e8".into(),
        };
        let cases = [
            json!({}),
            json!({"a": 1}),
            json!({"A": 1, "B": {"_metadata": 2}, "Z_": [1, "}"], "zz": null}),
            json!({"9": "x", "_a": 1, "_metadata": {"old": true}, "_n": 2, "b": 3}),
            json!({"A": "\"}{[", "B": 1.5e300, "C": -0.0, "D": [[], {}]}),
            json!({"_metadatb": 1, "_metadat": 2}),
            json!({"\u{1}key": 1, "é": "😀\u{7f}\\\n\t", "\"q": {"n": [1, {"m": "\""}]}}),
            json!({"ZZ": true, "ZZZ": false}),
            json!(["not", "an", "object"]),
            json!("text \"quoted\""),
            json!(12.25),
            json!(null),
        ];
        for data in &cases {
            assert_eq!(
                spliced(data, &metadata),
                old(data, &metadata),
                "spliced JSON differs from StoredRecord::to_json for {data}"
            );
        }
    }

    #[test]
    fn metadata_strings_are_escaped_like_serde_json() {
        let metadata = RecordMetadata {
            first_seen_at: "a\"b\\c\u{2}".into(),
            last_modified_at: "ü".into(),
            last_action: LastAction::Added,
            deleted_at: None,
            cursor: "7fffffffffffffff".into(),
        };
        let data = json!({"id": "1"});
        assert_eq!(spliced(&data, &metadata), old(&data, &metadata));
    }

    #[test]
    fn truncated_stored_json_is_an_error_not_a_panic() {
        let meta = MetadataRef {
            first_seen_at: "t",
            last_modified_at: "t",
            last_action: "ADDED",
            deleted_at: None,
            cursor: 1,
        };
        for bad in [
            &b""[..],
            b"{\"a",
            b"{\"_a\":{\"b\":1",
            b"{\"_a\"1}",
            b"{\"_a\":1",
        ] {
            let mut out = Vec::new();
            let result = write_record(bad, &meta, &mut out);
            assert!(
                result.is_err(),
                "{:?} was accepted as {:?}",
                String::from_utf8_lossy(bad),
                String::from_utf8_lossy(&out)
            );
        }
    }
}
