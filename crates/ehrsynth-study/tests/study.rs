//! The study end to end on a small reference cohort: the grid, config errors, the results
//! table, resume without recomputation, failing cells recorded while others continue, and LLM
//! cells whose requests are journaled inside the study folder.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ehrsynth_llm::LlmError;
use ehrsynth_llm::engine::{RawResponse, Transport, TransportError};
use ehrsynth_llm::provider::HttpRequest;
use ehrsynth_study::grid::{expand, matches_pattern};
use ehrsynth_study::results::CellStatus;
use ehrsynth_study::runner::Quiet;
use ehrsynth_study::tidy::metric_columns;
use ehrsynth_study::{RunOptions, StudyConfig, StudyOutcome, run_study};
use ehrsynth_table::NoProgress;

fn parse(text: &str) -> Result<StudyConfig, String> {
    StudyConfig::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
}

const SMALL: &str = r#"
title = "small"
[data]
source = "reference"
rows = 1500
hospitals = 4
seed = 3
[splits]
random = { holdout = 0.25 }
[grid]
feature_sets = [4, "all"]
rows = [150]
[[generators]]
kind = "copula"
[[generators]]
kind = "bayesnet"
feature_sets = [4]
[[generators]]
kind = "llm"
strategies = ["naive", "group"]
providers = ["local"]
models = ["tiny"]
feature_sets = [4]
rows = [20]
[cross_hospital]
min_rows = 50
"#;

#[test]
fn the_grid_expands_to_every_cell_once_in_order() {
    let config = parse(
        r#"
title = "grid"
[data]
source = "reference"
[splits]
random = {}
hospital = { holdout_share = 0.3 }
[grid]
feature_sets = [5, 10, "all"]
rows = [1000, 5000]
seeds = [1, 2]
splits = ["random"]
[[generators]]
kind = "copula"
[[generators]]
kind = "bayesnet"
epsilon = [0.5, 1.0]
feature_sets = [10]
rows = [1000]
seeds = [1]
splits = ["random", "hospital"]
[[generators]]
kind = "llm"
strategies = ["naive", "schema", "conditional", "group"]
providers = ["openai", "local"]
models = ["o1"]
feature_sets = ["all"]
rows = [1000]
seeds = [1]
[[generators]]
kind = "llm"
strategies = ["group"]
providers = ["openai"]
models = ["o1"]
feature_sets = [10]
rows = [1000, 5000]
seeds = [1]
"#,
    )
    .unwrap();
    let cells = expand(&config, Some(80));
    // copula 3 sets x 2 sizes x 2 seeds; bayesnet 2 epsilons x 2 splits; llm 4 x 2 x 1; group 2.
    assert_eq!(cells.len(), 12 + 4 + 8 + 2);
    let ids: Vec<&str> = cells.iter().map(|c| c.spec.id.as_str()).collect();
    assert_eq!(ids[0], "copula-top5-n1000-s1-random");
    assert_eq!(ids[1], "copula-top5-n1000-s2-random");
    assert!(ids.contains(&"bayesnet-eps0.5-top10-n1000-s1-hospital"));
    assert!(ids.contains(&"llm-conditional-local-o1-all-n1000-s1-random"));
    assert!(ids.contains(&"llm-group-openai-o1-top10-n5000-s1-random"));
    let all = cells.iter().find(|c| c.spec.feature_set == "all").unwrap();
    assert_eq!(all.spec.feature_count, 80);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    // Overlapping entries give one cell: T3's group top10 n1000 is also T4's.
    let overlapping = config.generators[3].clone();
    let mut twice = config.clone();
    twice.generators.push(overlapping);
    assert_eq!(expand(&twice, Some(80)).len(), cells.len());
    // The settings hash changes with what a cell depends on, and only with that.
    let mut edited = config.clone();
    edited.generators[1].rows = Some(vec![1000, 2000]);
    let before: Vec<_> = cells.iter().map(|c| (&c.spec.id, &c.config_hash)).collect();
    let after = expand(&edited, Some(80));
    for (id, hash) in &before {
        let same = after.iter().find(|c| &&c.spec.id == id).unwrap();
        assert_eq!(&&same.config_hash, hash, "{id} keeps its hash");
    }
    edited.generators[2].rows_per_request = Some(5);
    let changed = expand(&edited, Some(80));
    let llm = changed
        .iter()
        .find(|c| c.spec.id == "llm-naive-openai-o1-all-n1000-s1-random")
        .unwrap();
    let old = cells.iter().find(|c| c.spec.id == llm.spec.id).unwrap();
    assert_ne!(llm.config_hash, old.config_hash);
    assert!(matches_pattern(
        "llm-group-openai-o1-top10-n5000-s1-random",
        "llm-group-*-random"
    ));
    assert!(!matches_pattern("copula-top5-n1000-s1-random", "llm-*"));
    assert!(matches_pattern("copula-top5-n1000-s1-random", "top5"));
}

