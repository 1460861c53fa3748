//! `ehrsynth study` through the binary: outputs, resume after a SIGKILL halfway without
//! recomputing finished cells, the cost estimate and the refusal to spend without a terminal.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ehrsynth_study::journal::StudyJournal;
use ehrsynth_study::results::StudyResults;

mod support;
use support::{ehrsynth, text};

fn ci_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci.toml")
}

fn results(out: &Path) -> StudyResults {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

#[test]
fn a_study_writes_its_outputs_and_a_rerun_recomputes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ci");
    let run = ehrsynth(&[
        "study",
        ci_config().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 cells: 4 computed now (0 failed), 0 taken from the journal"),
        "{stderr}"
    );
    for file in [
        "report.html",
        "summary.md",
        "results.csv",
        "results.parquet",
        "results.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("ehrsynth CI study"));
    let r = results(&out);
    assert_eq!(r.cells.len(), 4);
    for cell in &r.cells {
        let folder = out.join("cells").join(&cell.spec.id);
        assert!(folder.join("audit.json").is_file() && folder.join("synthetic.parquet").is_file());
    }
    let again = ehrsynth(&[
        "study",
        ci_config().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 cells: 0 computed now (0 failed), 4 taken from the journal"),
        "{stderr}"
    );
    // --only narrows the grid.
    let only = ehrsynth(&[
        "study",
        ci_config().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--only",
        "bayesnet-*",
    ]);
    assert!(
        text(&only.stderr).contains("2 cells: 0 computed now"),
        "{}",
        text(&only.stderr)
    );
}

#[test]
fn a_study_killed_after_its_first_cell_resumes_without_recomputing_finished_cells() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed");
    // Three seeds: 12 cells, so the kill lands well before the end.
    let config = std::fs::read_to_string(ci_config())
        .unwrap()
        .replace("seeds = [1]", "seeds = [1, 2, 3]");
    let config_path = dir.path().join("study.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ehrsynth"))
        .args([
            "study",
            config_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let first_done = line.starts_with("cell 1 ") && line.contains(": done");
        seen.push(line);
        if first_done {
            break;
        }
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    child.wait().unwrap();
    assert!(seen.iter().any(|l| l.contains(": done")), "{seen:?}");

    let before = StudyJournal::open(&out.join("study.sqlite"))
        .unwrap()
        .recorded()
        .unwrap();
    assert!(!before.is_empty() && before.len() < 12, "{before:?}");
    let partial = results(&out);
    assert!(partial.cells.len() < 12 && !partial.pending.is_empty());

    let rerun = ehrsynth(&[
        "study",
        config_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&rerun.stderr);
    assert!(rerun.status.success(), "{stderr}");
    let reused = before.len();
    assert!(
        stderr.contains(&format!("{reused} of 12 cells finished earlier")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "12 cells: {} computed now (0 failed), {reused} taken from the journal",
            12 - reused
        )),
        "{stderr}"
    );
    let after = StudyJournal::open(&out.join("study.sqlite"))
        .unwrap()
        .recorded()
        .unwrap();
    assert_eq!(after.len(), 12);
    for (id, state, finished_at) in &before {
        let same = after.iter().find(|(i, _, _)| i == id).unwrap();
        assert_eq!(
            (&same.1, same.2),
            (state, *finished_at),
            "{id} was not recomputed"
        );
    }
    let complete = results(&out);
    assert_eq!(complete.cells.len(), 12);
    assert!(complete.pending.is_empty());
    assert!(complete.cells.iter().all(|c| c.audit.is_some()));
}

#[test]
fn paid_cells_get_an_estimate_and_no_money_is_spent_without_a_terminal_or_yes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paid.toml");
    std::fs::write(
        &config,
        r#"title = "paid"
[data]
source = "reference"
rows = 500
[[generators]]
kind = "llm"
strategies = ["naive", "group"]
providers = ["openai"]
models = ["o1"]
feature_sets = ["all"]
rows = [1000]
price_input = 15.0
price_output = 60.0
"#,
    )
    .unwrap();
    let out = dir.path().join("paid");
    let estimate = ehrsynth(&[
        "study",
        config.to_str().unwrap(),
        "--estimate",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&estimate.stderr);
    assert!(estimate.status.success(), "{stderr}");
    assert!(
        stderr.contains("estimate for the 2 paid-provider cells"),
        "{stderr}"
    );
    assert!(text(&estimate.stdout).contains("llm-group-openai-o1-all-n1000-s1-random"));
    assert!(!out.exists(), "--estimate runs nothing");
    let refused = ehrsynth(&[
        "study",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("pass --yes"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!out.exists(), "nothing ran");
    // Without price_input/price_output the built-in table prices o1 as generate does (the study
    // counted it at $0); a model nobody prices is refused before anything runs.
    let estimate_line = |stderr: &str| {
        stderr
            .lines()
            .find(|l| l.contains("estimate for the 2 paid-provider cells"))
            .map(str::to_string)
    };
    let priced = estimate_line(&stderr).unwrap();
    let text_of = std::fs::read_to_string(&config).unwrap();
    let unpriced = text_of.replace("price_input = 15.0\nprice_output = 60.0\n", "");
    assert_ne!(unpriced, text_of);
    std::fs::write(&config, &unpriced).unwrap();
    let table = ehrsynth(&[
        "study",
        config.to_str().unwrap(),
        "--estimate",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    assert_eq!(estimate_line(&text(&table.stderr)).unwrap(), priced);
    std::fs::write(
        &config,
        unpriced.replace("models = [\"o1\"]", "models = [\"mystery-1\"]"),
    )
    .unwrap();
    let unknown = ehrsynth(&[
        "study",
        config.to_str().unwrap(),
        "--estimate",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no price is known for model 'mystery-1'"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn a_config_error_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "title = \"t\"\n[data]\nsource = \"reference\"\nrowz = 5\n",
    )
    .unwrap();
    let run = ehrsynth(&["study", config.to_str().unwrap()]);
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("rowz"),
        "{stderr}"
    );
}
