//! `ehrsynth evaluate`: audit a synthetic table against the real training and holdout tables.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use ehrsynth_eval::roles::{NamedRoles, check_roles};
use ehrsynth_eval::{AuditConfig, AuditReport, audit};
use ehrsynth_table::io::{read_table, write_file_atomically};
use ehrsynth_table::schema::RoleHints;
use ehrsynth_table::{Schema, Table};

use super::schema_path_for;
use crate::progress::Bars;

pub const EXAMPLES: &str = "Examples:
  ehrsynth evaluate --train train.parquet --holdout holdout.parquet --synthetic synthetic.csv \\
      --json audit.json --html audit.html
  ehrsynth evaluate --train train.csv --holdout holdout.csv --synthetic sdv.csv \\
      --schema cohort.schema.toml --target death --site hospitalid --group is_female \\
      --group race_black --seed 7
Roles default from the schema (the file given, else NAME.schema.toml beside --train, else
inferred).
docs/metrics.md defines every number and the JSON layout.";

/// Arguments of `ehrsynth evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The real rows the generator was fitted on (members).
    #[arg(long)]
    train: PathBuf,
    /// Real rows the generator never saw (non-members, and the test set for TSTR).
    #[arg(long)]
    holdout: PathBuf,
    /// The synthetic table (it may hold a subset of the columns).
    #[arg(long)]
    synthetic: PathBuf,
    /// Schema file (default: NAME.schema.toml beside --train, else inferred from --train).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// The outcome column (default: the schema's target).
    #[arg(long)]
    target: Option<String>,
    /// The hospital column (default: the schema's site).
    #[arg(long)]
    site: Option<String>,
    /// A demographic group column (repeat; default: the schema's group columns).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The target's positive class, for an outcome of two labels the audit cannot tell apart
    /// (default: 1, or the label that says yes / true / dead / positive).
    #[arg(long)]
    positive: Option<String>,
    /// Write the full results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a self-contained HTML page.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Seed for splits, bootstrap and sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Leave out the control: half the real holdout scored as if it were the synthetic table,
    /// the ideal shown beside each headline figure.
    #[arg(long)]
    no_control: bool,
}

/// The schema to audit with: given, beside the training file, or inferred from it.
pub fn load_schema(
    given: Option<&Path>,
    data: &Path,
    target: Option<&str>,
    site: Option<&str>,
) -> anyhow::Result<Schema> {
    let roles = NamedRoles {
        target,
        site,
        groups: &[],
    };
    if let Some(path) = given {
        let schema =
            Schema::load(path).with_context(|| format!("reading the schema {}", path.display()))?;
        check_roles(&schema.names(), roles)?;
        return Ok(schema);
    }
    let beside = schema_path_for(data);
    if beside.exists() {
        eprintln!("using the schema {}", beside.display());
        let schema = Schema::load(&beside)?;
        check_roles(&schema.names(), roles)?;
        return Ok(schema);
    }
    eprintln!(
        "no schema given and none beside {}: inferring one (pass --schema to control kinds and ranges)",
        data.display()
    );
    let table = read_table(data, None)?;
    check_roles(&table.column_names(), roles)?;
    let hints = RoleHints {
        target: target.map(str::to_string),
        site: site.map(str::to_string),
        ..RoleHints::default()
    };
    Ok(Schema::infer(&table, &hints)?)
}

