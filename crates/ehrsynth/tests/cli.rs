//! The `ehrsynth` binary end to end: what a user types, what they get back.

use std::path::{Path, PathBuf};
use std::process::Command;

use ehrsynth_table::io::read_table;

mod support;
use support::{
    ehrsynth, openai_answer, path, read_request, request_seed, seeded_rows, text, write_json,
};

fn demo_dir() -> PathBuf {
    std::env::var_os("EHRSYNTH_EICU_DEMO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/eicu-demo")
        })
}

#[test]
fn reference_cohort_then_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ref.csv");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "3000",
        "--hospitals",
        "8",
        "--seed",
        "3",
        "--out",
        path(&out),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let table = read_table(&out, None).unwrap();
    assert_eq!((table.n_rows(), table.n_columns()), (3000, 83));
    let schema_file = std::fs::read_to_string(dir.path().join("ref.schema.toml")).unwrap();
    assert!(schema_file.contains("name = \"death\"") && schema_file.contains("role = \"target\""));

    let schema = ehrsynth(&[
        "schema",
        path(&out),
        "--target",
        "death",
        "--site",
        "hospitalid",
        "--group",
        "is_female",
    ]);
    assert!(schema.status.success(), "{}", text(&schema.stderr));
    let toml = text(&schema.stdout);
    let death = toml
        .split("[[column]]")
        .find(|c| c.contains("name = \"death\""))
        .unwrap();
    assert!(
        death.contains("kind = \"binary\"") && death.contains("role = \"target\""),
        "{death}"
    );
    let stay = toml
        .split("[[column]]")
        .find(|c| c.contains("name = \"patientunitstayid\""))
        .unwrap();
    assert!(stay.contains("role = \"id\""), "{stay}");
}

#[test]
fn eicu_demo_cohort_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.parquet");
    let run = ehrsynth(&[
        "cohort",
        "eicu",
        "--eicu-dir",
        path(&demo_dir()),
        "--out",
        path(&out),
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: table nurseCharting is absent"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1281  APACHE IVa predicted hospital mortality > 0"),
        "{stderr}"
    );
    assert!(stderr.contains("death = 1 in 110 rows (8.59%)"), "{stderr}");
    let table = read_table(&out, None).unwrap();
    assert_eq!((table.n_rows(), table.n_columns()), (1281, 83));
    assert!(dir.path().join("demo.schema.toml").exists());
}

