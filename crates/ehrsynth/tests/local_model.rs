//! `--provider local` end to end with the real SmolLM2 GGUF: every emitted row valid, and the
//! same seed giving the same rows. The model comes from `EHRSYNTH_SMOLLM2_GGUF` or the model
//! cache (`ehrsynth model pull`). Ignored by default (`cargo test -- --include-ignored` runs it,
//! as `.ci/run` does); run without the model it fails and says why.

use std::path::{Path, PathBuf};
use std::process::Output;

use ehrsynth_table::io::read_table;

mod support;
use support::{ehrsynth_with_env, path, text};

fn ehrsynth(args: &[&str], cache: &Path) -> Output {
    ehrsynth_with_env(args, &[("EHRSYNTH_CACHE", cache)])
}

/// The SmolLM2 GGUF, or why there is none.
fn smollm2() -> Result<PathBuf, String> {
    if let Some(file) = std::env::var_os("EHRSYNTH_SMOLLM2_GGUF") {
        let file = PathBuf::from(file);
        return if file.is_file() {
            Ok(file)
        } else {
            Err(format!(
                "EHRSYNTH_SMOLLM2_GGUF={} is not a file",
                file.display()
            ))
        };
    }
    let cache = ehrsynth_local::ModelCache::from_env().map_err(|e| e.to_string())?;
    cache
        .pulled(&ehrsynth_local::cache::SMOLLM2)
        .ok_or_else(|| {
            format!(
                "SmolLM2 is not in the model cache {} (run `ehrsynth model pull`) and \
                 EHRSYNTH_SMOLLM2_GGUF is not set",
                cache.models_dir().display()
            )
        })
}

const TEN_FEATURES: &str = "is_female\nage\nheartrate_max\nsysbp_min\nresprate_max\ntempc_max\n\
lactate_last_early\nbun_last_early\nwbc_last_early\ncreatinine_last_early\n";

#[test]
#[ignore = "needs the SmolLM2 GGUF: `ehrsynth model pull` or EHRSYNTH_SMOLLM2_GGUF"]
fn group_strategy_on_the_local_model_gives_valid_rows_and_replays_by_seed() {
    let model = smollm2().unwrap_or_else(|why| panic!("{why}"));
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let p = |name: &str| dir.path().join(name);
    let train = p("train.parquet");
    let run = ehrsynth(
        &[
            "cohort",
            "reference",
            "--rows",
            "1000",
            "--hospitals",
            "4",
            "--seed",
            "5",
            "--out",
            path(&train),
        ],
        &cache,
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let features = p("top10.txt");
    std::fs::write(&features, TEN_FEATURES).unwrap();
    let generate = |out: &Path| {
        ehrsynth(
            &[
                "generate",
                "--train",
                path(&train),
                "--generator",
                "llm",
                "--provider",
                "local",
                "--model-path",
                path(&model),
                "--strategy",
                "group",
                "--features",
                path(&features),
                "--rows",
                "8",
                "--rows-per-request",
                "4",
                "--temperature",
                "0.8",
                "--seed",
                "7",
                "--no-cache",
                "--out",
                path(out),
            ],
            &cache,
        )
    };
    let first = generate(&p("a.csv"));
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    let table = read_table(&p("a.csv"), None).unwrap();
    assert_eq!(table.n_rows(), 8, "{stderr}");
    assert_eq!(table.n_columns(), 11, "ten features and the target");
    let schema = ehrsynth_table::Schema::load(&p("a.schema.toml")).unwrap();
    assert!(schema.validate_table(&table).unwrap().rejected.is_empty());
    // The grammar admits only valid rows: no run rejected one for any reason.
    let summaries: Vec<&str> = stderr.lines().filter(|l| l.contains("rows kept")).collect();
    assert_eq!(summaries.len(), 2, "one run per is_female group: {stderr}");
    for line in &summaries {
        assert!(line.contains(", 0 rejected,"), "{line}");
    }
    // The in-process model sees real example rows by default; the egress log says so, and that
    // nothing went anywhere but the local model.
    let journal = ehrsynth_llm::Journal::open(&p("a.csv.journal.sqlite")).unwrap();
    let egress = journal.egress("generate-group-7-is_female=0").unwrap();
    assert!(!egress.is_empty());
    for entry in &egress {
        assert!(entry.endpoint.starts_with("local://"), "{entry:?}");
        assert!(entry.contains_real_rows, "{entry:?}");
    }
    // The same seed gives the same rows (no journal cache involved: --no-cache).
    let second = generate(&p("b.csv"));
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(
        std::fs::read_to_string(p("a.csv")).unwrap(),
        std::fs::read_to_string(p("b.csv")).unwrap()
    );
}
