//! [`LocalTransport`]: the in-process model behind the engine's [`Transport`] trait. It reads the
//! OpenAI-shaped chat request the engine builds for the `local` provider, decodes an answer under
//! the schema grammar (columns, fixed group value and precision from the request's grammar
//! field; rows per request from the run's settings, or fewer when the field says the run wants
//! fewer), and answers in OpenAI's shape (plus llama.cpp-style
//! `timings`), so that journal, egress log, cache, progress and parsing work unchanged.
//!
//! One request becomes several *sequences* of [`LocalTransport::rows_per_sequence`] rows each,
//! decoded together as one batch on the request's prompt (read once). Sequence `i` samples with
//! its own seed (the request's seed and `i`), so a request's rows do not depend on the batch size
//! or the thread count. The answer is the header once and then every sequence's rows, in order;
//! a sequence that fails is left out and said in the answer's `ehrsynth_rejected` field.

use std::sync::{Arc, Mutex};

use ehrsynth_llm::engine::{RawResponse, Transport, TransportError};
use ehrsynth_llm::provider::{HttpRequest, LOCAL_GRAMMAR_FIELD};
use ehrsynth_table::Schema;
use serde_json::{Value, json};

use crate::chat::Message;
use crate::constraint::GrammarCache;
use crate::runtime::{FinishReason, LocalModel, Sequence, TokenConstraint, Unconstrained};
use crate::sample::Sampler;

/// What the grammar of one request must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarRequest {
    /// Column names in order.
    pub columns: Vec<String>,
    /// (column, value) pairs every row holds.
    pub fixed: Vec<(String, String)>,
    /// (column, decimals) pairs: the precision numeric columns are written at.
    pub decimals: Vec<(String, u32)>,
    /// Data rows to write.
    pub rows: usize,
    /// CSV data lines the answer starts with (real example rows the model continues).
    pub answer_start: Option<String>,
}

/// Rows one sequence writes by default: one. A sequence that writes several rows drifts into
/// counting or copying its own earlier rows (first fields 232, 233, 234, ... seen with 4 rows per
/// sequence); one row per sequence keeps every row conditioned on the prompt alone, and costs no
/// more (the header joins the shared prompt). Measured on the reference cohort and the eICU demo
/// (docs/local-model.md).
pub const DEFAULT_ROWS_PER_SEQUENCE: usize = 1;

/// The model as a transport for the `local` provider.
pub struct LocalTransport {
    model: Arc<Mutex<LocalModel>>,
    schema: Schema,
    rows_per_request: usize,
    rows_per_sequence: usize,
    constrained: bool,
    grammars: GrammarCache,
}

/// The seed of sequence `index` of a request seeded `seed` (SplitMix64 of both).
fn sequence_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Adds one sequence's answer to the request's: unconstrained text as it is (a request then
/// has one sequence); a grammar answer's header once, then its complete data lines.
fn append_answer(answer: &mut String, sequence: &str, constrained: bool) {
    if !constrained {
        answer.push_str(sequence);
        return;
    }
    if answer.is_empty() {
        answer.push_str(sequence.lines().next().unwrap_or_default());
        answer.push('\n');
    }
    data_lines(sequence).for_each(|line| answer.push_str(line));
}

/// The data lines of one sequence's answer: its complete lines after the header.
fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
        .skip(1)
        .filter(|line| line.ends_with('\n'))
}

impl std::fmt::Debug for LocalTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTransport")
            .field("rows_per_request", &self.rows_per_request)
            .field("constrained", &self.constrained)
            .finish_non_exhaustive()
    }
}

/// A request the transport cannot serve (HTTP 400: the engine does not retry it).
fn bad_request(message: &str) -> RawResponse {
    answer_error(400, message)
}

fn answer_error(status: u16, message: &str) -> RawResponse {
    RawResponse {
        status,
        body: json!({ "error": { "message": message } }).to_string(),
        retry_after: None,
    }
}

impl LocalTransport {
    /// Serves requests for rows of `schema`, `rows_per_request` per request, with `model`;
    /// `constrained` turns the schema grammar on (off only to measure the raw model).
    pub fn new(
        model: LocalModel,
        schema: Schema,
        rows_per_request: usize,
        constrained: bool,
    ) -> Self {
        Self::shared(
            Arc::new(Mutex::new(model)),
            schema,
            rows_per_request,
            constrained,
        )
    }

