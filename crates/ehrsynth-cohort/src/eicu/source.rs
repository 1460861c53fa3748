//! Finding and streaming eICU's own CSV(.gz) tables row by row, by column name, with progress and
//! with errors that name the file and line. Nothing here holds a whole source table in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ehrsynth_table::Progress;
use ehrsynth_table::io::csv::{csv_error, locate_columns, open_delimited, read_header};

use crate::error::CohortError;

/// The eICU tables the builder reads, by their file stem in the eICU distribution.
pub const PATIENT: &str = "patient";
/// APACHE IV/IVa results (predicted mortality, ventilation days).
pub const APACHE_RESULT: &str = "apachePatientResult";
/// APACHE predictor variables (elective surgery).
pub const APACHE_PRED: &str = "apachePredVar";
/// Nurse-charted vitals (the original source of heart rate and blood pressure).
pub const NURSE_CHARTING: &str = "nurseCharting";
/// Automatically recorded periodic vitals (fallback).
pub const VITAL_PERIODIC: &str = "vitalPeriodic";
/// Automatically recorded aperiodic vitals: non-invasive blood pressure (fallback).
pub const VITAL_APERIODIC: &str = "vitalAperiodic";
/// Laboratory results.
pub const LAB: &str = "lab";
/// Intake and output charting (urine output).
pub const INTAKE_OUTPUT: &str = "intakeOutput";

/// Where each eICU table lives: `DIR/<name>.csv.gz` or `DIR/<name>.csv` (name matched
/// case-insensitively), unless the user pointed a table at another file.
#[derive(Debug, Clone)]
pub struct SourceDir {
    dir: PathBuf,
    overrides: HashMap<String, PathBuf>,
}

impl SourceDir {
    /// A source directory with per-table file overrides (`lab` -> `lab_subset.csv.gz`).
    pub fn new(dir: &Path, overrides: HashMap<String, PathBuf>) -> Result<Self, CohortError> {
        if !dir.is_dir() {
            return Err(CohortError::Input(format!(
                "{}: not a folder; pass --eicu-dir the folder that holds patient.csv.gz and the other eICU tables",
                dir.display()
            )));
        }
        let overrides = overrides
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            overrides,
        })
    }

    /// The file of table `name`, if present.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        if let Some(path) = self.overrides.get(&name.to_ascii_lowercase()) {
            return Some(path.clone());
        }
        let wanted = [format!("{name}.csv.gz"), format!("{name}.csv")];
        let entries = std::fs::read_dir(&self.dir).ok()?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let file = p
                    .file_name()
                    .map(|f| f.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                wanted.iter().any(|w| w.to_ascii_lowercase() == file)
            })
            .collect();
        found.sort();
        found.into_iter().next()
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One data row of a source table, with fields looked up by the positions of wanted columns.
pub struct Row<'a> {
    record: &'a csv::ByteRecord,
    positions: &'a [usize],
    /// 1-based line in the file, for error messages.
    pub line: u64,
}

impl Row<'_> {
    /// Field `i` of the wanted columns as text ("" when not UTF-8).
    pub fn text(&self, i: usize) -> &str {
        std::str::from_utf8(&self.record[self.positions[i]])
            .unwrap_or("")
            .trim()
    }

    /// Field `i` as a number; `None` when empty or not a number.
    pub fn number(&self, i: usize) -> Option<f64> {
        ehrsynth_table::cell::parse_number(self.text(i))
    }

    /// Field `i` as an integer (whole numbers written as "12.0" are accepted).
    pub fn integer(&self, i: usize) -> Option<i64> {
        ehrsynth_table::cell::parse_integer(self.text(i), false)
    }
}

/// Streams `path`, calling `visit` with each row's `columns` (in the order given).
pub fn stream<F>(
    path: &Path,
    columns: &[&str],
    progress: &dyn Progress,
    mut visit: F,
) -> Result<u64, CohortError>
where
    F: FnMut(&Row<'_>) -> Result<(), CohortError>,
{
    let gzip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let mut reader = open_delimited(path, b',', gzip, progress)?;
    let header = read_header(&mut reader, path, gzip)?;
    let positions = locate_columns(&header, columns, path)?;
    let mut record = csv::ByteRecord::new();
    let mut line = 1;
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, gzip, line, e).into()),
        }
        line = record.position().map_or(line + 1, |p| p.line());
        rows += 1;
        visit(&Row {
            record: &record,
            positions: &positions,
            line,
        })?;
    }
    progress.finish(&format!("{rows} rows"));
    Ok(rows)
}
