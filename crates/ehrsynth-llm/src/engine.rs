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
//!
//! Requests run concurrently (up to [`Limits::concurrency`] worker threads, under the per-minute
//! request and token limits of a [`RateLimiter`]) but everything else stays on the calling
//! thread: the journal, the budgets, the breaker and the acceptance of rows, which happens in
//! slot order. Slot `s` always sends the same request (its seed is `seed + s`), so the same
//! answers give the same rows whatever the timing and the concurrency. With concurrency `c`, at
//! most `2c − 1` requests beyond the last needed one (usually fewer: no new request goes out once
//! those on their way are expected to fill the target) may be sent before the target is reached;
//! their answers are journaled (and paid for) but not used.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::provider::{
    Finish, HttpRequest, LocalGrammar, Parameters, ProviderError, ProviderKind, add_local_grammar,
    build_request, read_response,
};
use crate::{Journal, RequestRecord, ResponseRecord};
use ehrsynth_table::Schema;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::LlmError;
use crate::limits::{Limits, RateLimiter};
use crate::parse::{AnswerFormat, Rejection, parse_answer};
use crate::prompt::Prompt;
use ehrsynth_table::cell::same_value;

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
    /// A failure that retrying cannot mend (an untrusted certificate, a bad URL or setting).
    #[error("{0}")]
    Permanent(String),
}

/// Sends one request; the HTTP client and test fakes implement it.
pub trait Transport: Send + Sync {
    /// Sends `request` and returns the raw answer.
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError>;
}

/// The transport over HTTP: plain `http://` for local servers (llama-server, vLLM, Ollama, LM
/// Studio) and TLS for the hosted APIs, with the client's CA bundle and proxy settings.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: crate::http::Client,
}

impl HttpTransport {
    /// A transport waiting at most `timeout` per connect or read, trusting `ca_cert` (a PEM
    /// bundle) besides the built-in roots, else `EHRSYNTH_CA_CERT`; `HTTPS_PROXY` is honoured.
    pub fn new(timeout: Duration, ca_cert: Option<&std::path::Path>) -> Result<Self, LlmError> {
        crate::http::Client::new(timeout, ca_cert)
            .map(|client| Self { client })
            .map_err(LlmError::from)
    }

    /// The same transport with another cap on an answer's size (default
    /// [`crate::http::DEFAULT_MAX_ANSWER_BYTES`]).
    pub fn with_max_answer_bytes(self, bytes: usize) -> Self {
        Self {
            client: self.client.with_max_answer_bytes(bytes),
        }
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        use crate::http::HttpError;
        match self
            .client
            .post_json(&request.url, &request.headers, &request.body.to_string())
        {
            Ok(answer) => Ok(RawResponse {
                status: answer.status,
                body: answer.body,
                retry_after: answer.retry_after,
            }),
            Err(HttpError::Timeout(_)) => Err(TransportError::Timeout),
            Err(e @ (HttpError::Tls(..) | HttpError::BadUrl(..) | HttpError::Setup(_))) => {
                Err(TransportError::Permanent(e.to_string()))
            }
            Err(e) => Err(TransportError::Connection(e.to_string())),
        }
    }
}

pub use crate::prices::Price;

