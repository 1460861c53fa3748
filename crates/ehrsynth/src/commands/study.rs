//! `ehrsynth study CONFIG`: the paper's experiment grid from one TOML config (docs/study.md),
//! with a bar over cells, a journal that makes a stopped study resume, a cost estimate and a
//! confirmation before any paid provider is used, and the results, report and summary.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use ehrsynth_llm::engine::estimate;
use ehrsynth_study::config::GeneratorKind;
use ehrsynth_study::grid::{CellPlan, expand, matches_pattern};
use ehrsynth_study::journal::StudyJournal;
use ehrsynth_study::llm_settings::is_paid;
use ehrsynth_study::results::{CellResult, CellStatus};
use ehrsynth_study::{Observer, RunOptions, StudyConfig, run_study};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::progress::Bars;

pub const EXAMPLES: &str = "Examples:
  ehrsynth study examples/quickstart.toml                 # the offline main job -> out/quickstart/
  ehrsynth study examples/paper.toml --estimate           # the paper's grid: cells and cost, no run
  ehrsynth study examples/paper.toml --yes --out /data/paper-run
  ehrsynth study examples/quickstart.toml --only 'copula-*-random'
Rerunning the same command resumes: cells already in OUT/study.sqlite are not recomputed.
Writes OUT/report.html, OUT/summary.md, OUT/results.{json,csv,parquet} and OUT/cells/<id>/.
Exit code 3 when a cell failed (the report and results say why; a rerun retries it), 0 when every
cell of the grid (or of --only) was audited.
Every config key is documented in docs/study.md.";

/// Arguments of `ehrsynth study`.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// The study config (TOML; see docs/study.md).
    config: PathBuf,
    /// Output folder (default: the config's `out`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Spend money on paid providers without asking.
    #[arg(long)]
    yes: bool,
    /// Print the grid and the cost estimate, then stop.
    #[arg(long)]
    estimate: bool,
    /// Run only cells whose id matches (a substring, or a pattern with `*`).
    #[arg(long, value_name = "PATTERN")]
    only: Option<String>,
}

/// Prompt characters assumed per request for the estimate (schema and statistics of the table).
const PROMPT_CHARS_PER_COLUMN: usize = 120;