#[test]
fn config_errors_name_the_key() {
    let base = "title = \"t\"\n[data]\nsource = \"reference\"\n";
    let cases = [
        (
            format!("{base}[[generators]]\nkind = \"copula\"\nrowz = [1]\n"),
            "rowz",
        ),
        (
            format!("{base}[[genrators]]\nkind = \"copula\"\n"),
            "genrators",
        ),
        (
            format!("{base}[grid]\nrows = []\n[[generators]]\nkind = \"copula\"\n"),
            "grid.rows",
        ),
        (
            format!(
                "{base}[[generators]]\nkind = \"llm\"\nstrategies = [\"naive\"]\nmodels = [\"m\"]\n"
            ),
            "generators[0].providers",
        ),
        (
            format!(
                "{base}[[generators]]\nkind = \"llm\"\nstrategies = [\"clever\"]\nproviders = [\"local\"]\nmodels = [\"m\"]\n"
            ),
            "generators[0].strategies",
        ),
        (
            format!("{base}[[generators]]\nkind = \"copula\"\nsplits = [\"hospital\"]\n"),
            "generators[0].splits",
        ),
        (
            format!("{base}[[generators]]\nkind = \"copula\"\nepsilon = [1.0]\n"),
            "generators[0].epsilon",
        ),
        (
            format!("{base}[grid]\nfeature_sets = [\"most\"]\n[[generators]]\nkind = \"copula\"\n"),
            "feature_sets",
        ),
        (
            format!(
                "{base}[splits]\nrandom = {{ holdout = 1.5 }}\n[[generators]]\nkind = \"copula\"\n"
            ),
            "splits.random.holdout",
        ),
        (
            "title = \"t\"\n[data]\nsource = \"mimic\"\n[[generators]]\nkind = \"copula\"\n"
                .to_string(),
            "mimic",
        ),
        (base.to_string(), "generators"),
    ];
    for (text, key) in cases {
        let err = parse(&text).expect_err(&text);
        assert!(err.contains(key), "error for {key}: {err}");
        assert!(err.contains("test.toml"), "the file is named: {err}");
    }
}

fn no_local(
    needs: &ehrsynth_study::llm_settings::TransportNeeds<'_>,
) -> Result<Arc<dyn Transport>, LlmError> {
    Err(LlmError::Transport(format!(
        "no transport for '{}' in this test",
        needs.provider
    )))
}

fn run(
    config: &StudyConfig,
    out: &Path,
    transport_for: &ehrsynth_study::llm_settings::TransportFor,
) -> StudyOutcome {
    run_study(
        config,
        &RunOptions {
            out: out.to_path_buf(),
            only: None,
            config_text: String::new(),
            transport_for,
            progress: &NoProgress,
            observer: &Quiet,
        },
    )
    .unwrap()
}

