//! The wire formats of the providers, as thin serde_json builders and readers of our own:
//! OpenAI Chat Completions, Anthropic Messages, Gemini generateContent, and any
//! OpenAI-compatible server (vLLM, llama.cpp's llama-server, Ollama, LM Studio, Azure OpenAI).
//!
//! [`build_request`] makes the URL, headers and JSON body of one request; [`read_response`]
//! turns a status and body into the answer text, token counts and why generation stopped, or a
//! [`ProviderError`] that says whether retrying can help. The API key is passed in by the caller
//! (read from the environment) and only ever placed in a header, never in a URL, log or journal.

use serde_json::{Value, json};

use crate::structured::{Dialect, limit_rows, rows_schema};

/// Which wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// api.openai.com Chat Completions.
    OpenAi,
    /// api.anthropic.com Messages.
    Anthropic,
    /// generativelanguage.googleapis.com generateContent.
    Gemini,
    /// Any server speaking OpenAI's Chat Completions at a base URL.
    OpenAiCompatible,
    /// A GGUF model run in-process (crate ehrsynth-local), addressed as `local://<file name>`:
    /// OpenAI's request and answer shapes, no key, no cost, nothing leaves the machine.
    Local,
}

/// What ehrsynth knows about one provider, written once: the CLI, the study config, the request
/// limits, the key check and the billing questions all read [`PROVIDERS`].
#[derive(Debug, Clone, Copy)]
pub struct ProviderInfo {
    /// Its wire format.
    pub kind: ProviderKind,
    /// The name users type (`--provider`, a study's `providers`).
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// The environment variable holding its API key by default ("" when it takes none).
    pub key_variable: &'static str,
    /// Whether a request needs an API key.
    pub needs_key: bool,
    /// The default base URL.
    pub base_url: &'static str,
    /// Whether it bills money per token (a study asks before using it; prices must be known).
    pub billed: bool,
    /// Whether requests stay in this process (no network at all).
    pub in_process: bool,
    /// Default requests in flight, requests per minute and tokens per minute: below the first
    /// paid tier of each hosted API for its most restricted common model (higher tiers raise
    /// them with `--rpm`/`--tpm`); one request at a time and no rate limit for a server beside
    /// the data or the in-process model (which uses every core for one request).
    pub limits: (usize, Option<u32>, Option<u64>),
}

/// Every provider, in the order they are listed to users.
pub const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        kind: ProviderKind::Local,
        name: "local",
        aliases: &[],
        key_variable: "",
        needs_key: false,
        base_url: "local://",
        billed: false,
        in_process: true,
        limits: (1, None, None),
    },
    ProviderInfo {
        kind: ProviderKind::OpenAi,
        name: "openai",
        aliases: &[],
        key_variable: "OPENAI_API_KEY",
        needs_key: true,
        base_url: "https://api.openai.com",
        billed: true,
        in_process: false,
        limits: (4, Some(100), Some(30_000)),
    },
    ProviderInfo {
        kind: ProviderKind::Anthropic,
        name: "anthropic",
        aliases: &[],
        key_variable: "ANTHROPIC_API_KEY",
        needs_key: true,
        base_url: "https://api.anthropic.com",
        billed: true,
        in_process: false,
        limits: (4, Some(50), Some(30_000)),
    },
    ProviderInfo {
        kind: ProviderKind::Gemini,
        name: "gemini",
        aliases: &[],
        key_variable: "GEMINI_API_KEY",
        needs_key: true,
        base_url: "https://generativelanguage.googleapis.com",
        billed: true,
        in_process: false,
        limits: (4, Some(100), Some(1_000_000)),
    },
    ProviderInfo {
        kind: ProviderKind::OpenAiCompatible,
        name: "openai-compatible",
        aliases: &["vllm", "llama.cpp", "ollama"],
        key_variable: "OPENAI_COMPATIBLE_API_KEY",
        needs_key: false,
        base_url: "http://127.0.0.1:8080",
        billed: false,
        in_process: false,
        limits: (1, None, None),
    },
];