/// Estimated (requests, tokens, dollars) of the LLM cells with a paid provider.
fn paid_estimate(
    config: &StudyConfig,
    plans: &[CellPlan],
) -> anyhow::Result<(usize, usize, u64, f64)> {
    let (mut cells, mut requests, mut tokens, mut cost) = (0, 0, 0, 0.0);
    for plan in plans {
        let entry = &config.generators[plan.generator];
        let provider = plan.spec.provider.as_deref().unwrap_or("");
        if entry.kind != GeneratorKind::Llm || !is_paid(provider) {
            continue;
        }
        let columns = if plan.spec.feature_count == 0 {
            83
        } else {
            plan.spec.feature_count + 6
        };
        let guess = estimate(
            plan.spec.rows,
            ehrsynth_llm::context::default_rows_per_request(provider, entry.rows_per_request),
            1500 + PROMPT_CHARS_PER_COLUMN * columns,
            columns,
            0.8,
            ehrsynth_study::llm_settings::cell_price(
                entry,
                provider,
                plan.spec.model.as_deref().unwrap_or(""),
            )
            .map_err(|e| anyhow::anyhow!("cell {}: {e}", plan.spec.id))?,
        );
        cells += 1;
        requests += guess.requests;
        tokens += guess.tokens;
        cost += guess.cost_usd;
    }
    Ok((cells, requests, tokens, cost))
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question}: refusing to spend money without a terminal to ask on; pass --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The bar over cells, with a line per finished cell (plain lines on stderr when the bar is
/// hidden because stderr is not a terminal, so logs and tests see them).
struct CellBar {
    bar: ProgressBar,
}

impl CellBar {
    fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Observer for CellBar {
    fn grid(&self, total: usize, already_done: usize) {
        self.bar.set_length(total as u64);
        if already_done > 0 {
            self.say(&format!(
                "{already_done} of {total} cells finished earlier: taken from the journal"
            ));
        }
    }

    fn message(&self, text: &str) {
        self.say(text);
    }

    fn cell_started(&self, _index: usize, plan: &CellPlan) {
        self.bar.set_message(plan.spec.id.clone());
    }

    fn cell_finished(&self, index: usize, result: &CellResult, computed: bool) {
        self.bar.inc(1);
        if !computed {
            return;
        }
        let line = match &result.status {
            CellStatus::Done => format!(
                "cell {} {}: done in {:.1} s (mean KL {})",
                index + 1,
                result.spec.id,
                result.usage.generate_seconds + result.usage.audit_seconds,
                result
                    .audit
                    .as_ref()
                    .and_then(|a| a.fidelity.kl_mean)
                    .map_or_else(|| "n/a".into(), |k| format!("{k:.3}"))
            ),
            CellStatus::Failed { reason } => {
                format!("cell {} {}: FAILED: {reason}", index + 1, result.spec.id)
            }
        };
        self.say(&line);
    }
}

/// Runs `ehrsynth study`.
pub fn run(args: StudyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading the study config {}", args.config.display()))?;
    let config = StudyConfig::parse(&text, &args.config)?;
    let out = args.out.clone().unwrap_or_else(|| config.out.clone());
    let mut plans = expand(&config, None);
    if let Some(pattern) = &args.only {
        plans.retain(|p| matches_pattern(&p.spec.id, pattern));
        if plans.is_empty() {
            bail!("--only '{pattern}' matches no cell of the grid");
        }
    }
    // Cells the journal already holds cost nothing again.
    let journal_path = out.join("study.sqlite");
    let unfinished: Vec<CellPlan> = if journal_path.is_file() {
        let journal = StudyJournal::open(&journal_path)?;
        let mut left = Vec::new();
        for plan in &plans {
            if journal
                .finished(&plan.spec.id, &plan.config_hash)?
                .is_none()
            {
                left.push(plan.clone());
            }
        }
        left
    } else {
        plans.clone()
    };
    let (paid_cells, requests, tokens, cost) = paid_estimate(&config, &unfinished)?;
    eprintln!(
        "{}: {} cells -> {}",
        config.title,
        plans.len(),
        out.display()
    );
    if args.estimate {
        for plan in &plans {
            println!("{}", plan.spec.id);
        }
    }
    if paid_cells > 0 {
        eprintln!(
            "estimate for the {paid_cells} paid-provider cells: about {requests} requests, {tokens} tokens, ${cost:.2} \
             (a rough guess: prompts of ~{PROMPT_CHARS_PER_COLUMN} characters per column, 80% of rows valid, \
             reasoning tokens not counted){}",
            config
                .budget
                .max_cost_usd
                .map_or(String::new(), |m| format!(
                    "; the study stops spending at ${m}"
                ))
        );
    }
    if args.estimate {
        return Ok(());
    }
    if paid_cells > 0 && !args.yes && !confirm(&format!("spend up to about ${cost:.2}"))? {
        bail!("not confirmed; nothing was sent");
    }
    let group = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        group.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let bar = group.add(ProgressBar::new(plans.len() as u64));
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} cells {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("study");
    let observer = CellBar { bar: bar.clone() };
    let bars = Bars::in_group(group.clone());
    let transport_for = crate::transport::transport_for;
    let outcome = run_study(
        &config,
        &RunOptions {
            out: out.clone(),
            only: args.only.clone(),
            config_text: text,
            transport_for: &transport_for,
            progress: &bars,
            observer: &observer,
        },
    )?;
    bar.finish_and_clear();
    eprintln!(
        "{} cells: {} computed now ({} failed), {} taken from the journal",
        outcome.results.cells.len(),
        outcome.computed,
        outcome.failed,
        outcome.reused
    );
    eprintln!(
        "wrote {0}/report.html, {0}/summary.md, {0}/results.csv (.parquet, .json) and {0}/cells/",
        out.display()
    );
    let failed: Vec<&str> = outcome
        .results
        .cells
        .iter()
        .filter(|c| c.status != ehrsynth_study::results::CellStatus::Done)
        .map(|c| c.spec.id.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(crate::exit::Incomplete(format!(
            "{} of {} cells failed ({}); the report says why, and a rerun retries them",
            failed.len(),
            outcome.results.cells.len(),
            failed.join(", ")
        ))
        .into());
    }
    Ok(())
}
