//! The request journal: one SQLite file per run (or shared by a study).
//!
//! Order of writes, which is what makes resuming safe:
//! 1. [`Journal::begin`] records the request (and an egress entry: provider, endpoint, bytes,
//!    whether real rows were included) **before** it is sent;
//! 2. [`Journal::answer`] records the raw answer **before** it is parsed (or [`Journal::fail`]
//!    the error);
//! 3. parsing is deterministic, so a resumed run re-parses recorded answers instead of asking again.
//!
//! A request's `slot` is its position in the run (0, 1, 2, ...); a resumed run asks only for the
//! slots without an answer. Its `key` is the full request (provider, model, parameters, seed,
//! prompt): an identical key already answered — in any run of this journal — is served from the
//! journal unless the caller disables the cache.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

/// What can go wrong with the journal file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused an operation.
    #[error("request journal {path}: {source}")]
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

/// A request about to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// The run it belongs to (a study cell, a `generate` call).
    pub run: String,
    /// Position in the run.
    pub slot: u64,
    /// Provider name ("openai", "anthropic", ...).
    pub provider: String,
    /// Endpoint the body goes to (URL without credentials).
    pub endpoint: String,
    /// Model name.
    pub model: String,
    /// Request parameters as canonical JSON (temperature, max tokens, seed, ...).
    pub parameters: String,
    /// Seed sent with the request (also part of the key when the provider ignores it).
    pub seed: u64,
    /// The prompt text.
    pub prompt: String,
    /// Whether the prompt contains real training rows (only with an explicit opt-in).
    pub contains_real_rows: bool,
}

impl RequestRecord {
    /// The identity of the request for caching: everything that changes the answer.
    pub fn key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.provider, self.model, self.parameters, self.seed, self.prompt
        )
    }
}

/// A raw answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseRecord {
    /// The answer text exactly as received.
    pub raw: String,
    /// HTTP status (0 for in-process models).
    pub status: u16,
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Completion tokens billed.
    pub output_tokens: u64,
    /// Cost in US dollars by the price table.
    pub cost_usd: f64,
}

/// One line of the egress log.
#[derive(Debug, Clone, PartialEq)]
pub struct EgressEntry {
    /// Run.
    pub run: String,
    /// Provider.
    pub provider: String,
    /// Endpoint.
    pub endpoint: String,
    /// Bytes of prompt text sent.
    pub bytes: u64,
    /// Whether real rows were included.
    pub contains_real_rows: bool,
}

/// Totals of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunTotals {
    /// Requests recorded.
    pub requests: u64,
    /// Requests with an answer.
    pub answered: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// An open journal.