/// Reads a table that holds some of the schema's columns, each converted to its schema kind;
/// columns the schema does not know are kept as read (the audit names them as extra).
pub fn read_schema_columns(path: &Path, schema: &Schema) -> anyhow::Result<Table> {
    let raw = read_table(path, None)?;
    let mut columns = Vec::new();
    for spec in schema.columns() {
        if let Some(c) = raw.column(&spec.name) {
            let cast = c.cast(spec.kind).map_err(|(row, value)| {
                anyhow::anyhow!(
                    "{}, row {}, column '{}': found '{value}', expected {}",
                    path.display(),
                    row + 1,
                    spec.name,
                    ehrsynth_table::cell::expected_text(spec.kind)
                )
            })?;
            columns.push(cast);
        }
    }
    if columns.is_empty() {
        bail!(
            "{} has none of the schema's columns ({} ...)",
            path.display(),
            schema
                .names()
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    columns.extend(
        raw.columns()
            .iter()
            .filter(|c| schema.column(c.name()).is_none())
            .map(|c| (**c).clone()),
    );
    Ok(Table::new(columns)?)
}

/// The schema to audit a synthetic file with. A file written by `generate` has its own schema
/// beside it, naming the columns it was asked for: the audit covers those (a top-10 table is
/// not scored on the 73 columns it was never meant to have). Any other file is audited on
/// every column of the training schema, so a column it lacks counts as a total miss.
fn audit_schema(schema: Schema, synthetic: &Path) -> anyhow::Result<Schema> {
    let own = schema_path_for(synthetic);
    if !own.exists() {
        return Ok(schema);
    }
    let asked = Schema::load(&own).with_context(|| format!("reading {}", own.display()))?;
    let shared: Vec<&str> = asked
        .names()
        .into_iter()
        .filter(|n| schema.column(n).is_some())
        .collect();
    if shared.len() == schema.columns().len() || shared.is_empty() {
        return Ok(schema);
    }
    eprintln!(
        "auditing the {} columns named by the synthetic table's own schema {} ({} training columns were not asked for)",
        shared.len(),
        own.display(),
        schema.columns().len() - shared.len()
    );
    Ok(schema.subset(&shared)?)
}

/// Runs `ehrsynth evaluate`.
pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let tables = [&args.train, &args.holdout, &args.synthetic].map(|p| super::with_schema(p));
    let inputs: Vec<&Path> = tables
        .iter()
        .flatten()
        .map(PathBuf::as_path)
        .chain(args.schema.as_deref())
        .collect();
    let outputs: Vec<(&str, &Path)> = [("--json", &args.json), ("--html", &args.html)]
        .into_iter()
        .filter_map(|(what, p)| p.as_deref().map(|p| (what, p)))
        .collect();
    super::check_outputs(&inputs, &outputs)?;
    let mut schema = load_schema(
        args.schema.as_deref(),
        &args.train,
        args.target.as_deref(),
        args.site.as_deref(),
    )?;
    check_roles(
        &schema.names(),
        NamedRoles {
            target: args.target.as_deref(),
            site: args.site.as_deref(),
            groups: &args.groups,
        },
    )?;
    for group in &args.groups {
        schema
            .set_role(group, ehrsynth_table::Role::Group)
            .with_context(|| format!("--group {group}"))?;
    }
    let train = read_table(&args.train, Some(&schema)).context("reading --train")?;
    let holdout = read_table(&args.holdout, Some(&schema)).context("reading --holdout")?;
    let schema = audit_schema(schema, &args.synthetic)?;
    let (train, holdout) = (
        train.select(&schema.names())?,
        holdout.select(&schema.names())?,
    );
    let synthetic = read_schema_columns(&args.synthetic, &schema).context("reading --synthetic")?;
    let config = AuditConfig {
        target: args.target.clone(),
        site: args.site.clone(),
        groups: args.groups.clone(),
        positive: args.positive.clone(),
        seed: args.seed,
        skip_control: args.no_control,
    };
    let started = std::time::Instant::now();
    let report = audit(
        &schema,
        &train,
        &holdout,
        &synthetic,
        &config,
        &Bars::default(),
    )?;
    print!("{}", console_summary(&report));
    eprintln!("audit took {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        write_file_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.html {
        write_file_atomically(path, ehrsynth_eval::html::render(&report).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// `value`, and the control's figure in brackets when the audit has one.
fn beside(value: Option<f64>, control: Option<f64>) -> String {
    match control {
        Some(c) => format!("{} [{c:.3}]", fmt(value)),
        None => fmt(value),
    }
}

/// The headline numbers for the terminal, each beside its control in brackets.
pub fn console_summary(r: &AuditReport) -> String {
    let mut out = format!(
        "Audit of {} synthetic rows against {} real training and {} holdout rows ({} columns)\n",
        r.rows.synthetic,
        r.rows.train,
        r.rows.holdout,
        r.columns.len()
    );
    let c = r.control.as_ref();
    if let Some(c) = c {
        out += &format!(
            "[in brackets: the control, {} real holdout rows passed as synthetic: what real rows of that number read]\n",
            c.rows
        );
    }
    let f = &r.fidelity;
    out += &format!(
        "fidelity   mean KL {}  mean KS {}  correlation MAE {}  detection AUROC {}  exact copies {}  out of schema {:.4}\n",
        beside(f.kl_mean, c.and_then(|c| c.kl_mean)),
        beside(f.ks_mean, c.and_then(|c| c.ks_mean)),
        beside(f.correlation_mae, c.and_then(|c| c.correlation_mae)),
        beside(f.detection_auroc, c.and_then(|c| c.detection_auroc)),
        beside(
            Some(f.exact_copy_share),
            c.map(|c| c.exact_copy_share)
                .or(f.exact_copy_share_baseline)
        ),
        f.out_of_range_share
    );
    let broken: Vec<String> = f
        .constraints
        .iter()
        .filter(|c| c.broken > 0)
        .map(|c| format!("{} {:.4}", c.constraint, c.share()))
        .collect();
    if !f.constraints.is_empty() {
        out += &format!(
            "constraints {} from the schema; share of rows breaking one: {}\n",
            f.constraints.len(),
            if broken.is_empty() {
                "none broken".to_string()
            } else {
                broken.join(", ")
            }
        );
    }
    if let Some(u) = &r.utility {
        let control_tstr = c.and_then(|c| c.tstr.as_ref()).and_then(|s| s.auroc);
        out += &format!(
            "utility    AUROC within {}  TSTR {}  TRTR {}   (logistic TSTR {}, TRTR {})\n",
            fmt(u.within.auroc),
            beside(u.across.auroc, control_tstr),
            fmt(u.trtr.auroc),
            fmt(u.logistic.across.auroc),
            fmt(u.logistic.trtr.auroc)
        );
        if let Some(unseen) = &u.unseen_sites_pooled {
            out += &format!(
                "           TSTR on hospitals absent from training: AUROC {}\n",
                fmt(unseen.auroc)
            );
        }
    }
    if let Some(fr) = &r.fairness {
        for g in &fr.gaps {
            out += &format!(
                "fairness   {}: AUROC gap {}  KL gap {}  equalised-odds difference {}\n",
                g.column,
                fmt(g.auroc_gap),
                fmt(g.kl_gap),
                fmt(g.equalized_odds_difference)
            );
        }
    }
    if let Some(p) = &r.privacy {
        out += &format!(
            "privacy    DCR share {}  NNDR mean {}\n",
            beside(p.dcr_share, c.and_then(|c| c.dcr_share)),
            fmt(p.nndr_mean)
        );
        for a in &p.attacks {
            let control = c
                .and_then(|c| c.attacks.iter().find(|x| x.name == a.name))
                .and_then(|x| x.auroc);
            out += &format!(
                "           attack {:<14} AUROC {}  advantage {}  TPR@1%FPR {}  empirical risk {}\n",
                a.name,
                beside(a.auroc, control),
                fmt(a.advantage),
                fmt(a.tpr_at_fpr_1pct),
                fmt(a.empirical_risk)
            );
        }
    }
    for note in &r.notes {
        out += &format!("note: {note}\n");
    }
    out
}
