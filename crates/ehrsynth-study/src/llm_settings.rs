//! One place that turns a study cell's LLM settings into
//! an [`LlmConfig`]: provider wire format, API key from the environment, budgets, journal, and
//! the transport the caller supplies per provider (HTTP, the in-process local model, ...).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ehrsynth_gen::strategies::LlmConfig;
use ehrsynth_llm::LlmError;
use ehrsynth_llm::context::{ContextOptions, default_examples};
use ehrsynth_llm::engine::{EngineConfig, Price, Transport};
use ehrsynth_llm::limits::Limits;
use ehrsynth_llm::prompt::{Strategy, Template};
use ehrsynth_llm::provider::{Parameters, ProviderKind, UnknownProvider};
use ehrsynth_table::Schema;

/// Everything an LLM generation needs, whoever asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Strategy name: naive, schema, conditional or group.
    pub strategy: String,
    /// Provider name: local, openai, anthropic, gemini, openai-compatible.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Server base URL (default: the provider's).
    pub base_url: Option<String>,
    /// Environment variable holding the API key (default per provider).
    pub api_key_env: Option<String>,
    /// Rows asked for per request.
    pub rows_per_request: usize,
    /// Most requests of the run.
    pub max_requests: usize,
    /// Output token limit per request.
    pub max_output_tokens: u32,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Reasoning effort (OpenAI reasoning models).
    pub reasoning_effort: Option<String>,
    /// JSON rows with the provider's structured-output schema.
    pub structured: bool,
    /// Answer identical requests from the journal.
    pub use_cache: bool,
    /// Real rows per prompt (needs the opt-in below for HTTP providers); `None`: the provider's
    /// default ([`default_examples`]: 20 for `local`, else 0).
    pub real_examples: Option<usize>,
    /// The provider allowed to receive real rows.
    pub allow_real_examples_for: Option<String>,
    /// A custom prompt template text, replacing the strategy's.
    pub template: Option<String>,
    /// Seconds to wait for an answer.
    pub timeout: Duration,
    /// The cap on an answer body's size, in bytes (HTTP providers).
    pub max_answer_bytes: usize,
    /// Prices per million tokens.
    pub price: Price,
    /// Token budget.
    pub max_tokens: Option<u64>,
    /// Money budget.
    pub max_cost_usd: Option<f64>,
    /// Journal run name.
    pub run: String,
    /// Journal file.
    pub journal: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Concurrency and per-minute limits (default: the provider's, [`Limits::default_for`]).
    pub limits: Option<Limits>,
}

/// What a transport is asked to carry: the in-process model compiles its grammar from the
/// schema and the rows per request; HTTP transports need only the timeout.
#[derive(Debug, Clone, Copy)]
pub struct TransportNeeds<'a> {
    /// Provider name as configured.
    pub provider: &'a str,
    /// Model name (for `local`: `default` or a GGUF file path).
    pub model: &'a str,
    /// Seconds to wait for an answer.
    pub timeout: Duration,
    /// The cap on an answer body's size, in bytes.
    pub max_answer_bytes: usize,
    /// The generated table's schema (the cell's columns).
    pub schema: &'a Schema,
    /// Rows asked for per request.
    pub rows_per_request: usize,
}