#[test]
fn bad_input_gives_one_clear_error_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "a,b\n1,2\n3\n").unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "a,b\n1,2\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["schema", path(&ragged)],
            "line 3: found 1 fields, but the header has 2",
        ),
        (vec!["schema", "nope.csv"], "nope.csv"),
        (
            vec!["schema", path(&good), "--target", "zzz"],
            "the target column 'zzz' is not a column",
        ),
        (
            vec![
                "cohort",
                "eicu",
                "--eicu-dir",
                "/nonexistent",
                "--out",
                "x.parquet",
            ],
            "not a folder",
        ),
        (
            vec!["cohort", "reference", "--rows", "0", "--out", "x.csv"],
            "row",
        ),
        (
            vec![
                "cohort",
                "eicu",
                "--eicu-dir",
                ".",
                "--out",
                "x.parquet",
                "--table",
                "lab",
            ],
            "TABLE=FILE",
        ),
    ];
    for (args, expected) in cases {
        let run = ehrsynth(&args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    for args in [
        vec!["--help"],
        vec!["cohort", "--help"],
        vec!["schema", "--help"],
        vec!["cohort", "eicu", "--help"],
        vec!["cohort", "reference", "--help"],
        vec!["quickstart", "--help"],
    ] {
        let run = ehrsynth(&args);
        assert!(run.status.success());
        assert!(text(&run.stdout).contains("Examples:"), "{args:?}");
    }
}

#[test]
fn split_evaluate_and_importance_on_the_reference_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let real = p("real.parquet");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "4000",
        "--hospitals",
        "10",
        "--seed",
        "5",
        "--out",
        path(&real),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    // "Synthetic" stand-in: more rows of the same simulated distribution.
    let synthetic = p("syn.csv");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "1500",
        "--hospitals",
        "10",
        "--seed",
        "5",
        "--out",
        path(&synthetic),
    ]);
    assert!(run.status.success());
    let (train, holdout) = (p("train.parquet"), p("holdout.parquet"));
    let run = ehrsynth(&[
        "split",
        path(&real),
        "--holdout-share",
        "0.25",
        "--train",
        path(&train),
        "--holdout",
        path(&holdout),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let held = read_table(&holdout, None).unwrap().n_rows();
    assert!((999..=1001).contains(&held), "{held}"); // 25% of each outcome stratum, rounded

    let (json, html) = (p("audit.json"), p("audit.html"));
    let run = ehrsynth(&[
        "evaluate",
        "--train",
        path(&train),
        "--holdout",
        path(&holdout),
        "--synthetic",
        path(&synthetic),
        "--json",
        path(&json),
        "--html",
        path(&html),
        "--seed",
        "3",
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        stdout.contains("fidelity   mean KL") && stdout.contains("attack distance"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["format"], "ehrsynth-audit");
    // Each headline figure has the control's beside it, in brackets.
    let control_dcr = report["control"]["dcr_share"].as_f64().unwrap();
    assert!(
        stdout.contains("[in brackets: the control")
            && stdout.contains(&format!("[{control_dcr:.3}]")),
        "{stdout}"
    );
    assert_eq!(report["version"], 1);
    for key in [
        "kl_mean",
        "correlation_mae",
        "detection_auroc",
        "exact_copy_share",
    ] {
        assert!(report["fidelity"][key].is_number(), "fidelity.{key}");
    }
    // A numeric feature (the site, first in the table, is compared as labels: no KS).
    let feature = report["fidelity"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "age")
        .unwrap();
    let site = &report["fidelity"]["features"][0];
    assert_eq!(site["name"], "hospitalid");
    assert!(site["ks_statistic"].is_null() && site["tvd"].is_number());
    for key in [
        "name",
        "kl",
        "ks_statistic",
        "ks_pvalue",
        "wasserstein",
        "out_of_range_share",
    ] {
        assert!(!feature[key].is_null(), "features[].{key}: {feature}");
    }
    for setting in ["within", "across", "trtr"] {
        for key in ["auroc", "auroc_ci", "auprc", "auprc_ci"] {
            assert!(
                !report["utility"][setting][key].is_null(),
                "utility.{setting}.{key}"
            );
        }
    }
    assert!(!report["utility"]["sites"].as_array().unwrap().is_empty());
    let group = &report["fairness"]["groups"][0];
    for key in ["column", "value", "kl_mean", "auroc"] {
        assert!(!group[key].is_null(), "fairness.groups[].{key}");
    }
    assert!(
        report["privacy"]["dcr_share"].is_number() && report["privacy"]["nndr_mean"].is_number()
    );
    for attack in report["privacy"]["attacks"].as_array().unwrap() {
        for key in [
            "name",
            "auroc",
            "advantage",
            "tpr_at_fpr_1pct",
            "tpr_at_fpr_01pct",
            "empirical_risk",
        ] {
            assert!(!attack[key].is_null(), "attacks[].{key}");
        }
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("Fidelity per feature") && page.contains("hosp_los")
    );
    // The cohort's rules, each listed; real rows (the stand-in) break none.
    assert!(
        page.contains("Rules across columns")
            && page.contains("22 rules from the schema; no synthetic row breaks one")
            && page.contains("order(heartrate_min &lt;= heartrate_first &lt;= heartrate_max)"),
        "{page}"
    );

    let top = p("top5.txt");
    let run = ehrsynth(&[
        "importance",
        "--data",
        path(&train),
        "--top",
        "5",
        "--out",
        path(&top),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let names: Vec<String> = std::fs::read_to_string(&top)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names.len(), 5);
    let schema = ehrsynth_cohort::features::eicu_schema();
    assert!(
        names
            .iter()
            .all(|n| schema.column(n).is_some() && n != "death" && n != "patientunitstayid")
    );
}

#[test]
fn generate_with_both_generators_features_and_a_condition() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let train = p("train.parquet");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "3000",
        "--hospitals",
        "6",
        "--seed",
        "8",
        "--out",
        path(&train),
    ]);
    assert!(run.status.success());
    let features = p("top.txt");
    std::fs::write(
        &features,
        "lactate_last_early\nage\n# a comment\nbun_last_early\n",
    )
    .unwrap();
    for (generator, extra) in [("copula", vec![]), ("bayesnet", vec!["--epsilon", "2"])] {
        let out = p(&format!("{generator}.csv"));
        let mut args = vec![
            "generate",
            "--train",
            path(&train),
            "--generator",
            generator,
            "--rows",
            "400",
            "--seed",
            "4",
            "--features",
            path(&features),
            "--condition",
            "is_female=1",
            "--out",
            path(&out),
        ];
        args.extend(extra);
        let run = ehrsynth(&args);
        assert!(run.status.success(), "{generator}: {}", text(&run.stderr));
        let table = read_table(&out, None).unwrap();
        // The chosen features plus the target and the condition column, in schema order.
        let mut names = table.column_names();
        names.sort_unstable();
        assert_eq!(
            names,
            vec![
                "age",
                "bun_last_early",
                "death",
                "is_female",
                "lactate_last_early"
            ]
        );
        let schema = ehrsynth_table::Schema::load(&p(&format!("{generator}.schema.toml"))).unwrap();
        let order: Vec<usize> = table
            .column_names()
            .iter()
            .map(|n| {
                ehrsynth_cohort::features::eicu_schema()
                    .names()
                    .iter()
                    .position(|m| m == n)
                    .unwrap()
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            table.column_names()
        );
        assert!(schema.validate_table(&table).unwrap().rejected.is_empty());
        let female = table.column("is_female").unwrap();
        assert_eq!(female.missing_count(), 0);
        assert!((0..table.n_rows()).all(|i| female.get_f64(i) == Some(1.0)));
    }
    let run = ehrsynth(&[
        "generate",
        "--train",
        path(&train),
        "--generator",
        "copula",
        "--rows",
        "5",
        "--epsilon",
        "1",
        "--out",
        path(&p("x.csv")),
    ]);
    assert!(
        !run.status.success()
            && text(&run.stderr).contains("--epsilon applies to the Bayesian network only")
    );
    let with_setting = |generator: &str, setting: &str| {
        ehrsynth(&[
            "generate",
            "--train",
            path(&train),
            "--generator",
            generator,
            "--rows",
            "5",
            "--set",
            setting,
            "--out",
            path(&p(&format!("{generator}-set.csv"))),
        ])
    };
    assert!(with_setting("cart", "min_leaf=50").status.success());
    let run = with_setting("cart", "leaf=50");
    assert!(
        !run.status.success() && text(&run.stderr).contains("its settings: min_leaf, max_depth"),
        "{}",
        text(&run.stderr)
    );
    let run = with_setting("copula", "min_leaf=50");
    assert!(!run.status.success() && text(&run.stderr).contains("takes no settings"));
    let run = ehrsynth(&[
        "generate",
        "--train",
        path(&train),
        "--generator",
        "copula",
        "--rows",
        "5",
        "--features",
        "nope",
        "--out",
        path(&p("x.csv")),
    ]);
    assert!(
        !run.status.success() && text(&run.stderr).contains("feature 'nope' is not in the schema")
    );
}

#[test]
fn quickstart_builds_generates_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let run = ehrsynth(&[
        "quickstart",
        "--rows",
        "2500",
        "--hospitals",
        "6",
        "--synthetic-rows",
        "500",
        "--out-dir",
        path(dir.path()),
    ]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    for line in [
        "copula     top 10",
        "bayesnet   top 10",
        "copula     all 83",
        "bayesnet   all 83",
    ] {
        assert!(stdout.contains(line), "{line} missing in:\n{stdout}");
    }
    let top = std::fs::read_to_string(dir.path().join("top10.txt")).unwrap();
    assert_eq!(top.lines().count(), 10);
    let audit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("copula-all83.audit.json")).unwrap(),
    )
    .unwrap();
    assert!(audit["fidelity"]["kl_mean"].as_f64().unwrap() < 0.05);
    assert!(dir.path().join("bayesnet-top10.audit.html").exists());
}