pub struct Journal {
    connection: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    run TEXT NOT NULL,
    slot INTEGER NOT NULL,
    key TEXT NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    parameters TEXT NOT NULL,
    seed INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    contains_real_rows INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'sent',
    error TEXT,
    raw TEXT,
    status INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    sent_at TEXT NOT NULL DEFAULT (datetime('now')),
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_key ON requests (key, state);
CREATE INDEX IF NOT EXISTS requests_by_run ON requests (run, slot);
CREATE TABLE IF NOT EXISTS egress (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    run TEXT NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    contains_real_rows INTEGER NOT NULL,
    sent_at TEXT NOT NULL DEFAULT (datetime('now'))
);
";

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let fail = |source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let connection = Connection::open(path).map_err(fail)?;
        connection.execute_batch(SCHEMA).map_err(fail)?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        move |source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a request (and its egress entry) before it is sent; returns its id.
    pub fn begin(&self, request: &RequestRecord) -> Result<i64, JournalError> {
        let tx = self
            .connection
            .unchecked_transaction()
            .map_err(self.fail())?;
        tx.execute(
            "INSERT INTO requests (run, slot, key, provider, endpoint, model, parameters, seed, prompt, contains_real_rows)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                request.run,
                request.slot as i64,
                request.key(),
                request.provider,
                request.endpoint,
                request.model,
                request.parameters,
                request.seed as i64,
                request.prompt,
                request.contains_real_rows
            ],
        )
        .map_err(self.fail())?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO egress (request_id, run, provider, endpoint, bytes, contains_real_rows) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, request.run, request.provider, request.endpoint, request.prompt.len() as i64, request.contains_real_rows],
        )
        .map_err(self.fail())?;
        tx.commit().map_err(self.fail())?;
        Ok(id)
    }

    /// Records the raw answer of request `id` (before it is parsed).
    pub fn answer(&self, id: i64, response: &ResponseRecord) -> Result<(), JournalError> {
        self.connection
            .execute(
                "UPDATE requests SET state = 'answered', raw = ?2, status = ?3, input_tokens = ?4, output_tokens = ?5,
                 cost_usd = ?6, answered_at = datetime('now') WHERE id = ?1",
                params![id, response.raw, response.status, response.input_tokens as i64, response.output_tokens as i64, response.cost_usd],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Records that request `id` failed (it will be asked again on resume).
    pub fn fail_request(&self, id: i64, error: &str) -> Result<(), JournalError> {
        self.connection
            .execute("UPDATE requests SET state = 'failed', error = ?2, answered_at = datetime('now') WHERE id = ?1", params![id, error])
            .map_err(self.fail())?;
        Ok(())
    }

    /// A recorded answer to an identical request, if any (the cache).
    pub fn cached(&self, request: &RequestRecord) -> Result<Option<ResponseRecord>, JournalError> {
        self.connection
            .query_row(
                "SELECT raw, status, input_tokens, output_tokens, cost_usd FROM requests
                 WHERE key = ?1 AND state = 'answered' ORDER BY id LIMIT 1",
                params![request.key()],
                |r| {
                    Ok(ResponseRecord {
                        raw: r.get(0)?,
                        status: r.get::<_, Option<u16>>(1)?.unwrap_or(0),
                        input_tokens: r.get::<_, i64>(2)? as u64,
                        output_tokens: r.get::<_, i64>(3)? as u64,
                        cost_usd: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.fail())
    }

    /// The answered slots of `run` with their raw answers, in slot order (for resuming).
    pub fn answered(&self, run: &str) -> Result<Vec<(u64, String)>, JournalError> {
        let mut statement = self
            .connection
            .prepare("SELECT slot, raw FROM requests WHERE run = ?1 AND state = 'answered' GROUP BY slot ORDER BY slot")
            .map_err(self.fail())?;
        let rows = statement
            .query_map(params![run], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(self.fail())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.fail())
    }

    /// The egress log of `run` (every request sent, in order).
    pub fn egress(&self, run: &str) -> Result<Vec<EgressEntry>, JournalError> {
        let mut statement = self
            .connection
            .prepare("SELECT run, provider, endpoint, bytes, contains_real_rows FROM egress WHERE run = ?1 ORDER BY id")
            .map_err(self.fail())?;
        let rows = statement
            .query_map(params![run], |r| {
                Ok(EgressEntry {
                    run: r.get(0)?,
                    provider: r.get(1)?,
                    endpoint: r.get(2)?,
                    bytes: r.get::<_, i64>(3)? as u64,
                    contains_real_rows: r.get(4)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.fail())
    }

    /// Request counts, tokens and cost of `run`.
    pub fn totals(&self, run: &str) -> Result<RunTotals, JournalError> {
        self.connection
            .query_row(
                "SELECT COUNT(*), SUM(state = 'answered'), SUM(state = 'failed'), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)
                 FROM requests WHERE run = ?1",
                params![run],
                |r| {
                    Ok(RunTotals {
                        requests: r.get::<_, i64>(0)? as u64,
                        answered: r.get::<_, Option<i64>>(1)?.unwrap_or(0) as u64,
                        failed: r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                        input_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                        output_tokens: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                        cost_usd: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
                    })
                },
            )
            .map_err(self.fail())
    }
}