/// The provider names as a user reads them in an error: "local, openai, ... or openai-compatible".
pub fn provider_names() -> String {
    let names: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A provider name that is none of [`PROVIDERS`]; the message lists the valid names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider '{name}': use {}", provider_names())]
pub struct UnknownProvider {
    /// The name given.
    pub name: String,
}

/// The error for a provider name that is none of [`PROVIDERS`].
pub fn unknown_provider(name: &str) -> UnknownProvider {
    UnknownProvider {
        name: name.to_string(),
    }
}

impl ProviderKind {
    /// Parses a provider's name or alias (any case), e.g. `openai`, `vllm`, `local`.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        PROVIDERS
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name.as_str()))
            .map(|p| p.kind)
    }

    /// Its entry in [`PROVIDERS`].
    pub fn info(self) -> &'static ProviderInfo {
        PROVIDERS
            .iter()
            .find(|p| p.kind == self)
            .expect("every ProviderKind has an entry in PROVIDERS")
    }

    /// The environment variable holding the API key by default.
    pub fn default_key_variable(self) -> &'static str {
        self.info().key_variable
    }

    /// The default base URL.
    pub fn default_base_url(self) -> &'static str {
        self.info().base_url
    }

    /// Whether requests stay on this machine (no network at all).
    pub fn is_in_process(self) -> bool {
        self.info().in_process
    }

    /// Whether it bills money per token.
    pub fn is_billed(self) -> bool {
        self.info().billed
    }

    /// Whether a request needs an API key.
    pub fn needs_key(self) -> bool {
        self.info().needs_key
    }
}

/// The body field that tells the in-process provider what its grammar must produce: `columns`
/// (names in order), `fixed` (`[column, value]` pairs every row holds), `decimals`
/// (`[column, decimals]` pairs: the precision each numeric column is written at) and, when the
/// answer is to continue example rows, `answer_start` (CSV data lines after the header), and
/// `rows_wanted` (the rows the run still needs).
/// Remote providers never see it.
pub const LOCAL_GRAMMAR_FIELD: &str = "ehrsynth_grammar";

/// What the in-process provider's grammar must produce, and how its answer starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalGrammar<'a> {
    /// Column names in writing order.
    pub columns: &'a [&'a str],
    /// (column, value) every row holds (the group strategy's group).
    pub fixed: Option<(&'a str, &'a str)>,
    /// (column, decimals) the numeric columns are written at.
    pub decimals: &'a [(String, u32)],
    /// CSV data lines the answer starts with (after the header).
    pub answer_start: Option<&'a str>,
    /// Rows still wanted: the provider writes no more than these (at most its rows per
    /// request), so the last request of a run does not decode rows that would be dropped.
    pub rows_wanted: Option<usize>,
}

/// Adds the [`LOCAL_GRAMMAR_FIELD`] to a `Local` request body (others are left unchanged).
pub fn add_local_grammar(kind: ProviderKind, body: &mut Value, grammar: &LocalGrammar<'_>) {
    if kind == ProviderKind::Local {
        let fixed: Vec<Value> = grammar.fixed.iter().map(|(c, v)| json!([c, v])).collect();
        let decimals: Vec<Value> = grammar
            .decimals
            .iter()
            .map(|(c, d)| json!([c, d]))
            .collect();
        let mut field = json!({ "columns": grammar.columns, "fixed": fixed, "decimals": decimals });
        if let Some(rows) = grammar.answer_start {
            field["answer_start"] = json!(rows);
        }
        if let Some(rows) = grammar.rows_wanted {
            field["rows_wanted"] = json!(rows);
        }
        body[LOCAL_GRAMMAR_FIELD] = field;
    }
}

/// Generation parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parameters {
    /// Model name.
    pub model: String,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Output token limit.
    pub max_output_tokens: u32,
    /// Seed, where the provider supports one.
    pub seed: Option<u64>,
    /// Reasoning effort for reasoning models ("low", "medium", "high"), OpenAI only.
    pub reasoning_effort: Option<String>,
    /// Most rows one answer should hold: with structured output on an OpenAI-compatible server
    /// the rows array gets this `maxItems`, so a grammar-constrained model (llama.cpp, vLLM)
    /// stops after that many rows instead of writing rows until the token limit cuts it off.
    pub max_rows: Option<usize>,
}

/// One request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Full URL (no credentials in it).
    pub url: String,
    /// Headers, the API key among them.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
}

