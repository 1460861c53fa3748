//! The request loop against a scripted transport that answers in OpenAI's documented shape and
//! injects faults: nothing is lost, nothing is counted twice, a killed run resumes without asking
//! again for answered slots, and the run ends with N rows or a clear reason.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ehrsynth_llm::Journal;
use ehrsynth_llm::engine::{
    EngineConfig, Price, RawResponse, StopReason, Transport, TransportError, run,
};
use ehrsynth_llm::provider::{HttpRequest, Parameters, ProviderKind};
use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};

fn schema() -> Schema {
    let mut age = ColumnSpec::new("age", ColumnKind::Integer);
    (age.min, age.max, age.missing_allowed) = (Some(16.0), Some(90.0), false);
    let mut death = ColumnSpec::new("death", ColumnKind::Binary);
    death.missing_allowed = false;
    Schema::new(vec![age, death]).unwrap()
}

fn openai_body(text: &str) -> String {
    serde_json::json!({
        "choices": [{ "message": { "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 50 }
    })
    .to_string()
}

/// Answers each request by the seed it carries (= slot), following a script of faults per call.
struct Scripted {
    calls: Mutex<Vec<u64>>,
    faults: Mutex<HashMap<u64, Vec<Result<RawResponse, TransportError>>>>,
}

impl Scripted {
    fn new(faults: Vec<(u64, Result<RawResponse, TransportError>)>) -> Self {
        let mut map: HashMap<u64, Vec<_>> = HashMap::new();
        for (slot, fault) in faults {
            map.entry(slot).or_default().push(fault);
        }
        Self {
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(map),
        }
    }
}

impl Transport for Scripted {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        let seed = request.body["seed"].as_u64().unwrap() - 1000;
        self.calls.lock().unwrap().push(seed);
        if let Some(queue) = self.faults.lock().unwrap().get_mut(&seed)
            && !queue.is_empty()
        {
            return queue.remove(0);
        }
        // Four valid rows per slot, distinct across slots, one duplicate and one bad row.
        let base = 20 + 4 * seed as i64;
        let text = format!(
            "age,death\n{},0\n{},1\n{},0\n{},1\n{},0\n150,0\n",
            base,
            base + 1,
            base + 2,
            base + 3,
            base
        );
        Ok(RawResponse {
            status: 200,
            body: openai_body(&text),
            retry_after: None,
        })
    }
}

fn config(run: &str, target: usize, max_requests: usize) -> EngineConfig {
    EngineConfig {
        run: run.into(),
        provider: ProviderKind::OpenAiCompatible,
        provider_name: "fake".into(),
        base_url: "http://127.0.0.1:9".into(),
        api_key: None,
        parameters: Parameters {
            model: "m".into(),
            max_output_tokens: 256,
            ..Parameters::default()
        },
        structured: false,
        target_rows: target,
        max_requests,
        max_tokens: None,
        max_cost_usd: None,
        price: Price {
            input_per_million: 1.0,
            output_per_million: 2.0,
        },
        max_retries: 3,
        backoff: Duration::from_millis(10),
        circuit_breaker: 3,
        limits: ehrsynth_llm::limits::Limits {
            concurrency: 1,
            requests_per_minute: None,
            tokens_per_minute: None,
        },
        use_cache: true,
        seed: 1000,
        fixed: None,
        decimals: Vec::new(),
        real_rows_in_prompts: false,
    }
}

fn ok(text: &str) -> Result<RawResponse, TransportError> {
    Ok(RawResponse {
        status: 200,
        body: openai_body(text),
        retry_after: None,
    })
}

#[test]
fn faults_are_retried_and_nothing_is_lost_or_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let faults = vec![
        (
            0,
            Ok(RawResponse {
                status: 429,
                body: String::new(),
                retry_after: Some(2),
            }),
        ),
        (
            0,
            Ok(RawResponse {
                status: 500,
                body: r#"{"error":{"message":"boom"}}"#.into(),
                retry_after: None,
            }),
        ),
        (1, Err(TransportError::Timeout)),
        (1, Err(TransportError::Connection("reset mid-body".into()))),
        (
            2,
            Ok(RawResponse {
                status: 200,
                body: "{not json".into(),
                retry_after: None,
            }),
        ),
        (3, ok("I'm sorry, I can't help with that.")),
        (4, ok("")),
        (5, ok("age,death,extra\n40,1,7\n")),
    ];
    let transport = Scripted::new(faults);
    let slept = Mutex::new(Vec::new());
    let outcome = run(
        &config("r", 12, 20),
        &schema(),
        &journal,
        &transport,
        &|_| "give rows".into(),
        &HashSet::new(),
        &|d| slept.lock().unwrap().push(d),
    )
    .unwrap();
    assert_eq!(outcome.stop, StopReason::Enough);
    assert_eq!(outcome.rows.len(), 12);
    // Slots 0, 1, 2 succeed after retries (4 valid rows each); slots 3-5 gave nothing usable.
    let ages: Vec<&str> = outcome.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ages[..4], ["20", "21", "22", "23"]);
    assert_eq!(outcome.requests, 3);
    // slot 0: 429, 500, answer; slot 1: timeout, reset, answer; slot 2: malformed, answer.
    assert_eq!(outcome.sent, 3 + 3 + 2);
    assert!(
        slept.lock().unwrap().contains(&Duration::from_secs(2)),
        "Retry-After honoured"
    );
    assert_eq!(outcome.duplicates, 3); // one repeated row per answered slot
    assert!(
        outcome
            .rejected
            .iter()
            .filter(|r| r.reason.contains("outside the valid range"))
            .count()
            >= 3
    );
    assert_eq!(outcome.tokens, 3 * 150);
    assert!((outcome.cost_usd - 3.0 * (100.0 + 100.0) / 1e6).abs() < 1e-12);
}

