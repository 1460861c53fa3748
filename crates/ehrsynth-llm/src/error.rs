//! The error of preparing and running LLM requests, keeping its cause: a setting or prompt that
//! cannot work, the run's journal, or the HTTP client's setup. Failures of single requests (a
//! 429, a malformed answer) are not errors here: the engine retries them, rejects their rows
//! with a reason, or stops with a [`crate::engine::StopReason`].

use crate::JournalError;
use crate::http::HttpError;

/// What stopped an LLM run or its preparation.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A setting, prompt, schema or training table that cannot support the request; the message
    /// says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The run's journal (SQLite) could not be opened, read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The HTTP client could not be set up (a CA bundle or proxy setting).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A provider name that none of the providers has.
    #[error(transparent)]
    UnknownProvider(#[from] crate::provider::UnknownProvider),
    /// A provider that needs an API key found none in its environment variable.
    #[error("{provider} needs an API key in the environment variable {variable}")]
    MissingKey {
        /// The provider as the user named it.
        provider: String,
        /// The environment variable read.
        variable: String,
    },
    /// No transport can carry this provider's requests here (the in-process model could not
    /// be loaded, ...); the message says why.
    #[error("{0}")]
    Transport(String),
}
