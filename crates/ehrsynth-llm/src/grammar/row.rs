//! The answer language for a schema's columns: header, literals between fields, a rule per field.

use super::*;

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// A header line, then one comma-separated line per row; missing is an empty field.
    Csv,
    /// JSON Lines: one object per line, keys in column order; missing is `null`.
    JsonLines,
}

/// The answer language for given columns of a schema (see the module docs).
#[derive(Debug, Clone)]
pub struct RowGrammar {
    pub(super) format: RowFormat,
    pub(super) header: Vec<u8>,
    /// The text before each field: `,` in CSV (nothing before the first), `,"name":` in JSON.
    pub(super) prefixes: Vec<Vec<u8>>,
    /// The text after the last field: `\n`, or `}\n` in JSON.
    pub(super) row_end: Vec<u8>,
    pub(super) fields: Vec<FieldRule>,
    pub(super) columns: Vec<String>,
    /// The schema's one-hot sets and orders over these columns.
    pub(super) cross: CrossRules,
}

impl RowGrammar {
    /// The grammar of CSV answers with `columns` (schema names, in this order); `fixed` columns
    /// (name, value) take only their value. Continuous values get at most
    /// [`DEFAULT_DECIMALS`] decimals.
    pub fn csv(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, LlmError> {
        Self::build(schema, columns, fixed, RowFormat::Csv, DEFAULT_DECIMALS)
    }

    /// [`RowGrammar::csv`] as JSON Lines: `{"a":1,"b":"x","c":null}` per line, no header.
    pub fn json_lines(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, LlmError> {
        Self::build(
            schema,
            columns,
            fixed,
            RowFormat::JsonLines,
            DEFAULT_DECIMALS,
        )
    }

    /// A grammar in `format` with at most `decimals` decimals in continuous values (more only
    /// where a range is too narrow to hold any such value).
    pub fn build(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
    ) -> Result<Self, LlmError> {
        Self::build_with_precision(schema, columns, fixed, format, decimals, &[])
    }

    /// [`RowGrammar::build`] where the columns named in `precision` get their own number of
    /// decimals (the training data's precision: 0 writes integers only), the others `decimals`.
    pub fn build_with_precision(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
        precision: &[(String, u32)],
    ) -> Result<Self, LlmError> {
        let invalid = |m: String| LlmError::Invalid(format!("constrained decoding: {m}"));
        if columns.is_empty() {
            return Err(invalid("no columns to generate".into()));
        }
        let decimals = decimals.min(MAX_DECIMALS);
        for (name, _) in fixed {
            if !columns.contains(name) {
                return Err(invalid(format!(
                    "fixed column '{name}' is not among the generated columns"
                )));
            }
        }
        let json = format == RowFormat::JsonLines;
        let mut fields = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                return Err(invalid(format!("column '{name}' is listed twice")));
            }
            let spec = schema
                .column(name)
                .ok_or_else(|| invalid(format!("column '{name}' is not in the schema")))?;
            let fixed_value = fixed.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            let mut rule = match fixed_value {
                Some(value) => fixed_rule(spec, value, json).map_err(invalid)?,
                None => {
                    let own = precision.iter().find(|(n, _)| n == name).map(|(_, d)| *d);
                    field_rule(
                        spec,
                        columns,
                        own.unwrap_or(decimals).min(MAX_DECIMALS),
                        json,
                    )
                    .ok_or_else(|| invalid(format!("column '{name}': no value fits its range")))?
                }
            };
            // A one-column CSV row that is empty would be a blank line, which parsers skip.
            if rule.missing == Missing::Empty && columns.len() == 1 {
                rule.missing = Missing::No;
            }
            if !rule.has_values() {
                return Err(invalid(format!(
                    "column '{name}' can take no value that reads back as itself"
                )));
            }
            fields.push(rule);
        }
        let (header, prefixes, row_end) = match format {
            RowFormat::Csv => {
                let mut header = columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
                    .into_bytes();
                header.push(b'\n');
                let prefixes = (0..columns.len())
                    .map(|i| if i == 0 { Vec::new() } else { b",".to_vec() })
                    .collect();
                (header, prefixes, b"\n".to_vec())
            }
            RowFormat::JsonLines => {
                let prefixes = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let open = if i == 0 { "{" } else { "," };
                        format!("{open}{}:", json_string(c)).into_bytes()
                    })
                    .collect();
                (Vec::new(), prefixes, b"}\n".to_vec())
            }
        };
        Ok(Self {
            format,
            header,
            prefixes,
            row_end,
            fields,
            columns: columns.to_vec(),
            cross: CrossRules::new(schema, columns, fixed),
        })
    }

    /// The row format.
    pub fn format(&self) -> RowFormat {
        self.format
    }

    /// The generated columns, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The header line with its `\n` (empty for JSON Lines).
    pub fn header(&self) -> &str {
        std::str::from_utf8(&self.header).unwrap_or_default()
    }

    /// What column `index` accepts, in words.
    pub fn describe_field(&self, index: usize) -> Option<String> {
        self.fields.get(index).map(FieldRule::describe)
    }

    /// The literal text before field `column`, or after the last field when `column` is the
    /// number of columns.
    pub(super) fn literal(&self, column: usize) -> &[u8] {
        self.prefixes.get(column).unwrap_or(&self.row_end)
    }
}

