//! [`Schema`]: what each column is (kind, unit, valid range, categories, missing allowed, meaning)
//! and what it is for ([`Role`]). Inferred from data, saved as a TOML file users edit, and loaded
//! back to override inference.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::column::{Column, ColumnData};
use crate::constraint::Constraint;
use crate::error::{TableError, short_list};
use crate::profile::proposes_id;
use crate::table::Table;

/// The storage kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Real numbers (f64).
    Continuous,
    /// Whole numbers (i64).
    Integer,
    /// 0/1 flags.
    Binary,
    /// Strings from a set of categories.
    Categorical,
}

impl ColumnKind {
    /// The lowercase name used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Continuous => "continuous",
            ColumnKind::Integer => "integer",
            ColumnKind::Binary => "binary",
            ColumnKind::Categorical => "categorical",
        }
    }

    /// True for continuous, integer and binary columns.
    pub fn is_numeric(self) -> bool {
        !matches!(self, ColumnKind::Categorical)
    }
}

/// What a column is for in generation and evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A predictor (the default).
    #[default]
    Feature,
    /// The outcome to predict (at most one per schema).
    Target,
    /// A demographic group column used for fairness and group-based generation.
    Group,
    /// The hospital (site) column used for cross-hospital splits (at most one).
    Site,
    /// A record identifier: never generated as a feature, never used to train.
    Id,
}

impl Role {
    /// The lowercase name used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Feature => "feature",
            Role::Target => "target",
            Role::Group => "group",
            Role::Site => "site",
            Role::Id => "id",
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn default_true() -> bool {
    true
}

/// Everything ehrsynth knows about one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name, as in the data file header.
    pub name: String,
    /// Storage kind.
    pub kind: ColumnKind,
    /// What the column is for.
    #[serde(default)]
    pub role: Role,
    /// Unit of measurement, e.g. "mg/dL".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Smallest valid value (numeric kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest valid value (numeric kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Valid categories (categorical kind); empty means any text is accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Whether a cell may be missing.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub missing_allowed: bool,
    /// A short human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// True when the value is only known after the outcome (e.g. length of stay): using it to
    /// predict the target leaks the label. Kept available, flagged, and warned about.
    #[serde(default, skip_serializing_if = "is_false")]
    pub known_after_outcome: bool,
}

impl ColumnSpec {
    /// A feature column of `kind` with no constraints.
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        Self {
            name: name.into(),
            kind,
            role: Role::Feature,
            unit: None,
            min: None,
            max: None,
            categories: Vec::new(),
            missing_allowed: true,
            description: None,
            known_after_outcome: false,
        }
    }
}

/// Roles to assign during inference, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct RoleHints {
    /// The target column.
    pub target: Option<String>,
    /// The site (hospital) column.
    pub site: Option<String>,
    /// Demographic group columns.
    pub groups: Vec<String>,
    /// Identifier columns.
    pub ids: Vec<String>,
}

/// The columns of a table, in order, with their kinds, constraints and roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Schema file format version.
    #[serde(default = "schema_version")]
    pub version: u32,
    /// Cell texts that mean "missing" in this data's files, in every column, besides the
    /// built-in ones (`?`, `na`, `-` ... see [`crate::cell`]): say `-99` or `not recorded`.
    /// Every command that reads a file with this schema honours them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_tokens: Vec<String>,
    /// The columns.
    #[serde(rename = "column", default)]
    pub columns: Vec<ColumnSpec>,
    /// Rules across columns that every row obeys (one-hot sets, orders): see
    /// [`crate::constraint`].
    #[serde(rename = "constraint", default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Why each inferred constraint was proposed (one per constraint, written as a comment
    /// above it in the TOML file; empty for a schema read from a file).
    #[serde(skip)]
    pub constraint_notes: Vec<String>,
}

fn schema_version() -> u32 {
    1
}

const CONSTRAINTS_HEADER: &str = "
# Constraints: rules across columns that every row obeys, kept by every generator and checked by
# the audit (docs/schema.md). kind = \"one_hot\" (at most one of these 0/1 columns is 1; exactly =
# true for exactly one), \"order\" (columns[0] <= columns[1] <= ...), \"missing_together\" (all
# present or all missing) or \"combinations\" (only the `allowed` value combinations occur).
# Delete or edit freely.
";

