//! The study journal: one SQLite file (`OUT/study.sqlite`) holding every finished cell with its
//! result and the hash of its settings, and the prepared data summary (feature ranking,
//! cross-hospital matrix). SQLite rather than a JSON-lines file because each cell is written in
//! one transaction: a study killed mid-write leaves the previous cells intact and no torn line,
//! and a rerun can look cells up by id. The LLM request journals sit per cell beside it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::StudyError;
use crate::results::{CellResult, CellStatus};

/// An open study journal.
pub struct StudyJournal {
    connection: Connection,
    path: PathBuf,
}

impl StudyJournal {
    /// Opens (or creates) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, StudyError> {
        let fail = |e: rusqlite::Error| StudyError::Journal {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let connection = Connection::open(path).map_err(fail)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS cells (
                     id TEXT PRIMARY KEY,
                     config_hash TEXT NOT NULL,
                     state TEXT NOT NULL,
                     result TEXT NOT NULL,
                     finished_at INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS prepared (
                     key TEXT PRIMARY KEY,
                     value TEXT NOT NULL
                 );",
            )
            .map_err(fail)?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> StudyError + '_ {
        move |e| StudyError::Journal {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The finished (done) result of cell `id`, if its settings hash is still `config_hash`.
    pub fn finished(&self, id: &str, config_hash: &str) -> Result<Option<CellResult>, StudyError> {
        let text: Option<String> = self
            .connection
            .query_row(
                "SELECT result FROM cells WHERE id = ?1 AND config_hash = ?2 AND state = 'done'",
                params![id, config_hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())?;
        // A result this version cannot read is recomputed rather than trusted.
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Records a cell's result (done or failed), replacing an earlier record.
    pub fn record(&self, result: &CellResult, config_hash: &str) -> Result<(), StudyError> {
        let state = match result.status {
            CellStatus::Done => "done",
            CellStatus::Failed { .. } => "failed",
        };
        let text = serde_json::to_string(result).map_err(|e| StudyError::Journal {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.connection
            .execute(
                "INSERT OR REPLACE INTO cells (id, config_hash, state, result, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![result.spec.id, config_hash, state, text, now],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// (id, state, finished_at in ms) of every recorded cell, oldest first.
    pub fn recorded(&self) -> Result<Vec<(String, String, i64)>, StudyError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, state, finished_at FROM cells ORDER BY finished_at, id")
            .map_err(self.fail())?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.fail())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.fail())
    }

    /// A prepared value stored under `key`.
    pub fn prepared(&self, key: &str) -> Result<Option<String>, StudyError> {
        self.connection
            .query_row(
                "SELECT value FROM prepared WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())
    }

    /// Stores a prepared value under `key`.
    pub fn store_prepared(&self, key: &str, value: &str) -> Result<(), StudyError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO prepared (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map_err(self.fail())?;
        Ok(())
    }
}
