//! The fuzz targets' entry points, one per reader of untrusted bytes. Each must return (an
//! error is fine) and never panic, hang or allocate what the input merely claims. cargo-fuzz
//! runs them from fuzz_targets/; crates/ehrsynth/tests/fuzz_corpora.rs replays the committed
//! corpora through the same functions as ordinary tests.

#![allow(dead_code)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ehrsynth_llm::grammar::{ConstrainedDecoder, RowGrammar, TokenVocabulary};
use ehrsynth_llm::parse::{AnswerFormat, parse_answer};
use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};

thread_local! {
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// `bytes` written to a file named `name` in a scratch folder kept for the thread.
fn as_file(name: &str, bytes: &[u8]) -> PathBuf {
    SCRATCH.with(|dir| {
        let mut dir = dir.borrow_mut();
        let dir = dir.get_or_insert_with(|| tempfile::tempdir().expect("a scratch folder"));
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("the scratch file is written");
        path
    })
}

/// A small schema of every kind, for the readers that take one.
pub fn schema() -> Schema {
    let mut age = ColumnSpec::new("age", ColumnKind::Integer);
    (age.min, age.max) = (Some(16.0), Some(90.0));
    let mut lactate = ColumnSpec::new("lactate", ColumnKind::Continuous);
    (lactate.min, lactate.max) = (Some(0.1), Some(30.0));
    let mut death = ColumnSpec::new("death", ColumnKind::Binary);
    death.missing_allowed = false;
    let mut unit = ColumnSpec::new("unit", ColumnKind::Categorical);
    unit.categories = vec!["Med-Surg ICU".into(), "CCU \"A\"".into(), "x,y".into()];
    Schema::new(vec![age, lactate, death, unit]).expect("a valid schema")
}

/// CSV text, read with kinds inferred and with the schema.
pub fn csv(data: &[u8]) {
    let path = as_file("input.csv", data);
    let _ = ehrsynth_table::io::read_table(&path, None);
    let _ = ehrsynth_table::io::read_table(&path, Some(&schema()));
}

/// A Parquet file.
pub fn parquet(data: &[u8]) {
    let path = as_file("input.parquet", data);
    let _ = ehrsynth_table::io::read_table(&path, None);
    let _ = ehrsynth_table::io::read_table(&path, Some(&schema()));
}

/// A schema file.
pub fn schema_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Schema::from_toml_str(text, Path::new("fuzz.schema.toml"));
    }
}

/// A study config file.
pub fn study_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ehrsynth_study::StudyConfig::parse(text, Path::new("fuzz.toml"));
    }
}

/// An LLM answer, read as CSV and as JSON rows: every row it keeps passes the schema.
pub fn answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let schema = schema();
    for format in [AnswerFormat::Csv, AnswerFormat::JsonRows] {
        let parsed = parse_answer(&text, &schema, format);
        for row in &parsed.rows {
            assert_eq!(
                row.len(),
                schema.columns().len(),
                "a kept row has every column"
            );
        }
    }
}

/// The constrained decoder driven by the input (each byte picks one of the allowed tokens):
/// an allowed token is always accepted, and every complete line it writes parses as a valid row.
pub fn grammar(data: &[u8]) {
    let schema = schema();
    let columns: Vec<String> = schema.names().iter().map(|s| s.to_string()).collect();
    let Ok(grammar) = RowGrammar::csv(&schema, &columns, &[]) else {
        return;
    };
    // Every single byte, a few multi-byte tokens, and the end of text.
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for t in ["Med", "-Surg", " ICU", "\"CCU", "12", ".5", ",1,", "\n"] {
        tokens.push(t.as_bytes().to_vec());
    }
    let end = tokens.len() as u32;
    tokens.push(b"<|endoftext|>".to_vec());
    let vocab = Arc::new(TokenVocabulary::new(tokens.clone(), end));
    let mut decoder = ConstrainedDecoder::new(Arc::new(grammar), vocab, 4);
    let mut mask = vec![false; tokens.len()];
    let mut text = Vec::new();
    for &b in data {
        decoder.allowed(&mut mask);
        let allowed: Vec<u32> = (0..mask.len() as u32)
            .filter(|&i| mask[i as usize])
            .collect();
        let Some(&token) = allowed.get(usize::from(b) % allowed.len().max(1)) else {
            break;
        };
        decoder
            .accept(token)
            .unwrap_or_else(|e| panic!("an allowed token was refused: {e}"));
        if token == end {
            break;
        }
        text.extend_from_slice(&tokens[token as usize]);
    }
    let text = String::from_utf8_lossy(&text);
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let parsed = parse_answer(complete, &schema, AnswerFormat::Csv);
    assert!(
        parsed.rejected.is_empty(),
        "the grammar wrote a line the parser rejects: {:?}\n{complete}",
        parsed.rejected
    );
}

/// A GGUF model file's header and tokenizer metadata.
pub fn gguf(data: &[u8]) {
    let path = as_file("model.gguf", data);
    if let Ok((content, _)) = ehrsynth_local::gguf::open(&path) {
        let _ = ehrsynth_local::gguf::GgufInfo::from_content(&content, &path);
    }
}

/// An HTTP answer as a server sends it, read by the providers' client (ureq underneath) from a
/// one-connection server on loopback that writes the bytes and closes; capped at 1 MiB, 2 s.
pub fn http(data: &[u8]) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().expect("its address")
    );
    let answer = data.to_vec();
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            // The request is "{}" after its head: read up to it so closing does not reset.
            let mut seen = Vec::new();
            let mut byte = [0u8; 1];
            while !seen.ends_with(b"\r\n\r\n{}") && seen.len() < 64 * 1024 {
                if stream.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                seen.push(byte[0]);
            }
            let _ = stream.write_all(&answer);
        }
    });
    let client =
        ehrsynth_llm::http::Client::with_settings(std::time::Duration::from_secs(2), None, None)
            .expect("a client")
            .with_max_answer_bytes(1 << 20);
    let _ = client.post_json(&url, &[], "{}");
    let _ = server.join();
}

/// A fuzz target's entry point.
pub type Entry = fn(&[u8]);

/// Every entry by its target's name.
pub const TARGETS: [(&str, Entry); 8] = [
    ("csv", csv),
    ("parquet", parquet),
    ("schema_toml", schema_toml),
    ("study_toml", study_toml),
    ("answer", answer),
    ("grammar", grammar),
    ("gguf", gguf),
    ("http", http),
];