#[test]
fn a_study_writes_one_row_per_cell_resumes_without_recomputing_and_records_failures() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse(SMALL).unwrap();
    let first = run(&config, dir.path(), &no_local);
    let results = &first.results;
    // copula 2 sets, bayesnet 1, llm 2 strategies.
    assert_eq!(results.cells.len(), 5);
    assert!(results.pending.is_empty());
    assert_eq!(first.computed, 5);
    assert_eq!(first.failed, 2, "the two local-model cells fail");
    for cell in &results.cells {
        match (&cell.spec.generator[..], &cell.status) {
            ("llm", CellStatus::Failed { reason }) => {
                assert!(reason.contains("no transport for 'local'"), "{reason}")
            }
            (_, CellStatus::Done) => {
                let audit = cell.audit.as_ref().unwrap();
                assert!(audit.fidelity.kl_mean.is_some());
                assert_eq!(cell.usage.rows_valid, 150);
                // Every column of the cell but the id has a distribution summing to 1.
                assert_eq!(cell.distributions.len(), audit.columns.len());
                for d in &cell.distributions {
                    assert!(
                        (d.real.iter().sum::<f64>() - 1.0).abs() < 1e-9,
                        "{}",
                        d.name
                    );
                    assert!(
                        (d.synthetic.iter().sum::<f64>() - 1.0).abs() < 1e-9,
                        "{}",
                        d.name
                    );
                }
                let folder = dir.path().join("cells").join(&cell.spec.id);
                assert!(folder.join("audit.json").is_file());
                assert!(folder.join("synthetic.parquet").is_file());
            }
            (g, s) => panic!("unexpected {g} {s:?}"),
        }
    }
    // The top-4 cells model 4 features plus the group columns the audit needs.
    let top = results
        .cells
        .iter()
        .find(|c| c.spec.feature_set == "top4")
        .unwrap();
    // The feature count is the feature set's size; the table also keeps the group columns.
    let audit = top.audit.as_ref().unwrap();
    assert_eq!(top.spec.feature_count, 4);
    let ranked: Vec<&str> = results
        .importance
        .features
        .iter()
        .take(4)
        .map(|f| f.name.as_str())
        .collect();
    for column in ranked
        .iter()
        .copied()
        .chain(["is_female", "race_black", "death"])
    {
        assert!(
            audit.columns.iter().any(|c| c == column),
            "{column} in {:?}",
            audit.columns
        );
    }
    let groups = 5 - ranked
        .iter()
        .filter(|f| f.starts_with("race_") || **f == "is_female")
        .count();
    assert_eq!(audit.columns.len(), 4 + groups + 1);
    assert_eq!(results.importance.features.len(), 80);
    let matrix = results
        .cross_hospital
        .as_ref()
        .expect("the reference cohort has sites");
    assert!(matrix.hospitals.len() >= 2);
    assert!(
        matrix
            .auroc
            .iter()
            .flatten()
            .flatten()
            .all(|a| (0.0..=1.0).contains(a))
    );

    // The tidy table: one row per cell, the setting columns and every metric column.
    let table = ehrsynth_table::io::read_table(&dir.path().join("results.csv"), None).unwrap();
    assert_eq!(table.n_rows(), 5);
    for (name, _) in metric_columns() {
        assert!(table.column(name).is_some(), "metric column {name}");
    }
    for name in [
        "id",
        "generator",
        "strategy",
        "feature_set",
        "rows",
        "split",
        "status",
    ] {
        assert!(table.column(name).is_some(), "{name}");
    }
    let parquet =
        ehrsynth_table::io::read_table(&dir.path().join("results.parquet"), None).unwrap();
    assert_eq!(parquet.n_rows(), 5);
    let json: ehrsynth_study::results::StudyResults =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    // (serde_json's float parsing may differ in the last bit, so compare what the report reads.)
    let ids = |r: &ehrsynth_study::results::StudyResults| {
        r.cells
            .iter()
            .map(|c| (c.spec.clone(), c.status.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&json), ids(results));
    assert_eq!(json.importance.features.len(), 80);
    assert!(dir.path().join("report.html").is_file() && dir.path().join("summary.md").is_file());

    // Rerun: finished cells come from the journal; only the failed ones are tried again.
    let second = run(&config, dir.path(), &no_local);
    assert_eq!(second.reused, 3);
    assert_eq!(second.computed, 2);
    let done = |o: &StudyOutcome| {
        o.results
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Done)
            .map(|c| {
                let kl = c.audit.as_ref().and_then(|a| a.fidelity.kl_mean).unwrap();
                (c.spec.clone(), c.usage.rows_valid, (kl * 1e9).round())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(done(&second), done(&first), "reused results are identical");

    // Editing one generator's settings recomputes its cells only.
    let mut edited = config.clone();
    edited.generators[1].epsilon = vec![1.0];
    edited.generators.truncate(2);
    let third = run(&edited, dir.path(), &no_local);
    assert_eq!(third.reused, 2, "the copula cells stay");
    assert_eq!(third.computed, 1, "the bayesnet cell is new");
    assert_eq!(
        third.results.cells[2].spec.id,
        "bayesnet-eps1-top4-n150-s1-random"
    );
}

/// Answers every request with prose and no rows, counting the requests it receives.
struct Chatty(AtomicUsize);

impl Transport for Chatty {
    fn send(&self, _: &HttpRequest) -> Result<RawResponse, TransportError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({
            "choices": [{"message": {"content": "I would rather talk about the weather."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7}
        });
        Ok(RawResponse {
            status: 200,
            body: body.to_string(),
            retry_after: None,
        })
    }
}

#[test]
fn llm_cells_keep_their_request_journal_in_the_study_and_resume_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = SMALL
        .replace(
            "providers = [\"local\"]",
            "providers = [\"openai-compatible\"]\nmax_requests = 3\nprice_input = 10.0",
        )
        .replace(
            "strategies = [\"naive\", \"group\"]",
            "strategies = [\"naive\"]",
        );
    let config = parse(&text).unwrap();
    let mut only_llm = config.clone();
    only_llm
        .generators
        .retain(|g| g.kind == ehrsynth_study::config::GeneratorKind::Llm);
    let chatty = Arc::new(Chatty(AtomicUsize::new(0)));
    let transport = chatty.clone();
    let transport_for =
        move |_: &ehrsynth_study::llm_settings::TransportNeeds<'_>| -> Result<Arc<dyn Transport>, LlmError> {
            Ok(transport.clone())
        };
    let first = run(&only_llm, dir.path(), &transport_for);
    let cell = &first.results.cells[0];
    assert_eq!(
        cell.spec.id,
        "llm-naive-openai-compatible-tiny-top4-n20-s1-random"
    );
    match &cell.status {
        CellStatus::Failed { reason } => assert!(reason.contains("no valid rows"), "{reason}"),
        s => panic!("{s:?}"),
    }
    assert_eq!(cell.usage.requests, 3);
    assert_eq!(cell.usage.prompt_tokens, 300);
    assert_eq!(cell.usage.completion_tokens, 21);
    assert!((cell.usage.cost_usd.unwrap() - 0.003).abs() < 1e-9);
    assert!(
        dir.path()
            .join("cells")
            .join(&cell.spec.id)
            .join("requests.sqlite")
            .is_file()
    );
    assert_eq!(chatty.0.load(Ordering::SeqCst), 3);
    // The failed cell is tried again; its answered requests come from its journal.
    let second = run(&only_llm, dir.path(), &transport_for);
    assert_eq!(second.computed, 1);
    assert_eq!(chatty.0.load(Ordering::SeqCst), 3, "no request sent again");
    assert_eq!(second.results.cells[0].usage.requests, 3);
}

#[test]
fn an_llm_entry_sets_its_transport_timeout_and_answer_cap() {
    let seen = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let text = SMALL
            .replace(
                "providers = [\"local\"]",
                &format!("providers = [\"openai-compatible\"]\nprice_input = 0.0\n{extra}"),
            )
            .replace(
                "strategies = [\"naive\", \"group\"]",
                "strategies = [\"naive\"]",
            );
        let mut config = parse(&text).unwrap();
        config
            .generators
            .retain(|g| g.kind == ehrsynth_study::config::GeneratorKind::Llm);
        let asked = std::sync::Mutex::new(Vec::new());
        let transport_for = |needs: &ehrsynth_study::llm_settings::TransportNeeds<'_>| {
            asked
                .lock()
                .unwrap()
                .push((needs.timeout.as_secs(), needs.max_answer_bytes));
            Err::<Arc<dyn Transport>, LlmError>(LlmError::Transport(
                "no server in this test".into(),
            ))
        };
        run(&config, dir.path(), &transport_for);
        asked.into_inner().unwrap()
    };
    assert_eq!(seen(""), vec![(300, 8 << 20)], "the defaults");
    assert_eq!(
        seen("timeout_seconds = 7\nmax_answer_mb = 2"),
        vec![(7, 2 << 20)]
    );
}