/// A loopback OpenAI-compatible server: each request gets 4 fresh CSV rows; counts requests.
fn fake_openai_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let _ = read_request(&mut reader);
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as i64;
            let rows: String = (0..4)
                .map(|k| format!("{}.25,{}\n", 20 + 4 * n + k, k % 2)) // fractional ages: never a copy of a training row
                .collect();
            let content = format!("```csv\nage,death\n{rows}```");
            write_json(&mut stream, &openai_answer(&content, 50, 30));
        }
    });
    (url, served)
}

#[test]
fn generate_with_an_llm_on_a_local_server_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    let run = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "500",
        "--hospitals",
        "4",
        "--out",
        path(&train),
    ]);
    assert!(run.status.success());
    let (url, served) = fake_openai_server();
    let out = dir.path().join("llm.csv");
    let args = [
        "generate",
        "--train",
        path(&train),
        "--generator",
        "llm",
        "--strategy",
        "schema",
        "--provider",
        "openai-compatible",
        "--base-url",
        &url,
        "--features",
        "age",
        "--rows",
        "12",
        "--rows-per-request",
        "4",
        "--seed",
        "2",
        "--out",
        path(&out),
    ];
    let first = ehrsynth(&args);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let table = read_table(&out, None).unwrap();
    assert_eq!(table.n_rows(), 12);
    let schema = ehrsynth_table::Schema::load(&dir.path().join("llm.schema.toml")).unwrap();
    assert!(schema.validate_table(&table).unwrap().rejected.is_empty());
    assert!(
        text(&first.stderr).contains("stopped: Enough"),
        "{}",
        text(&first.stderr)
    );
    let requests = served.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(requests, 3, "{}", text(&first.stderr));
    // The same command again is answered from the journal: no request reaches the server.
    let again = ehrsynth(&args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), requests);
    assert_eq!(read_table(&out, None).unwrap().n_rows(), 12);
    // A request budget stops the run early and says so.
    let mut limited: Vec<&str> = args.to_vec();
    limited.extend([
        "--max-requests",
        "1",
        "--price-input",
        "1",
        "--price-output",
        "2",
    ]);
    let seed_at = limited.iter().position(|a| *a == "--seed").unwrap() + 1;
    limited[seed_at] = "3";
    let short = ehrsynth(&limited);
    let stderr = text(&short.stderr);
    // Fewer rows than asked: written, and exit code 3 (it was 0 with a warning).
    assert_eq!(short.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error: incomplete: "), "{stderr}");
    assert!(
        stderr.contains("estimate: about") && stderr.contains("stopped: RequestBudget"),
        "{stderr}"
    );
    assert!(
        stderr.contains("4 of the 12 rows asked for were generated and written"),
        "{stderr}"
    );
    assert_eq!(read_table(&out, None).unwrap().n_rows(), 4);
    // Hosted providers need a key: a clear error.
    let hosted = ehrsynth(&[
        "generate",
        "--train",
        path(&train),
        "--generator",
        "llm",
        "--provider",
        "anthropic",
        "--api-key-env",
        "EHRSYNTH_TEST_NO_SUCH_KEY",
        "--rows",
        "4",
        "--out",
        path(&dir.path().join("x.csv")),
    ]);
    assert!(
        !hosted.status.success() && text(&hosted.stderr).contains("needs an API key"),
        "{}",
        text(&hosted.stderr)
    );
}

