//! The runtime against the real SmolLM2-135M-Instruct GGUF: token ids and chat prompt exactly as
//! llama.cpp makes them (reference values in fixtures/, from `smollm2_reference.py`), token bytes,
//! a sensible greedy answer, and the Q8_0 copy. The model comes from `EHRSYNTH_SMOLLM2_GGUF` or
//! the model cache. They are ignored by default (`cargo test -- --include-ignored` runs them, as
//! `.ci/run` does) and fail, saying why, when run without the model.

use std::path::PathBuf;

use ehrsynth_local::chat::{ChatTemplate, Message};
use ehrsynth_local::gguf::{self, GgufInfo};
use ehrsynth_local::sample::Sampler;
use ehrsynth_local::tokenizer::PromptTokenizer;
use ehrsynth_local::{LocalModel, TokenConstraint, Unconstrained};
use serde_json::Value;

fn model() -> PathBuf {
    let found = match std::env::var_os("EHRSYNTH_SMOLLM2_GGUF") {
        Some(file) => Some(PathBuf::from(file)).filter(|f| f.is_file()),
        None => ehrsynth_local::ModelCache::from_env()
            .ok()
            .and_then(|c| c.pulled(&ehrsynth_local::cache::SMOLLM2)),
    };
    found.expect("no SmolLM2 GGUF: set EHRSYNTH_SMOLLM2_GGUF or run `ehrsynth model pull`")
}

