//! `ehrsynth generate`: fit a generator on a training table and write synthetic rows.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};
use ehrsynth_gen::registry;
use ehrsynth_gen::{Condition, Generator, SampleOptions};
use ehrsynth_table::Schema;
use ehrsynth_table::io::read_table;

use super::cohort::write_with_schema;
use super::evaluate::load_schema;
use crate::progress::Bars;

pub const EXAMPLES: &str = "Examples:
  ehrsynth generate --train train.parquet --generator copula --rows 10000 --seed 1 \\
      --out copula.parquet
  ehrsynth generate --train train.parquet --generator copula --rows 1000 --features top10.txt \\
      --condition is_female=1 --seed 1 --out women.csv
  ehrsynth generate --train train.parquet --generator bayesnet --epsilon 1.0 --rows 10000 \\
      --out dp.parquet
  ehrsynth generate --train train.parquet --generator llm --strategy schema \\
      --provider openai-compatible --base-url http://127.0.0.1:8080 --rows 1000 --out llm.csv
  OPENAI_API_KEY=... ehrsynth generate --train train.parquet --generator llm --strategy group \\
      --provider openai --model gpt-4o-mini --rows 1000 --max-cost 5 --out gpt.csv
  ehrsynth generate --train train.parquet --generator llm --provider anthropic \\
      --model claude-sonnet-4-20250514 --rows 1000 --estimate --out claude.csv
  ehrsynth generate --train train.parquet --generator llm --provider local --strategy group \\
      --features top10.txt --rows 200 --seed 1 --out local.csv     # offline, in-process SmolLM2
  ehrsynth generate --train train.parquet --generator llm --provider local \\
      --model-path qwen.gguf --strategy schema --rows 100 --threads 8 --out qwen.csv
The output has the schema's columns (or the chosen features plus the target) in schema order,
every row valid against the schema; its schema is written beside it.
Exit codes: 0 = all --rows rows written; 1 = an error; 2 = a usage error; 3 = incomplete: fewer
rows than --rows were generated (those are written; a rerun resumes from the journal).";

/// The generators `generate` offers: the statistical ones of the registry, then the LLM.
fn generator_values() -> PossibleValuesParser {
    let statistical = registry::GENERATORS
        .iter()
        .map(|g| PossibleValue::new(g.name).help(g.help()));
    let llm = PossibleValue::new(registry::LLM)
        .help("An LLM with one of the four prompting strategies (hosted APIs or a local server)");
    PossibleValuesParser::new(statistical.chain(std::iter::once(llm)))
}

/// Arguments of `ehrsynth generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The real training table.
    #[arg(long)]
    train: PathBuf,
    /// Schema file (default: NAME.schema.toml beside --train, else inferred).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Which generator.
    #[arg(long, value_parser = generator_values())]
    generator: String,
    /// Rows to generate.
    #[arg(long)]
    rows: usize,
    /// Feature columns to keep: a file with one name per line (e.g. top10.txt from `ehrsynth
    /// importance`) or a comma-separated list. The target is always kept.
    #[arg(long)]
    features: Option<String>,
    /// Fix a column to a value in every row, as COLUMN=VALUE (e.g. is_female=1 or hospitalid=73).
    #[arg(long)]
    condition: Option<String>,
    /// Differential privacy budget for the Bayesian network (omit for no DP).
    #[arg(long)]
    epsilon: Option<f64>,
    /// A setting of the generator, as NAME=VALUE (repeat), e.g. `--set min_leaf=50` for cart;
    /// each generator's settings and defaults are listed under --generator.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Seed for fitting and sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output table: .parquet, .csv or .csv.gz.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    llm: LlmArgs,
}

