//! Full requests over TLS to a loopback server of the test's own (rustls, with the committed test
//! certificate in `fixtures/tls`) that answers in the documented shapes of OpenAI, Anthropic and
//! Gemini: they work when the test CA is given (directly, through `EHRSYNTH_CA_CERT`, or through
//! an HTTP CONNECT proxy) and fail with a clear certificate error without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ehrsynth_llm::http::{Client, HttpError};
use ehrsynth_llm::provider::{Parameters, ProviderKind, build_request, read_response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// What the server saw: (path, headers lower-cased, body).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// The documented answer shape for the endpoint at `path`.
fn answer_for(path: &str) -> String {
    let rows = "age,death\n61,0\n74,1\n";
    let body = if path.ends_with("/v1/chat/completions") {
        serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": rows },
                          "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150 }
        })
    } else if path.ends_with("/v1/messages") {
        serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [{ "type": "text", "text": rows }],
            "stop_reason": "end_turn",
            "usage": { "input_tokens": 120, "output_tokens": 30 }
        })
    } else if path.ends_with(":generateContent") {
        serde_json::json!({
            "candidates": [{ "content": { "role": "model", "parts": [{ "text": rows }] },
                             "finishReason": "STOP" }],
            "usageMetadata": { "promptTokenCount": 120, "candidatesTokenCount": 30 }
        })
    } else {
        return "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into();
    };
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one request (head and body) from `reader`.
fn read_request<R: BufRead>(reader: &mut R) -> Option<(String, String, String)> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let (mut headers, mut length) = (String::new(), 0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push_str(&lower);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// A TLS server on loopback answering each connection in the documented shapes.
fn tls_server() -> (String, Seen) {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, log) = (config.clone(), log.clone());
            std::thread::spawn(move || {
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut reader = BufReader::new(rustls::StreamOwned::new(connection, tcp));
                // A client that does not trust the certificate aborts the handshake here.
                let Some((path, headers, body)) = read_request(&mut reader) else {
                    return;
                };
                let answer = answer_for(&path);
                log.lock().unwrap().push((path, headers, body));
                let stream = reader.get_mut();
                let _ = stream.write_all(answer.as_bytes());
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    (format!("https://127.0.0.1:{}", address.port()), seen)
}

fn request_of(kind: ProviderKind, base: &str) -> ehrsynth_llm::provider::HttpRequest {
    let parameters = Parameters {
        model: "test-model".into(),
        max_output_tokens: 256,
        ..Parameters::default()
    };
    build_request(
        kind,
        base,
        Some("sk-test-secret"),
        &parameters,
        "Write 2 rows.",
        None,
    )
}

#[test]
fn every_hosted_shape_works_over_tls_with_the_test_ca() {
    let (base, seen) = tls_server();
    let client =
        Client::with_settings(Duration::from_secs(10), Some(&fixture("ca.pem")), None).unwrap();
    for kind in [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
    ] {
        let request = request_of(kind, &base);
        let started = Instant::now();
        let answer = client
            .post_json(&request.url, &request.headers, &request.body.to_string())
            .unwrap();
        eprintln!(
            "{kind:?}: TLS handshake + request + answer on loopback in {:.2} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(answer.status, 200, "{kind:?}: {}", answer.body);
        let chat = read_response(kind, answer.status, &answer.body, answer.retry_after).unwrap();
        assert_eq!(chat.text, "age,death\n61,0\n74,1\n", "{kind:?}");
        assert_eq!(
            (chat.input_tokens, chat.output_tokens),
            (120, 30),
            "{kind:?}"
        );
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    // The request arrived whole: the prompt in the body, the key in its header only.
    for (path, headers, body) in seen.iter() {
        assert!(body.contains("Write 2 rows."), "{path}: {body}");
        assert!(
            headers.contains("sk-test-secret"),
            "{path}: key header missing"
        );
        assert!(!path.contains("sk-test-secret"), "{path}: key in the URL");
    }
}

#[test]
fn an_untrusted_certificate_is_a_clear_error() {
    let (base, seen) = tls_server();
    let client = Client::with_settings(Duration::from_secs(10), None, None).unwrap();
    let request = request_of(ProviderKind::OpenAi, &base);
    let err = client
        .post_json(&request.url, &request.headers, &request.body.to_string())
        .unwrap_err();
    assert!(matches!(err, HttpError::Tls(..)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("--ca-cert"), "{message}");
    assert!(!message.contains("sk-test-secret"), "{message}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing may be sent before trust"
    );
}

/// An HTTP CONNECT proxy on loopback that tunnels to any address and keeps each CONNECT head.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let tunnels: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = tunnels.clone();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                log.lock().unwrap().push(head.to_ascii_lowercase());
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut up_from, mut up_to) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_from, &mut up_to);
                });
                let (mut down_from, mut down_to) = (server, client);
                let _ = std::io::copy(&mut down_from, &mut down_to);
            });
        }
    });
    (format!("http://{address}"), tunnels)
}

#[test]
fn requests_tunnel_through_a_connect_proxy() {
    let (base, seen) = tls_server();
    let (proxy, tunnels) = connect_proxy();
    let client = Client::with_settings(
        Duration::from_secs(10),
        Some(&fixture("ca.pem")),
        Some(&proxy.replace("http://", "http://ward:pa55@")),
    )
    .unwrap();
    let request = request_of(ProviderKind::Anthropic, &base);
    let answer = client
        .post_json(&request.url, &request.headers, &request.body.to_string())
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let tunnels = tunnels.lock().unwrap();
    assert_eq!(tunnels.len(), 1);
    assert!(
        tunnels[0].starts_with(&format!("connect {} ", base.trim_start_matches("https://"))),
        "{}",
        tunnels[0]
    );
    // The login travels as Basic proxy authorization (base64 of "ward:pa55").
    assert!(
        tunnels[0].contains("proxy-authorization: basic d2fyzdpwytu1"),
        "{}",
        tunnels[0]
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn the_ca_bundle_can_come_from_the_environment() {
    let (base, _) = tls_server();
    // The only test in this binary that reads the environment.
    unsafe { std::env::set_var(ehrsynth_llm::http::CA_CERT_VARIABLE, fixture("ca.pem")) };
    let client = Client::new(Duration::from_secs(10), None).unwrap();
    let request = request_of(ProviderKind::Gemini, &base);
    let answer = client
        .post_json(&request.url, &request.headers, &request.body.to_string())
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
}
