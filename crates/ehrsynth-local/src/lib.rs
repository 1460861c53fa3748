//! ehrsynth-local: an instruction-tuned GGUF model run in-process on the CPU (candle's quantized
//! llama), so that the LLM strategies work offline and no patient data leaves the machine.
//!
//! - [`gguf`]: reading a GGUF file: metadata, the tokenizer's token bytes, the chat template;
//!   re-quantising tensor types that candle has no fast CPU kernel for (Q4_1 → Q8_0).
//! - [`tokenizer`]: prompt tokenization exactly as llama.cpp does it, from the GGUF's vocabulary
//!   and merges.
//! - [`chat`]: rendering chat messages with the model's (ChatML-family) template.
//! - [`sample`]: seeded temperature / top-p sampling over masked logits.
//! - [`kernels`]: 8-bit weight blocks and the batched matrix product (AVX2, portable fallback).
//! - [`transformer`]: the llama-family forward pass over chunks of many sequences, with key/value
//!   caches that share a prompt's prefix.
//! - [`runtime`]: [`LocalModel`], the batched decoding loop: many sequences continue one prompt,
//!   each under its own [`TokenConstraint`] (the schema grammar of `ehrsynth-llm`) and sampler.
//! - [`transport`]: [`LocalTransport`], the model behind the engine's `Transport` trait: it
//!   answers OpenAI-shaped chat requests, so journal, egress log and parsing work unchanged.
//! - [`cache`]: the model cache folder, `model pull` (checksummed) and the default model.
//!
//! Not here: the grammar itself (`ehrsynth_llm::grammar`), prompts, the request loop.

pub mod cache;
pub mod chat;
mod constraint;
pub mod gguf;
mod gguf_check;
pub mod kernels;
pub mod runtime;
pub mod sample;
pub mod tokenizer;
pub mod transformer;
pub mod transport;

pub use cache::{ModelCache, ensure_default_model};
pub use runtime::{
    BatchOutcome, Generation, GrammarPressure, LocalModel, Sequence, TokenConstraint, Unconstrained,
};
pub use transport::LocalTransport;

/// What can go wrong with a local model.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The model file could not be read or is not a usable GGUF.
    #[error("model file {path}: {message}")]
    Model {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The tokenizer or chat template in the GGUF is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// Running the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The constrained decoder refused a token or could not continue.
    #[error("constrained decoding failed: {0}")]
    Constraint(String),
    /// The model cache or a download failed.
    #[error("{0}")]
    Cache(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl LocalError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<candle_core::Error> for LocalError {
    fn from(e: candle_core::Error) -> Self {
        Self::Inference(e.to_string())
    }
}