#[test]
fn refusals_empty_answers_and_wrong_columns_are_rejected_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let transport = Scripted::new(vec![
        (0, ok("I'm sorry, I can't help with that.")),
        (1, ok("")),
        (2, ok("Here are some patients: John is 40.")),
        (3, ok("age,death,extra\n40,1,7\n")),
    ]);
    let outcome = run(
        &config("r", 4, 5),
        &schema(),
        &journal,
        &transport,
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(outcome.rows.len(), 4); // slot 4 delivers
    assert!(!outcome.rejected.is_empty());
    assert!(
        outcome
            .rejected
            .iter()
            .any(|r| r.reason.contains("refusal") || r.reason.contains("no data rows")),
        "{:?}",
        outcome.rejected
    );
}

#[test]
fn a_killed_run_resumes_without_asking_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    {
        // The first attempt stops after 2 requests (as if killed).
        let journal = Journal::open(&path).unwrap();
        let first = Scripted::new(vec![]);
        let partial = run(
            &config("r", 10, 2),
            &schema(),
            &journal,
            &first,
            &|_| "p".into(),
            &HashSet::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            (partial.rows.len(), partial.stop.clone()),
            (8, StopReason::RequestBudget)
        );
    }
    let journal = Journal::open(&path).unwrap();
    let second = Scripted::new(vec![]);
    let outcome = run(
        &config("r", 10, 10),
        &schema(),
        &journal,
        &second,
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(outcome.rows.len(), 10);
    assert_eq!(
        *second.calls.lock().unwrap(),
        vec![2],
        "slots 0 and 1 come from the journal"
    );
    assert_eq!(outcome.from_journal, 2);
    let ages: Vec<&str> = outcome.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ages,
        ["20", "21", "22", "23", "24", "25", "26", "27", "28", "29"]
    );
}

#[test]
fn a_failing_provider_trips_the_breaker_and_copies_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let down = RawResponse {
        status: 503,
        body: "unavailable".into(),
        retry_after: None,
    };
    let faults: Vec<_> = (0..3)
        .flat_map(|slot| std::iter::repeat_n((slot, Ok(down.clone())), 4))
        .collect();
    let outcome = run(
        &config("r", 5, 10),
        &schema(),
        &journal,
        &Scripted::new(faults),
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert!(
        matches!(&outcome.stop, StopReason::ProviderFailing(reason) if reason.contains("503")),
        "{:?}",
        outcome.stop
    );
    assert_eq!(journal.totals("r").unwrap().failed, 3);

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let training: HashSet<String> = ["20\u{1f}0", "21\u{1f}1"]
        .into_iter()
        .map(String::from)
        .collect();
    let outcome = run(
        &config("r", 4, 1),
        &schema(),
        &journal,
        &Scripted::new(vec![]),
        &|_| "p".into(),
        &training,
        &|_| {},
    )
    .unwrap();
    assert_eq!(outcome.training_copies, 3); // 20,0 twice and 21,1 once
    assert_eq!(outcome.rows.len(), 2);
    let egress = Journal::open(&dir.path().join("j.sqlite"))
        .unwrap()
        .egress("r")
        .unwrap();
    assert!(egress.iter().all(|e| !e.contains_real_rows));
}