fn reference() -> Value {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smollm2_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn prompts_tokenize_exactly_as_llama_cpp_does() {
    let path = model();
    let (content, _) = gguf::open(&path).unwrap();
    let info = GgufInfo::from_content(&content, &path).unwrap();
    let tokenizer = PromptTokenizer::from_gguf(&content, &info).unwrap();
    let bytes = info.token_bytes();
    for case in reference()["tokens"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(tokenizer.encode(text).unwrap(), expected, "{text:?}");
        if !text.contains("<|") {
            // Token bytes put back together give the text again.
            let joined: Vec<u8> = expected
                .iter()
                .flat_map(|&id| bytes[id as usize].clone())
                .collect();
            assert_eq!(String::from_utf8(joined).unwrap(), text);
        }
    }
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn the_chat_prompt_matches_llama_cpps_rendering_of_the_gguf_template() {
    let path = model();
    let (content, _) = gguf::open(&path).unwrap();
    let info = GgufInfo::from_content(&content, &path).unwrap();
    let template = ChatTemplate::from_jinja(info.chat_template.as_deref()).unwrap();
    let reference = reference();
    let chat: Vec<Message> = reference["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Message {
            role: m["role"].as_str().unwrap().into(),
            content: m["content"].as_str().unwrap().into(),
        })
        .collect();
    assert_eq!(
        template.render(&chat),
        reference["chat_prompt"].as_str().unwrap()
    );
}

/// The token ids of `question` as the user's message in the model's chat template.
fn question_ids(model: &LocalModel, question: &str) -> Vec<u32> {
    let prompt = model.chat_prompt(&[Message {
        role: "user".into(),
        content: question.into(),
    }]);
    model.encode(&prompt).unwrap()
}

fn greedy_answer(model: &mut LocalModel, question: &str) -> (String, usize) {
    let ids = question_ids(model, question);
    let mut free = Unconstrained::new(model);
    let generation = model
        .generate(&ids, &mut free, &mut Sampler::new(0.0, 1.0, 1), 24)
        .unwrap();
    assert_eq!(generation.text, free.text());
    (generation.text, generation.completion_tokens)
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn the_model_answers_sensibly_and_its_q8_copy_agrees() {
    let path = model();
    let question = "What is the capital of France? Answer in one word.";
    let mut shipped = LocalModel::load(&path, 0).unwrap();
    let (answer, tokens) = greedy_answer(&mut shipped, question);
    assert!(answer.contains("Paris"), "{answer:?}");
    assert!(tokens <= 24);
    // The second identical prompt reuses the prompt state and gives the same answer.
    assert_eq!(greedy_answer(&mut shipped, question).0, answer);

    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("smollm2.Q8_0.gguf");
    gguf::requantize_to_q8(&path, &fast).unwrap();
    let (content, _) = gguf::open(&fast).unwrap();
    assert!(!gguf::needs_requantization(&content));
    let mut requantized = LocalModel::load(&fast, 0).unwrap();
    let (fast_answer, _) = greedy_answer(&mut requantized, question);
    assert!(fast_answer.contains("Paris"), "{fast_answer:?}");
}

/// Sampled free text of three seeded sequences continuing one prompt, `batch` at a time.
fn sampled_texts(model: &mut LocalModel, batch: usize, seeds: [u64; 3]) -> Vec<String> {
    let prompt = model.chat_prompt(&[Message {
        role: "user".into(),
        content: "List three vital signs measured in intensive care.".into(),
    }]);
    let ids = model.encode(&prompt).unwrap();
    model.set_batch_size(batch);
    let sequences = seeds
        .iter()
        .map(|&seed| ehrsynth_local::Sequence {
            constraint: Box::new(Unconstrained::new(model)),
            sampler: Sampler::new(1.0, 1.0, seed),
        })
        .collect();
    let outcome = model.generate_batch(&ids, sequences, 20).unwrap();
    outcome
        .sequences
        .into_iter()
        .map(|g| g.unwrap().text)
        .collect()
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn a_sequence_decodes_the_same_tokens_alone_or_in_a_batch() {
    let path = model();
    let mut model = LocalModel::load(&path, 2).unwrap();
    let seeds = [1, 2, 3];
    let alone = sampled_texts(&mut model, 1, seeds);
    let together = sampled_texts(&mut model, 3, seeds);
    assert_eq!(alone, together);
    // Positive control: the seeds matter, so equality above is not a constant answer.
    assert!(alone[0] != alone[1] || alone[1] != alone[2], "{alone:?}");
    // A different thread count gives the same bits too.
    let mut one_thread = LocalModel::load(&path, 1).unwrap();
    assert_eq!(sampled_texts(&mut one_thread, 2, seeds), alone);
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn a_truncated_model_or_a_file_that_is_no_gguf_is_a_clear_error() {
    let path = model();
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for (name, cut) in [("header", 4096), ("half", bytes.len() / 2)] {
        let truncated = dir.path().join(format!("{name}.gguf"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = LocalModel::load(&truncated, 1).unwrap_err().to_string();
        assert!(
            err.contains(&truncated.display().to_string()),
            "{name}: {err}"
        );
    }
    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, "age,death\n61,0\n").unwrap();
    let err = LocalModel::load(&not_gguf, 1).unwrap_err().to_string();
    assert!(err.contains("not a readable GGUF"), "{err}");
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn empty_fields_can_be_written_with_the_multi_comma_tokens_the_model_reads() {
    use ehrsynth_llm::grammar::{ConstrainedDecoder, RowGrammar, TokenVocabulary};
    use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};
    use std::sync::Arc;
    let path = model();
    let model = LocalModel::load(&path, 1).unwrap();
    let spec = |name: &str| {
        let mut c = ColumnSpec::new(name, ColumnKind::Continuous);
        (c.min, c.max) = (Some(0.0), Some(100.0));
        c
    };
    let schema = Schema::new(vec![spec("a"), spec("b"), spec("c"), spec("d")]).unwrap();
    let columns: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let grammar = Arc::new(RowGrammar::csv(&schema, &columns, &[]).unwrap());
    let vocab = Arc::new(
        TokenVocabulary::new(model.token_bytes().as_ref().clone(), model.eos())
            .with_special(model.control_tokens()),
    );
    let mut decoder = ConstrainedDecoder::new(grammar, vocab, 2);
    // The prompt's example rows: how the tokenizer writes runs of empty fields.
    let ids = model.encode("a,b,c,d\n1.5,,,").unwrap();
    for &t in &ids {
        decoder
            .accept(t)
            .unwrap_or_else(|e| panic!("token {t}: {e}"));
    }
    let after_value = model.encode("a,b,c,d\n1.5").unwrap();
    let mut fresh = ConstrainedDecoder::new(
        Arc::new(RowGrammar::csv(&schema, &columns, &[]).unwrap()),
        Arc::new(
            TokenVocabulary::new(model.token_bytes().as_ref().clone(), model.eos())
                .with_special(model.control_tokens()),
        ),
        2,
    );
    for &t in &after_value {
        fresh.accept(t).unwrap();
    }
    let mut mask = vec![false; model.token_bytes().len()];
    fresh.allowed(&mut mask);
    let bytes = model.token_bytes();
    for run in [",,", ",,,"] {
        if let Some(id) = bytes.iter().position(|b| b == run.as_bytes()) {
            assert!(
                mask[id],
                "the token {run:?} is masked after a complete value"
            );
        }
    }
}

/// Refuses every token whose text holds a capital P (so "Paris" cannot be written).
struct NoCapitalP {
    inner: Unconstrained,
    bytes: std::sync::Arc<Vec<Vec<u8>>>,
}

impl TokenConstraint for NoCapitalP {
    fn allowed(&mut self, mask: &mut [bool]) {
        for (id, bytes) in self.bytes.iter().enumerate() {
            if bytes.contains(&b'P') {
                mask[id] = false;
            }
        }
    }
    fn accept(&mut self, token: u32) -> Result<(), String> {
        self.inner.accept(token)
    }
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
    fn text(&self) -> String {
        self.inner.text()
    }
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn the_grammar_pressure_counts_the_probability_a_constraint_refuses() {
    let path = model();
    let mut model = LocalModel::load(&path, 0).unwrap();
    let ids = question_ids(&model, "What is the capital of France? Answer in one word.");
    let mut free = Unconstrained::new(&model);
    let greedy = Sampler::new(0.0, 1.0, 1);
    let open = model
        .generate(&ids, &mut free, &mut greedy.clone(), 8)
        .unwrap();
    assert!(open.text.contains("Paris"), "{:?}", open.text);
    assert!(open.pressure.sampled > 0);
    assert_eq!(open.pressure.top_refused, 0);
    assert_eq!(open.pressure.mean_refused(), 0.0);
    let mut no_p = NoCapitalP {
        inner: Unconstrained::new(&model),
        bytes: model.token_bytes(),
    };
    let bent = model
        .generate(&ids, &mut no_p, &mut greedy.clone(), 8)
        .unwrap();
    assert!(!bent.text.contains('P'), "{:?}", bent.text);
    assert!(bent.pressure.top_refused >= 1, "{:?}", bent.pressure);
    assert!(bent.pressure.mean_refused() > 0.0, "{:?}", bent.pressure);
}

/// The local transport's answer to a two-column request, and its prompt size.
fn local_answer(path: &std::path::Path, answer_start: Option<&str>) -> (String, u64) {
    use ehrsynth_llm::engine::Transport;
    use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};
    let mut age = ColumnSpec::new("age", ColumnKind::Integer);
    (age.min, age.max, age.missing_allowed) = (Some(16.0), Some(90.0), false);
    let mut death = ColumnSpec::new("death", ColumnKind::Binary);
    death.missing_allowed = false;
    let schema = Schema::new(vec![age, death]).unwrap();
    let model = LocalModel::load(path, 0).unwrap();
    let transport = ehrsynth_local::LocalTransport::new(model, schema, 3, true);
    let mut grammar = serde_json::json!({ "columns": ["age", "death"], "decimals": [["age", 0]] });
    if let Some(rows) = answer_start {
        grammar["answer_start"] = rows.into();
    }
    let body = serde_json::json!({
        "messages": [{ "role": "user", "content": "Write ICU patients as CSV: age,death." }],
        "max_tokens": 16,
        "temperature": 0.8,
        "seed": 4,
        "ehrsynth_grammar": grammar,
    });
    let request = ehrsynth_llm::provider::HttpRequest {
        url: "local://smollm2".into(),
        headers: Vec::new(),
        body,
    };
    let raw = transport.send(&request).unwrap();
    assert_eq!(raw.status, 200, "{}", raw.body);
    let answer: Value = serde_json::from_str(&raw.body).unwrap();
    (
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string(),
        answer["usage"]["prompt_tokens"].as_u64().unwrap(),
    )
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn example_rows_that_open_the_answer_are_read_not_returned() {
    let path = model();
    let examples = "63,0\n71,1\n58,0\n";
    let (plain, plain_tokens) = local_answer(&path, None);
    let (continued, continued_tokens) = local_answer(&path, Some(examples));
    for answer in [&plain, &continued] {
        let lines: Vec<&str> = answer.lines().collect();
        assert_eq!(lines[0], "age,death", "{answer}");
        assert_eq!(lines.len(), 4, "the header and three new rows: {answer}");
    }
    assert!(!continued.contains(examples), "{continued}");
    // The model read the rows: a longer prompt and (same seeds) other rows.
    assert!(
        continued_tokens > plain_tokens + 6,
        "{plain_tokens} -> {continued_tokens}"
    );
    assert_ne!(plain, continued);
}

/// Lets the first token be anything; after `trap` only two tokens the model hardly ever wants
/// (`@`, `#`); four tokens in all. With `rewinds` it can go back (the runtime's reconsideration).
struct Trap {
    trap: u32,
    unlikely: [u32; 2],
    tokens: Vec<u32>,
    mark: Option<usize>,
    rewinds: bool,
}

impl TokenConstraint for Trap {
    fn allowed(&mut self, mask: &mut [bool]) {
        if self.tokens.len() == 1 && self.tokens[0] == self.trap {
            let keep = |id: usize| self.unlikely.contains(&(id as u32));
            mask.iter_mut()
                .enumerate()
                .for_each(|(id, m)| *m &= keep(id));
        }
    }
    fn accept(&mut self, token: u32) -> Result<(), String> {
        self.tokens.push(token);
        Ok(())
    }
    fn is_finished(&self) -> bool {
        self.tokens.len() >= 4
    }
    fn text(&self) -> String {
        format!("{:?}", self.tokens)
    }
    fn mark(&mut self) -> bool {
        self.mark = Some(self.tokens.len());
        self.rewinds
    }
    fn rewind(&mut self) -> bool {
        match self.mark.take() {
            Some(len) if self.rewinds => {
                self.tokens.truncate(len);
                true
            }
            _ => false,
        }
    }
}

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn a_sampled_token_that_leads_where_the_grammar_refuses_most_of_the_model_is_reconsidered() {
    let path = model();
    let mut model = LocalModel::load(&path, 0).unwrap();
    let ids = question_ids(&model, "What is the capital of France? Answer in one word.");
    // The trap is the model's favourite first token.
    let mut free = Unconstrained::new(&model);
    let first = model
        .generate(&ids, &mut free, &mut Sampler::new(0.0, 1.0, 1), 1)
        .unwrap();
    let trap = model.encode(&first.text).unwrap()[0];
    let unlikely = [model.encode("@").unwrap()[0], model.encode("#").unwrap()[0]];
    let runs = |rewinds: bool, model: &mut LocalModel| {
        let sequences = (0..40)
            .map(|seed| ehrsynth_local::Sequence {
                constraint: Box::new(Trap {
                    trap,
                    unlikely,
                    tokens: Vec::new(),
                    mark: None,
                    rewinds,
                }),
                sampler: Sampler::new(1.0, 1.0, seed),
            })
            .collect();
        let outcome = model.generate_batch(&ids, sequences, 8).unwrap();
        let generations: Vec<_> = outcome.sequences.into_iter().map(|g| g.unwrap()).collect();
        let trapped = generations
            .iter()
            .filter(|g| g.text.starts_with(&format!("[{trap},")))
            .count();
        let reconsidered: usize = generations.iter().map(|g| g.pressure.reconsidered).sum();
        (trapped, reconsidered)
    };
    let (trapped_plain, reconsidered_plain) = runs(false, &mut model);
    let (trapped, reconsidered) = runs(true, &mut model);
    eprintln!("trap: {trapped_plain}/40 without, {trapped}/40 with ({reconsidered} reconsidered)");
    assert_eq!(reconsidered_plain, 0);
    assert!(
        trapped_plain >= 5,
        "the favourite is drawn often: {trapped_plain}/40"
    );
    assert!(reconsidered > 0);
    assert!(
        trapped * 2 < trapped_plain,
        "reconsidered: {trapped}/40 fall into the trap, without: {trapped_plain}/40"
    );
}
