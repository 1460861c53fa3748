//! LLM requests for ehrsynth, end to end: what a prompt may say about the data, the four
//! strategies' prompts, the request loop, the wire formats, the journal, and turning answers
//! (or constrained decoding) into validated rows.
//!
//! - [`context`]: what the model is told about the data (schema, k-suppressed aggregate
//!   statistics; real rows only on explicit opt-in);
//! - [`prompt`]: the four strategies' prompts (naive, schema-constrained, conditional, group);
//! - [`engine`]: the request loop of one run (concurrency, rate limits, retries, backoff,
//!   circuit breaker, budgets), over a [`engine::Transport`] (HTTP or in-process), with
//!   per-provider [`limits`];
//! - [`http`]: the blocking HTTP client (ureq with rustls), plain for local servers and TLS for
//!   the hosted APIs, with a custom CA bundle, an HTTPS proxy, a deadline per attempt and a cap
//!   on an answer's size;
//! - [`provider`]: the wire formats of OpenAI, Anthropic, Gemini and OpenAI-compatible servers
//!   (request bodies, answers, failures and whether they are worth retrying);
//! - [`structured`]: a table schema compiled into each provider's structured-output dialect;
//! - [`grammar`]: schema-constrained decoding for in-process models (which bytes may follow);
//! - [`parse`]: answers (CSV or JSON) into validated rows, each rejection with its reason; the
//!   cell rules the parser and the grammar must agree on live once, in `cell_text`;
//! - [`journal`]: a SQLite file per run in which every request is written before it is sent and
//!   every raw answer before it is parsed, so a killed run resumes without repeating finished
//!   requests, identical requests are answered from the journal, and an egress log shows what was
//!   sent to which provider;
//! - [`prices`]: token prices per model (built-in table, user overrides);
//! - [`LlmError`]: what stops a run or its preparation.
//!
//! Not here: the strategies as a `Generator` (`ehrsynth_gen::strategies`), the in-process model
//! (`ehrsynth-local`), study grids and reports (`ehrsynth-study`).

mod cell_text;
pub mod context;
pub mod engine;
pub mod error;
pub mod grammar;
pub mod http;
pub mod journal;
pub mod limits;
pub mod parse;
pub mod prices;
pub mod prompt;
pub mod provider;
pub mod structured;

pub use error::LlmError;
pub use journal::{Journal, JournalError, RequestRecord, ResponseRecord};
