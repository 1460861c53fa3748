//! Snapshots (insta) of what a user reads: the `--help` of every command, the main error
//! messages, and the layout of the audit JSON (its keys and value types, not its numbers). A
//! change shows as a diff against `tests/snapshots/`; accept an intended one with
//! `cargo insta review`, or `INSTA_UPDATE=always cargo test -p ehrsynth --test snapshots`.

use std::path::Path;

mod support;
use support::{ehrsynth, path, text};

/// The subcommands a `--help` lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect()
}

/// Every command path of the binary (`[]`, `["cohort"]`, `["cohort", "eicu"]`, ...), found by
/// walking the help pages, so a new command gets a snapshot without editing this test.
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    let mut i = 0;
    while i < paths.len() {
        let prefix = paths[i].clone();
        let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
        args.push("--help");
        let run = ehrsynth(&args);
        assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
        for name in subcommands(&text(&run.stdout)) {
            let mut child = prefix.clone();
            child.push(name);
            paths.push(child);
        }
        i += 1;
    }
    paths
}

#[test]
fn every_commands_help() {
    let paths = command_paths();
    assert!(paths.len() >= 12, "{paths:?}");
    for command in paths {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let run = ehrsynth(&args);
        let name = if command.is_empty() {
            "help".to_string()
        } else {
            format!("help-{}", command.join("-"))
        };
        insta::assert_snapshot!(name, text(&run.stdout));
    }
}

/// A failing run's exit code and stderr, with the temporary folder written as `<tmp>`.
fn failure(args: &[&str], tmp: &Path) -> String {
    let run = ehrsynth(args);
    assert!(!run.status.success(), "{args:?} succeeded");
    let stderr = text(&run.stderr).replace(path(tmp), "<tmp>");
    format!("exit code {:?}\n{stderr}", run.status.code())
}

#[test]
fn the_main_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let p = |name: &str| tmp.join(name);
    std::fs::write(p("ragged.csv"), "age,death\n61,0\n70,1,9\n").unwrap();
    std::fs::write(p("rows.csv"), "age,death\n61,0\n70,1\n55,0\n").unwrap();
    std::fs::write(
        p("typo.toml"),
        "out = \"out\"\n[data]\nsource = \"reference\"\nrowz = 100\n",
    )
    .unwrap();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "error-missing-file",
            vec!["schema".into(), path(&p("absent.csv")).into()],
        ),
        (
            "error-ragged-csv",
            vec!["schema".into(), path(&p("ragged.csv")).into()],
        ),
        (
            "error-unknown-generator",
            vec![
                "generate".into(),
                "--train".into(),
                path(&p("rows.csv")).into(),
                "--generator".into(),
                "gan".into(),
                "--out".into(),
                path(&p("syn.csv")).into(),
            ],
        ),
        (
            "error-unknown-target",
            vec![
                "evaluate".into(),
                "--train".into(),
                path(&p("rows.csv")).into(),
                "--holdout".into(),
                path(&p("rows.csv")).into(),
                "--synthetic".into(),
                path(&p("rows.csv")).into(),
                "--target".into(),
                "mortality".into(),
            ],
        ),
        (
            "error-study-config-typo",
            vec!["study".into(), path(&p("typo.toml")).into()],
        ),
    ];
    for (name, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        insta::assert_snapshot!(name, failure(&args, tmp));
    }
}

/// Each key path of a JSON value with its type, arrays shown by their first element.
fn layout(value: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                layout(v, &format!("{at}.{key}"), out);
            }
        }
        Value::Array(items) => match items.first() {
            Some(first) => layout(first, &format!("{at}[]"), out),
            None => out.push(format!("{at}: []")),
        },
        Value::Null => out.push(format!("{at}: null")),
        Value::Bool(_) => out.push(format!("{at}: bool")),
        Value::Number(_) => out.push(format!("{at}: number")),
        Value::String(_) => out.push(format!("{at}: string")),
    }
}

#[test]
fn the_audit_json_layout() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (real, train, holdout, synthetic, json) = (
        p("real.parquet"),
        p("train.parquet"),
        p("holdout.parquet"),
        p("syn.parquet"),
        p("audit.json"),
    );
    let steps: [Vec<&str>; 4] = [
        vec![
            "cohort",
            "reference",
            "--rows",
            "1500",
            "--hospitals",
            "6",
            "--seed",
            "2",
            "--out",
            path(&real),
        ],
        vec![
            "split",
            path(&real),
            "--train",
            path(&train),
            "--holdout",
            path(&holdout),
        ],
        vec![
            "generate",
            "--train",
            path(&train),
            "--generator",
            "copula",
            "--rows",
            "400",
            "--out",
            path(&synthetic),
        ],
        vec![
            "evaluate",
            "--train",
            path(&train),
            "--holdout",
            path(&holdout),
            "--synthetic",
            path(&synthetic),
            "--json",
            path(&json),
        ],
    ];
    for args in steps {
        let run = ehrsynth(&args);
        assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut lines = Vec::new();
    layout(&report, "", &mut lines);
    lines.dedup();
    insta::assert_snapshot!("audit-json-layout", lines.join("\n"));
}
