//! Record validation against a model's JSON Schema.

use serde_json::Value;

/// A compiled JSON Schema for one model.
pub struct RecordValidator {
    model: String,
    validator: Option<jsonschema::Validator>,
    enforced_by_type: bool,
}

impl std::fmt::Debug for RecordValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordValidator")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl RecordValidator {
    /// Compile `schema` for `model`. A schema of `true` or `{}` accepts everything and costs
    /// nothing per record.
    ///
    /// # Errors
    /// The schema itself is invalid; the message names the model.
    pub fn new(model: &str, schema: &Value) -> Result<Self, String> {
        let accepts_all = matches!(schema, Value::Bool(true))
            || schema.as_object().is_some_and(|o| {
                o.keys()
                    .all(|k| k == "$schema" || k == "title" || k == "description")
            });
        let validator = if accepts_all {
            None
        } else {
            Some(
                jsonschema::validator_for(schema)
                    .map_err(|e| format!("the JSON Schema of model {model:?} is invalid: {e}"))?,
            )
        };
        Ok(Self {
            model: model.to_string(),
            validator,
            enforced_by_type: constrains_only_shape(schema),
        })
    }

    /// Whether every record a typed model serializes is valid by construction: the schema
    /// (generated from that same Rust type) constrains nothing but types, required fields and
    /// enum values, which deserializing into the type already enforced, and it has no open maps
    /// (whose key order a `HashMap` would not keep stable). Such records skip the per-record
    /// check and are stored as serialized; any other keyword (`pattern`, `maxLength`,
    /// `minimum` on a non-integer…) keeps the check.
    pub fn enforced_by_type(&self) -> bool {
        self.enforced_by_type
    }

    /// Check `record`; the error names the model, the failing location and the reason.
    pub fn check(&self, record: &Value) -> Result<(), String> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        match validator.iter_errors(record).next() {
            None => Ok(()),
            Some(error) => {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                Err(format!(
                    "violates the {} schema at {at}: {error}",
                    self.model
                ))
            }
        }
    }
}

/// Keywords that only describe the shape serde already enforces for a derived type.
const SHAPE_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "definitions",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "items",
    "anyOf",
    "oneOf",
    "allOf",
    "enum",
    "const",
    "format",
    "default",
    "examples",
    "nullable",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Whether `schema` constrains only what deserializing into its Rust type enforces.
fn constrains_only_shape(schema: &Value) -> bool {
    match schema {
        Value::Bool(_) => true,
        Value::Object(map) => {
            let integer = map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("int") || f.starts_with("uint"));
            map.iter().all(|(key, value)| match key.as_str() {
                // schemars states the range of fixed-width integers, which serde enforces.
                "minimum" | "maximum" => integer,
                // `false` (deny_unknown_fields) never shows in serialized output; a map does.
                "additionalProperties" => value == &Value::Bool(false),
                "properties" | "$defs" | "definitions" => value
                    .as_object()
                    .is_some_and(|m| m.values().all(constrains_only_shape)),
                "items" | "not" => constrains_only_shape(value),
                "anyOf" | "oneOf" | "allOf" | "prefixItems" => value
                    .as_array()
                    .is_some_and(|a| a.iter().all(constrains_only_shape)),
                other => SHAPE_KEYWORDS.contains(&other),
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_location_of_violation() {
        let schema = json!({"type":"object","required":["id","email"],
            "properties":{"id":{"type":"string"},"email":{"type":"string"}}});
        let v = RecordValidator::new("Contact", &schema).unwrap();
        assert!(v.check(&json!({"id":"1","email":"a@b"})).is_ok());
        let err = v.check(&json!({"id":"1","email":5})).unwrap_err();
        assert!(err.contains("Contact schema at /email"), "{err}");
    }

    #[test]
    fn permissive_schema_accepts_anything() {
        let v = RecordValidator::new("Any", &json!(true)).unwrap();
        assert!(v.check(&json!([1, 2])).is_ok());
    }

    #[test]
    fn derived_shape_only_schemas_are_enforced_by_the_type() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Plain {
            id: String,
            n: u32,
            x: Option<f64>,
            tags: Vec<String>,
            kind: Kind,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        enum Kind {
            A,
            B,
        }
        let plain =
            RecordValidator::new("Plain", &schemars::schema_for!(Plain).to_value()).unwrap();
        assert!(plain.enforced_by_type());

        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct WithMap {
            attrs: std::collections::HashMap<String, String>,
        }
        let map =
            RecordValidator::new("WithMap", &schemars::schema_for!(WithMap).to_value()).unwrap();
        assert!(
            !map.enforced_by_type(),
            "open maps must go through the canonical path"
        );

        let pattern =
            json!({"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}}});
        assert!(
            !RecordValidator::new("P", &pattern)
                .unwrap()
                .enforced_by_type()
        );
        let bounded =
            json!({"type": "object", "properties": {"score": {"type": "number", "maximum": 5}}});
        assert!(
            !RecordValidator::new("B", &bounded)
                .unwrap()
                .enforced_by_type()
        );
    }
}
