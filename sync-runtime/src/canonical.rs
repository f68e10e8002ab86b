//! Canonical JSON (object keys sorted, no whitespace) and the change-detection hash over it.

use serde_json::Value;

/// Append the canonical JSON of `value` to `out`: objects with keys in byte order, no
/// insignificant whitespace, numbers and strings as serde_json writes them. Two values that are
/// equal as JSON always give the same bytes, whatever the order their keys arrived in.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        scalar => {
            // Null, bool and numbers have one serde_json spelling.
            serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec cannot fail");
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// The canonical bytes of `value`.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

/// The change-detection hash of canonical bytes (XXH3, 64 bits).
pub fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_bytes_or_hash() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"é\n"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"é\n","y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
        assert_eq!(
            String::from_utf8(canonical_bytes(&a)).unwrap(),
            r#"{"a":{"x":"é\n","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(hash(&canonical_bytes(&a)), hash(&canonical_bytes(&b)));
    }

    #[test]
    fn different_values_hash_differently() {
        let a = canonical_bytes(&json!({"id": "1", "n": 1}));
        let b = canonical_bytes(&json!({"id": "1", "n": 2}));
        assert_ne!(hash(&a), hash(&b));
    }
}
