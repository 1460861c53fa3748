//! Token-mask time of constrained decoding ([`ehrsynth_llm::grammar`]) per decoding step,
//! for the 83-column eICU schema. Steps follow a random walk over allowed tokens (seeded), so
//! they visit header, number, binary and category states in realistic proportions.
//!
//!     cargo bench -p ehrsynth-llm --bench grammar
//!     EHRSYNTH_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf cargo bench -p ehrsynth-llm --bench grammar
//!
//! Without `EHRSYNTH_GGUF` the vocabulary is synthetic (49,152 tokens: all bytes plus merges cut
//! from answer-like text and words); with it, the model's own tokens are read from the GGUF
//! metadata (`tokenizer.ggml.tokens`, byte-level BPE strings; control tokens from
//! `tokenizer.ggml.token_type`).

use std::sync::Arc;
use std::time::Instant;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_llm::grammar::{ConstrainedDecoder, RowGrammar, TokenVocabulary};
use ehrsynth_llm::parse::{AnswerFormat, parse_answer};
use ehrsynth_table::Schema;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Reads the token strings, token types and end-of-text id from a GGUF file's metadata.
fn gguf_tokens(path: &str) -> Result<(Vec<String>, Vec<i32>, u32), String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut r = Reader { data: &data, at: 0 };
    if r.take(4)? != b"GGUF" {
        return Err(format!("{path}: not a GGUF file"));
    }
    let _version = r.u32()?;
    let _tensors = r.u64()?;
    let kv_count = r.u64()?;
    let (mut tokens, mut types, mut eos) = (Vec::new(), Vec::new(), None);
    for _ in 0..kv_count {
        let key = r.string()?;
        let kind = r.u32()?;
        match (key.as_str(), kind) {
            ("tokenizer.ggml.tokens", 9) => {
                let _item = r.u32()?;
                let n = r.u64()?;
                tokens = (0..n).map(|_| r.string()).collect::<Result<_, _>>()?;
            }
            ("tokenizer.ggml.token_type", 9) => {
                let _item = r.u32()?;
                let n = r.u64()?;
                types = (0..n)
                    .map(|_| r.u32().map(|t| t as i32))
                    .collect::<Result<_, _>>()?;
            }
            ("tokenizer.ggml.eos_token_id", 4) => eos = Some(r.u32()?),
            _ => r.skip_value(kind)?,
        }
    }
    Ok((tokens, types, eos.ok_or("no tokenizer.ggml.eos_token_id")?))
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or("GGUF metadata ends early")?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn skip_value(&mut self, kind: u32) -> Result<(), String> {
        let size = match kind {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => {
                self.string()?;
                return Ok(());
            }
            9 => {
                let item = self.u32()?;
                let n = self.u64()?;
                for _ in 0..n {
                    self.skip_value(item)?;
                }
                return Ok(());
            }
            other => return Err(format!("unknown GGUF value type {other}")),
        };
        self.take(size).map(|_| ())
    }
}

