//! The fuzz corpora (fuzz/corpus/<target>/, the inputs cargo-fuzz kept and the regression cases
//! it found) replayed through the fuzz targets' own entry points, so CI checks every one of them
//! on stable Rust without libFuzzer. docs/reliability.md says how they were made.

use std::path::PathBuf;

#[path = "../../../fuzz/entries.rs"]
mod entries;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fuzz/corpus/{target}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_committed_fuzz_input_is_handled_without_a_panic() {
    for (target, entry) in entries::TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "no corpus for the fuzz target {target}");
        for (path, bytes) in inputs {
            let outcome = std::panic::catch_unwind(|| entry(&bytes));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        }
    }
}
