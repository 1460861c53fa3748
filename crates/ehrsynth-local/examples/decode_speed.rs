//! Decoding speed of a GGUF model in this runtime: median tokens per second over a few runs of
//! a fixed prompt, free decoding (no grammar) at temperature 0 with end-of-text masked so every
//! run decodes the same number of tokens; compare with llama.cpp's `timings.predicted_per_second`
//! on the same file (docs/local-model.md shows both commands).
//!
//!     cargo run --release -p ehrsynth-local --example decode_speed -- MODEL.gguf [THREADS] [TOKENS] [RUNS]

use std::path::PathBuf;

use ehrsynth_local::chat::Message;
use ehrsynth_local::sample::Sampler;
use ehrsynth_local::{LocalModel, TokenConstraint, Unconstrained};

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: decode_speed MODEL.gguf [THREADS] [TOKENS] [RUNS]")?,
    );
    let threads: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    let tokens: usize = args.get(2).map_or(Ok(128), |a| a.parse())?;
    let runs: usize = args.get(3).map_or(Ok(5), |a| a.parse())?;
    let mut model = LocalModel::load(&path, threads)?;
    let prompt = model.chat_prompt(&[Message {
        role: "user".into(),
        content: "Write a short story about a nurse in an intensive care unit.".into(),
    }]);
    let ids = model.encode(&prompt)?;
    let mut speeds = Vec::new();
    for run in 0..runs {
        let mut constraint = NoEnd {
            inner: Unconstrained::new(&model),
            eos: model.eos(),
        };
        let generation = model.generate(
            &ids,
            &mut constraint,
            &mut Sampler::new(0.0, 1.0, 1),
            tokens,
        )?;
        let speed = generation.completion_tokens as f64 / generation.decode_seconds;
        println!(
            "run {run}: {} prompt tokens in {:.0} ms, {} tokens in {:.0} ms = {speed:.1} tokens/s",
            generation.prompt_tokens,
            generation.prompt_seconds * 1e3,
            generation.completion_tokens,
            generation.decode_seconds * 1e3
        );
        speeds.push(speed);
    }
    speeds.sort_by(f64::total_cmp);
    println!(
        "median: {:.1} tokens/s ({threads} threads, {})",
        speeds[speeds.len() / 2],
        path.display()
    );
    Ok(())
}