/// A loopback OpenAI-compatible server that answers slowly (`delay`) with 4 valid rows derived
/// from the request's seed (so a slot always gets the same rows), and keeps every request body.
fn slow_seeded_server(
    delay: std::time::Duration,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let Some(body) = read_request(&mut reader) else {
                    return;
                };
                let seed = request_seed(&body);
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                std::thread::sleep(delay);
                let content = format!("age,death\n{}", seeded_rows(seed));
                write_json(&mut stream, &openai_answer(&content, 50, 30));
            });
        }
    });
    (url, seen)
}

/// The issue's "done when": a run killed (SIGKILL) at random moments and resumed by running the
/// same command again ends with exactly N valid rows, and no request whose answer the journal
/// recorded is ever sent again.
#[test]
fn a_run_killed_at_random_moments_resumes_to_exactly_n_rows() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    let made = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "300",
        "--hospitals",
        "3",
        "--out",
        path(&train),
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let (url, seen) = slow_seeded_server(std::time::Duration::from_millis(120));
    let out = dir.path().join("killed.csv");
    let journal = dir.path().join("killed.journal.sqlite");
    let rows = 48;
    let args = [
        "generate",
        "--train",
        path(&train),
        "--generator",
        "llm",
        "--strategy",
        "naive",
        "--provider",
        "openai-compatible",
        "--base-url",
        &url,
        "--features",
        "age",
        "--rows",
        "48",
        "--rows-per-request",
        "4",
        "--seed",
        "5",
        "--journal",
        path(&journal),
        "--out",
        path(&out),
    ];
    // Seeded kill moments (xorshift), between 50 and 650 ms after the start.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    let mut finished = false;
    for attempt in 0..30 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ehrsynth"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if attempt < 6 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            std::thread::sleep(std::time::Duration::from_millis(50 + state % 600));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL: no chance to clean up
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        finished = true;
        break;
    }
    assert!(finished && kills >= 3, "{kills} kills");
    eprintln!(
        "killed {kills} times; the server saw {} requests",
        seen.lock().unwrap().len()
    );
    let table = read_table(&out, None).unwrap();
    assert_eq!(table.n_rows(), rows);
    let schema = ehrsynth_table::Schema::load(&dir.path().join("killed.schema.toml")).unwrap();
    assert!(schema.validate_table(&table).unwrap().rejected.is_empty());

    let j = ehrsynth_llm::Journal::open(&journal).unwrap();
    let run = "generate-naive-5";
    let totals = j.totals(run).unwrap();
    let answered_slots = j.answered(run).unwrap().len() as u64;
    let seen = seen.lock().unwrap();
    let distinct: std::collections::HashSet<&String> = seen.iter().collect();
    // Each slot's answer was recorded once: no request was sent again after its answer was in the
    // journal (a second sending would have been recorded as a second answer).
    assert_eq!(totals.answered, answered_slots);
    // Every distinct request the server saw ended answered in the journal: nothing lost.
    assert_eq!(distinct.len() as u64, answered_slots);
    // Repeats happen only for requests cut off by a kill before their answer was recorded.
    assert!(
        seen.len() - distinct.len() <= kills,
        "{} requests, {} distinct, {kills} kills",
        seen.len(),
        distinct.len()
    );
}

