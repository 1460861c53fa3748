//! The LLM strategies as a generator, against a fake OpenAI-compatible transport that writes
//! rows for whatever group the prompt names: rows are spread evenly over the groups, rows of the
//! wrong group are dropped, every row validates, and a condition fixes the group.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ehrsynth_gen::strategies::{LlmConfig, LlmGenerator};
use ehrsynth_gen::{Generator, SampleOptions};
use ehrsynth_llm::context::ContextOptions;
use ehrsynth_llm::engine::{EngineConfig, Price, RawResponse, Transport, TransportError};
use ehrsynth_llm::prompt::{Strategy, Template};
use ehrsynth_llm::provider::{HttpRequest, Parameters, ProviderKind};
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, NoProgress, Role, Schema, Table};

fn schema() -> Schema {
    let mut age = ColumnSpec::new("age", ColumnKind::Integer);
    (age.min, age.max, age.missing_allowed) = (Some(16.0), Some(90.0), false);
    let mut female = ColumnSpec::new("is_female", ColumnKind::Binary);
    (female.role, female.missing_allowed) = (Role::Group, false);
    Schema::new(vec![age, female]).unwrap()
}

fn train() -> Table {
    Table::new(vec![
        Column::integer("age", &(0..40).map(|i| Some(30 + i)).collect::<Vec<_>>()),
        Column::binary(
            "is_female",
            &(0..40).map(|i| Some(i % 2 == 0)).collect::<Vec<_>>(),
        ),
    ])
    .unwrap()
}

/// Writes 3 rows of the prompt's group per request, plus one row of the other group.
#[derive(Default)]
struct GroupEcho {
    prompts: Mutex<Vec<String>>,
    /// Each request's grammar field (for the in-process provider), or null.
    grammars: Mutex<Vec<serde_json::Value>>,
    /// Each request's whole body.
    bodies: Mutex<Vec<serde_json::Value>>,
    counter: Mutex<i64>,
}