#[test]
fn a_hospital_split_cell_reports_tstr_on_the_held_out_hospitals() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse(
        r#"
title = "hospital split"
[data]
source = "reference"
rows = 1500
hospitals = 5
seed = 4
[splits]
hospital = { holdout_share = 0.4 }
[grid]
feature_sets = [6]
rows = [300]
splits = ["hospital"]
[[generators]]
kind = "copula"
"#,
    )
    .unwrap();
    let outcome = run(&config, dir.path(), &no_local);
    let cell = &outcome.results.cells[0];
    let audit = cell.audit.as_ref().expect("audited");
    assert_eq!(audit.site.as_deref(), Some("hospitalid"));
    // The site is read from the real rows only: not a modelled or audited column.
    assert!(!audit.columns.iter().any(|c| c == "hospitalid"));
    let utility = audit.utility.as_ref().unwrap();
    let unseen = utility
        .unseen_sites_pooled
        .as_ref()
        .expect("TSTR on the held-out hospitals");
    assert!(unseen.auroc.is_some() && unseen.test_rows > 0);
    assert!(!utility.sites.is_empty());
    assert!(utility.sites.iter().all(|s| !s.seen_in_training));
    assert!(
        audit.notes.iter().any(|n| n.contains("differ by hospital")),
        "{:?}",
        audit.notes
    );
    // Its privacy figures are said not to be read as leakage, in the figure's own table.
    assert!(audit.privacy.as_ref().unwrap().non_members_from_other_sites);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let privacy = &html[html.find("id=\"privacy\"").unwrap()..];
    assert!(
        privacy.contains("not judged: members and non-members come from different hospitals"),
        "{}",
        &privacy[..2000.min(privacy.len())]
    );
    assert!(html.contains("1 hospital-split cell is not judged"));
}

