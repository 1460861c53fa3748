//! Helpers the binary's integration tests share: running `ehrsynth`, reading its output, paths
//! as arguments. Each test file uses a part of them (`mod support;`), hence the allow.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the `ehrsynth` binary with `args`, stdin closed, and waits for it.
pub fn ehrsynth(args: &[&str]) -> Output {
    ehrsynth_with_env(args, &[])
}

/// [`ehrsynth`] with extra environment variables (e.g. the model cache).
pub fn ehrsynth_with_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ehrsynth"));
    // Help text is wrapped to $COLUMNS when set: leave it unset so help reads as in a pipe.
    command
        .args(args)
        .stdin(Stdio::null())
        .env_remove("COLUMNS")
        .env_remove("LINES");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temporary path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
