//! Which transport carries a provider's requests: the one place `generate` and `study` get them
//! from, so every provider (HTTP and TLS servers, the in-process local model) is available to
//! both.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ehrsynth_gen::llm::engine::{HttpTransport, Transport};
use ehrsynth_local::{LocalModel, LocalTransport, ModelCache};
use ehrsynth_study::llm::TransportNeeds;
use ehrsynth_table::Schema;

use crate::progress::Bars;

/// The transport for a study cell: the in-process model for `local` (model `default` is the
/// pulled SmolLM2, any other name a GGUF file), HTTP or TLS (Mozilla's roots) otherwise.
pub fn transport_for(needs: &TransportNeeds<'_>) -> Result<Arc<dyn Transport>, String> {
    if needs.provider.eq_ignore_ascii_case("local") {
        let model_path = (!matches!(needs.model, "" | "default")).then(|| Path::new(needs.model));
        let transport = local_transport(model_path, 0, needs.schema, needs.rows_per_request)
            .map_err(|e| format!("{e:#}"))?;
        return Ok(Arc::new(transport));
    }
    let transport = HttpTransport::new(needs.timeout, None).map_err(|e| e.to_string())?;
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
    eprintln!("local model: {}", path.display());
    let model = LocalModel::load(&path, threads)?;
    Ok(LocalTransport::new(
        model,
        schema.clone(),
        rows_per_request,
        true,
    ))
}