#[test]
fn llm_estimates_and_prices_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let made = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "300",
        "--hospitals",
        "3",
        "--out",
        path(&train),
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let out = dir.path().join("never.csv");
    let base = [
        "generate",
        "--train",
        path(&train),
        "--generator",
        "llm",
        "--rows",
        "1000",
        "--features",
        "age",
        "--out",
        path(&out),
        "--estimate",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        ehrsynth(&args)
    };
    // --estimate sends nothing and needs no key; the built-in table prices a dated snapshot.
    let run = with(&[
        "--provider",
        "openai",
        "--model",
        "gpt-4o-2024-08-06",
        "--api-key-env",
        "EHRSYNTH_TEST_NO_SUCH_KEY",
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("at $2.5/$10 per million"), "{stderr}");
    assert!(!out.exists());
    // A price file overrides the table.
    let prices = dir.path().join("prices.toml");
    std::fs::write(&prices, "gpt-4o = { input = 1, output = 3 }\n").unwrap();
    let run = with(&[
        "--provider",
        "openai",
        "--model",
        "gpt-4o",
        "--prices",
        path(&prices),
    ]);
    assert!(
        text(&run.stderr).contains("at $1/$3 per million"),
        "{}",
        text(&run.stderr)
    );
    // An unknown hosted model: a warning, and --max-cost refused without prices.
    let run = with(&["--provider", "anthropic", "--model", "claude-next"]);
    assert!(run.status.success() && text(&run.stderr).contains("warning: no price is known"));
    let run = with(&[
        "--provider",
        "anthropic",
        "--model",
        "claude-next",
        "--max-cost",
        "5",
    ]);
    assert!(
        !run.status.success() && text(&run.stderr).contains("--max-cost needs the model's prices"),
        "{}",
        text(&run.stderr)
    );
    let run = with(&[
        "--provider",
        "anthropic",
        "--model",
        "claude-next",
        "--max-cost",
        "5",
        "--price-input",
        "3",
        "--price-output",
        "15",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    // Local servers cost nothing.
    let run = with(&["--provider", "openai-compatible", "--model", "llama"]);
    assert!(
        text(&run.stderr).contains("at $0/$0 per million"),
        "{}",
        text(&run.stderr)
    );
}

/// A loopback TLS server (the test certificate of crates/ehrsynth-llm/tests/fixtures/tls)
/// answering in OpenAI's documented shape with 4 rows per request derived from its seed; counts
/// the requests that got through the handshake.
fn openai_over_tls() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::Write;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ehrsynth-llm/tests/fixtures/tls");
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures.join("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("server.key")).unwrap();
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, counter) = (config.clone(), counter.clone());
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut reader = std::io::BufReader::new(rustls::StreamOwned::new(connection, tcp));
                // An untrusting client hangs up during the handshake.
                let Some(body) = read_request(&mut reader).filter(|b| !b.is_empty()) else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let content = format!("age,death\n{}", seeded_rows(request_seed(&body)));
                let stream = reader.get_mut();
                write_json(stream, &openai_answer(&content, 1000, 100));
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    (url, served)
}

#[test]
fn generate_with_a_hosted_provider_over_tls_and_a_custom_ca() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    let made = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "300",
        "--hospitals",
        "3",
        "--out",
        path(&train),
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let (url, served) = openai_over_tls();
    let ca =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ehrsynth-llm/tests/fixtures/tls/ca.pem");
    let out = dir.path().join("hosted.csv");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--train",
            path(&train),
            "--generator",
            "llm",
            "--provider",
            "openai",
            "--model",
            "gpt-4o-mini",
            "--base-url",
            &url,
            "--api-key-env",
            "EHRSYNTH_TEST_KEY",
            "--features",
            "age",
            "--rows",
            "16",
            "--rows-per-request",
            "4",
            "--out",
            path(&out),
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_ehrsynth"))
            .args(&args)
            .env("EHRSYNTH_TEST_KEY", "sk-test-secret")
            .env_remove("EHRSYNTH_CA_CERT")
            .output()
            .unwrap()
    };
    // Without the CA: a clear certificate error, nothing sent, no retry storm, the key unseen.
    let refused = run(&["--journal", path(&dir.path().join("refused.sqlite"))]);
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("certificate") && stderr.contains("--ca-cert"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-test-secret"), "{stderr}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);
    // With it: 16 valid rows over TLS, 4 at once, priced from the built-in table.
    let ok = run(&["--ca-cert", ca.to_str().unwrap()]);
    let stderr = text(&ok.stderr);
    assert!(ok.status.success(), "{stderr}");
    assert_eq!(read_table(&out, None).unwrap().n_rows(), 16);
    assert!(stderr.contains("4 request(s) at once"), "{stderr}");
    // Priced as gpt-4o-mini: (1000 x 0.15 + 100 x 0.60) / 1e6 = $0.00021 per request sent
    // (4 or more: with 4 at once a few may go out beyond the last one needed).
    let sent: u64 = stderr
        .split(" sent, ")
        .next()
        .and_then(|head| head.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("the summary says how many requests were sent");
    assert!(sent >= 4, "{stderr}");
    let cost = format!("{} tokens, ${:.4}", 1100 * sent, 0.00021 * sent as f64);
    assert!(stderr.contains(&cost), "{cost} in {stderr}");
    assert!(!stderr.contains("sk-test-secret"), "{stderr}");
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 4);
}

