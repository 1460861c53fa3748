//! LLM requests for ehrsynth:
//! - [`http`]: the blocking HTTP client (ureq with rustls), plain for local servers and TLS for
//!   the hosted APIs, with a custom CA bundle, an HTTPS proxy, a deadline per attempt and a cap
//!   on an answer's size;
//! - [`provider`]: the wire formats of OpenAI, Anthropic, Gemini and OpenAI-compatible servers
//!   (request bodies, answers, failures and whether they are worth retrying);
//! - [`structured`]: a table schema compiled into each provider's structured-output dialect;
//! - [`journal`]: a SQLite file per run in which every request is written before it is sent and
//!   every raw answer before it is parsed, so a killed run resumes without repeating finished
//!   requests, identical requests are answered from the journal, and an egress log shows what was
//!   sent to which provider;
//! - [`prices`]: token prices per model (built-in table, user overrides).
//!
//! The request loop (concurrency, rate limits, retries, backoff, circuit breaker, budgets) lives
//! in `ehrsynth_gen::llm::engine`.

pub mod http;
pub mod journal;
pub mod prices;
pub mod provider;
pub mod structured;

pub use journal::{Journal, JournalError, RequestRecord, ResponseRecord};