/// The key that tells two rows apart (duplicates, copies of training rows): the cells in
/// column order, numbers written canonically so that "8.0" and "8", "36.70" and "36.7" match.
pub fn row_key<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    cells
        .into_iter()
        .map(|cell| match ehrsynth_table::cell::parse_number(cell) {
            Some(v) => format!("{}", v + 0.0),
            None => cell.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
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
    /// Requests in flight at once and per-minute limits.
    pub limits: Limits,
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
    /// Decimals each numeric column is written with (the training data's own precision), for
    /// the in-process model's grammar; columns not listed get the grammar's default.
    pub decimals: Vec<(String, u32)>,
    /// Whether the prompts carry real training rows (recorded in the journal and egress log).
    pub real_rows_in_prompts: bool,
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
    /// Slots whose request failed after its retries.
    pub failed: usize,
    /// The last such failure's reason (a timeout, an answer over the size cap, ...).
    pub last_failure: Option<String>,
}

/// A provider's "retry after" shared by all workers: once one request is told to wait, no worker
/// sends before that time.
#[derive(Debug, Default)]
struct Pause(Mutex<Option<Instant>>);

impl Pause {
    fn until(&self, when: Instant) {
        if let Ok(mut until) = self.0.lock() {
            *until = Some(until.map_or(when, |u| u.max(when)));
        }
    }

    /// Time left to wait, if any.
    fn remaining(&self) -> Option<Duration> {
        let until = (*self.0.lock().ok()?)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

/// Sends one slot's request with retries; returns the answer or the final error text.
/// `schema` with the column at `position` allowed only `value`: one category, or a range of one
/// number, and never missing.
fn pinned_schema(schema: &Schema, position: usize, value: &str) -> Schema {
    let mut pinned = schema.clone();
    if let Some(spec) = pinned.columns.get_mut(position) {
        spec.missing_allowed = false;
        match value.trim().parse::<f64>() {
            Ok(v) if spec.kind.is_numeric() => (spec.min, spec.max) = (Some(v), Some(v)),
            _ => spec.categories = vec![value.to_string()],
        }
    }
    pinned
}

/// Answers in a row without a new row that stop a run, as a multiple of the circuit breaker.
const FRUITLESS_STOP_FACTOR: u32 = 3;

/// The message a panic carried, when it is text.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn send_with_retries(
    config: &EngineConfig,
    transport: &dyn Transport,
    request: &HttpRequest,
    sleep: &(dyn Fn(Duration) + Sync),
    pause: &Pause,
    rng: &mut ChaCha8Rng,
    sent: &mut usize,
) -> Result<(RawResponse, crate::provider::ChatResponse), String> {
    let mut last = String::new();
    let mut told_to_wait = false;
    for attempt in 0..=config.max_retries {
        if let Some(wait) = pause.remaining().filter(|_| !told_to_wait) {
            sleep(wait);
        } else if attempt > 0 && !std::mem::take(&mut told_to_wait) {
            sleep(backoff_delay(config.backoff, attempt, rng));
        }
        *sent += 1;
        let raw = match transport.send(request) {
            Ok(raw) => raw,
            Err(TransportError::Permanent(reason)) => return Err(reason),
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
                // This worker waits as told; the others before their next send.
                pause.until(Instant::now() + Duration::from_secs(seconds));
                sleep(Duration::from_secs(seconds));
                told_to_wait = true;
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
    prompt_for: &dyn Fn(usize) -> Prompt,
    training_rows: &HashSet<String>,
    sleep: &(dyn Fn(Duration) + Sync),
) -> Result<EngineOutcome, LlmError> {
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

/// One slot's answer, waiting to be accepted in slot order.
enum SlotAnswer {
    /// Answer text; `from_wire` when it was sent in this run; `refused` when the model refused.
    Text {
        text: String,
        from_wire: bool,
        refused: bool,
    },
    /// The request failed after its retries.
    Failed(String),
}

/// A request handed to a worker: (slot, journal id, request).
type Job = (usize, i64, HttpRequest);

/// A worker's result: (slot, journal id, attempts sent, answer or final error).
type Done = (
    usize,
    i64,
    usize,
    Result<(RawResponse, crate::provider::ChatResponse), String>,
);

/// The run's clock for the rate limiter: wall time, but never behind the sleeps it asked for (so
/// that a no-op sleep in tests still moves the schedule on).
struct RunClock {
    started: Instant,
    floor: Duration,
}

impl RunClock {
    fn now(&self) -> Duration {
        self.started.elapsed().max(self.floor)
    }

    fn slept(&mut self, d: Duration) {
        self.floor = self.now() + d;
    }
}

/// The state of a run on the calling thread.
struct Loop<'a> {
    config: &'a EngineConfig,
    schema: &'a Schema,
    journal: &'a Journal,
    training_rows: &'a HashSet<String>,
    format: AnswerFormat,
    outcome: EngineOutcome,
    accepted: HashSet<String>,
    failures_in_a_row: u32,
    /// Answers in a row from the provider that brought no new row.
    fruitless_in_a_row: u32,
    /// Set when no more slots may be used (target, breaker); in-flight answers are then only
    /// journaled.
    halted: Option<StopReason>,
    /// Set when a budget forbids new requests; answers already on their way are still used.
    budget: Option<StopReason>,
    /// Answers not yet accepted, by slot.
    ready: BTreeMap<usize, SlotAnswer>,
    /// Slots given a request so far, and the first slot not yet accepted.
    next_slot: usize,
    next_to_accept: usize,
    in_flight: usize,
    /// Rows accepted from wire answers and wire answers accepted, for the expected yield.
    wire_rows: usize,
    wire_answers: usize,
}

impl Loop<'_> {
    /// Whether a budget forbids another request, counting in-flight requests at the average
    /// spend of the answers so far.
    fn budget_spent(&self) -> Option<StopReason> {
        let answered = self.wire_answers_seen().max(1) as f64;
        let pending = self.in_flight as f64;
        let tokens = self.outcome.tokens as f64 * (1.0 + pending / answered);
        let cost = self.outcome.cost_usd * (1.0 + pending / answered);
        if self
            .config
            .max_tokens
            .is_some_and(|limit| tokens >= limit as f64)
        {
            return Some(StopReason::TokenBudget);
        }
        if self.config.max_cost_usd.is_some_and(|limit| cost >= limit) {
            return Some(StopReason::CostBudget);
        }
        None
    }

    /// Answers that came back over the wire so far (for average spend).
    fn wire_answers_seen(&self) -> usize {
        self.outcome.requests - self.outcome.from_journal - self.in_flight
    }

    /// Whether the requests on their way can be expected to fill the target (judged from the
    /// yield of the answers accepted so far), so that no further one is needed yet.
    fn enough_on_the_way(&self) -> bool {
        if self.wire_answers == 0 {
            return false;
        }
        let per_answer = self.wire_rows as f64 / self.wire_answers as f64;
        self.outcome.rows.len() as f64 + self.in_flight as f64 * per_answer
            >= self.config.target_rows as f64
    }

    /// The request of `slot`, and its journal record.
    fn request_of(&self, slot: usize, prompt: Prompt) -> (HttpRequest, RequestRecord) {
        let config = self.config;
        let parameters = Parameters {
            seed: Some(config.seed.wrapping_add(slot as u64)),
            ..config.parameters.clone()
        };
        // A group's rows are pinned to its value in the structured schema too.
        let pinned = config
            .fixed
            .as_ref()
            .filter(|_| config.structured)
            .map(|(position, value)| pinned_schema(self.schema, *position, value));
        let mut request = build_request(
            config.provider,
            &config.base_url,
            config.api_key.as_deref(),
            &parameters,
            &prompt.text,
            config
                .structured
                .then_some(pinned.as_ref().unwrap_or(self.schema)),
        );
        // The in-process model compiles its grammar from the columns and the fixed group value.
        let names = self.schema.names();
        let fixed = config.fixed.as_ref();
        let fixed = fixed.and_then(|(p, v)| names.get(*p).map(|n| (*n, v.as_str())));
        add_local_grammar(
            config.provider,
            &mut request.body,
            &LocalGrammar {
                columns: &names,
                fixed,
                decimals: &config.decimals,
                answer_start: prompt.answer_start.as_deref(),
                // Answers come back in order; what is accepted so far is known here.
                rows_wanted: Some(
                    config
                        .target_rows
                        .saturating_sub(self.outcome.rows.len())
                        .max(1),
                ),
            },
        );
        let record = RequestRecord {
            run: config.run.clone(),
            slot: slot as u64,
            provider: config.provider_name.clone(),
            endpoint: request.url.clone(),
            model: parameters.model.clone(),
            parameters: request_parameters(&request),
            seed: parameters.seed.unwrap_or(0),
            prompt: journal_prompt(&prompt),
            contains_real_rows: config.real_rows_in_prompts,
        };
        (request, record)
    }

    /// Records a worker's result in the journal and the totals; queues it for acceptance
    /// unless the run is halted.
    fn arrived(&mut self, done: Done, limiter: &mut RateLimiter) -> Result<(), LlmError> {
        let (slot, id, sent, result) = done;
        self.in_flight -= 1;
        self.outcome.sent += sent;
        let answer = match result {
            Ok((raw, chat)) => {
                let cost = self
                    .config
                    .price
                    .cost(chat.input_tokens, chat.output_tokens);
                let response = ResponseRecord {
                    raw: raw.body,
                    status: raw.status,
                    input_tokens: chat.input_tokens,
                    output_tokens: chat.output_tokens,
                    cost_usd: cost,
                };
                self.journal.answer(id, &response)?;
                let tokens = chat.input_tokens + chat.output_tokens;
                limiter.settle(slot as u64, tokens);
                self.outcome.tokens += tokens;
                self.outcome.cost_usd += cost;
                SlotAnswer::Text {
                    refused: chat.finish == Finish::Refused,
                    text: chat.text,
                    from_wire: true,
                }
            }
            Err(reason) => {
                self.journal.fail_request(id, &reason)?;
                SlotAnswer::Failed(reason)
            }
        };
        if self.halted.is_none() {
            self.ready.insert(slot, answer);
        }
        Ok(())
    }

    /// Accepts the answers that are next in slot order.
    fn accept_ready(&mut self, progress: &dyn ehrsynth_table::Progress) {
        while self.halted.is_none() {
            let Some(answer) = self.ready.remove(&self.next_to_accept) else {
                return;
            };
            self.next_to_accept += 1;
            let rows_before = self.outcome.rows.len();
            match answer {
                SlotAnswer::Failed(reason) => {
                    self.outcome.failed += 1;
                    self.outcome.last_failure = Some(reason.clone());
                    self.failures_in_a_row += 1;
                    if self.failures_in_a_row >= self.config.circuit_breaker {
                        self.halted = Some(StopReason::ProviderFailing(reason));
                    }
                }
                SlotAnswer::Text {
                    text,
                    from_wire,
                    refused,
                } => {
                    if refused {
                        self.outcome.rejected.push(Rejection {
                            line: 0,
                            text: text.chars().take(200).collect(),
                            reason: "the model refused".into(),
                        });
                    }
                    self.accept_text(&text);
                    if from_wire {
                        self.wire_answers += 1;
                        self.wire_rows += self.outcome.rows.len() - rows_before;
                        self.count_streaks(refused, self.outcome.rows.len() > rows_before);
                    }
                }
            }
            progress.advance((self.outcome.rows.len() - rows_before) as u64);
            progress.note(&format!(
                "{} rejected, {} duplicates, {} tokens, ${:.4}",
                self.outcome.rejected.len(),
                self.outcome.duplicates,
                self.outcome.tokens,
                self.outcome.cost_usd
            ));
            if self.outcome.rows.len() >= self.config.target_rows {
                self.halted = Some(StopReason::Enough);
            }
        }
    }

    /// Refusals count toward the failure stop like failed requests (they used to reset it, so a
    /// model that refused every prompt spent every request up to the budget); answers that
    /// bring no new row stop the run after [`FRUITLESS_STOP_FACTOR`] times as many in a row.
    fn count_streaks(&mut self, refused: bool, new_rows: bool) {
        let breaker = self.config.circuit_breaker;
        if refused {
            self.failures_in_a_row += 1;
            if self.failures_in_a_row >= breaker {
                self.halted = Some(StopReason::ProviderFailing(format!(
                    "the model refused {} times in a row",
                    self.failures_in_a_row
                )));
            }
        } else {
            self.failures_in_a_row = 0;
        }
        self.fruitless_in_a_row = if new_rows {
            0
        } else {
            self.fruitless_in_a_row + 1
        };
        if self.fruitless_in_a_row >= FRUITLESS_STOP_FACTOR * breaker && self.halted.is_none() {
            let last = self.outcome.rejected.last().map_or_else(
                || "duplicates or training copies".to_string(),
                |r| r.reason.clone(),
            );
            self.halted = Some(StopReason::ProviderFailing(format!(
                "{} answers in a row brought no new row (the last rejection: {last})",
                self.fruitless_in_a_row
            )));
        }
    }

    /// Parses one answer and keeps its new, valid rows.
    fn accept_text(&mut self, text: &str) {
        let parsed = parse_answer(text, self.schema, self.format);
        self.outcome.rejected.extend(parsed.rejected);
        for row in parsed.rows {
            if let Some((position, value)) = &self.config.fixed
                && !same_value(&row[*position], value)
            {
                self.outcome.rejected.push(Rejection {
                    line: 0,
                    text: row.join(","),
                    reason: format!(
                        "not in the requested group (column {} should be {value})",
                        position + 1
                    ),
                });
                continue;
            }
            let key = row_key(row.iter().map(String::as_str));
            if self.training_rows.contains(&key) {
                self.outcome.training_copies += 1;
            } else if !self.accepted.insert(key) {
                self.outcome.duplicates += 1;
            } else if self.outcome.rows.len() < self.config.target_rows {
                self.outcome.rows.push(row);
            }
        }
    }
}

/// [`run`], reporting accepted rows to `progress` and rejections, tokens and cost as its note.
#[allow(clippy::too_many_arguments)]
pub fn run_with_progress(
    config: &EngineConfig,
    schema: &Schema,
    journal: &Journal,
    transport: &dyn Transport,
    prompt_for: &dyn Fn(usize) -> Prompt,
    training_rows: &HashSet<String>,
    sleep: &(dyn Fn(Duration) + Sync),
    progress: &dyn ehrsynth_table::Progress,
) -> Result<EngineOutcome, LlmError> {
    let resumed: std::collections::HashMap<u64, String> =
        journal.answered(&config.run)?.into_iter().collect();
    let mut state = Loop {
        config,
        schema,
        journal,
        training_rows,
        format: if config.structured {
            AnswerFormat::JsonRows
        } else {
            AnswerFormat::Csv
        },
        outcome: EngineOutcome {
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
            failed: 0,
            last_failure: None,
        },
        accepted: HashSet::new(),
        failures_in_a_row: 0,
        fruitless_in_a_row: 0,
        halted: (config.target_rows == 0).then_some(StopReason::Enough),
        budget: None,
        ready: BTreeMap::new(),
        next_slot: 0,
        next_to_accept: 0,
        in_flight: 0,
        wire_rows: 0,
        wire_answers: 0,
    };
    let concurrency = config.limits.concurrency.max(1);
    let mut limiter = RateLimiter::new(&config.limits);
    let mut clock = RunClock {
        started: Instant::now(),
        floor: Duration::ZERO,
    };
    let (job_sender, jobs) = mpsc::channel::<Job>();
    let jobs = Arc::new(Mutex::new(jobs));
    let (done_sender, dones) = mpsc::channel::<Done>();
    let pause = Pause::default();
    std::thread::scope(|scope| -> Result<(), LlmError> {
        for _ in 0..concurrency.min(config.max_requests.max(1)) {
            let (jobs, done_sender, pause) = (jobs.clone(), done_sender.clone(), &pause);
            scope.spawn(move || {
                loop {
                    // The lock is held only while taking a job, not while sending it.
                    let job = jobs
                        .lock()
                        .map_err(|_| ())
                        .and_then(|j| j.recv().map_err(|_| ()));
                    let Ok((slot, id, request)) = job else { return };
                    let mut rng =
                        ChaCha8Rng::seed_from_u64(config.seed ^ 0x0bac_0ff5 ^ slot as u64);
                    let mut sent = 0;
                    // A panic (in a transport, say) becomes this request's failure: a worker
                    // that died silently never reported its slot, and the loop waited forever.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        send_with_retries(
                            config, transport, &request, sleep, pause, &mut rng, &mut sent,
                        )
                    }))
                    .unwrap_or_else(|panic| {
                        Err(format!(
                            "the request failed with a panic: {}",
                            panic_text(&panic)
                        ))
                    });
                    if done_sender.send((slot, id, sent, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_sender);
        let mut job_sender = Some(job_sender);
        loop {
            // Give out slots while allowed, accepting whatever is next in order as it comes.
            loop {
                state.accept_ready(progress);
                if state.halted.is_some() || state.budget.is_some() {
                    break;
                }
                let outstanding = state.next_slot - state.next_to_accept;
                if state.next_slot >= config.max_requests
                    || state.in_flight >= concurrency
                    // Slack for answers that come back out of order, and the bound on requests
                    // sent beyond the last one needed.
                    || outstanding >= 2 * concurrency
                    || state.enough_on_the_way()
                {
                    break;
                }
                if let Some(reason) = state.budget_spent() {
                    state.budget = Some(reason);
                    break;
                }
                let slot = state.next_slot;
                state.next_slot += 1;
                state.outcome.requests += 1;
                let (request, record) = state.request_of(slot, prompt_for(slot));
                if let Some(raw) = resumed.get(&(slot as u64)) {
                    state.outcome.from_journal += 1;
                    state
                        .ready
                        .insert(slot, journal_answer(config.provider, raw));
                    continue;
                }
                if config.use_cache
                    && let Some(cached) = journal.cached(&record)?
                {
                    state.outcome.from_journal += 1;
                    let id = journal.begin(&record)?;
                    journal.answer(id, &cached)?;
                    state
                        .ready
                        .insert(slot, journal_answer(config.provider, &cached.raw));
                    continue;
                }
                let expected = (record.prompt.len() as u64).div_ceil(4)
                    + u64::from(config.parameters.max_output_tokens);
                loop {
                    let wait = limiter.wait(clock.now(), expected);
                    if wait.is_zero() {
                        break;
                    }
                    sleep(wait);
                    clock.slept(wait);
                }
                limiter.record(clock.now(), slot as u64, expected);
                // Written before it is sent: a killed run knows what was asked.
                let id = journal.begin(&record)?;
                if let Some(sender) = &job_sender
                    && sender.send((slot, id, request)).is_ok()
                {
                    state.in_flight += 1;
                } else {
                    return Err(LlmError::Invalid("the request workers stopped".into()));
                }
            }
            if state.in_flight == 0 {
                if state.halted.is_some()
                    || state.budget.is_some()
                    || state.next_slot >= config.max_requests
                {
                    break;
                }
                continue;
            }
            let done = dones
                .recv()
                .map_err(|_| LlmError::Invalid("the request workers stopped".into()))?;
            state.arrived(done, &mut limiter)?;
        }
        job_sender.take(); // the workers finish
        Ok(())
    })?;
    let mut outcome = state.outcome;
    outcome.stop = match (state.halted, state.budget) {
        (Some(reason), _) => reason,
        _ if outcome.rows.len() >= config.target_rows => StopReason::Enough,
        (None, Some(reason)) => reason,
        (None, None) => StopReason::RequestBudget,
    };
    Ok(outcome)
}

/// A recorded raw body as an answer to accept.
fn journal_answer(provider: ProviderKind, raw: &str) -> SlotAnswer {
    SlotAnswer::Text {
        text: text_of(provider, raw).unwrap_or_default(),
        from_wire: false,
        refused: false,
    }
}

/// The request body without the prompt, for the journal's parameter column.
/// The prompt as the journal keeps it: the text, and the rows the answer was started with
/// (the model read them too).
fn journal_prompt(prompt: &Prompt) -> String {
    match &prompt.answer_start {
        Some(rows) => format!(
            "{}\n[the answer starts with these rows]\n{rows}",
            prompt.text
        ),
        None => prompt.text.clone(),
    }
}

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
