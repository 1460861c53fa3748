//! The pieces of LLM generation that need no network: what the model is told about the data
//! ([`context`]: schema and k-suppressed aggregate statistics, real rows only on explicit
//! opt-in), the four strategies' prompts ([`prompt`]), and turning answers into validated rows
//! ([`parse`]), and schema-constrained decoding for in-process models ([`grammar`]); the cell
//! rules both must agree on live once, in `cell_text`. The request
//! engine ([`engine`], with per-provider [`limits`]) and the strategies as a generator
//! ([`generator`]) build on these and on the providers and journal of `ehrsynth-llm`.

mod cell_text;
pub mod context;
pub mod engine;
pub mod generator;
pub mod grammar;
pub mod limits;
pub mod parse;
pub mod prompt;