/// A loopback server answering in Anthropic's or Gemini's documented shape over real HTTP.
fn shaped_server(kind: ProviderKind) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(20).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut path) = (0, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if line.starts_with("POST ") {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let rows = format!("age,death\n{},0\n{},1\n", 30 + 2 * n, 31 + 2 * n);
            let answer = match kind {
                ProviderKind::Anthropic if path == "/v1/messages" => serde_json::json!({
                    "content": [{ "type": "text", "text": rows }], "stop_reason": "end_turn",
                    "usage": { "input_tokens": 11, "output_tokens": 7 }
                }),
                ProviderKind::Gemini if path.ends_with(":generateContent") => serde_json::json!({
                    "candidates": [{ "content": { "parts": [{ "text": rows }] }, "finishReason": "STOP" }],
                    "usageMetadata": { "promptTokenCount": 11, "candidatesTokenCount": 7 }
                }),
                _ => serde_json::json!({ "error": { "message": format!("unexpected path {path}") } }),
            }
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

#[test]
fn anthropic_and_gemini_shapes_work_over_http() {
    for kind in [ProviderKind::Anthropic, ProviderKind::Gemini] {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let mut cfg = config("r", 6, 5);
        (cfg.provider, cfg.base_url, cfg.api_key) =
            (kind, shaped_server(kind), Some("test-key".into()));
        let transport =
            ehrsynth_llm::engine::HttpTransport::new(Duration::from_secs(5), None).unwrap();
        let outcome = run(
            &cfg,
            &schema(),
            &journal,
            &transport,
            &|_| "p".into(),
            &HashSet::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            (outcome.rows.len(), outcome.stop.clone()),
            (6, StopReason::Enough),
            "{kind:?}: {:?}",
            outcome.rejected
        );
        assert_eq!(outcome.tokens, 3 * 18);
        let egress = journal.egress("r").unwrap();
        assert_eq!(egress.len(), 3);
        assert!(
            egress.iter().all(|e| !e.endpoint.contains("test-key")),
            "the key never reaches the log"
        );
    }
}

fn concurrent(run: &str, target: usize, max_requests: usize, concurrency: usize) -> EngineConfig {
    let mut cfg = config(run, target, max_requests);
    cfg.limits.concurrency = concurrency;
    cfg
}

/// Wraps [`Scripted`]: holds each request until `wanted` are in flight together (or 5 s pass),
/// recording the most in flight at once, and delays answers by slot so they come back out of
/// order.
struct Overlapping {
    inner: Scripted,
    wanted: usize,
    state: Mutex<(usize, usize)>, // (in flight now, most in flight)
    changed: std::sync::Condvar,
}

impl Overlapping {
    fn new(inner: Scripted, wanted: usize) -> Self {
        Self {
            inner,
            wanted,
            state: Mutex::new((0, 0)),
            changed: std::sync::Condvar::new(),
        }
    }
}

impl Transport for Overlapping {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        {
            let mut state = self.state.lock().unwrap();
            state.0 += 1;
            state.1 = state.1.max(state.0);
            self.changed.notify_all();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while state.1 < self.wanted && std::time::Instant::now() < deadline {
                state = self
                    .changed
                    .wait_timeout(state, Duration::from_millis(50))
                    .unwrap()
                    .0;
            }
        }
        let seed = request.body["seed"].as_u64().unwrap();
        std::thread::sleep(Duration::from_millis(seed * 7 % 13));
        let answer = self.inner.send(request);
        self.state.lock().unwrap().0 -= 1;
        answer
    }
}

#[test]
fn requests_overlap_up_to_the_concurrency() {
    for concurrency in [2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let transport = Overlapping::new(Scripted::new(vec![]), concurrency);
        let outcome = run(
            &concurrent("r", 40, 30, concurrency),
            &schema(),
            &journal,
            &transport,
            &|_| "p".into(),
            &HashSet::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!((outcome.rows.len(), outcome.stop), (40, StopReason::Enough));
        assert_eq!(
            transport.state.lock().unwrap().1,
            concurrency,
            "most requests in flight at once"
        );
        // Every request sent was journaled with its answer, none twice.
        let calls = transport.inner.calls.lock().unwrap().clone();
        let unique: HashSet<u64> = calls.iter().copied().collect();
        assert_eq!(unique.len(), calls.len());
        let totals = journal.totals("r").unwrap();
        assert_eq!((totals.answered, totals.failed), (calls.len() as u64, 0));
        assert!(
            calls.len() < 10 + 2 * concurrency,
            "at most 2c - 1 extra requests"
        );
    }
}

/// Faults on some slots, answers out of order.
fn faulty() -> Overlapping {
    let down = RawResponse {
        status: 503,
        body: "unavailable".into(),
        retry_after: None,
    };
    let mut faults: Vec<_> = std::iter::repeat_n((3, Ok(down)), 4).collect(); // slot 3 fails
    faults.push((1, Err(TransportError::Timeout)));
    faults.push((5, ok("I'm sorry, I can't help with that.")));
    faults.push((6, ok("age,death\n20,0\n21,1\n99,1\n")));
    Overlapping::new(Scripted::new(faults), 1)
}

#[test]
fn concurrency_changes_timing_but_not_rows() {
    let training: HashSet<String> = ["33\u{1f}1".to_string()].into_iter().collect();
    let run_with = |concurrency: usize| {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        run(
            &concurrent("r", 30, 40, concurrency),
            &schema(),
            &journal,
            &faulty(),
            &|_| "p".into(),
            &training,
            &|_| {},
        )
        .unwrap()
    };
    let one = run_with(1);
    assert_eq!((one.rows.len(), one.stop.clone()), (30, StopReason::Enough));
    for concurrency in [2, 4, 8] {
        let many = run_with(concurrency);
        assert_eq!(many.rows, one.rows, "concurrency {concurrency}");
        assert_eq!(many.rejected, one.rejected, "concurrency {concurrency}");
        assert_eq!(
            (many.duplicates, many.training_copies, many.stop.clone()),
            (one.duplicates, one.training_copies, one.stop.clone()),
            "concurrency {concurrency}"
        );
    }
}

#[test]
fn budgets_stop_cleanly_with_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let mut cfg = concurrent("r", 1000, 1000, 4);
    cfg.max_tokens = Some(1500); // 10 answers of 150 tokens
    let transport = Overlapping::new(Scripted::new(vec![]), 4);
    let outcome = run(
        &cfg,
        &schema(),
        &journal,
        &transport,
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(outcome.stop, StopReason::TokenBudget);
    let totals = journal.totals("r").unwrap();
    // Nothing left half-done: every request begun was answered and counted, and every answer
    // paid for was used (4 valid rows each).
    assert_eq!(totals.requests, totals.answered);
    assert_eq!(totals.answered, outcome.requests as u64);
    assert_eq!(outcome.tokens, 150 * totals.answered);
    assert_eq!(outcome.rows.len(), 4 * outcome.requests);
    // In-flight requests count against the budget: the overshoot stays under one round.
    assert!(
        outcome.tokens >= 1500 && outcome.tokens < 1500 + 4 * 150,
        "{}",
        outcome.tokens
    );

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    cfg.max_tokens = None;
    cfg.max_cost_usd = Some(0.002); // 200 µ$ per answer
    let outcome = run(
        &cfg,
        &schema(),
        &journal,
        &Overlapping::new(Scripted::new(vec![]), 4),
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(outcome.stop, StopReason::CostBudget);
    assert!(outcome.cost_usd >= 0.002 && outcome.cost_usd < 0.002 + 4.0 * 0.0002);
    let totals = journal.totals("r").unwrap();
    assert_eq!(totals.requests, totals.answered);
}

#[test]
fn the_rate_limit_spaces_requests_in_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let mut cfg = concurrent("r", 20, 10, 4);
    cfg.limits.requests_per_minute = Some(2);
    let slept = Mutex::new(Vec::new());
    let outcome = run(
        &cfg,
        &schema(),
        &journal,
        &Scripted::new(vec![]),
        &|_| "p".into(),
        &HashSet::new(),
        &|d| slept.lock().unwrap().push(d),
    )
    .unwrap();
    assert_eq!(outcome.rows.len(), 20);
    // 5 requests (more if answers came back out of order): 2 at once, 2 a minute later, and so
    // on. The wait is that, less the little real time that passed between sends (the clock is
    // wall time, moved on by each requested sleep).
    let minutes = (outcome.requests as u64 - 1) / 2;
    assert!(outcome.requests >= 5, "{}", outcome.requests);
    let waited: Duration = slept.lock().unwrap().iter().sum();
    let expected = Duration::from_secs(60 * minutes);
    assert!(
        waited > expected - Duration::from_secs(20) && waited <= expected,
        "{waited:?} for {} requests",
        outcome.requests
    );
}

#[test]
fn a_killed_concurrent_run_resumes_without_asking_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let first = Overlapping::new(Scripted::new(vec![]), 4);
    let partial = run(
        &concurrent("r", 40, 5, 4),
        &schema(),
        &Journal::open(&path).unwrap(),
        &first,
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(partial.stop, StopReason::RequestBudget);
    let second = Overlapping::new(Scripted::new(vec![]), 4);
    let outcome = run(
        &concurrent("r", 40, 40, 4),
        &schema(),
        &Journal::open(&path).unwrap(),
        &second,
        &|_| "p".into(),
        &HashSet::new(),
        &|_| {},
    )
    .unwrap();
    assert_eq!((outcome.rows.len(), outcome.from_journal), (40, 5));
    let mut calls = first.inner.calls.lock().unwrap().clone();
    calls.extend(second.inner.calls.lock().unwrap().iter());
    let unique: HashSet<u64> = calls.iter().copied().collect();
    assert_eq!(unique.len(), calls.len(), "no slot asked twice: {calls:?}");
    let ages: Vec<i64> = outcome.rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ages, (20..60).collect::<Vec<_>>());
}

#[test]
fn retry_after_pauses_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let limited = RawResponse {
        status: 429,
        body: String::new(),
        retry_after: Some(30),
    };
    let transport = Overlapping::new(Scripted::new(vec![(0, Ok(limited))]), 4);
    let slept = Mutex::new(Vec::new());
    let outcome = run(
        &concurrent("r", 40, 20, 4),
        &schema(),
        &journal,
        &transport,
        &|_| "p".into(),
        &HashSet::new(),
        &|d| slept.lock().unwrap().push(d),
    )
    .unwrap();
    assert_eq!(outcome.rows.len(), 40);
    // The sleeps do not pass here, so every send after the 429 (slot 0's retry and the later
    // slots') waits for the rest of the 30 s first, not just the request that was told so.
    let paused = slept
        .lock()
        .unwrap()
        .iter()
        .filter(|d| **d > Duration::from_secs(29) && **d <= Duration::from_secs(30))
        .count();
    assert!(paused >= 3, "{paused} sends waited");
}

