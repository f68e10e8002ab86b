//! Record validation against a model's JSON Schema.

use serde_json::Value;

/// A compiled JSON Schema for one model.
pub struct RecordValidator {
    model: String,
    validator: Option<jsonschema::Validator>,
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
        })
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
}