/// 49,152 tokens: end-of-text, all bytes, then merges cut from answer-like text and words.
fn synthetic_vocabulary() -> Vec<Vec<u8>> {
    let mut tokens = vec![b"<|endoftext|>".to_vec()];
    tokens.extend((0..=255u8).map(|b| vec![b]));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let schema = eicu_schema();
    let mut corpus = schema.names().join(",");
    for _ in 0..5000 {
        let x: f64 = rng.random_range(-50.0..500.0);
        corpus.push_str(&format!(",{x:.1} the {} and,", x as i64));
    }
    let bytes = corpus.as_bytes();
    while tokens.len() < 49_152 {
        let len = rng.random_range(2..=10usize);
        let start = rng.random_range(0..bytes.len() - len);
        tokens.push(bytes[start..start + len].to_vec());
    }
    tokens
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let (vocab, label) = match std::env::var("EHRSYNTH_GGUF") {
        Ok(path) => {
            let (tokens, types, eos) = gguf_tokens(&path).expect("GGUF tokens");
            let control = types
                .iter()
                .enumerate()
                .filter(|(_, t)| **t == 3)
                .map(|(i, _)| i as u32);
            let vocab = TokenVocabulary::from_byte_level(&tokens, eos).with_special(control);
            (vocab, format!("GGUF vocabulary ({path})"))
        }
        Err(_) => (
            TokenVocabulary::new(synthetic_vocabulary(), 0),
            "synthetic vocabulary".to_string(),
        ),
    };
    let size = vocab.len();
    let vocab = Arc::new(vocab);
    let schema = eicu_schema();
    let columns: Vec<String> = schema.names().into_iter().map(str::to_string).collect();
    let started = Instant::now();
    let rebuilt = TokenVocabulary::new(
        (0..size as u32)
            .map(|i| vocab.bytes(i).unwrap().to_vec())
            .collect(),
        0,
    );
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    drop(rebuilt);

    println!("{label}: {size} tokens, trie build {build_ms:.1} ms");
    // The schema's rules across columns (race one-hot, vital orders) narrow fields from the
    // row's earlier values: the same walk without them shows what they cost.
    let mut without_rules = schema.clone();
    without_rules.constraints.clear();
    for (name, schema) in [
        ("with the schema's rules", &schema),
        ("without them", &without_rules),
    ] {
        let grammar = Arc::new(RowGrammar::csv(schema, &columns, &[]).expect("grammar"));
        walk(name, &grammar, &vocab, schema);
    }
}

/// Three seeded 5-row answers; prints the mask time per step and the answers' validity.
fn walk(name: &str, grammar: &Arc<RowGrammar>, vocab: &Arc<TokenVocabulary>, schema: &Schema) {
    let size = vocab.len();
    let mut mask = vec![false; size];
    // The first call touches the mask's pages and the trie for the first time: not a step.
    ConstrainedDecoder::new(grammar.clone(), vocab.clone(), 1).allowed(&mut mask);
    let mut times = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut tokens_out = 0usize;
    let (mut valid_rows, mut rejected) = (0, 0);
    let mut sample = String::new();
    let mut slowest = (0.0, String::new());
    for _ in 0..3 {
        let mut decoder = ConstrainedDecoder::new(grammar.clone(), vocab.clone(), 5);
        while !decoder.is_finished() {
            let t = Instant::now();
            decoder.allowed(&mut mask);
            let micros = t.elapsed().as_secs_f64() * 1e6;
            if micros > slowest.0 {
                let text = decoder.text();
                let tail = text.len().saturating_sub(30);
                slowest = (micros, text[tail..].to_string());
            }
            times.push(micros);
            let allowed: Vec<u32> = (0..size as u32).filter(|&i| mask[i as usize]).collect();
            // Prefer longer tokens like a model would, so multi-byte merges get exercised.
            let pick = if rng.random_bool(0.5) {
                *allowed
                    .iter()
                    .max_by_key(|&&i| vocab.bytes(i).map_or(0, <[u8]>::len))
                    .unwrap()
            } else {
                allowed[rng.random_range(0..allowed.len())]
            };
            decoder.accept(pick).expect("allowed token");
            tokens_out += 1;
        }
        let parsed = parse_answer(decoder.text(), schema, AnswerFormat::Csv);
        valid_rows += parsed.rows.len();
        rejected += parsed.rejected.len();
        sample = decoder
            .text()
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string();
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{name}: mask per step over {} steps (15 eICU rows, {tokens_out} tokens): median {:.1} µs, p90 {:.1} µs, max {:.1} µs, mean {:.1} µs",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times[times.len() - 1],
        mean
    );
    println!("  slowest step after ...{:?}", slowest.1);
    println!("  answers: {valid_rows} valid rows, {rejected} rejected; a row: {sample}");
}
