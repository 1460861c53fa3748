//! The request loop of one LLM generation run, independent of how bytes travel: it asks for
//! rows slot by slot until enough valid rows exist or a budget is spent, and says which.
//!
//! For each slot (request number) it: reuses the journal's answer when the slot was answered in
//! an earlier, interrupted run; else serves an identical earlier request from the journal (unless
//! the cache is off); else records the request, sends it through the [`Transport`] with retries
//! (429 honouring Retry-After, 5xx, timeouts, dropped connections and malformed answers, with
//! exponential backoff and jitter), and records the raw answer before parsing it. Parsed rows are
//! validated against the schema; rows identical to a training row or to an accepted row are
//! dropped and counted. A provider that keeps failing trips a circuit breaker.

use std::collections::HashSet;
use std::time::Duration;

use ehrsynth_llm::provider::{
    Finish, HttpRequest, Parameters, ProviderError, ProviderKind, add_local_grammar, build_request,
    read_response,
};
use ehrsynth_llm::{Journal, RequestRecord, ResponseRecord};
use ehrsynth_table::Schema;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::generator::{GenError, same_value};
use crate::llm::parse::{AnswerFormat, Rejection, parse_answer};

/// What came back over the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// Retry-After header, in seconds.
    pub retry_after: Option<u64>,
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// No answer in time.
    #[error("the request timed out")]
    Timeout,
    /// The connection failed or broke mid-answer.
    #[error("connection failed: {0}")]
    Connection(String),
}

/// Sends one request; the HTTP client and test fakes implement it.
pub trait Transport: Send + Sync {
    /// Sends `request` and returns the raw answer.
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError>;
}

/// The transport for plain `http://` servers (llama-server, vLLM, Ollama, LM Studio).
#[derive(Debug, Clone, Copy)]
pub struct HttpTransport {
    /// Longest wait for a connection or a read.
    pub timeout: Duration,
}

impl Transport for HttpTransport {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        match ehrsynth_llm::http::post_json(
            &request.url,
            &request.headers,
            &request.body.to_string(),
            self.timeout,
        ) {
            Ok(answer) => Ok(RawResponse {
                status: answer.status,
                body: answer.body,
                retry_after: answer.retry_after,
            }),
            Err(ehrsynth_llm::http::HttpError::Timeout(_)) => Err(TransportError::Timeout),
            Err(e) => Err(TransportError::Connection(e.to_string())),
        }
    }
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

/// A rough cost estimate before a run: tokens counted as characters / 4 for the prompt and
/// about 4 tokens per cell for the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Requests expected.
    pub requests: usize,
    /// Tokens expected (prompts and answers).
    pub tokens: u64,
    /// Money expected.
    pub cost_usd: f64,
}

/// Estimates a run of `rows` rows asked `rows_per_request` at a time with prompts of
/// `prompt_chars` characters, for rows of `columns` cells, assuming `acceptance` of the rows
/// come back valid (e.g. 0.8).
pub fn estimate(
    rows: usize,
    rows_per_request: usize,
    prompt_chars: usize,
    columns: usize,
    acceptance: f64,
    price: Price,
) -> Estimate {
    let per_request = (rows_per_request.max(1) as f64 * acceptance.clamp(0.05, 1.0)).max(1.0);
    let requests = (rows as f64 / per_request).ceil() as usize;
    let input = (prompt_chars as u64).div_ceil(4) * requests as u64;
    let output = (rows_per_request * columns * 4) as u64 * requests as u64;
    let cost =
        (input as f64 * price.input_per_million + output as f64 * price.output_per_million) / 1e6;
    Estimate {
        requests,
        tokens: input + output,
        cost_usd: cost,
    }
}

