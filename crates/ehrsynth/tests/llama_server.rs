//! End to end against a real OpenAI-compatible server: llama.cpp's `llama-server` serving
//! SmolLM2-135M-Instruct on loopback, with json_schema structured output.
//!
//! Needs `EHRSYNTH_LLAMA_SERVER` (the binary) and `EHRSYNTH_SMOLLM2_GGUF` (the model file);
//! `.ci/install-llama-server` provides both. Ignored by default (`cargo test -- --include-ignored`
//! runs it, as `.ci/run` does); run without them it fails and says why.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ehrsynth_llm::journal::Journal;
use ehrsynth_table::io::read_table;

mod support;
use support::{ehrsynth, path, text};

/// The server binary and model from the environment, or why the test cannot run.
fn llama_files() -> Result<(PathBuf, PathBuf), String> {
    let file = |name: &str| -> Result<PathBuf, String> {
        let value = std::env::var_os(name).ok_or_else(|| format!("{name} is not set"))?;
        let path = PathBuf::from(value);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{name}={} is not a file", path.display()))
        }
    };
    Ok((
        file("EHRSYNTH_LLAMA_SERVER")?,
        file("EHRSYNTH_SMOLLM2_GGUF")?,
    ))
}

/// A running llama-server, killed when dropped.
struct LlamaServer {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Starts the server on a free loopback port and waits until /health answers 200.
    fn start(binary: &Path, model: &Path, log: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log_file = std::fs::File::create(&log).expect("server log file");
        // One thread: on a busy 2-core machine two threads spin on each other's barriers and
        // generation drops from ~8 to ~0.4 tokens per second (measured while CI compiles).
        let port_text = port.to_string();
        let child = Command::new(binary)
            .args(["--model", path(model), "--host", "127.0.0.1"])
            .args(["--port", &port_text, "--threads", "1", "--ctx-size", "4096"])
            .args(["--parallel", "1", "--seed", "1", "--metrics", "--no-webui"])
            .stdout(Stdio::from(log_file.try_clone().expect("log handle")))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy(Duration::from_secs(120));
        server
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("llama-server exited ({status}):\n{}", self.log_tail());
            }
            if self.get("/health").is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "llama-server did not become healthy in {limit:?}:\n{}",
            self.log_tail()
        );
    }

    /// A plain HTTP/1.1 GET: status and body.
    fn get(&self, route: &str) -> Option<(u16, String)> {
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "GET {route} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let status = answer.split(' ').nth(1)?.parse().ok()?;
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// A counter from the Prometheus metrics endpoint.
    fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics").expect("the metrics endpoint answers");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

#[test]
#[ignore = "needs llama-server and a GGUF: EHRSYNTH_LLAMA_SERVER and EHRSYNTH_SMOLLM2_GGUF (.ci/install-llama-server prints them)"]
fn structured_generation_against_llama_server() {
    let (binary, model) =
        llama_files().unwrap_or_else(|why| panic!("{why} (run .ci/install-llama-server)"));
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let cohort = ehrsynth(&[
        "cohort",
        "reference",
        "--rows",
        "300",
        "--hospitals",
        "4",
        "--seed",
        "1",
        "--out",
        path(&train),
    ]);
    assert!(cohort.status.success(), "{}", text(&cohort.stderr));
    let server = LlamaServer::start(&binary, &model, dir.path().join("llama-server.log"));

    let out = dir.path().join("smollm2.csv");
    let rows = 4;
    let args = [
        "generate",
        "--train",
        path(&train),
        "--generator",
        "llm",
        "--provider",
        "openai-compatible",
        "--base-url",
        &server.url,
        "--model",
        "smollm2-135m-instruct",
        "--strategy",
        "schema",
        "--structured",
        "--features",
        "age,is_female,heartrate_first",
        "--rows",
        &rows.to_string(),
        "--rows-per-request",
        "2",
        "--max-output-tokens",
        "160",
        "--seed",
        "1",
        "--out",
        path(&out),
    ];
    let first = ehrsynth(&args);
    let stderr = text(&first.stderr);
    assert!(
        first.status.success(),
        "{stderr}\nserver log:\n{}",
        server.log_tail()
    );
    let table = read_table(&out, None).unwrap();
    assert_eq!(
        table.n_rows(),
        rows,
        "the run ended short; its summary says why:\n{stderr}"
    );
    assert!(stderr.contains("stopped: Enough"), "{stderr}");
    let schema = ehrsynth_table::Schema::load(&dir.path().join("smollm2.schema.toml")).unwrap();
    assert_eq!(
        schema.names(),
        ["death", "heartrate_first", "is_female", "age"]
    );
    let report = schema.validate_table(&table).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    // The journal holds every request with the server's raw JSON answer and its token counts,
    // which match what the server itself counted.
    let journal = Journal::open(&dir.path().join("smollm2.csv.journal.sqlite")).unwrap();
    let run = "generate-schema-1";
    let totals = journal.totals(run).unwrap();
    assert!(totals.answered >= 2, "{totals:?}");
    let answers = journal.answered(run).unwrap();
    assert_eq!(answers.len() as u64, totals.answered);
    for (slot, raw) in &answers {
        let body: serde_json::Value = serde_json::from_str(raw).unwrap();
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(content.contains("\"rows\""), "slot {slot}: {content}");
    }
    if totals.failed == 0 {
        assert_eq!(
            totals.output_tokens as f64,
            server.metric("llamacpp:tokens_predicted_total"),
            "{totals:?}"
        );
    }
    assert!(totals.input_tokens > 0, "{totals:?}");
    // The egress log names the server, and no real row was sent.
    let egress = journal.egress(run).unwrap();
    assert_eq!(egress.len() as u64, totals.requests, "{egress:?}");
    assert!(
        egress.iter().all(|e| e.endpoint.starts_with(&server.url)
            && e.provider == "openai-compatible"
            && !e.contains_real_rows
            && e.bytes > 0),
        "{egress:?}"
    );
    drop(journal);

    // The same command again is answered from the journal: the server decodes nothing more.
    let decoded = server.metric("llamacpp:n_decode_total");
    let prompts = server.metric("llamacpp:prompt_tokens_total");
    let again = ehrsynth(&args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(server.metric("llamacpp:n_decode_total"), decoded);
    assert_eq!(server.metric("llamacpp:prompt_tokens_total"), prompts);
    assert_eq!(read_table(&out, None).unwrap().n_rows(), rows);
    let journal = Journal::open(&dir.path().join("smollm2.csv.journal.sqlite")).unwrap();
    assert_eq!(journal.egress(run).unwrap().len(), egress.len());
}
