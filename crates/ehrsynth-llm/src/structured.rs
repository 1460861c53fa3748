//! A table schema compiled into each provider's structured-output dialect: the answer is one
//! object `{"rows": [ {column: value, ...}, ... ]}` with every column present (null where missing
//! is allowed), numbers for numeric columns, an enumeration for categorical ones.
//!
//! Dialect limits (values are validated in Rust anyway, since not every provider enforces them):
//! - `JsonSchema` (Anthropic tool input, vLLM, llama.cpp, Ollama): full JSON Schema with
//!   `minimum` / `maximum` and `enum`.
//! - `OpenAiStrict` (OpenAI `json_schema` with `strict: true`): every property required,
//!   `additionalProperties: false`, nullability as `["number", "null"]`; ranges are kept as
//!   `minimum` / `maximum`, which strict mode accepts for numbers.
//! - `GeminiOpenApi` (Gemini `responseSchema`, an OpenAPI 3.0 subset): upper-case types,
//!   `nullable: true`, `enum` for strings; integers as `INTEGER`.

use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};
use serde_json::{Value, json};

/// The structured-output dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain JSON Schema.
    JsonSchema,
    /// OpenAI strict structured outputs.
    OpenAiStrict,
    /// Gemini's OpenAPI-subset response schema.
    GeminiOpenApi,
}

fn json_type(spec: &ColumnSpec) -> &'static str {
    match spec.kind {
        ColumnKind::Continuous => "number",
        ColumnKind::Integer | ColumnKind::Binary => "integer",
        ColumnKind::Categorical => "string",
    }
}

fn column_schema(spec: &ColumnSpec, dialect: Dialect) -> Value {
    let base = json_type(spec);
    let mut out = match dialect {
        Dialect::GeminiOpenApi => json!({ "type": base.to_ascii_uppercase() }),
        _ if spec.missing_allowed => json!({ "type": [base, "null"] }),
        _ => json!({ "type": base }),
    };
    let object = out
        .as_object_mut()
        .expect("a json! object literal is an object");
    if dialect == Dialect::GeminiOpenApi && spec.missing_allowed {
        object.insert("nullable".into(), json!(true));
    }
    if spec.kind == ColumnKind::Binary {
        // 0 and 1, or the one value a group's rows are pinned to.
        let bound = |b: Option<f64>, default: i64| b.map_or(default, |v| v.round() as i64);
        object.insert("minimum".into(), json!(bound(spec.min, 0).clamp(0, 1)));
        object.insert("maximum".into(), json!(bound(spec.max, 1).clamp(0, 1)));
    } else if spec.kind.is_numeric() {
        if let Some(lo) = spec.min {
            object.insert("minimum".into(), json!(lo));
        }
        if let Some(hi) = spec.max {
            object.insert("maximum".into(), json!(hi));
        }
    }
    if !spec.categories.is_empty() {
        let mut values: Vec<Value> = spec.categories.iter().map(|c| json!(c)).collect();
        if spec.missing_allowed && dialect != Dialect::GeminiOpenApi {
            values.push(Value::Null);
        }
        object.insert("enum".into(), Value::Array(values));
    }
    if let Some(d) = &spec.description {
        object.insert("description".into(), json!(d));
    }
    out
}

/// The schema of an answer holding rows of `schema`'s columns.
pub fn rows_schema(schema: &Schema, dialect: Dialect) -> Value {
    let names: Vec<&str> = schema.names();
    let properties: serde_json::Map<String, Value> = schema
        .columns()
        .iter()
        .map(|c| (c.name.clone(), column_schema(c, dialect)))
        .collect();
    let (object, array) = match dialect {
        Dialect::GeminiOpenApi => ("OBJECT", "ARRAY"),
        _ => ("object", "array"),
    };
    let mut row = json!({ "type": object, "properties": properties, "required": names });
    let mut top = json!({ "type": object, "properties": { "rows": { "type": array, "items": Value::Null } }, "required": ["rows"] });
    if dialect == Dialect::GeminiOpenApi {
        row["propertyOrdering"] = json!(names);
    } else {
        row["additionalProperties"] = json!(false);
        top["additionalProperties"] = json!(false);
    }
    top["properties"]["rows"]["items"] = row;
    top
}

/// Caps the number of rows in an answer schema made by [`rows_schema`] with the plain JSON Schema
/// dialect (`maxItems`, which llama.cpp's json-schema-to-grammar and vLLM's guided decoding
/// honour). Not for `OpenAiStrict`, whose documented subset has long lacked `maxItems`.
pub fn limit_rows(answer_schema: &mut Value, max_rows: usize) {
    answer_schema["properties"]["rows"]["maxItems"] = json!(max_rows.max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let mut age = ColumnSpec::new("age", ColumnKind::Continuous);
        (age.min, age.max, age.missing_allowed) = (Some(16.0), Some(90.0), false);
        let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
        race.categories = vec!["black".into(), "white".into()];
        let mut death = ColumnSpec::new("death", ColumnKind::Binary);
        death.missing_allowed = false;
        Schema::new(vec![age, race, death]).unwrap()
    }

    #[test]
    fn each_dialect_keeps_its_rules() {
        let plain = rows_schema(&schema(), Dialect::JsonSchema);
        let age = &plain["properties"]["rows"]["items"]["properties"]["age"];
        assert_eq!(age["type"], "number");
        assert_eq!(
            (age["minimum"].as_f64(), age["maximum"].as_f64()),
            (Some(16.0), Some(90.0))
        );
        let race = &plain["properties"]["rows"]["items"]["properties"]["race"];
        assert_eq!(race["type"], json!(["string", "null"]));
        assert_eq!(race["enum"], json!(["black", "white", null]));
        assert_eq!(
            plain["properties"]["rows"]["items"]["required"],
            json!(["age", "race", "death"])
        );
        assert_eq!(
            plain["properties"]["rows"]["items"]["additionalProperties"],
            json!(false)
        );

        let gemini = rows_schema(&schema(), Dialect::GeminiOpenApi);
        let item = &gemini["properties"]["rows"]["items"];
        assert_eq!(item["type"], "OBJECT");
        assert_eq!(item["properties"]["race"]["nullable"], json!(true));
        assert_eq!(
            item["properties"]["race"]["enum"],
            json!(["black", "white"])
        );
        assert_eq!(item["properties"]["death"]["type"], "INTEGER");
        assert!(item.get("additionalProperties").is_none());
        assert_eq!(item["propertyOrdering"], json!(["age", "race", "death"]));
    }

    #[test]
    fn rows_can_be_capped() {
        let mut plain = rows_schema(&schema(), Dialect::JsonSchema);
        limit_rows(&mut plain, 4);
        assert_eq!(plain["properties"]["rows"]["maxItems"], json!(4));
        assert_eq!(plain["properties"]["rows"]["type"], "array");
        limit_rows(&mut plain, 0);
        assert_eq!(plain["properties"]["rows"]["maxItems"], json!(1));
    }
}