/// Wraps [`Scripted`]: panics on one slot's every attempt, like a transport with a bug.
struct PanicsOn {
    inner: Scripted,
    slot: u64,
}

impl Transport for PanicsOn {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        if request.body["seed"].as_u64() == Some(1000 + self.slot) {
            panic!("a bug in the transport");
        }
        self.inner.send(request)
    }
}

#[test]
fn a_panicking_request_is_a_failure_with_its_reason_not_a_hang() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let transport = PanicsOn {
            inner: Scripted::new(Vec::new()),
            slot: 1,
        };
        let outcome = run(
            &concurrent("panic", 12, 8, 4),
            &schema(),
            &journal,
            &transport,
            &|_| "p".into(),
            &HashSet::new(),
            &|_| {},
        );
        let failed = journal.totals("panic").unwrap().failed;
        let _ = done.send(outcome.map(|o| (o, failed)).map_err(|e| e.to_string()));
    });
    // With concurrency 4 the dead worker's slot was never reported: the loop waited forever.
    let (outcome, failed) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ends")
        .expect("the run returns an outcome");
    assert!(outcome.rows.len() >= 12, "{}", outcome.rows.len());
    // The panicking slot is journaled as a failed request; the others' rows are kept.
    assert_eq!(failed, 1);
}

/// Answers every request with the same raw body.
struct Always(String);