const SCHEMA_FILE_HEADER: &str = "\
# ehrsynth schema: one [[column]] table per column, in file order.
#   kind        continuous | integer | binary | categorical
#   role        feature (default) | target | group | site | id
#   unit, min, max, categories, description: optional constraints and documentation
#   missing_allowed = false     when a cell may never be empty (default: allowed)
#   known_after_outcome = true  when the value is only known after the outcome (label leakage)
# missing_tokens = [\"-99\", \"not recorded\"] at the top: cell texts read as missing in every column
# Edit freely, then pass it back with --schema FILE.
";

impl Schema {
    /// A schema from column specs; checks names are unique and roles consistent.
    pub fn new(columns: Vec<ColumnSpec>) -> crate::Result<Self> {
        let schema = Self {
            version: 1,
            missing_tokens: Vec::new(),
            columns,
            constraints: Vec::new(),
            constraint_notes: Vec::new(),
        };
        schema.check(Path::new("<schema>"))?;
        Ok(schema)
    }

    /// Column specs in order.
    pub fn columns(&self) -> &[ColumnSpec] {
        &self.columns
    }

    /// Column names in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The spec of column `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Mutable spec of column `name`.
    pub fn column_mut(&mut self, name: &str) -> Option<&mut ColumnSpec> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    /// Names of the columns with `role`.
    pub fn with_role(&self, role: Role) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.role == role)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The target column, if one is set.
    pub fn target(&self) -> Option<&str> {
        self.with_role(Role::Target).into_iter().next()
    }

    /// The site column, if one is set.
    pub fn site(&self) -> Option<&str> {
        self.with_role(Role::Site).into_iter().next()
    }

    /// Sets the role of column `name`.
    pub fn set_role(&mut self, name: &str, role: Role) -> crate::Result<()> {
        let found = short_list(self.names());
        let spec = self
            .column_mut(name)
            .ok_or_else(|| TableError::UnknownColumn {
                column: name.to_string(),
                found,
            })?;
        spec.role = role;
        self.check(Path::new("<schema>"))
    }

    /// A schema with only the named columns, in the given order.
    pub fn subset<S: AsRef<str>>(&self, names: &[S]) -> crate::Result<Self> {
        let columns = names
            .iter()
            .map(|n| {
                self.column(n.as_ref())
                    .cloned()
                    .ok_or_else(|| TableError::UnknownColumn {
                        column: n.as_ref().to_string(),
                        found: short_list(self.names()),
                    })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let kept: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        let mut constraints = Vec::new();
        let mut constraint_notes = Vec::new();
        for (i, c) in self.constraints.iter().enumerate() {
            if let Some(c) = c.restricted_to(&kept) {
                constraints.push(c);
                constraint_notes.extend(self.constraint_notes.get(i).cloned());
            }
        }
        Ok(Self {
            missing_tokens: self.missing_tokens.clone(),
            constraints,
            constraint_notes,
            ..Self::new(columns)?
        })
    }

    /// Checks unique names, at most one target and site, and sane ranges.
    fn check(&self, path: &Path) -> crate::Result<()> {
        let fail = |message: String| {
            Err(TableError::Schema {
                path: path.to_path_buf(),
                message,
            })
        };
        let mut seen = HashSet::new();
        for spec in &self.columns {
            if spec.name.is_empty() {
                return fail("a column has an empty name".into());
            }
            if !seen.insert(spec.name.as_str()) {
                return fail(format!("column '{}' is listed twice", spec.name));
            }
            if let (Some(lo), Some(hi)) = (spec.min, spec.max)
                && lo > hi
            {
                return fail(format!(
                    "column '{}': min ({lo}) is greater than max ({hi})",
                    spec.name
                ));
            }
            if !spec.categories.is_empty() && spec.kind != ColumnKind::Categorical {
                return fail(format!(
                    "column '{}': categories are only allowed for kind = \"categorical\"",
                    spec.name
                ));
            }
        }
        for role in [Role::Target, Role::Site] {
            let named = self.with_role(role);
            if named.len() > 1 {
                return fail(format!(
                    "more than one column has role = \"{}\": {}",
                    role.as_str(),
                    named.join(", ")
                ));
            }
        }
        self.constraints
            .iter()
            .try_for_each(|c| c.check(self))
            .or_else(fail)
    }

    /// Checks that every constraint names known columns of the right kind (an error of a
    /// schema built in memory, `<schema>`).
    pub fn check_constraints(&self) -> crate::Result<()> {
        self.constraints
            .iter()
            .try_for_each(|c| c.check(self))
            .map_err(|message| TableError::Schema {
                path: "<schema>".into(),
                message,
            })
    }

    /// Parses a schema file's text; `path` is only used in error messages.
    pub fn from_toml_str(text: &str, path: &Path) -> crate::Result<Self> {
        let schema: Schema = toml::from_str(text).map_err(|e| TableError::Schema {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if schema.version != 1 {
            return Err(TableError::Schema {
                path: path.to_path_buf(),
                message: format!(
                    "schema version {} is not supported (this ehrsynth reads version 1)",
                    schema.version
                ),
            });
        }
        schema.check(path)?;
        Ok(schema)
    }

    /// Reads a schema file.
    pub fn load(path: &Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// The schema as an annotated TOML file; an inferred constraint comes with its evidence
    /// as a comment.
    pub fn to_toml(&self) -> String {
        let columns = Self {
            constraints: Vec::new(),
            ..self.clone()
        };
        let mut text = format!(
            "{SCHEMA_FILE_HEADER}\n{}",
            toml::to_string(&columns).unwrap_or_else(|e| format!("# could not serialise: {e}\n"))
        );
        if !self.constraints.is_empty() {
            text.push_str(CONSTRAINTS_HEADER);
        }
        #[derive(Serialize)]
        struct One<'a> {
            constraint: [&'a Constraint; 1],
        }
        for (i, c) in self.constraints.iter().enumerate() {
            text.push('\n');
            if let Some(note) = self.constraint_notes.get(i) {
                text.push_str(&format!("# inferred: {note}\n"));
            }
            text.push_str(&toml::to_string(&One { constraint: [c] }).unwrap_or_default());
        }
        text
    }

    /// Writes the schema file (through a partial file and a rename).
    pub fn save(&self, path: &Path) -> crate::Result<()> {
        crate::io::write_file_atomically(path, self.to_toml().as_bytes()).map_err(|source| {
            TableError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Infers a schema from a table: kinds from the columns, observed ranges and categories,
    /// missing allowed where missing cells occur, roles from `hints`. Columns that look like
    /// identifiers get role `id` unless a hint says otherwise ([`crate::profile::proposes_id`]);
    /// constant columns keep their role, and [`crate::profile::notes`] tells callers about both.
    pub fn infer(table: &Table, hints: &RoleHints) -> crate::Result<Self> {
        let mut columns: Vec<ColumnSpec> = table.columns().iter().map(|c| infer_spec(c)).collect();
        let mut assign = |name: &str, role: Role| -> crate::Result<()> {
            let found = short_list(table.column_names());
            let spec = columns.iter_mut().find(|c| c.name == name).ok_or_else(|| {
                TableError::UnknownColumn {
                    column: name.to_string(),
                    found,
                }
            })?;
            spec.role = role;
            Ok(())
        };
        if let Some(t) = &hints.target {
            assign(t, Role::Target)?;
        }
        if let Some(s) = &hints.site {
            assign(s, Role::Site)?;
        }
        for g in &hints.groups {
            assign(g, Role::Group)?;
        }
        for i in &hints.ids {
            assign(i, Role::Id)?;
        }
        let mut schema = Self::new(columns)?;
        let skip: Vec<&str> = schema
            .columns
            .iter()
            .filter(|c| matches!(c.role, Role::Target | Role::Id | Role::Site))
            .map(|c| c.name.as_str())
            .collect();
        let found = crate::constraint::infer(table, &skip);
        schema.constraints = found.iter().map(|f| f.constraint.clone()).collect();
        schema.constraint_notes = found.into_iter().map(|f| f.evidence).collect();
        Ok(schema)
    }
}

/// A spec describing what a column holds: its kind, observed range or categories.
fn infer_spec(column: &Column) -> ColumnSpec {
    let mut spec = ColumnSpec::new(column.name(), column.kind());
    spec.missing_allowed = column.missing_count() > 0;
    match column.data() {
        ColumnData::Categorical { codes, dictionary } => {
            let used: BTreeSet<&str> = codes
                .iter()
                .enumerate()
                .filter(|(i, _)| !column.is_missing(*i))
                .map(|(_, &c)| dictionary[c as usize].as_str())
                .collect();
            spec.categories = used.into_iter().map(str::to_string).collect();
        }
        ColumnData::Binary(_) => {
            spec.min = Some(0.0);
            spec.max = Some(1.0);
        }
        _ => {
            if let Some((lo, hi)) = column.numeric_range() {
                spec.min = Some(lo);
                spec.max = Some(hi);
            }
        }
    }
    if proposes_id(column) {
        spec.role = Role::Id;
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(vec![
            Column::integer("stay_id", &[Some(1), Some(2), Some(3)]),
            Column::continuous("lactate", &[Some(1.2), None, Some(4.0)]),
            Column::binary("death", &[Some(false), Some(true), Some(false)]),
            Column::categorical("unit", &[Some("MICU"), Some("SICU"), Some("MICU")]),
        ])
        .unwrap()
    }

    #[test]
    fn inference_finds_kinds_ranges_categories_and_roles() {
        let hints = RoleHints {
            target: Some("death".into()),
            ..Default::default()
        };
        let s = Schema::infer(&table(), &hints).unwrap();
        assert_eq!(s.column("stay_id").unwrap().role, Role::Id);
        let lactate = s.column("lactate").unwrap();
        assert_eq!((lactate.min, lactate.max), (Some(1.2), Some(4.0)));
        assert!(lactate.missing_allowed);
        assert!(!s.column("unit").unwrap().missing_allowed);
        assert_eq!(s.column("unit").unwrap().categories, vec!["MICU", "SICU"]);
        assert_eq!(s.target(), Some("death"));
    }

    #[test]
    fn id_shaped_columns_get_role_id_and_hints_win() {
        let n = crate::profile::MIN_ID_ROWS as i64;
        let rows: Vec<Option<i64>> = (1..=n).map(Some).collect();
        let ages: Vec<Option<i64>> = (1..=n).map(|i| Some(40 + i % 7)).collect();
        let same: Vec<Option<&str>> = (0..n).map(|_| Some("eICU")).collect();
        let t = Table::new(vec![
            Column::integer("row", &rows),
            Column::integer("age", &ages),
            Column::categorical("source", &same),
        ])
        .unwrap();
        let s = Schema::infer(&t, &RoleHints::default()).unwrap();
        let roles: Vec<Role> = s.columns().iter().map(|c| c.role).collect();
        assert_eq!(roles, vec![Role::Id, Role::Feature, Role::Feature]);
        let hints = RoleHints {
            target: Some("row".into()),
            ..Default::default()
        };
        assert_eq!(Schema::infer(&t, &hints).unwrap().target(), Some("row"));
    }

    #[test]
    fn toml_round_trip_keeps_everything() {
        let mut s = Schema::infer(&table(), &RoleHints::default()).unwrap();
        s.column_mut("lactate").unwrap().unit = Some("mmol/L".into());
        s.column_mut("lactate").unwrap().known_after_outcome = true;
        let text = s.to_toml();
        let back = Schema::from_toml_str(&text, Path::new("x.toml")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bad_schema_files_say_what_is_wrong() {
        let two_targets = "[[column]]\nname='a'\nkind='binary'\nrole='target'\n[[column]]\nname='b'\nkind='binary'\nrole='target'\n";
        let err = Schema::from_toml_str(two_targets, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than one column has role = \"target\""),
            "{err}"
        );
        let typo = "[[column]]\nname='a'\nkind='binary'\nrnage=3\n";
        let err = Schema::from_toml_str(typo, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.toml") && err.contains("rnage"), "{err}");
        let bad_kind = "[[column]]\nname='a'\nkind='float'\n";
        assert!(Schema::from_toml_str(bad_kind, Path::new("s.toml")).is_err());
        let inverted = "[[column]]\nname='a'\nkind='continuous'\nmin=3.0\nmax=1.0\n";
        let err = Schema::from_toml_str(inverted, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("min (3) is greater than max (1)"), "{err}");
    }
}