/// Gives the transport for a provider, or says why there is none in this build.
pub type TransportFor<'a> =
    dyn Fn(&TransportNeeds<'_>) -> Result<Arc<dyn Transport>, LlmError> + Sync + 'a;

/// The wire format of a provider name.
pub fn wire_format(provider: &str) -> Result<ProviderKind, UnknownProvider> {
    ProviderKind::parse(provider).ok_or_else(|| ehrsynth_llm::provider::unknown_provider(provider))
}

/// Whether a provider bills money (so the study asks before using it).
pub fn is_paid(provider: &str) -> bool {
    ProviderKind::parse(provider).is_some_and(ProviderKind::is_billed)
}

/// The price a cell counts with: the built-in table for its model (as `generate` reads it), with
/// the generator's `price_input` / `price_output` over it; 0 for servers beside the data. A
/// paid provider's model with no known price is an error: a study's estimate, budget and
/// confirmation would otherwise count it at $0.
pub fn cell_price(
    entry: &crate::config::GeneratorConfig,
    provider: &str,
    model: &str,
) -> Result<Price, String> {
    let table = ehrsynth_llm::prices::PriceTable::builtin();
    let price = ehrsynth_llm::prices::run_price(
        &table,
        model,
        !is_paid(provider),
        entry.price_input,
        entry.price_output,
    )?;
    price.ok_or_else(|| {
        format!(
            "no price is known for model '{model}' ({provider}): set price_input and price_output in its [[generators]] entry"
        )
    })
}

/// Builds the generator config; fails with one sentence when the strategy, provider, key or
/// transport is not available.
pub fn llm_config(
    settings: &LlmSettings,
    schema: &Schema,
    transport_for: &TransportFor,
) -> Result<LlmConfig, LlmError> {
    let strategy = Strategy::parse(&settings.strategy)?;
    let provider = wire_format(&settings.provider)?;
    let local = provider.is_in_process();
    let key_variable = settings
        .api_key_env
        .clone()
        .unwrap_or_else(|| provider.default_key_variable().to_string());
    // The key is read here and only ever placed in a request header.
    let api_key = std::env::var(&key_variable).ok().filter(|k| !k.is_empty());
    if api_key.is_none() && provider.needs_key() {
        return Err(LlmError::MissingKey {
            provider: settings.provider.clone(),
            variable: key_variable,
        });
    }
    let template = match &settings.template {
        Some(text) => Template::custom(strategy, text)?,
        None => Template::builtin(strategy),
    };
    let transport = transport_for(&TransportNeeds {
        provider: &settings.provider,
        model: &settings.model,
        timeout: settings.timeout,
        max_answer_bytes: settings.max_answer_bytes,
        schema,
        rows_per_request: settings.rows_per_request,
    })?;
    let base_url = settings.base_url.clone().unwrap_or_else(|| {
        if local {
            format!("local://{}", settings.model)
        } else {
            provider.default_base_url().to_string()
        }
    });
    Ok(LlmConfig {
        strategy,
        template,
        context: ContextOptions {
            real_examples: default_examples(&settings.provider, settings.real_examples),
            allow_real_examples_for: settings.allow_real_examples_for.clone(),
            ..ContextOptions::default()
        },
        rows_per_request: settings.rows_per_request,
        engine: EngineConfig {
            run: settings.run.clone(),
            provider,
            provider_name: settings.provider.to_ascii_lowercase(),
            base_url,
            api_key,
            parameters: Parameters {
                model: settings.model.clone(),
                temperature: settings.temperature,
                max_output_tokens: settings.max_output_tokens,
                reasoning_effort: settings.reasoning_effort.clone(),
                max_rows: Some(settings.rows_per_request),
                ..Parameters::default()
            },
            structured: settings.structured,
            target_rows: 0,
            max_requests: settings.max_requests,
            max_tokens: settings.max_tokens,
            max_cost_usd: settings.max_cost_usd,
            price: settings.price,
            limits: settings
                .limits
                .unwrap_or_else(|| Limits::default_for(provider)),
            max_retries: 4,
            backoff: Duration::from_secs(1),
            circuit_breaker: 3,
            use_cache: settings.use_cache,
            seed: settings.seed,
            fixed: None,
            decimals: Vec::new(),
            real_rows_in_prompts: false,
        },
        journal: settings.journal.clone(),
        transport,
    })
}

/// The default request budget: three times the requests needed at full acceptance, plus five.
pub fn default_max_requests(rows: usize, rows_per_request: usize) -> usize {
    3 * rows.div_ceil(rows_per_request.max(1)) + 5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(provider: &str) -> LlmSettings {
        LlmSettings {
            strategy: "group".into(),
            provider: provider.into(),
            model: "m".into(),
            base_url: None,
            api_key_env: Some("EHRSYNTH_TEST_KEY_THAT_IS_NOT_SET".into()),
            rows_per_request: 10,
            max_requests: 5,
            max_output_tokens: 100,
            temperature: None,
            reasoning_effort: None,
            structured: false,
            use_cache: true,
            real_examples: None,
            allow_real_examples_for: None,
            template: None,
            timeout: Duration::from_secs(1),
            max_answer_bytes: 1 << 20,
            price: Price::default(),
            max_tokens: None,
            max_cost_usd: None,
            run: "r".into(),
            journal: PathBuf::from("j.sqlite"),
            seed: 1,
            limits: None,
        }
    }

    #[test]
    fn a_missing_transport_or_key_is_a_reason_not_a_panic() {
        let none: &TransportFor = &|n| {
            Err(LlmError::Transport(format!(
                "no transport for {}",
                n.provider
            )))
        };
        let schema = Schema::new(Vec::new()).unwrap();
        let err = llm_config(&settings("local"), &schema, none).err().unwrap();
        assert!(matches!(err, LlmError::Transport(_)), "{err}");
        assert!(err.to_string().contains("no transport for local"), "{err}");
        let err = llm_config(&settings("openai"), &schema, none)
            .err()
            .unwrap();
        assert!(matches!(err, LlmError::MissingKey { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("EHRSYNTH_TEST_KEY_THAT_IS_NOT_SET"),
            "{err}"
        );
        let err = llm_config(&settings("acme"), &schema, none).err().unwrap();
        assert!(matches!(err, LlmError::UnknownProvider(_)), "{err}");
        assert!(err.to_string().contains("unknown provider 'acme'"), "{err}");
    }

    #[test]
    fn only_hosted_providers_are_paid() {
        assert!(is_paid("openai") && is_paid("Anthropic") && is_paid("gemini"));
        assert!(!is_paid("local") && !is_paid("openai-compatible"));
    }
}
