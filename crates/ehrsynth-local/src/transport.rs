//! [`LocalTransport`]: the in-process model behind the engine's [`Transport`] trait. It reads the
//! OpenAI-shaped chat request the engine builds for the `local` provider, decodes an answer under
//! the schema grammar (columns and fixed group value from the request's grammar field, rows per
//! request from the run's settings), and answers in OpenAI's shape (plus llama.cpp-style
//! `timings`), so that journal, egress log, cache, progress and parsing work unchanged.

use std::sync::Mutex;

use ehrsynth_gen::llm::engine::{RawResponse, Transport, TransportError};
use ehrsynth_llm::provider::{HttpRequest, LOCAL_GRAMMAR_FIELD};
use ehrsynth_table::Schema;
use serde_json::{Value, json};

use crate::chat::Message;
use crate::constraint::GrammarCache;
use crate::runtime::{FinishReason, LocalModel, TokenConstraint, Unconstrained};
use crate::sample::Sampler;

/// What the grammar of one request must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarRequest {
    /// Column names in order.
    pub columns: Vec<String>,
    /// (column, value) pairs every row holds.
    pub fixed: Vec<(String, String)>,
    /// Data rows to write.
    pub rows: usize,
}

/// The model as a transport for the `local` provider.
pub struct LocalTransport {
    model: Mutex<LocalModel>,
    schema: Schema,
    rows_per_request: usize,
    constrained: bool,
    grammars: GrammarCache,
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
        Self {
            model: Mutex::new(model),
            schema,
            rows_per_request: rows_per_request.max(1),
            constrained,
            grammars: GrammarCache::default(),
        }
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
        Ok(GrammarRequest {
            columns,
            fixed,
            rows: self.rows_per_request,
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
        let grammar = match self.grammar_request(body) {
            Ok(g) => g,
            Err(e) => return bad_request(&e),
        };
        let max_tokens = body["max_tokens"]
            .as_u64()
            .or_else(|| body["max_completion_tokens"].as_u64())
            .unwrap_or(2048) as usize;
        let mut sampler = Sampler::new(
            body["temperature"].as_f64().unwrap_or(1.0),
            body["top_p"].as_f64().unwrap_or(1.0),
            body["seed"].as_u64().unwrap_or(0),
        );
        // A poisoned lock only means an earlier request panicked; the model itself is intact.
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let prompt = model.chat_prompt(&messages);
        let ids = match model.encode(&prompt) {
            Ok(ids) => ids,
            Err(e) => return bad_request(&e.to_string()),
        };
        let mut constraint = match self.constraint(&model, &grammar) {
            Ok(c) => c,
            Err(e) => return bad_request(&format!("the schema grammar: {e}")),
        };
        // The model is deterministic for a seed: a failed decode would fail again, so it is
        // answered as a rejected request (422), which the engine does not retry.
        let generation = match model.generate(&ids, constraint.as_mut(), &mut sampler, max_tokens) {
            Ok(g) => g,
            Err(e) => return answer_error(422, &e.to_string()),
        };
        let file_name = model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let finish = match generation.finish {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        };
        let per_second = generation.completion_tokens as f64 / generation.decode_seconds.max(1e-9);
        let body = json!({
            "object": "chat.completion",
            "model": file_name,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": generation.text },
                "finish_reason": finish
            }],
            "usage": {
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "total_tokens": generation.prompt_tokens + generation.completion_tokens
            },
            "timings": {
                "prompt_ms": generation.prompt_seconds * 1e3,
                "predicted_ms": generation.decode_seconds * 1e3,
                "predicted_per_second": per_second
            }
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