/// The rule of an unconstrained column.
pub(super) fn field_rule(
    spec: &ColumnSpec,
    columns: &[String],
    decimals: u32,
    json: bool,
) -> Option<FieldRule> {
    let kind = match spec.kind {
        ColumnKind::Continuous => FieldKind::Number(NumberRule::continuous(spec, decimals)?),
        ColumnKind::Integer => FieldKind::Number(NumberRule::new(spec, 0)?),
        ColumnKind::Binary => FieldKind::Choice(ChoiceRule::new(&["0", "1"])),
        ColumnKind::Categorical if spec.categories.is_empty() => {
            FieldKind::FreeText(FreeTextRule {
                forbidden: columns.iter().map(|c| c.to_lowercase()).collect(),
                quoted: json,
            })
        }
        ColumnKind::Categorical => {
            let options: Vec<String> = spec
                .categories
                .iter()
                .filter(|c| reads_back(c) && !columns.iter().any(|name| eq_ci(name, c)))
                .map(|c| if json { json_string(c) } else { csv_field(c) })
                .collect();
            FieldKind::Choice(ChoiceRule::new(&options))
        }
    };
    Some(FieldRule {
        kind,
        missing: missing_kind(spec.missing_allowed, json),
    })
}

pub(super) fn missing_kind(allowed: bool, json: bool) -> Missing {
    match (allowed, json) {
        (false, _) => Missing::No,
        (true, false) => Missing::Empty,
        (true, true) => Missing::Null,
    }
}

/// The rule of a column fixed to `value`.
pub(super) fn fixed_rule(spec: &ColumnSpec, value: &str, json: bool) -> Result<FieldRule, String> {
    let name = &spec.name;
    if is_missing_token(value) {
        return if spec.missing_allowed {
            Ok(FieldRule {
                kind: FieldKind::Choice(ChoiceRule::new::<&str>(&[])),
                missing: missing_kind(true, json),
            })
        } else {
            Err(format!(
                "column '{name}' is fixed to a missing value but may not be missing"
            ))
        };
    }
    if !reads_back(value) {
        return Err(format!(
            "column '{name}' is fixed to '{value}', which does not read back as itself"
        ));
    }
    if let Some(reason) = validate_text(spec, value) {
        return Err(format!(
            "column '{name}' is fixed to an invalid value: {reason}"
        ));
    }
    if spec.kind.is_numeric() && parse_number(value).is_none() && spec.kind != ColumnKind::Binary {
        return Err(format!(
            "column '{name}' is fixed to '{value}', not a number"
        ));
    }
    let text = if json {
        json_string(value)
    } else {
        csv_field(value)
    };
    Ok(FieldRule {
        kind: FieldKind::Choice(ChoiceRule::new(&[text])),
        missing: Missing::No,
    })
}