    /// [`LocalTransport::new`] on a model loaded once and shared (a study's cells, one after
    /// the other, use the same weights).
    pub fn shared(
        model: Arc<Mutex<LocalModel>>,
        schema: Schema,
        rows_per_request: usize,
        constrained: bool,
    ) -> Self {
        Self {
            model,
            schema,
            rows_per_request: rows_per_request.max(1),
            rows_per_sequence: DEFAULT_ROWS_PER_SEQUENCE,
            constrained,
            grammars: GrammarCache::default(),
        }
    }

    /// Rows each sequence writes (at least 1).
    pub fn with_rows_per_sequence(mut self, rows: usize) -> Self {
        self.rows_per_sequence = rows.max(1);
        self
    }

    /// Rows each sequence writes.
    pub fn rows_per_sequence(&self) -> usize {
        self.rows_per_sequence
    }

    /// Row counts of a request's sequences: `rows_per_sequence` each, the rest in the last.
    fn sequence_rows(&self, rows: usize) -> Vec<usize> {
        let per = self.rows_per_sequence;
        (0..rows.div_ceil(per))
            .map(|i| per.min(rows - i * per))
            .collect()
    }

    /// The model's file name (as `local://NAME` addresses it).
    pub fn model_file_name(&self) -> String {
        let model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The grammar request in a body's grammar field (all schema columns when absent).
    fn grammar_request(&self, body: &Value) -> Result<GrammarRequest, String> {
        let field = &body[LOCAL_GRAMMAR_FIELD];
        let columns = match field["columns"].as_array() {
            Some(names) => names
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("the grammar's columns must be strings")?,
            None => self.schema.names().iter().map(|n| n.to_string()).collect(),
        };
        let fixed = match field["fixed"].as_array() {
            Some(pairs) => pairs
                .iter()
                .map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or("the grammar's fixed values must be [column, value] pairs")?,
            None => Vec::new(),
        };
        let decimals = match field["decimals"].as_array() {
            Some(pairs) => pairs
                .iter()
                .map(|p| {
                    Some((
                        p[0].as_str()?.to_string(),
                        u32::try_from(p[1].as_u64()?).ok()?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or("the grammar's decimals must be [column, count] pairs")?,
            None => Vec::new(),
        };
        let answer_start = match &field["answer_start"] {
            Value::Null => None,
            Value::String(rows) => Some(rows.clone()),
            _ => return Err("the grammar's answer_start must be text (CSV data lines)".into()),
        };
        let rows = match &field["rows_wanted"] {
            Value::Null => self.rows_per_request,
            wanted => wanted
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or("the grammar's rows_wanted must be a positive number")?
                .min(self.rows_per_request as u64) as usize,
        };
        Ok(GrammarRequest {
            columns,
            fixed,
            decimals,
            rows,
            answer_start,
        })
    }

    fn constraint(
        &self,
        model: &LocalModel,
        request: &GrammarRequest,
    ) -> Result<Box<dyn TokenConstraint>, String> {
        if !self.constrained {
            return Ok(Box::new(Unconstrained::new(model)));
        }
        let decoder = self.grammars.decoder(model, &self.schema, request)?;
        Ok(Box::new(decoder))
    }

    /// The header's tokens, as the prompt tokenizer writes it (none when unconstrained or when
    /// the grammar has no header).
    fn header_tokens(&self, model: &LocalModel, constraint: &dyn TokenConstraint) -> Vec<u32> {
        if !self.constrained {
            return Vec::new();
        }
        match constraint.header() {
            Some(header) if !header.is_empty() => model.encode(&header).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn serve(&self, body: &Value) -> RawResponse {
        let Some(items) = body["messages"].as_array() else {
            return bad_request("the request has no messages");
        };
        let mut messages = Vec::with_capacity(items.len());
        for item in items {
            match (item["role"].as_str(), item["content"].as_str()) {
                (Some(role), Some(content)) => messages.push(Message {
                    role: role.to_string(),
                    content: content.to_string(),
                }),
                _ => return bad_request("each message needs a role and a text content"),
            }
        }
        let mut grammar = match self.grammar_request(body) {
            Ok(g) => g,
            Err(e) => return bad_request(&e),
        };
        // The example rows belong to the shared prompt, not to each sequence's grammar.
        let answer_start = grammar.answer_start.take();
        let max_tokens = body["max_tokens"]
            .as_u64()
            .or_else(|| body["max_completion_tokens"].as_u64())
            .unwrap_or(2048) as usize;
        let temperature = body["temperature"].as_f64().unwrap_or(1.0);
        let top_p = body["top_p"].as_f64().unwrap_or(1.0);
        let seed = body["seed"].as_u64().unwrap_or(0);
        // A poisoned lock only means an earlier request panicked; the model itself is intact.
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let prompt = model.chat_prompt(&messages);
        let ids = match model.encode(&prompt) {
            Ok(ids) => ids,
            Err(e) => return bad_request(&e.to_string()),
        };
        let plan = if self.constrained {
            self.sequence_rows(grammar.rows)
        } else {
            vec![grammar.rows]
        };
        let mut sequences = Vec::with_capacity(plan.len());
        let mut header_ids: Option<Vec<u32>> = None;
        for (i, rows) in plan.iter().enumerate() {
            let request = GrammarRequest {
                rows: *rows,
                ..grammar.clone()
            };
            let mut constraint = match self.constraint(&model, &request) {
                Ok(c) => c,
                Err(e) => return bad_request(&format!("the schema grammar: {e}")),
            };
            // Every sequence starts with the same header: it joins the shared prompt (read
            // once) instead of being decoded by every sequence.
            if header_ids.is_none() {
                header_ids = Some(self.header_tokens(&model, constraint.as_ref()));
            }
            for &t in header_ids.as_deref().unwrap_or_default() {
                if let Err(e) = constraint.accept(t) {
                    return answer_error(500, &format!("the header does not fit the grammar: {e}"));
                }
            }
            sequences.push(Sequence {
                constraint,
                sampler: Sampler::new(temperature, top_p, sequence_seed(seed, i)),
            });
        }
        let mut ids = ids;
        ids.extend(header_ids.unwrap_or_default());
        let mut text_start = String::new();
        // Example rows that open the answer: the sequences continue them (they are part of
        // the shared prompt, not of any sequence's text).
        if let Some(rows) = &answer_start {
            if !self.constrained {
                text_start = format!("{}\n", grammar.columns.join(","));
                ids.extend(model.encode(&text_start).unwrap_or_default());
            }
            match model.encode(rows) {
                Ok(row_ids) => ids.extend(row_ids),
                Err(e) => return bad_request(&format!("the answer's example rows: {e}")),
            }
        }
        // The token limit bounds each sequence (each writes a few rows): a request of many
        // sequences is one prompt, not one long answer.
        let per_sequence = max_tokens.max(1);
        // The model is deterministic for a seed: a failed decode would fail again, so it is
        // answered as a rejected request (422), which the engine does not retry.
        let outcome = match model.generate_batch(&ids, sequences, per_sequence) {
            Ok(o) => o,
            Err(e) => return answer_error(422, &e.to_string()),
        };
        let mut text = text_start;
        let mut completion_tokens = 0;
        let mut finish = FinishReason::Stop;
        let mut rejected = Vec::new();
        let mut pressure = crate::runtime::GrammarPressure::default();
        for (i, result) in outcome.sequences.into_iter().enumerate() {
            match result {
                Ok(generation) => {
                    append_answer(&mut text, &generation.text, self.constrained);
                    completion_tokens += generation.completion_tokens;
                    pressure.add(&generation.pressure);
                    if generation.finish == FinishReason::Length {
                        finish = FinishReason::Length;
                    }
                }
                Err(e) => {
                    // Logged here: the engine sees only the rows that came back.
                    eprintln!("local model: sequence {i} of a request was dropped: {e}");
                    rejected.push(format!("sequence {i}: {e}"));
                }
            }
        }
        if text.is_empty() && !rejected.is_empty() {
            return answer_error(422, &rejected.join("; "));
        }
        let file_name = model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let finish = match finish {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        };
        let per_second = completion_tokens as f64 / outcome.decode_seconds.max(1e-9);
        let body = json!({
            "object": "chat.completion",
            "model": file_name,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "finish_reason": finish
            }],
            "usage": {
                "prompt_tokens": ids.len(),
                "completion_tokens": completion_tokens,
                "total_tokens": ids.len() + completion_tokens
            },
            "timings": {
                "prompt_n": outcome.prompt_tokens_read,
                "prompt_ms": outcome.prompt_seconds * 1e3,
                "predicted_ms": outcome.decode_seconds * 1e3,
                "predicted_per_second": per_second,
                "forward_ms": outcome.forward_seconds * 1e3,
                "steps": outcome.steps,
                "fed_tokens": outcome.fed_tokens,
                "sequences": plan.len(),
                "sampled_tokens": pressure.sampled,
                "grammar_refused_mass": pressure.mean_refused(),
                "grammar_refused_top": pressure.top_refused,
                "grammar_reconsidered": pressure.reconsidered
            },
            "ehrsynth_rejected": rejected
        });
        RawResponse {
            status: 200,
            body: body.to_string(),
            retry_after: None,
        }
    }
}

impl Transport for LocalTransport {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        Ok(self.serve(&request.body))
    }
}