/// Options of `--generator llm`.
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// Prompting strategy: naive, schema, conditional or group.
    #[arg(long, default_value = "schema", help_heading = "LLM")]
    strategy: String,
    /// Provider: local (an in-process GGUF model with schema-constrained decoding: offline, no
    /// key, every row valid), openai, anthropic, gemini (hosted, over TLS; key from
    /// OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY), or openai-compatible (vLLM,
    /// llama.cpp, Ollama, LM Studio, Azure OpenAI at --base-url).
    #[arg(long, default_value = "openai-compatible", help_heading = "LLM")]
    provider: String,
    /// GGUF model for --provider local (default: SmolLM2-135M-Instruct, pulled into the model
    /// cache on first use; see `ehrsynth model pull`).
    #[arg(long, value_name = "FILE.gguf", help_heading = "LLM")]
    model_path: Option<PathBuf>,
    /// CPU threads for --provider local (0: all cores).
    #[arg(long, default_value_t = 0, help_heading = "LLM")]
    threads: usize,
    /// Model name as the server knows it.
    #[arg(long, default_value = "default", help_heading = "LLM")]
    model: String,
    /// Server base URL (default: the provider's; http://127.0.0.1:8080 for openai-compatible).
    #[arg(long, help_heading = "LLM")]
    base_url: Option<String>,
    /// Environment variable holding the API key (default per provider, e.g. OPENAI_API_KEY).
    #[arg(long, help_heading = "LLM")]
    api_key_env: Option<String>,
    /// Rows asked for per request (default: 128 for --provider local, which writes them as
    /// many short sequences decoded together on one prompt; 20 for the others).
    #[arg(long, help_heading = "LLM")]
    rows_per_request: Option<usize>,
    /// Most requests per run (default: 3 × rows / rows-per-request + 5).
    #[arg(long, help_heading = "LLM")]
    max_requests: Option<usize>,
    /// Output token limit per request.
    #[arg(long, default_value_t = 2048, help_heading = "LLM")]
    max_output_tokens: u32,
    /// Sampling temperature.
    #[arg(long, help_heading = "LLM")]
    temperature: Option<f64>,
    /// Ask for JSON rows with the provider's structured-output schema.
    #[arg(long, help_heading = "LLM")]
    structured: bool,
    /// Request journal (default: OUT.journal.sqlite); rerunning the same command resumes from it.
    #[arg(long, help_heading = "LLM")]
    journal: Option<PathBuf>,
    /// Send identical requests again instead of answering them from the journal.
    #[arg(long, help_heading = "LLM")]
    no_cache: bool,
    /// Allow real training rows in prompts, for this provider only (data use agreements!).
    #[arg(long, value_name = "PROVIDER", help_heading = "LLM")]
    allow_real_examples: Option<String>,
    /// Real rows per prompt when allowed (the paper used < 100). Default: 20 for --provider
    /// local (the rows never leave the process), 0 for the others.
    #[arg(long, help_heading = "LLM")]
    real_examples: Option<usize>,
    /// A prompt template file replacing the strategy's (placeholders: {rows} {columns} {schema}
    /// {statistics} {examples} {group} {format}).
    #[arg(long, help_heading = "LLM")]
    template: Option<PathBuf>,
    /// Seconds to wait for a server answer (the whole answer, not each read).
    #[arg(long, default_value_t = 300, help_heading = "LLM")]
    timeout: u64,
    /// Largest answer read from a server, in MiB: a bigger one is a failed request, so a
    /// hostile or broken server cannot fill the memory.
    #[arg(long, value_name = "MIB", default_value_t = 8, help_heading = "LLM")]
    max_answer_mb: usize,
    /// Price of a million prompt tokens in US dollars (default: the built-in price table, 0 for
    /// openai-compatible servers).
    #[arg(long, help_heading = "LLM")]
    price_input: Option<f64>,
    /// Price of a million completion tokens in US dollars (default: as --price-input).
    #[arg(long, help_heading = "LLM")]
    price_output: Option<f64>,
    /// A TOML price file overriding or extending the built-in table:
    /// `"gpt-4.1" = { input = 2.0, output = 8.0 }` (US dollars per million tokens).
    #[arg(long, value_name = "FILE", help_heading = "LLM")]
    prices: Option<PathBuf>,
    /// Print the cost estimate and exit without sending any request.
    #[arg(long, help_heading = "LLM")]
    estimate: bool,
    /// Requests in flight at once (default: 4 for hosted providers, 1 for openai-compatible).
    #[arg(long, help_heading = "LLM")]
    concurrency: Option<usize>,
    /// Requests per minute at most (default per provider, see docs/providers.md; 0 = no limit).
    #[arg(long, help_heading = "LLM")]
    rpm: Option<u32>,
    /// Tokens (prompt and answer) per minute at most (default per provider; 0 = no limit).
    #[arg(long, help_heading = "LLM")]
    tpm: Option<u64>,
    /// A PEM bundle of extra CA certificates to trust, for networks whose proxy re-signs TLS
    /// (default: the file named by EHRSYNTH_CA_CERT, if set). HTTPS_PROXY is honoured.
    #[arg(long, value_name = "FILE", help_heading = "LLM")]
    ca_cert: Option<PathBuf>,
    /// Stop once this many tokens were spent.
    #[arg(long, help_heading = "LLM")]
    max_tokens: Option<u64>,
    /// Stop once this many US dollars were spent.
    #[arg(long, help_heading = "LLM")]
    max_cost: Option<f64>,
}