#[test]
fn evaluate_names_wrong_roles_and_missing_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let cohort = |rows: &str, seed: &str, out: &Path| {
        let run = ehrsynth(&[
            "cohort",
            "reference",
            "--rows",
            rows,
            "--hospitals",
            "6",
            "--seed",
            seed,
            "--out",
            path(out),
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
    };
    let (train, holdout, synthetic) = (p("train.csv"), p("holdout.csv"), p("syn.csv"));
    cohort("1500", "1", &train);
    cohort("600", "2", &holdout);
    cohort("800", "3", &synthetic);
    // A synthetic file without age and with its own schema removed: age is missing.
    std::fs::remove_file(p("syn.schema.toml")).unwrap();
    let csv = std::fs::read_to_string(&synthetic).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let age = header.iter().position(|c| *c == "age").unwrap();
    let without_age: String = csv
        .lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(age);
            cells.join(",") + "\n"
        })
        .collect();
    std::fs::write(&synthetic, without_age).unwrap();
    let base = [
        "evaluate",
        "--train",
        path(&train),
        "--holdout",
        path(&holdout),
        "--synthetic",
        path(&synthetic),
    ];
    let typo = ehrsynth(&[&base[..], &["--site", "hospital"]].concat());
    assert!(!typo.status.success());
    assert!(
        text(&typo.stderr).contains("did you mean 'hospitalid'"),
        "{}",
        text(&typo.stderr)
    );
    let twice = ehrsynth(&[&base[..], &["--target", "death", "--group", "death"]].concat());
    assert!(!twice.status.success());
    assert!(text(&twice.stderr).contains("both the target and a group"));

    let json = p("audit.json");
    let run = ehrsynth(&[&base[..], &["--json", path(&json)]].concat());
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("lacks 1 of the schema's columns (age)"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["fidelity"]["missing_columns"][0], "age");
    let features = report["fidelity"]["features"].as_array().unwrap();
    let age = features.iter().find(|f| f["name"] == "age").unwrap();
    assert_eq!(age["absent_from_synthetic"], true);
    assert_eq!(age["ks_statistic"], 1.0);
}

