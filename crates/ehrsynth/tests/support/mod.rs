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

/// Reads one HTTP/1.1 request from `reader`: the head, then a body of its Content-Length.
/// `None` when the peer hung up before a whole request came (a client that gave up).
pub fn read_request(reader: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// The request's `seed` (the engine sends slot number + run seed), 0 if it has none.
pub fn request_seed(body: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["seed"].as_u64())
        .unwrap_or(0)
}

/// Four valid `age,death` rows derived from `seed`: a slot always gets the same rows, and the
/// fractional ages are never a copy of a whole-numbered training row.
pub fn seeded_rows(seed: u64) -> String {
    (0..4)
        .map(|k| format!("{}.5,{}\n", 20 + (4 * seed + k) % 70, k % 2))
        .collect()
}

/// An OpenAI Chat Completions answer carrying `content`.
pub fn openai_answer(
    content: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content },
                      "finish_reason": "stop" }],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens }
    })
}

/// Writes `body` as a 200 JSON response.
pub fn write_json(stream: &mut impl std::io::Write, body: &serde_json::Value) {
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
}