impl Transport for Always {
    fn send(&self, _: &HttpRequest) -> Result<RawResponse, TransportError> {
        Ok(RawResponse {
            status: 200,
            body: self.0.clone(),
            retry_after: None,
        })
    }
}

#[test]
fn refusals_and_fruitless_answers_stop_the_run_instead_of_spending_every_request() {
    let stop_after = |body: String| {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        run(
            &config("r", 1000, 155),
            &schema(),
            &journal,
            &Always(body),
            &|_| "p".into(),
            &HashSet::new(),
            &|_| {},
        )
        .unwrap()
    };
    // Every answer refused: 155 requests were spent for 1,000 rows; now the breaker (3) stops it.
    let refused = stop_after(
        serde_json::json!({
            "choices": [{ "message": { "content": null, "refusal": "I can't help with that." },
                          "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 100, "completion_tokens": 5 }
        })
        .to_string(),
    );
    assert_eq!(refused.requests, 3, "{:?}", refused.stop);
    assert!(
        matches!(&refused.stop, StopReason::ProviderFailing(r) if r.contains("refused 3 times")),
        "{:?}",
        refused.stop
    );
    // Every answer out of range: nine answers without a new row stop it.
    let useless = stop_after(openai_body("age,death\n150,0\n151,1\n"));
    assert_eq!(useless.requests, 9, "{:?}", useless.stop);
    assert!(
        matches!(&useless.stop, StopReason::ProviderFailing(r) if r.contains("brought no new row")),
        "{:?}",
        useless.stop
    );
}