/// The feature names given as a file or a comma-separated list.
pub fn parse_features(spec: &str) -> anyhow::Result<Vec<String>> {
    let text = if Path::new(spec).is_file() {
        std::fs::read_to_string(spec).with_context(|| format!("reading the feature list {spec}"))?
    } else {
        spec.replace(',', "\n")
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        bail!("--features '{spec}' names no column");
    }
    Ok(names)
}

/// The schema restricted to `features`, the target and the condition column, in schema order.
pub fn feature_schema(
    schema: &Schema,
    features: &[String],
    condition: Option<&Condition>,
) -> anyhow::Result<Schema> {
    for f in features {
        if schema.column(f).is_none() {
            bail!(
                "feature '{f}' is not in the schema ({} columns, e.g. {})",
                schema.columns().len(),
                schema
                    .names()
                    .iter()
                    .take(4)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let keep: Vec<&str> = schema
        .names()
        .into_iter()
        .filter(|n| {
            features.iter().any(|f| f == n)
                || Some(*n) == schema.target()
                || condition.is_some_and(|c| c.column == *n)
        })
        .collect();
    Ok(schema.subset(&keep)?)
}

/// The group strategy conditions each request on the first group column of the schema: keep that
/// column when the feature list (e.g. a top-10 list from `importance`) leaves every group out.
fn keep_group_column(args: &GenerateArgs, schema: &Schema, features: &mut Vec<String>) {
    let group_strategy =
        args.generator == registry::LLM && args.llm.strategy.eq_ignore_ascii_case("group");
    let groups = schema.with_role(ehrsynth_table::Role::Group);
    if !group_strategy || groups.iter().any(|g| features.iter().any(|f| f == g)) {
        return;
    }
    if let Some(first) = groups.first() {
        eprintln!("the group strategy conditions on '{first}': keeping it beside the features");
        features.push((*first).to_string());
    }
}

/// A fresh statistical generator called `name` (one of the registry's), with `--epsilon` and
/// the `--set NAME=VALUE` settings.
pub fn new_generator(
    name: &str,
    epsilon: Option<f64>,
    settings: &[String],
) -> anyhow::Result<Box<dyn Generator>> {
    let Some(entry) = registry::find(name) else {
        bail!("no statistical generator '{name}' (the LLM needs its options: use llm_generator)");
    };
    if epsilon.is_some() && !entry.takes_epsilon {
        bail!(
            "--epsilon applies to the {} only (--generator {})",
            registry::epsilon_takers(|g| g.label),
            registry::epsilon_takers(|g| g.name)
        );
    }
    let settings = registry::GeneratorSettings::with_assignments(epsilon, settings)?;
    Ok(entry.generator(&settings)?)
}

/// Options given that would do nothing, each with what to do instead.
fn options_that_do_nothing(args: &GenerateArgs) -> Vec<String> {
    use ehrsynth_llm::context::{default_examples, is_in_process};
    let o = &args.llm;
    let mut said = Vec::new();
    let llm = args.generator == registry::LLM;
    if !llm {
        let llm_only = [
            (o.estimate, "--estimate"),
            (o.allow_real_examples.is_some(), "--allow-real-examples"),
            (o.real_examples.is_some(), "--real-examples"),
            (o.template.is_some(), "--template"),
            (o.structured, "--structured"),
        ];
        for (given, flag) in llm_only {
            if given {
                said.push(format!(
                    "{flag} applies to --generator llm only; it is ignored"
                ));
            }
        }
        return said;
    }
    if !args.settings.is_empty() {
        said.push(
            "--set applies to the statistical generators (the LLM has its own options); it is ignored"
                .to_string(),
        );
    }
    let examples = default_examples(&o.provider, o.real_examples);
    match &o.allow_real_examples {
        Some(allowed) if allowed != &o.provider => said.push(format!(
            "--allow-real-examples {allowed} does not name this run's provider ({}): no real row is sent",
            o.provider
        )),
        Some(allowed) if examples == 0 => said.push(format!(
            "--allow-real-examples {allowed} without --real-examples K sends no real row (add --real-examples 20, say)"
        )),
        None if examples > 0 && !is_in_process(&o.provider) => said.push(format!(
            "--real-examples {examples} sends no real row to {} without --allow-real-examples {}",
            o.provider, o.provider
        )),
        _ => {}
    }
    said
}

/// Runs `ehrsynth generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    for warning in options_that_do_nothing(&args) {
        eprintln!("warning: {warning}");
    }
    let [train_file, train_schema] = super::with_schema(&args.train);
    let inputs: Vec<&Path> = [Some(train_file.as_path()), Some(&train_schema)]
        .into_iter()
        .chain([
            args.schema.as_deref(),
            args.llm.template.as_deref(),
            args.llm.prices.as_deref(),
        ])
        .flatten()
        .collect();
    let [out_file, out_schema] = super::with_schema(&args.out);
    super::check_outputs(
        &inputs,
        &[
            ("--out", &out_file),
            ("the schema written beside --out", &out_schema),
        ],
    )?;
    let condition: Option<Condition> = args.condition.as_deref().map(str::parse).transpose()?;
    let full = load_schema(args.schema.as_deref(), &args.train, None, None)?;
    let schema = match &args.features {
        Some(spec) => {
            let mut features = parse_features(spec)?;
            keep_group_column(&args, &full, &mut features);
            feature_schema(&full, &features, condition.as_ref())?
        }
        None => full,
    };
    let train = read_table(&args.train, Some(&schema)).context("reading --train")?;
    let mut generator = if args.generator == registry::LLM {
        match llm_generator(&args, &train, &schema)? {
            Some(generator) => generator,
            None => return Ok(()), // --estimate
        }
    } else {
        new_generator(&args.generator, args.epsilon, &args.settings)?
    };
    let bars = Bars::default();
    let started = std::time::Instant::now();
    generator.fit(&train, &schema, args.seed, &bars)?;
    let fitted = started.elapsed();
    let options = SampleOptions {
        rows: args.rows,
        condition,
        seed: args.seed,
    };
    let table = generator.generate(&options, &bars)?;
    eprintln!(
        "{}: fitted on {} rows x {} columns in {:.2} s, sampled {} rows in {:.2} s",
        generator.name(),
        train.n_rows(),
        schema.columns().len(),
        fitted.as_secs_f64(),
        table.n_rows(),
        (started.elapsed() - fitted).as_secs_f64()
    );
    write_with_schema(&args.out, &table, &schema, None)?;
    if table.n_rows() < args.rows {
        return Err(crate::exit::Incomplete(format!(
            "{} of the {} rows asked for were generated and written to {} (the run summary above says why)",
            table.n_rows(),
            args.rows,
            args.out.display()
        ))
        .into());
    }
    Ok(())
}

/// The LLM generator for `--generator llm`, or `None` after printing the estimate for
/// `--estimate`.
fn llm_generator(
    args: &GenerateArgs,
    train: &ehrsynth_table::Table,
    schema: &Schema,
) -> anyhow::Result<Option<Box<dyn Generator>>> {
    use ehrsynth_gen::strategies::LlmGenerator;
    use ehrsynth_llm::LlmError;
    use ehrsynth_llm::context::{ContextOptions, default_examples};
    use ehrsynth_llm::engine::{HttpTransport, Transport};
    use ehrsynth_llm::limits::Limits;
    use ehrsynth_llm::prompt::{Strategy, Template};
    use ehrsynth_llm::provider::ProviderKind;
    use ehrsynth_study::llm_settings::{LlmSettings, TransportNeeds, llm_config};
    use std::sync::Arc;

    let o = &args.llm;
    let rows_per_request =
        ehrsynth_llm::context::default_rows_per_request(&o.provider, o.rows_per_request);
    let strategy = Strategy::parse(&o.strategy)?;
    let provider = ProviderKind::parse(&o.provider)
        .ok_or_else(|| ehrsynth_llm::provider::unknown_provider(&o.provider))?;
    let template_text = o
        .template
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let template = match &template_text {
        Some(text) => Template::custom(strategy, text)?,
        None => Template::builtin(strategy),
    };
    let context = ContextOptions {
        real_examples: default_examples(&o.provider, o.real_examples),
        allow_real_examples_for: o.allow_real_examples.clone(),
        ..ContextOptions::default()
    };
    let journal = o.journal.clone().unwrap_or_else(|| {
        let name = args
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        args.out.with_file_name(format!("{name}.journal.sqlite"))
    });
    let max_requests = o.max_requests.unwrap_or_else(|| {
        ehrsynth_study::llm_settings::default_max_requests(args.rows, rows_per_request)
    });
    let price = run_price(o, provider)?;
    let prompt_chars = {
        let sample = ehrsynth_llm::context::PromptContext::build(
            train,
            schema,
            &context,
            &o.provider.to_ascii_lowercase(),
            args.seed,
        )?;
        let group = (strategy == Strategy::Group).then_some("group = value");
        template.render(&sample, rows_per_request, group).len()
    };
    let guess = ehrsynth_llm::engine::estimate(
        args.rows,
        rows_per_request,
        prompt_chars,
        schema.columns().len(),
        0.8,
        price.unwrap_or_default(),
    );
    let cost = match price {
        Some(p) => format!(
            "${:.2} at ${}/${} per million input/output tokens",
            guess.cost_usd, p.input_per_million, p.output_per_million
        ),
        None => "cost unknown (no price for this model)".into(),
    };
    eprintln!(
        "estimate: about {} requests, {} tokens ({prompt_chars}-character prompts), {cost} (budget: {} requests{}{})",
        guess.requests,
        guess.tokens,
        max_requests,
        o.max_tokens
            .map_or(String::new(), |t| format!(", {t} tokens")),
        o.max_cost.map_or(String::new(), |c| format!(", ${c}"))
    );
    if o.estimate {
        return Ok(None);
    }
    let defaults = Limits::default_for(provider);
    let limits = Limits {
        concurrency: o.concurrency.unwrap_or(defaults.concurrency).max(1),
        requests_per_minute: o.rpm.or(defaults.requests_per_minute).filter(|&n| n > 0),
        tokens_per_minute: o.tpm.or(defaults.tokens_per_minute).filter(|&n| n > 0),
    };
    // The in-process model is loaded first: its file name is the model name in the journal.
    let local = match provider {
        ProviderKind::Local => Some(crate::transport::local_transport(
            o.model_path.as_deref(),
            o.threads,
            schema,
            rows_per_request,
        )?),
        _ => None,
    };
    let model = local
        .as_ref()
        .map_or_else(|| o.model.clone(), |t| t.model_file_name());
    let settings = LlmSettings {
        strategy: o.strategy.clone(),
        provider: o.provider.clone(),
        model,
        base_url: o.base_url.clone(),
        api_key_env: o.api_key_env.clone(),
        rows_per_request,
        max_requests,
        max_output_tokens: o.max_output_tokens,
        temperature: o.temperature,
        reasoning_effort: None,
        structured: o.structured,
        use_cache: !o.no_cache,
        real_examples: o.real_examples,
        allow_real_examples_for: o.allow_real_examples.clone(),
        template: template_text,
        timeout: std::time::Duration::from_secs(o.timeout),
        max_answer_bytes: o.max_answer_mb.max(1) << 20,
        price: price.unwrap_or_default(),
        max_tokens: o.max_tokens,
        max_cost_usd: o.max_cost,
        run: format!("generate-{}-{}", strategy.name(), args.seed),
        journal: journal.clone(),
        seed: args.seed,
        limits: Some(limits),
    };
    let local = std::sync::Mutex::new(local);
    let transport_for = |needs: &TransportNeeds<'_>| -> Result<Arc<dyn Transport>, LlmError> {
        if let Some(local) = local.lock().ok().and_then(|mut l| l.take()) {
            return Ok(Arc::new(local));
        }
        let http = HttpTransport::new(needs.timeout, o.ca_cert.as_deref())?
            .with_max_answer_bytes(needs.max_answer_bytes);
        Ok(Arc::new(http))
    };
    let config = llm_config(&settings, schema, &transport_for)?;
    eprintln!(
        "journal: {} (rerun the same command to resume); {} request(s) at once{}{}",
        journal.display(),
        limits.concurrency,
        limits
            .requests_per_minute
            .map_or(String::new(), |n| format!(", {n} per minute")),
        limits
            .tokens_per_minute
            .map_or(String::new(), |n| format!(", {n} tokens per minute"))
    );
    Ok(Some(Box::new(ReportingLlm(LlmGenerator::new(config)))))
}