#[test]
fn a_target_of_two_labels_is_read_with_its_positive_class_stated() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, rows: usize, offset: usize| {
        let mut csv = String::from("age,smoker,outcome\n");
        for i in 0..rows {
            let age = 20 + (i * 37 + offset) % 70;
            let label = if age > 65 || (i + offset).is_multiple_of(9) {
                "1_yes"
            } else {
                "0_no"
            };
            csv += &format!(
                "{age},{},{label}\n",
                if i.is_multiple_of(3) { "yes" } else { "no" }
            );
        }
        let path = dir.path().join(name);
        std::fs::write(&path, csv).unwrap();
        path
    };
    let (train, holdout, synthetic) = (
        write("train.csv", 400, 0),
        write("holdout.csv", 200, 5),
        write("syn.csv", 300, 11),
    );
    let json = dir.path().join("audit.json");
    let args = [
        "evaluate",
        "--train",
        path(&train),
        "--holdout",
        path(&holdout),
        "--synthetic",
        path(&synthetic),
        "--target",
        "outcome",
        "--json",
        path(&json),
    ];
    let run = ehrsynth(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["target_positive"], "1_yes");
    assert!(report["utility"]["trtr"]["auroc"].as_f64().unwrap() > 0.8);
    // The other label named as positive flips the classes.
    let flipped = ehrsynth(&[&args[..], &["--positive", "0_no"]].concat());
    assert!(flipped.status.success(), "{}", text(&flipped.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["target_positive"], "0_no");
    let wrong = ehrsynth(&[&args[..], &["--positive", "maybe"]].concat());
    assert!(!wrong.status.success());
    assert!(text(&wrong.stderr).contains("not a value of target 'outcome'"));
    let ranked = ehrsynth(&["importance", "--data", path(&train), "--target", "outcome"]);
    assert!(ranked.status.success(), "{}", text(&ranked.stderr));
    assert!(text(&ranked.stdout).contains("age"));
    // split counts the positives by their label (it said 0 positives for "1_yes").
    let schema = dir.path().join("train.schema.toml");
    let inferred = ehrsynth(&[
        "schema",
        path(&train),
        "--target",
        "outcome",
        "--out",
        path(&schema),
    ]);
    assert!(inferred.status.success(), "{}", text(&inferred.stderr));
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let split = ehrsynth(&[
        "split",
        path(&train),
        "--train",
        path(&a),
        "--holdout",
        path(&b),
    ]);
    assert!(split.status.success(), "{}", text(&split.stderr));
    let said = text(&split.stderr);
    let positives = (0..400)
        .filter(|i| 20 + (i * 37) % 70 > 65 || i % 9 == 0)
        .count();
    assert!(positives > 50, "{positives}");
    // "wrote a.csv (320 rows x 3 columns; outcome = 1_yes in 75 rows (23.44%))", twice.
    let counted: usize = said
        .lines()
        .filter_map(|l| {
            l.split("outcome = 1_yes in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(counted, positives, "{said}");
    // A target of many values gets evaluate's error from split too.
    let ages = ehrsynth(&[
        "split",
        path(&train),
        "--schema",
        path(&schema),
        "--train",
        path(&a),
        "--holdout",
        path(&b),
        "--positive",
        "1_yes",
    ]);
    assert!(ages.status.success(), "{}", text(&ages.stderr));
    let by_age = dir.path().join("by_age.schema.toml");
    let inferred = ehrsynth(&[
        "schema",
        path(&train),
        "--target",
        "age",
        "--out",
        path(&by_age),
    ]);
    assert!(inferred.status.success(), "{}", text(&inferred.stderr));
    let many = ehrsynth(&[
        "split",
        path(&train),
        "--schema",
        path(&by_age),
        "--train",
        path(&a),
        "--holdout",
        path(&b),
    ]);
    assert!(!many.status.success());
    assert!(
        text(&many.stderr).contains("target 'age' is not binary"),
        "{}",
        text(&many.stderr)
    );
}

#[test]
fn schema_reads_a_semicolon_file_names_ids_constants_and_typos() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trial.csv");
    let mut csv = String::from("patient_id;age;site_code;outcome\n");
    for i in 0..40 {
        let age = if i % 7 == 0 {
            "?".to_string()
        } else {
            (30 + i).to_string()
        };
        csv += &format!(
            "{};{age};3;{}\n",
            500 + i,
            if i % 4 == 0 { "1_yes" } else { "0_no" }
        );
    }
    std::fs::write(&file, csv).unwrap();
    let typo = ehrsynth(&["schema", path(&file), "--target", "outcom"]);
    assert!(!typo.status.success());
    assert!(
        text(&typo.stderr).contains("did you mean 'outcome'"),
        "{}",
        text(&typo.stderr)
    );
    let run = ehrsynth(&["schema", path(&file), "--target", "outcome"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let (toml, notes) = (text(&run.stdout), text(&run.stderr));
    // Four columns, age an integer despite its "?" cells, the id given role id.
    assert!(
        toml.contains("name = \"age\"\nkind = \"integer\""),
        "{toml}"
    );
    assert!(
        notes.contains("column patient_id: unique per row"),
        "{notes}"
    );
    assert!(notes.contains("column site_code: constant"), "{notes}");
}

#[test]
fn extra_missing_tokens_are_kept_in_the_schema_and_honoured_by_every_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("visits.csv");
    let mut csv = String::from("weight,ward,outcome\n");
    for i in 0..200 {
        let weight = if i % 10 == 0 {
            "-99".to_string()
        } else {
            format!("{}", 50 + i % 40)
        };
        let ward = if i % 13 == 0 {
            "not recorded"
        } else {
            ["a", "b"][i % 2]
        };
        csv += &format!("{weight},{ward},{}\n", i % 3 == 0);
    }
    std::fs::write(&data, csv).unwrap();
    // Without the flag, -99 is a weight and "not recorded" a ward.
    let plain = ehrsynth(&["schema", path(&data)]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(
        text(&plain.stdout).contains("min = -99"),
        "{}",
        text(&plain.stdout)
    );
    let schema = dir.path().join("visits.schema.toml");
    let run = ehrsynth(&[
        "schema",
        path(&data),
        "--missing",
        "-99",
        "--missing",
        "Not Recorded",
        "--target",
        "outcome",
        "--out",
        path(&schema),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let written = std::fs::read_to_string(&schema).unwrap();
    assert!(
        written.contains("missing_tokens = [\"-99\", \"Not Recorded\"]"),
        "{written}"
    );
    assert!(
        written.contains("min = 51.0") && written.contains("categories = [\"a\", \"b\"]"),
        "{written}"
    );
    // Another command reading with that schema sees the tokens as missing cells.
    let (train, holdout) = (dir.path().join("t.csv"), dir.path().join("h.csv"));
    let split = ehrsynth(&[
        "split",
        path(&data),
        "--train",
        path(&train),
        "--holdout",
        path(&holdout),
    ]);
    assert!(split.status.success(), "{}", text(&split.stderr));
    let table = read_table(&train, None).unwrap();
    let weight = table.column("weight").unwrap();
    let missing = (0..weight.len()).filter(|&i| weight.is_missing(i)).count();
    assert!(missing > 5, "{missing}");
    assert!((0..weight.len()).all(|i| weight.get_f64(i) != Some(-99.0)));
}

#[test]
fn an_output_never_overwrites_an_input_and_a_replaced_output_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("t.csv");
    let made = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "300",
        "--out",
        path(&train),
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let before = std::fs::read(&train).unwrap();
    let same_dir = dir.path().join(".").join("t.csv");
    // generate --out over --train replaced 1,196 real rows with 10 synthetic ones, exit 0.
    let over = ehrsynth(&[
        "generate",
        "--generator",
        "copula",
        "--train",
        path(&train),
        "--out",
        path(&same_dir),
        "--rows",
        "10",
    ]);
    assert!(!over.status.success());
    assert!(
        text(&over.stderr).contains("is also an input"),
        "{}",
        text(&over.stderr)
    );
    // Another format but the same schema file beside it.
    let parquet = dir.path().join("t.parquet");
    let schema_clash = ehrsynth(&[
        "generate",
        "--generator",
        "copula",
        "--train",
        path(&train),
        "--out",
        path(&parquet),
        "--rows",
        "10",
    ]);
    assert!(!schema_clash.status.success());
    assert!(text(&schema_clash.stderr).contains("the schema written beside --out"));
    // split --train a --holdout a wrote the holdout over the training rows.
    let a = dir.path().join("a.csv");
    let twice = ehrsynth(&[
        "split",
        path(&train),
        "--train",
        path(&a),
        "--holdout",
        path(&a),
    ]);
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("are the same file"),
        "{}",
        text(&twice.stderr)
    );
    assert_eq!(std::fs::read(&train).unwrap(), before);
    assert!(!a.exists());
    // Rerunning replaces its own outputs, and says so; no partial file is left behind.
    let out = dir.path().join("syn.csv");
    let args = [
        "generate",
        "--generator",
        "copula",
        "--train",
        path(&train),
        "--out",
        path(&out),
        "--rows",
        "20",
    ];
    assert!(ehrsynth(&args).status.success());
    let again = ehrsynth(&args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains(&format!("replacing {}", out.display())));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn options_that_would_do_nothing_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("t.csv");
    assert!(
        ehrsynth(&[
            "cohort",
            "reference",
            "--rows",
            "300",
            "--out",
            path(&train)
        ])
        .status
        .success()
    );
    let out = dir.path().join("s.csv");
    let copula = ehrsynth(&[
        "generate",
        "--generator",
        "copula",
        "--train",
        path(&train),
        "--rows",
        "10",
        "--estimate",
        "--out",
        path(&out),
    ]);
    assert!(copula.status.success());
    assert!(
        text(&copula.stderr).contains("warning: --estimate applies to --generator llm only"),
        "{}",
        text(&copula.stderr)
    );
    // --allow-real-examples without --real-examples sent nothing and said nothing.
    let estimate = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--generator",
            "llm",
            "--provider",
            "openai-compatible",
            "--train",
            path(&train),
            "--rows",
            "10",
            "--estimate",
            "--out",
            path(&out),
        ];
        args.extend_from_slice(extra);
        text(&ehrsynth(&args).stderr)
    };
    let said = estimate(&["--allow-real-examples", "openai-compatible"]);
    assert!(
        said.contains("without --real-examples K sends no real row"),
        "{said}"
    );
    let said = estimate(&["--allow-real-examples", "openai", "--real-examples", "5"]);
    assert!(said.contains("does not name this run's provider"), "{said}");
    let said = estimate(&["--real-examples", "5"]);
    assert!(
        said.contains("without --allow-real-examples openai-compatible"),
        "{said}"
    );
    let said = estimate(&[
        "--allow-real-examples",
        "openai-compatible",
        "--real-examples",
        "5",
    ]);
    assert!(!said.contains("warning: --"), "{said}");
}

#[test]
fn an_answer_over_the_size_cap_is_a_failed_request_with_its_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let _ = read_request(&mut reader);
            // Valid rows padded to 2 MiB.
            let mut answer = openai_answer("age,death\n40.25,1\n41.75,0\n", 50, 30);
            answer["padding"] = serde_json::json!("x".repeat(2 << 20));
            write_json(&mut stream, &answer);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("t.csv");
    let mut csv = String::from("age,death\n");
    for i in 0..60 {
        csv += &format!("{}.5,{}\n", 20 + i, i % 2);
    }
    std::fs::write(&train, csv).unwrap();
    let run = |cap: &str, out: &str| {
        ehrsynth(&[
            "generate",
            "--generator",
            "llm",
            "--provider",
            "openai-compatible",
            "--base-url",
            &url,
            "--train",
            path(&train),
            "--rows",
            "2",
            "--rows-per-request",
            "2",
            "--max-requests",
            "2",
            "--max-answer-mb",
            cap,
            "--out",
            path(&dir.path().join(out)),
        ])
    };
    let capped = run("1", "capped.csv");
    let said = text(&capped.stderr);
    assert_eq!(capped.status.code(), Some(3), "{said}");
    assert!(
        said.contains("failed requests, the last:") && said.contains("larger than 1048576 bytes"),
        "{said}"
    );
    let roomy = run("4", "roomy.csv");
    assert!(roomy.status.success(), "{}", text(&roomy.stderr));
    assert_eq!(
        read_table(&dir.path().join("roomy.csv"), None)
            .unwrap()
            .n_rows(),
        2
    );
}
