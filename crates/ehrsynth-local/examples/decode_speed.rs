//! Decoding speed of a GGUF model in this runtime: median tokens per second over a few runs of a
//! fixed prompt, free decoding (no grammar) at temperature 0 with end-of-text masked so every run
//! decodes the same number of tokens, alone (batch 1) and as a batch of sequences sharing the
//! prompt; compare with llama.cpp's `timings.predicted_per_second` on the same file
//! (docs/local-model.md shows both commands).
//!
//!     cargo run --release -p ehrsynth-local --example decode_speed -- MODEL.gguf [THREADS] [TOKENS] [RUNS] [BATCH]

use std::path::PathBuf;

use ehrsynth_local::chat::Message;
use ehrsynth_local::sample::Sampler;
use ehrsynth_local::{LocalModel, Sequence, TokenConstraint, Unconstrained};

/// Free decoding that never ends early: the end-of-text token is masked out.
struct NoEnd {
    inner: Unconstrained,
    eos: u32,
}

impl TokenConstraint for NoEnd {
    fn allowed(&mut self, mask: &mut [bool]) {
        mask[self.eos as usize] = false;
    }
    fn accept(&mut self, token: u32) -> Result<(), String> {
        self.inner.accept(token)
    }
    fn is_finished(&self) -> bool {
        false
    }
    fn text(&self) -> String {
        self.inner.text()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: decode_speed MODEL.gguf [THREADS] [TOKENS] [RUNS] [BATCH]")?,
    );
    let threads: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    let tokens: usize = args.get(2).map_or(Ok(128), |a| a.parse())?;
    let runs: usize = args.get(3).map_or(Ok(5), |a| a.parse())?;
    let mut model = LocalModel::load(&path, threads)?;
    let batch: usize = args.get(4).map_or(Ok(model.batch_size()), |a| a.parse())?;
    // A long prompt (as the LLM strategies send: ~1,000 tokens) when EHRSYNTH_PROMPT_REPEAT is set.
    let repeat: usize = std::env::var("EHRSYNTH_PROMPT_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let context = "Patients in the intensive care unit have their heart rate, blood pressure and \
                   temperature measured every hour. "
        .repeat(repeat);
    // Or the user message from a file (EHRSYNTH_PROMPT_FILE), e.g. a strategy's prompt.
    let content = match std::env::var("EHRSYNTH_PROMPT_FILE") {
        Ok(file) => std::fs::read_to_string(file)?,
        Err(_) => format!("{context}Write a short story about a nurse in an intensive care unit."),
    };
    let prompt = model.chat_prompt(&[Message {
        role: "user".into(),
        content,
    }]);
    let ids = model.encode(&prompt)?;
    for width in [1, batch] {
        model.set_batch_size(width);
        let mut speeds = Vec::new();
        for run in 0..runs {
            let sequences = (0..width)
                .map(|i| Sequence {
                    constraint: Box::new(NoEnd {
                        inner: Unconstrained::new(&model),
                        eos: model.eos(),
                    }),
                    sampler: Sampler::new(if width == 1 { 0.0 } else { 1.0 }, 1.0, i as u64),
                })
                .collect();
            let outcome = model.generate_batch(&ids, sequences, tokens)?;
            let decoded: usize = outcome
                .sequences
                .iter()
                .map(|s| s.as_ref().map_or(0, |g| g.completion_tokens))
                .sum();
            let speed = decoded as f64 / outcome.decode_seconds;
            if run == 0
                && let Some(Ok(g)) = outcome.sequences.get(width.min(2) - 1)
            {
                let shown = if width == 1 { 160 } else { 600 };
                let text: String = g.text.chars().take(shown).collect();
                println!("batch {width} text: {text:?}");
            }
            println!(
                "batch {width} run {run}: {} prompt tokens read in {:.0} ms, {decoded} tokens in {:.0} ms \
                 ({:.0} ms in {} forward steps) = {speed:.1} tokens/s",
                outcome.prompt_tokens_read,
                outcome.prompt_seconds * 1e3,
                outcome.decode_seconds * 1e3,
                outcome.forward_seconds * 1e3,
                outcome.steps
            );
            speeds.push(speed);
        }
        println!(
            "batch {width}: median {:.1} tokens/s ({threads} threads, {})",
            median(speeds),
            path.display()
        );
    }
    Ok(())
}