/// The token price of the run: the built-in table (with `--prices` over it), else 0 for a local
/// openai-compatible server, with `--price-input`/`--price-output` over either; `None` (after a
/// warning) when the price of a hosted model is unknown, which `--max-cost` refuses.
fn run_price(
    o: &LlmArgs,
    provider: ehrsynth_llm::provider::ProviderKind,
) -> anyhow::Result<Option<ehrsynth_llm::prices::Price>> {
    use ehrsynth_llm::prices::PriceTable;
    let mut table = PriceTable::builtin();
    if let Some(path) = &o.prices {
        table.merge_file(path)?;
    }
    let free = !provider.is_billed();
    let price =
        ehrsynth_llm::prices::run_price(&table, &o.model, free, o.price_input, o.price_output)
            .map_err(|e| anyhow::anyhow!("{e} (--price-input and --price-output)"))?;
    if price.is_none() {
        if o.max_cost.is_some() {
            bail!(
                "--max-cost needs the model's prices, and none is known for '{}' ({}): give --price-input and --price-output, or a --prices file",
                o.model,
                o.provider
            );
        }
        eprintln!(
            "warning: no price is known for model '{}' ({}); its cost is reported as $0. Give --price-input/--price-output or --prices FILE to count it.",
            o.model, o.provider
        );
    }
    Ok(price)
}

/// Prints the LLM runs' summaries after generating.
struct ReportingLlm(ehrsynth_gen::strategies::LlmGenerator);

impl Generator for ReportingLlm {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn fit(
        &mut self,
        train: &ehrsynth_table::Table,
        schema: &Schema,
        seed: u64,
        progress: &dyn ehrsynth_table::Progress,
    ) -> Result<(), ehrsynth_gen::GenError> {
        self.0.fit(train, schema, seed, progress)
    }

    fn generate(
        &self,
        options: &SampleOptions,
        progress: &dyn ehrsynth_table::Progress,
    ) -> Result<ehrsynth_table::Table, ehrsynth_gen::GenError> {
        let result = self.0.generate(options, progress);
        if let Ok(runs) = self.0.last_runs.lock() {
            for (run, summary) in runs.iter() {
                eprintln!("{run}: {summary}");
            }
        }
        result
    }
}