impl Transport for GroupEcho {
    fn send(&self, request: &HttpRequest) -> Result<RawResponse, TransportError> {
        let prompt = request.body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_string();
        let group = if prompt.contains("is_female = 1") {
            1
        } else {
            0
        };
        self.prompts.lock().unwrap().push(prompt);
        self.bodies.lock().unwrap().push(request.body.clone());
        self.grammars
            .lock()
            .unwrap()
            .push(request.body["ehrsynth_grammar"].clone());
        let mut n = self.counter.lock().unwrap();
        *n += 4;
        let text = format!(
            "age,is_female\n{},{group}\n{},{group}\n{},{group}\n{},{}\n",
            17 + *n % 70,
            18 + *n % 70,
            19 + *n % 70,
            20 + *n % 70,
            1 - group
        );
        let body = serde_json::json!({"choices":[{"message":{"content":text},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":10}});
        Ok(RawResponse {
            status: 200,
            body: body.to_string(),
            retry_after: None,
        })
    }
}

fn generator(
    strategy: Strategy,
    journal: std::path::PathBuf,
    transport: Arc<GroupEcho>,
) -> LlmGenerator {
    LlmGenerator::new(config(strategy, journal, transport))
}

fn config(strategy: Strategy, journal: std::path::PathBuf, transport: Arc<GroupEcho>) -> LlmConfig {
    LlmConfig {
        strategy,
        template: Template::builtin(strategy),
        context: ContextOptions::default(),
        rows_per_request: 3,
        engine: EngineConfig {
            run: "test".into(),
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
            target_rows: 0,
            max_requests: 50,
            max_tokens: None,
            max_cost_usd: None,
            price: Price::default(),
            max_retries: 1,
            backoff: Duration::from_millis(1),
            circuit_breaker: 3,
            limits: ehrsynth_llm::limits::Limits {
                concurrency: 1,
                requests_per_minute: None,
                tokens_per_minute: None,
            },
            use_cache: true,
            seed: 0,
            fixed: None,
            decimals: Vec::new(),
            real_rows_in_prompts: false,
        },
        journal,
        transport,
    }
}

#[test]
fn the_group_strategy_spreads_rows_evenly_and_keeps_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(GroupEcho::default());
    let mut g = generator(
        Strategy::Group,
        dir.path().join("j.sqlite"),
        transport.clone(),
    );
    g.fit(&train(), &schema(), 1, &NoProgress).unwrap();
    let table = g
        .generate(
            &SampleOptions {
                rows: 10,
                seed: 3,
                condition: None,
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(table.n_rows(), 10);
    assert!(schema().validate_table(&table).unwrap().rejected.is_empty());
    let female = table.column("is_female").unwrap();
    let women = (0..10).filter(|&i| female.get_f64(i) == Some(1.0)).count();
    assert_eq!(women, 5);
    let prompts = transport.prompts.lock().unwrap();
    assert!(
        prompts.iter().any(|p| p.contains("is_female = 0"))
            && prompts.iter().any(|p| p.contains("is_female = 1"))
    );
    assert!(prompts.iter().all(|p| p.contains("Generate 3 patients")));
}

#[test]
fn a_condition_fixes_the_group_for_any_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(GroupEcho::default());
    let mut g = generator(Strategy::Schema, dir.path().join("j.sqlite"), transport);
    g.fit(&train(), &schema(), 1, &NoProgress).unwrap();
    let options = SampleOptions {
        rows: 7,
        seed: 3,
        condition: Some("is_female=1".parse().unwrap()),
    };
    let table = g.generate(&options, &NoProgress).unwrap();
    assert_eq!(table.n_rows(), 7);
    let female = table.column("is_female").unwrap();
    assert!((0..7).all(|i| female.get_f64(i) == Some(1.0)));
    let summary = g.last_runs.lock().unwrap().clone();
    assert_eq!(summary.len(), 1);
    assert!(summary[0].1.contains("stopped: Enough"), "{summary:?}");
    let bad = SampleOptions {
        rows: 2,
        seed: 3,
        condition: Some("is_female=5".parse().unwrap()),
    };
    assert!(
        g.generate(&bad, &NoProgress)
            .unwrap_err()
            .to_string()
            .contains("never occurs")
    );
}

/// Both generators see five real rows; the in-process one reads them at the start of its
/// answer (the grammar field's `answer_start`), the HTTP one (opted in) in its prompt.
fn prompts_with_examples(
    provider: ProviderKind,
    name: &str,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(GroupEcho::default());
    let mut settings = config(
        Strategy::Naive,
        dir.path().join("j.sqlite"),
        transport.clone(),
    );
    settings.engine.provider = provider;
    settings.engine.provider_name = name.into();
    settings.context.real_examples = 5;
    settings.context.allow_real_examples_for = Some("fake".into());
    let mut g = LlmGenerator::new(settings);
    g.fit(&train(), &schema(), 1, &NoProgress).unwrap();
    let options = SampleOptions {
        rows: 6,
        seed: 3,
        condition: None,
    };
    g.generate(&options, &NoProgress).unwrap();
    let prompts = transport.prompts.lock().unwrap().clone();
    let grammars = transport.grammars.lock().unwrap().clone();
    (prompts, grammars)
}

#[test]
fn the_in_process_model_continues_example_rows_and_http_providers_read_them_in_the_prompt() {
    let (prompts, grammars) = prompts_with_examples(ProviderKind::Local, "local");
    assert!(!prompts.is_empty());
    for (prompt, grammar) in prompts.iter().zip(&grammars) {
        assert!(
            !prompt.contains("Example rows from the real data"),
            "{prompt}"
        );
        assert!(
            prompt.contains("starts with the header and 5 example rows"),
            "{prompt}"
        );
        let rows = grammar["answer_start"].as_str().expect("answer_start");
        assert_eq!(rows.lines().count(), 5, "{rows}");
        // Data lines only, each with both columns, at the training values.
        for line in rows.lines() {
            let age: i64 = line.split(',').next().unwrap().parse().unwrap();
            assert!((30..70).contains(&age), "{line}");
        }
    }
    // Requests draw their examples afresh.
    if grammars.len() > 1 {
        assert_ne!(grammars[0]["answer_start"], grammars[1]["answer_start"]);
    }
    let (prompts, grammars) = prompts_with_examples(ProviderKind::OpenAiCompatible, "fake");
    for (prompt, grammar) in prompts.iter().zip(&grammars) {
        assert!(
            prompt.contains("Example rows from the real data"),
            "{prompt}"
        );
        assert!(
            grammar.is_null(),
            "no grammar field leaves the machine: {grammar}"
        );
    }
}

/// The schema of property `name` anywhere in a JSON schema.
fn property<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    if let Some(p) = v.get("properties").and_then(|p| p.get(name)) {
        return Some(p);
    }
    match v {
        serde_json::Value::Object(map) => map.values().find_map(|x| property(x, name)),
        serde_json::Value::Array(items) => items.iter().find_map(|x| property(x, name)),
        _ => None,
    }
}

#[test]
fn structured_group_requests_ask_for_json_and_pin_the_group_column() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(GroupEcho::default());
    let mut cfg = config(
        Strategy::Group,
        dir.path().join("j.sqlite"),
        transport.clone(),
    );
    cfg.engine.structured = true;
    cfg.engine.max_requests = 4;
    let mut g = LlmGenerator::new(cfg);
    g.fit(&train(), &schema(), 1, &NoProgress).unwrap();
    let _ = g.generate(
        &SampleOptions {
            rows: 6,
            seed: 3,
            condition: None,
        },
        &NoProgress,
    );
    let prompts = transport.prompts.lock().unwrap();
    assert!(!prompts.is_empty());
    // The prompt said "Answer with CSV only" while the request asked for JSON rows.
    for p in prompts.iter() {
        assert!(
            p.contains("Answer with JSON only") && !p.contains("CSV only"),
            "{p}"
        );
    }
    for (prompt, body) in prompts.iter().zip(transport.bodies.lock().unwrap().iter()) {
        let group = if prompt.contains("is_female = 1") {
            1
        } else {
            0
        };
        let pinned = property(body, "is_female").expect("a structured schema");
        assert_eq!(
            (pinned["minimum"].as_i64(), pinned["maximum"].as_i64()),
            (Some(group), Some(group)),
            "{pinned}"
        );
    }
}
