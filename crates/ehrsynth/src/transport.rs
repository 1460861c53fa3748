//! Which transport carries a provider's requests: the one function `generate` and `study`
//! share, so a provider added here (the in-process local model, TLS for hosted providers) is
//! available to both.

use std::sync::Arc;
use std::time::Duration;

use ehrsynth_gen::llm::engine::{HttpTransport, Transport};

/// The transport for `provider`, or why this build has none.
pub fn transport_for(provider: &str, timeout: Duration) -> Result<Arc<dyn Transport>, String> {
    if provider.eq_ignore_ascii_case("local") {
        return Err(
            "provider 'local' (the in-process GGUF model) is not in this build yet; use \
             openai-compatible with a local server (llama-server, Ollama) meanwhile"
                .into(),
        );
    }
    // HTTP for local servers, TLS (Mozilla's roots) for hosted APIs.
    let transport = HttpTransport::new(timeout, None).map_err(|e| e.to_string())?;
    Ok(Arc::new(transport))
}