/// A trial-like table: an outcome of two labels, a site column, a 0/1 group column.
fn write_trial_table(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut csv = String::from("age,cd4,arm,female,center,response\n");
    let mut rng = 7u64;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..1200 {
        let age = 25 + (next() * 50.0) as i64;
        let cd4 = 100.0 + 400.0 * next();
        let arm = ["zdv", "ddi", "combo"][i % 3];
        let female = u8::from(next() < 0.3);
        // Centre 9 has a handful of rows: too few for the cross-site matrix.
        let center = if i % 200 == 0 { 9 } else { 1 + i % 3 };
        let risk = 0.15 + 0.5 * f64::from(cd4 < 200.0) + 0.1 * f64::from(arm == "combo");
        let response = if next() < risk { "1_yes" } else { "0_no" };
        csv += &format!("{age},{cd4:.1},{arm},{female},{center},{response}\n");
    }
    let data = dir.join("trial.csv");
    std::fs::write(&data, csv).unwrap();
    let table = ehrsynth_table::io::read_table(&data, None).unwrap();
    let schema = ehrsynth_table::Schema::infer(
        &table,
        &ehrsynth_table::schema::RoleHints {
            target: Some("response".into()),
            site: Some("center".into()),
            groups: vec!["female".into()],
            ids: Vec::new(),
        },
    )
    .unwrap();
    let schema_path = dir.join("trial.schema.toml");
    schema.save(&schema_path).unwrap();
    (data, schema_path)
}

#[test]
fn a_study_on_a_table_that_is_not_eicu_speaks_of_its_own_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = write_trial_table(dir.path());
    let config = parse(&format!(
        r#"
title = "trial"
[data]
source = "file"
path = "{}"
schema = "{}"
[grid]
feature_sets = ["all"]
rows = [300]
[[generators]]
kind = "copula"
[cross_hospital]
min_rows = 100
"#,
        data.display(),
        schema.display()
    ))
    .unwrap();
    let outcome = run(&config, &dir.path().join("out"), &no_local);
    if std::env::var_os("KEEP_STUDY").is_some() {
        let _ = std::fs::create_dir_all("/tmp/w/trial");
        for f in ["report.html", "summary.md"] {
            let _ = std::fs::copy(dir.path().join("out").join(f), format!("/tmp/w/trial/{f}"));
        }
    }
    let results = &outcome.results;
    assert!(!results.roles.eicu_shaped);
    assert_eq!(results.roles.positive, "1_yes");
    assert!(
        (0.2..0.6).contains(&results.outcome_rate),
        "{}",
        results.outcome_rate
    );
    let audit = results.cells[0].audit.as_ref().expect("audited");
    assert_eq!(audit.target_positive.as_deref(), Some("1_yes"));
    assert!(audit.utility.as_ref().unwrap().trtr.auroc.unwrap() > 0.6);
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    let md = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    for page in [&html, &md] {
        for eicu_word in [
            " ICU",
            "died",
            "mortality",
            "race_black",
            "paper TSTR",
            "OpenAI o1",
        ] {
            assert!(
                !page.contains(eicu_word),
                "'{eicu_word}' in a trial's report"
            );
        }
        assert!(page.contains("response = &#39;1_yes&#39;") || page.contains("response = '1_yes'"));
        // Both values of the group column are listed, not only 1.
        assert!(page.contains("female = 0") && page.contains("female = 1"));
        // The cross-site filter is said where the matrix is.
        assert!(
            page.contains("1 of the 4 values of &#39;center&#39;")
                || page.contains("1 of the 4 values of 'center'")
        );
    }
    // The same study on eICU-shaped data keeps the paper's words and numbers.
    let eicu = parse(SMALL).unwrap();
    let eicu_out = dir.path().join("eicu");
    run(&eicu, &eicu_out, &no_local);
    let html = std::fs::read_to_string(eicu_out.join("report.html")).unwrap();
    assert!(
        html.contains("ICU") && html.contains("died in hospital") && html.contains("paper TSTR")
    );
}
