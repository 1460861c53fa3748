//! Which transport carries a provider's requests: the one place `generate` and `study` get them
//! from, so every provider (HTTP and TLS servers, the in-process local model) is available to
//! both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use ehrsynth_llm::LlmError;
use ehrsynth_llm::engine::{HttpTransport, Transport};
use ehrsynth_local::{LocalModel, LocalTransport, ModelCache};
use ehrsynth_study::llm_settings::TransportNeeds;
use ehrsynth_table::Schema;

use crate::progress::Bars;

/// The transport for a study cell: the in-process model for `local` (model `default` is the
/// pulled SmolLM2, any other name a GGUF file), HTTP or TLS (Mozilla's roots) otherwise.
pub fn transport_for(needs: &TransportNeeds<'_>) -> Result<Arc<dyn Transport>, LlmError> {
    if ehrsynth_llm::context::is_in_process(needs.provider) {
        let model_path = (!matches!(needs.model, "" | "default")).then(|| Path::new(needs.model));
        let transport = local_transport(model_path, 0, needs.schema, needs.rows_per_request)
            .map_err(|e| LlmError::Transport(format!("{e:#}")))?;
        return Ok(Arc::new(transport));
    }
    let transport =
        HttpTransport::new(needs.timeout, None)?.with_max_answer_bytes(needs.max_answer_bytes);
    Ok(Arc::new(transport))
}

/// The in-process model: `model_path` or the default model (pulled on first use), as its fast
/// Q8_0 copy where that helps, with the schema grammar on. `threads` 0 = all cores.
pub fn local_transport(
    model_path: Option<&Path>,
    threads: usize,
    schema: &Schema,
    rows_per_request: usize,
) -> anyhow::Result<LocalTransport> {
    let bars = Bars::default();
    let cache = ModelCache::from_env()?;
    let path = match model_path {
        Some(path) => cache
            .fast_model(path)
            .with_context(|| format!("preparing the model file {}", path.display()))?,
        None => ehrsynth_local::ensure_default_model(&bars)
            .context("getting the default local model (or give a GGUF file)")?,
    };
    let model = loaded_model(&path, threads)?;
    Ok(LocalTransport::shared(
        model,
        schema.clone(),
        rows_per_request,
        true,
    ))
}

/// The model at `path`, loaded once per process and thread count (every cell of a study
/// shares it instead of reading and re-quantising the file again).
fn loaded_model(path: &Path, threads: usize) -> anyhow::Result<Arc<Mutex<LocalModel>>> {
    type Loaded = HashMap<(PathBuf, usize), Arc<Mutex<LocalModel>>>;
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let key = (path.to_path_buf(), threads);
    if let Some(model) = loaded.get(&key) {
        return Ok(model.clone());
    }
    eprintln!("local model: {}", path.display());
    let model = Arc::new(Mutex::new(LocalModel::load(path, threads)?));
    loaded.insert(key, model.clone());
    Ok(model)
}
