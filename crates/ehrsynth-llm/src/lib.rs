//! LLM requests for ehrsynth. So far: the [`journal`], a SQLite file per run in which every
//! request is written before it is sent and every raw answer before it is parsed, so a killed
//! run resumes without repeating finished requests, identical requests are answered from the
//! journal, and an egress log shows what was sent to which provider.
//!
//! Planned here (issue 5): provider clients (OpenAI, Anthropic, Gemini, OpenAI-compatible),
//! structured-output dialects, rate limits, retries and the circuit breaker.

pub mod journal;

pub use journal::{Journal, JournalError, RequestRecord, ResponseRecord};