/// Builds the request for `prompt`; with `structured` set, asks for rows of that schema in the
/// provider's structured-output dialect.
pub fn build_request(
    kind: ProviderKind,
    base_url: &str,
    api_key: Option<&str>,
    parameters: &Parameters,
    prompt: &str,
    structured: Option<&ehrsynth_table::Schema>,
) -> HttpRequest {
    let base = base_url.trim_end_matches('/');
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Local => {
            if let Some(key) = api_key {
                headers.push(("authorization".into(), format!("Bearer {key}")));
            }
            let mut body = json!({ "model": parameters.model, "messages": [{ "role": "user", "content": prompt }] });
            // OpenAI renamed max_tokens; compatible servers still read the old name.
            let limit_name = if kind == ProviderKind::OpenAi {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body[limit_name] = json!(parameters.max_output_tokens);
            set_optional(
                &mut body,
                "temperature",
                parameters.temperature.map(Value::from),
            );
            set_optional(&mut body, "top_p", parameters.top_p.map(Value::from));
            set_optional(&mut body, "seed", parameters.seed.map(Value::from));
            if kind == ProviderKind::OpenAi {
                set_optional(
                    &mut body,
                    "reasoning_effort",
                    parameters.reasoning_effort.clone().map(Value::from),
                );
            }
            if let Some(schema) = structured {
                let json_schema = if kind == ProviderKind::OpenAi {
                    rows_schema(schema, Dialect::OpenAiStrict)
                } else {
                    let mut plain = rows_schema(schema, Dialect::JsonSchema);
                    if let Some(n) = parameters.max_rows {
                        limit_rows(&mut plain, n);
                    }
                    plain
                };
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": { "name": "rows", "strict": true, "schema": json_schema }
                });
            }
            let url = if kind == ProviderKind::Local {
                base.to_string()
            } else {
                format!("{base}/v1/chat/completions")
            };
            HttpRequest { url, headers, body }
        }
        ProviderKind::Anthropic => {
            if let Some(key) = api_key {
                headers.push(("x-api-key".into(), key.to_string()));
            }
            headers.push(("anthropic-version".into(), "2023-06-01".into()));
            let mut body = json!({
                "model": parameters.model,
                "max_tokens": parameters.max_output_tokens,
                "messages": [{ "role": "user", "content": prompt }]
            });
            set_optional(
                &mut body,
                "temperature",
                parameters.temperature.map(Value::from),
            );
            set_optional(&mut body, "top_p", parameters.top_p.map(Value::from));
            if let Some(schema) = structured {
                // Structured output through a forced tool call whose input is the rows.
                body["tools"] = json!([{ "name": "emit_rows", "description": "Return the generated rows.",
                                         "input_schema": rows_schema(schema, Dialect::JsonSchema) }]);
                body["tool_choice"] = json!({ "type": "tool", "name": "emit_rows" });
            }
            HttpRequest {
                url: format!("{base}/v1/messages"),
                headers,
                body,
            }
        }
        ProviderKind::Gemini => {
            if let Some(key) = api_key {
                headers.push(("x-goog-api-key".into(), key.to_string()));
            }
            let mut config = json!({ "maxOutputTokens": parameters.max_output_tokens });
            set_optional(
                &mut config,
                "temperature",
                parameters.temperature.map(Value::from),
            );
            set_optional(&mut config, "topP", parameters.top_p.map(Value::from));
            set_optional(&mut config, "seed", parameters.seed.map(Value::from));
            if let Some(schema) = structured {
                config["responseMimeType"] = json!("application/json");
                config["responseSchema"] = rows_schema(schema, Dialect::GeminiOpenApi);
            }
            let body = json!({ "contents": [{ "role": "user", "parts": [{ "text": prompt }] }], "generationConfig": config });
            HttpRequest {
                url: format!("{base}/v1beta/models/{}:generateContent", parameters.model),
                headers,
                body,
            }
        }
    }
}

fn set_optional(body: &mut Value, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body[key] = v;
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// It finished the answer.
    Complete,
    /// It hit the output token limit (the last row is probably cut off).
    Length,
    /// It refused or a safety filter stopped it.
    Refused,
    /// Anything else the provider reported.
    Other,
}

/// A readable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The answer text (for structured output: the JSON).
    pub text: String,
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Completion tokens billed.
    pub output_tokens: u64,
    /// Why it stopped.
    pub finish: Finish,
}