/// Everything a run needs besides the prompts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Journal run name (a `generate` call or a study cell).
    pub run: String,
    /// Provider wire format.
    pub provider: ProviderKind,
    /// Provider name recorded in the journal and egress log.
    pub provider_name: String,
    /// Base URL.
    pub base_url: String,
    /// API key (from the environment; never recorded).
    pub api_key: Option<String>,
    /// Model and sampling parameters; the seed is replaced per slot.
    pub parameters: Parameters,
    /// Ask for structured (JSON rows) output.
    pub structured: bool,
    /// Valid rows wanted.
    pub target_rows: usize,
    /// Most requests (slots) to use.
    pub max_requests: usize,
    /// Stop once this many tokens were spent, if set.
    pub max_tokens: Option<u64>,
    /// Stop once this much money was spent, if set.
    pub max_cost_usd: Option<f64>,
    /// Token prices.
    pub price: Price,
    /// Attempts per request beyond the first.
    pub max_retries: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub backoff: Duration,
    /// Requests in a row that may fail (after their retries) before the run stops.
    pub circuit_breaker: u32,
    /// Serve identical requests from the journal.
    pub use_cache: bool,
    /// Base seed; slot `s` sends seed `seed + s`.
    pub seed: u64,
    /// A column every row must hold one value in (position in the schema, value), for a group
    /// or a condition; other rows are rejected.
    pub fixed: Option<(usize, String)>,
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The wanted number of valid rows exists.
    Enough,
    /// All allowed requests were used.
    RequestBudget,
    /// The token budget is spent.
    TokenBudget,
    /// The money budget is spent.
    CostBudget,
    /// The provider kept failing (or rejected the request outright).
    ProviderFailing(String),
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOutcome {
    /// Valid rows, cells in schema order, at most the target.
    pub rows: Vec<Vec<String>>,
    /// Rows the parser or the schema rejected, with reasons.
    pub rejected: Vec<Rejection>,
    /// Rows dropped as repeats of an accepted row.
    pub duplicates: usize,
    /// Rows dropped as copies of a training row.
    pub training_copies: usize,
    /// Slots used (answered, failed or served from the journal).
    pub requests: usize,
    /// Requests actually sent over the wire (retries included).
    pub sent: usize,
    /// Slots answered from the journal (resumed or cached).
    pub from_journal: usize,
    /// Tokens billed.
    pub tokens: u64,
    /// Money spent.
    pub cost_usd: f64,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Sends one slot's request with retries; returns the answer or the final error text.
fn send_with_retries(
    config: &EngineConfig,
    transport: &dyn Transport,
    request: &HttpRequest,
    sleep: &dyn Fn(Duration),
    rng: &mut ChaCha8Rng,
    sent: &mut usize,
) -> Result<(RawResponse, ehrsynth_llm::provider::ChatResponse), String> {
    let mut last = String::new();
    for attempt in 0..=config.max_retries {
        if attempt > 0 {
            sleep(backoff_delay(config.backoff, attempt, rng));
        }
        *sent += 1;
        let raw = match transport.send(request) {
            Ok(raw) => raw,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        match read_response(config.provider, raw.status, &raw.body, raw.retry_after) {
            Ok(chat) => return Ok((raw, chat)),
            Err(ProviderError::RateLimited {
                retry_after: Some(seconds),
            }) => {
                last = format!("rate limited, retry after {seconds} s");
                sleep(Duration::from_secs(seconds));
            }
            Err(e) if e.retryable() => last = e.to_string(),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "gave up after {} attempts: {last}",
        config.max_retries + 1
    ))
}

/// Exponential backoff with full jitter: a uniform delay in [d/2, d], d = base × 2^(attempt−1).
pub fn backoff_delay(base: Duration, attempt: u32, rng: &mut ChaCha8Rng) -> Duration {
    let d = base.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    Duration::from_secs_f64(d * rng.random_range(0.5..=1.0))
}

/// Runs the loop. `prompt_for(slot)` gives each slot's prompt; `training_rows` holds the
/// training rows as joined cell texts (schema order, `\u{1f}`-separated) to reject copies;
/// `sleep` waits (tests pass a no-op).
pub fn run(
    config: &EngineConfig,
    schema: &Schema,
    journal: &Journal,
    transport: &dyn Transport,
    prompt_for: &dyn Fn(usize) -> String,
    training_rows: &HashSet<String>,
    sleep: &dyn Fn(Duration),
) -> Result<EngineOutcome, GenError> {
    run_with_progress(
        config,
        schema,
        journal,
        transport,
        prompt_for,
        training_rows,
        sleep,
        &ehrsynth_table::NoProgress,
    )
}

/// [`run`], reporting accepted rows to `progress` and rejections, tokens and cost as its note.
#[allow(clippy::too_many_arguments)]
pub fn run_with_progress(
    config: &EngineConfig,
    schema: &Schema,
    journal: &Journal,
    transport: &dyn Transport,
    prompt_for: &dyn Fn(usize) -> String,
    training_rows: &HashSet<String>,
    sleep: &dyn Fn(Duration),
    progress: &dyn ehrsynth_table::Progress,
) -> Result<EngineOutcome, GenError> {
    let journal_error = |e: ehrsynth_llm::JournalError| GenError::Invalid(e.to_string());
    let resumed: std::collections::HashMap<u64, String> = journal
        .answered(&config.run)
        .map_err(journal_error)?
        .into_iter()
        .collect();
    let format = if config.structured {
        AnswerFormat::JsonRows
    } else {
        AnswerFormat::Csv
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x0bac_0ff5);
    let mut outcome = EngineOutcome {
        rows: Vec::new(),
        rejected: Vec::new(),
        duplicates: 0,
        training_copies: 0,
        requests: 0,
        sent: 0,
        from_journal: 0,
        tokens: 0,
        cost_usd: 0.0,
        stop: StopReason::RequestBudget,
    };
    let mut accepted: HashSet<String> = HashSet::new();
    let mut failures_in_a_row = 0;
    for slot in 0..config.max_requests {
        if outcome.rows.len() >= config.target_rows {
            break;
        }
        if config
            .max_tokens
            .is_some_and(|limit| outcome.tokens >= limit)
        {
            outcome.stop = StopReason::TokenBudget;
            return Ok(outcome);
        }
        if config
            .max_cost_usd
            .is_some_and(|limit| outcome.cost_usd >= limit)
        {
            outcome.stop = StopReason::CostBudget;
            return Ok(outcome);
        }
        outcome.requests += 1;
        let prompt = prompt_for(slot);
        let parameters = Parameters {
            seed: Some(config.seed.wrapping_add(slot as u64)),
            ..config.parameters.clone()
        };
        let structured = config.structured.then_some(schema);
        let mut request = build_request(
            config.provider,
            &config.base_url,
            config.api_key.as_deref(),
            &parameters,
            &prompt,
            structured,
        );
        // The in-process model compiles its grammar from the columns and the fixed group value.
        let names = schema.names();
        let fixed = config.fixed.as_ref();
        let fixed = fixed.and_then(|(p, v)| names.get(*p).map(|n| (*n, v.as_str())));
        add_local_grammar(config.provider, &mut request.body, &names, fixed);
        let record = RequestRecord {
            run: config.run.clone(),
            slot: slot as u64,
            provider: config.provider_name.clone(),
            endpoint: request.url.clone(),
            model: parameters.model.clone(),
            parameters: request_parameters(&request),
            seed: parameters.seed.unwrap_or(0),
            prompt: prompt.clone(),
            contains_real_rows: false,
        };
        let answer_text = if let Some(raw) = resumed.get(&(slot as u64)) {
            outcome.from_journal += 1;
            text_of(config.provider, raw)
        } else if let Some(cached) = config
            .use_cache
            .then(|| journal.cached(&record))
            .transpose()
            .map_err(journal_error)?
            .flatten()
        {
            outcome.from_journal += 1;
            let id = journal.begin(&record).map_err(journal_error)?;
            journal.answer(id, &cached).map_err(journal_error)?;
            text_of(config.provider, &cached.raw)
        } else {
            let id = journal.begin(&record).map_err(journal_error)?;
            match send_with_retries(
                config,
                transport,
                &request,
                sleep,
                &mut rng,
                &mut outcome.sent,
            ) {
                Ok((raw, chat)) => {
                    let cost = (chat.input_tokens as f64 * config.price.input_per_million
                        + chat.output_tokens as f64 * config.price.output_per_million)
                        / 1e6;
                    let response = ResponseRecord {
                        raw: raw.body.clone(),
                        status: raw.status,
                        input_tokens: chat.input_tokens,
                        output_tokens: chat.output_tokens,
                        cost_usd: cost,
                    };
                    journal.answer(id, &response).map_err(journal_error)?;
                    outcome.tokens += chat.input_tokens + chat.output_tokens;
                    outcome.cost_usd += cost;
                    failures_in_a_row = 0;
                    if chat.finish == Finish::Refused {
                        outcome.rejected.push(Rejection {
                            line: 0,
                            text: chat.text.chars().take(200).collect(),
                            reason: "the model refused".into(),
                        });
                    }
                    Some(chat.text)
                }
                Err(reason) => {
                    journal.fail_request(id, &reason).map_err(journal_error)?;
                    failures_in_a_row += 1;
                    if failures_in_a_row >= config.circuit_breaker {
                        outcome.stop = StopReason::ProviderFailing(reason);
                        return Ok(outcome);
                    }
                    None
                }
            }
        };
        let rows_before = outcome.rows.len();
        if let Some(text) = answer_text {
            let parsed = parse_answer(&text, schema, format);
            outcome.rejected.extend(parsed.rejected);
            for row in parsed.rows {
                let key = row.join("\u{1f}");
                if let Some((position, value)) = &config.fixed
                    && !same_value(&row[*position], value)
                {
                    outcome.rejected.push(Rejection {
                        line: 0,
                        text: row.join(","),
                        reason: format!(
                            "not in the requested group (column {} should be {value})",
                            position + 1
                        ),
                    });
                    continue;
                }
                if training_rows.contains(&key) {
                    outcome.training_copies += 1;
                } else if !accepted.insert(key) {
                    outcome.duplicates += 1;
                } else if outcome.rows.len() < config.target_rows {
                    outcome.rows.push(row);
                }
            }
        }
        progress.advance((outcome.rows.len() - rows_before) as u64);
        progress.note(&format!(
            "{} rejected, {} duplicates, {} tokens, ${:.4}",
            outcome.rejected.len(),
            outcome.duplicates,
            outcome.tokens,
            outcome.cost_usd
        ));
    }
    outcome.stop = if outcome.rows.len() >= config.target_rows {
        StopReason::Enough
    } else {
        StopReason::RequestBudget
    };
    Ok(outcome)
}

/// The request body without the prompt, for the journal's parameter column.
fn request_parameters(request: &HttpRequest) -> String {
    let mut body = request.body.clone();
    for key in ["messages", "contents"] {
        if let Some(object) = body.as_object_mut() {
            object.remove(key);
        }
    }
    body.to_string()
}

/// The answer text inside a recorded raw body (a body that no longer parses gives "").
fn text_of(provider: ProviderKind, raw: &str) -> Option<String> {
    Some(
        read_response(provider, 200, raw, None)
            .map(|c| c.text)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_scale_with_rows_and_prices() {
        let price = Price {
            input_per_million: 2.0,
            output_per_million: 8.0,
        };
        let e = estimate(1000, 20, 4000, 10, 0.8, price);
        assert_eq!(e.requests, 63); // 16 valid rows per request
        assert_eq!(e.tokens, 63 * 1000 + 63 * 800);
        assert!((e.cost_usd - (63_000.0 * 2.0 + 50_400.0 * 8.0) / 1e6).abs() < 1e-12);
    }
}