/// A failed request, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429: slow down; `retry_after` seconds when the server said.
    #[error("rate limited (HTTP 429){}", .retry_after.map(|s| format!(", retry after {s} s")).unwrap_or_default())]
    RateLimited {
        /// Seconds from the Retry-After header.
        retry_after: Option<u64>,
    },
    /// 5xx and other transient failures: retry with backoff.
    #[error("the provider failed (HTTP {status}): {message}")]
    Transient {
        /// HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// 4xx other than 429: retrying the same request will not help.
    #[error("the provider rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// A 200 whose body is not the documented shape.
    #[error("the answer is not in the provider's documented format: {0}")]
    Malformed(String),
}

impl ProviderError {
    /// Whether sending the same request again can succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Transient { .. } | Self::Malformed(_)
        )
    }
}

fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    if message.is_empty() {
        "(no message)".into()
    } else {
        message
    }
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Reads a response with HTTP `status`, body text and the Retry-After header (seconds), if any.
pub fn read_response(
    kind: ProviderKind,
    status: u16,
    body: &str,
    retry_after: Option<u64>,
) -> Result<ChatResponse, ProviderError> {
    match status {
        200..=299 => {}
        429 => return Err(ProviderError::RateLimited { retry_after }),
        408 | 409 | 500..=599 => {
            return Err(ProviderError::Transient {
                status,
                message: error_message(body),
            });
        }
        _ => {
            return Err(ProviderError::Rejected {
                status,
                message: error_message(body),
            });
        }
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| ProviderError::Malformed(format!("not JSON ({e})")))?;
    let missing = |what: &str| ProviderError::Malformed(format!("no {what} in the answer"));
    match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Local => {
            let choice = v["choices"].get(0).ok_or_else(|| missing("choices[0]"))?;
            let message = &choice["message"];
            let refusal = message["refusal"].as_str().filter(|r| !r.is_empty());
            let finish = match (refusal, choice["finish_reason"].as_str()) {
                (Some(_), _) | (_, Some("content_filter")) => Finish::Refused,
                (_, Some("length")) => Finish::Length,
                (_, Some("stop")) => Finish::Complete,
                _ => Finish::Other,
            };
            let text = message["content"]
                .as_str()
                .or(refusal)
                .unwrap_or_default()
                .to_string();
            Ok(ChatResponse {
                text,
                input_tokens: count(&v["usage"]["prompt_tokens"]),
                output_tokens: count(&v["usage"]["completion_tokens"]),
                finish,
            })
        }
        ProviderKind::Anthropic => {
            let blocks = v["content"].as_array().ok_or_else(|| missing("content"))?;
            let mut text = String::new();
            for block in blocks {
                match block["type"].as_str() {
                    Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
                    Some("tool_use") => text.push_str(&block["input"].to_string()),
                    _ => {}
                }
            }
            let finish = match v["stop_reason"].as_str() {
                Some("end_turn") | Some("tool_use") | Some("stop_sequence") => Finish::Complete,
                Some("max_tokens") => Finish::Length,
                Some("refusal") => Finish::Refused,
                _ => Finish::Other,
            };
            Ok(ChatResponse {
                text,
                input_tokens: count(&v["usage"]["input_tokens"]),
                output_tokens: count(&v["usage"]["output_tokens"]),
                finish,
            })
        }
        ProviderKind::Gemini => {
            let usage = &v["usageMetadata"];
            if let Some(reason) = v["promptFeedback"]["blockReason"].as_str() {
                // A blocked prompt is still billed for its prompt tokens.
                return Ok(ChatResponse {
                    text: format!("blocked: {reason}"),
                    input_tokens: count(&usage["promptTokenCount"]),
                    output_tokens: 0,
                    finish: Finish::Refused,
                });
            }
            let candidate = v["candidates"]
                .get(0)
                .ok_or_else(|| missing("candidates[0]"))?;
            // Thought summaries (parts marked "thought": true) are the model's reasoning, not
            // its answer.
            let text: String = candidate["content"]["parts"]
                .as_array()
                .map(|parts| {
                    parts
                        .iter()
                        .filter(|p| p["thought"].as_bool() != Some(true))
                        .filter_map(|p| p["text"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let finish = match candidate["finishReason"].as_str() {
                Some("STOP") => Finish::Complete,
                Some("MAX_TOKENS") => Finish::Length,
                Some("SAFETY")
                | Some("RECITATION")
                | Some("PROHIBITED_CONTENT")
                | Some("BLOCKLIST")
                | Some("SPII")
                | Some("LANGUAGE") => Finish::Refused,
                _ => Finish::Other,
            };
            // Thinking models bill their thought tokens as output: counted, or cost, --max-cost,
            // --max-tokens and the token-per-minute limit run about half what is spent.
            Ok(ChatResponse {
                text,
                input_tokens: count(&usage["promptTokenCount"]),
                output_tokens: count(&usage["candidatesTokenCount"])
                    + count(&usage["thoughtsTokenCount"]),
                finish,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_written_once_and_found_by_each_of_its_names() {
        let kinds = [
            ProviderKind::Local,
            ProviderKind::OpenAi,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::OpenAiCompatible,
        ];
        assert_eq!(PROVIDERS.len(), kinds.len());
        for kind in kinds {
            let info = kind.info();
            assert_eq!(info.kind, kind);
            for name in std::iter::once(&info.name).chain(info.aliases) {
                assert_eq!(ProviderKind::parse(name), Some(kind), "{name}");
                assert_eq!(
                    ProviderKind::parse(&name.to_uppercase()),
                    Some(kind),
                    "{name}"
                );
            }
            // Only a provider that needs a key has a variable to read it from; only a billed
            // one is asked about before a study spends on it.
            assert_eq!(info.needs_key, !info.key_variable.is_empty() && info.billed);
        }
        assert_eq!(ProviderKind::parse("openai-compatibl"), None);
        assert_eq!(
            unknown_provider("gpt").to_string(),
            "unknown provider 'gpt': use local, openai, anthropic, gemini or openai-compatible"
        );
        assert!(ProviderKind::Local.is_in_process() && !ProviderKind::Local.is_billed());
        assert!(ProviderKind::Anthropic.is_billed() && ProviderKind::Anthropic.needs_key());
    }

    fn params() -> Parameters {
        Parameters {
            model: "m".into(),
            temperature: Some(0.7),
            max_output_tokens: 512,
            seed: Some(3),
            ..Parameters::default()
        }
    }

    #[test]
    fn requests_follow_each_documented_shape() {
        let openai = build_request(
            ProviderKind::OpenAi,
            "https://api.openai.com/",
            Some("sk-x"),
            &params(),
            "hi",
            None,
        );
        assert_eq!(openai.url, "https://api.openai.com/v1/chat/completions");
        assert!(
            openai
                .headers
                .contains(&("authorization".into(), "Bearer sk-x".into()))
        );
        assert_eq!(openai.body["max_completion_tokens"], 512);
        assert_eq!(openai.body["messages"][0]["content"], "hi");
        let local = build_request(
            ProviderKind::OpenAiCompatible,
            "http://127.0.0.1:9",
            None,
            &params(),
            "hi",
            None,
        );
        assert_eq!(local.body["max_tokens"], 512);
        assert!(local.headers.iter().all(|(k, _)| k != "authorization"));
        let claude = build_request(
            ProviderKind::Anthropic,
            "https://api.anthropic.com",
            Some("k"),
            &params(),
            "hi",
            None,
        );
        assert_eq!(claude.url, "https://api.anthropic.com/v1/messages");
        assert!(
            claude
                .headers
                .contains(&("anthropic-version".into(), "2023-06-01".into()))
        );
        assert!(claude.body.get("seed").is_none());
        let gemini = build_request(
            ProviderKind::Gemini,
            "https://g",
            Some("k"),
            &params(),
            "hi",
            None,
        );
        assert_eq!(gemini.url, "https://g/v1beta/models/m:generateContent");
        assert_eq!(gemini.body["generationConfig"]["maxOutputTokens"], 512);
        assert!(
            !gemini.url.contains('k') || !gemini.url.contains("key="),
            "the key never goes in the URL"
        );
    }

    #[test]
    fn responses_and_failures_are_read() {
        let ok = r#"{"choices":[{"message":{"content":"age\n40"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":9}}"#;
        let r = read_response(ProviderKind::OpenAi, 200, ok, None).unwrap();
        assert_eq!(
            (r.text.as_str(), r.output_tokens, r.finish),
            ("age\n40", 9, Finish::Length)
        );
        let refusal = r#"{"choices":[{"message":{"content":null,"refusal":"I can't"},"finish_reason":"stop"}]}"#;
        assert_eq!(
            read_response(ProviderKind::OpenAi, 200, refusal, None)
                .unwrap()
                .finish,
            Finish::Refused
        );
        let claude = r#"{"content":[{"type":"tool_use","input":{"rows":[]}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#;
        assert_eq!(
            read_response(ProviderKind::Anthropic, 200, claude, None)
                .unwrap()
                .text,
            r#"{"rows":[]}"#
        );
        // Shaped as the google-genai SDK's GenerateContentResponse of a thinking model.
        let thinking = r#"{"candidates":[{"content":{"parts":[{"text":"let me think","thought":true},{"text":"age\n50"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":20,"thoughtsTokenCount":300,"totalTokenCount":420}}"#;
        let read = read_response(ProviderKind::Gemini, 200, thinking, None).unwrap();
        assert_eq!(
            (read.text.as_str(), read.input_tokens, read.output_tokens),
            ("age\n50", 100, 320)
        );
        let blocked = r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":77,"totalTokenCount":77}}"#;
        let read = read_response(ProviderKind::Gemini, 200, blocked, None).unwrap();
        assert_eq!((read.input_tokens, read.finish), (77, Finish::Refused));
        for reason in ["SPII", "LANGUAGE"] {
            let answer = format!(
                r#"{{"candidates":[{{"content":{{"parts":[]}},"finishReason":"{reason}"}}],"usageMetadata":{{"promptTokenCount":5}}}}"#
            );
            let read = read_response(ProviderKind::Gemini, 200, &answer, None).unwrap();
            assert_eq!(read.finish, Finish::Refused, "{reason}");
        }
        let gemini = r#"{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}"#;
        assert_eq!(
            read_response(ProviderKind::Gemini, 200, gemini, None)
                .unwrap()
                .text,
            "ab"
        );
        assert_eq!(
            read_response(ProviderKind::OpenAi, 429, "", Some(7)).unwrap_err(),
            ProviderError::RateLimited {
                retry_after: Some(7)
            }
        );
        let e = read_response(
            ProviderKind::Anthropic,
            529,
            r#"{"error":{"message":"overloaded"}}"#,
            None,
        )
        .unwrap_err();
        assert!(e.retryable() && e.to_string().contains("overloaded"));
        let e = read_response(
            ProviderKind::OpenAi,
            401,
            r#"{"error":{"message":"bad key"}}"#,
            None,
        )
        .unwrap_err();
        assert!(!e.retryable() && e.to_string().contains("HTTP 401"));
        assert!(matches!(
            read_response(ProviderKind::Gemini, 200, "{not json", None),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            read_response(ProviderKind::OpenAi, 200, "{}", None),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn structured_requests_carry_each_dialect() {
        let mut age =
            ehrsynth_table::ColumnSpec::new("age", ehrsynth_table::ColumnKind::Continuous);
        age.missing_allowed = false;
        let schema = ehrsynth_table::Schema::new(vec![age]).unwrap();
        let openai = build_request(
            ProviderKind::OpenAi,
            "u",
            None,
            &params(),
            "p",
            Some(&schema),
        );
        assert_eq!(
            openai.body["response_format"]["json_schema"]["strict"],
            true
        );
        // A compatible server (llama.cpp, vLLM) gets the rows per answer as maxItems.
        let limited = Parameters {
            max_rows: Some(5),
            ..params()
        };
        let local = build_request(
            ProviderKind::OpenAiCompatible,
            "u",
            None,
            &limited,
            "p",
            Some(&schema),
        );
        let format = &local.body["response_format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(
            format["json_schema"]["schema"]["properties"]["rows"]["maxItems"],
            5
        );
        assert!(
            openai.body["response_format"]["json_schema"]["schema"]["properties"]["rows"]
                .get("maxItems")
                .is_none()
        );
        let claude = build_request(
            ProviderKind::Anthropic,
            "u",
            None,
            &params(),
            "p",
            Some(&schema),
        );
        assert_eq!(claude.body["tool_choice"]["name"], "emit_rows");
        let gemini = build_request(
            ProviderKind::Gemini,
            "u",
            None,
            &params(),
            "p",
            Some(&schema),
        );
        assert_eq!(
            gemini.body["generationConfig"]["responseSchema"]["type"],
            "OBJECT"
        );
    }
}
