//! The HTTP client against a hostile server of the test's own on loopback: every answer ends in a
//! clear error (or a normal answer) within the timeout, and never allocates what the server
//! claims before the bytes arrive.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ehrsynth_llm::http::{Client, HttpError};

/// Serves one connection: reads the request, then lets `answer` write whatever it likes.
fn serve(answer: impl FnOnce(&mut TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            answer(&mut stream);
        }
    });
    format!("http://{address}/v1/chat/completions")
}

fn client(timeout_ms: u64) -> Client {
    Client::with_settings(Duration::from_millis(timeout_ms), None, None).unwrap()
}

fn send(url: &str, client: &Client) -> Result<String, HttpError> {
    client.post_json(url, &[], "{}").map(|a| a.body)
}

fn bytes(answer: &'static [u8]) -> impl FnOnce(&mut TcpStream) + Send + 'static {
    move |s| {
        let _ = s.write_all(answer);
    }
}

fn fails_with(url: &str, client: &Client, words: &str) {
    match send(url, client) {
        Err(e) => assert!(e.to_string().contains(words), "{e}"),
        Ok(body) => panic!(
            "expected an error with '{words}', got a body of {} bytes",
            body.len()
        ),
    }
}

/// A head that claims a huge body, then 13 MB of it until the client stops reading.
fn claims_then_floods(head: &'static [u8]) -> impl FnOnce(&mut TcpStream) + Send + 'static {
    move |s| {
        let _ = s.write_all(head);
        let block = vec![b'1'; 1 << 16];
        for _ in 0..200 {
            if s.write_all(&block).is_err() {
                return;
            }
        }
    }
}

#[test]
fn hostile_sizes_are_errors_before_any_allocation() {
    let c = client(5000);
    // The chunk size that overflowed `size + 2` and panicked, and the Content-Length of 100 TB
    // that aborted the process on allocation: the body is read as it comes, up to the cap.
    for head in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n",
    ] {
        let url = serve(claims_then_floods(head));
        fails_with(&url, &c, "larger than 8388608 bytes");
        let mut cut = head.to_vec();
        cut.extend_from_slice(b"abc");
        let url = serve(move |s| {
            let _ = s.write_all(&cut);
        });
        fails_with(
            &url,
            &c,
            "closed the connection before the answer was complete",
        );
    }
    let url = serve(bytes(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc"));
    fails_with(&url, &c, "content-length header not a number");
    let url = serve(bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 300\r\n\r\nabc",
    ));
    fails_with(&url, &c, "conflicting content-length headers");
    let url = serve(bytes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ));
    fails_with(&url, &c, "chunk length cannot be read as a number");
    let url = serve(bytes(
        b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n",
    ));
    fails_with(&url, &c, "not a valid HTTP answer");
}

#[test]
fn redirects_come_back_as_answers_and_are_not_followed() {
    // A POST carrying rows is never resent to another host.
    let url = serve(bytes(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 5\r\n\r\nmoved",
    ));
    let answer = client(5000).post_json(&url, &[], "{}").unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (307, "moved"));
}

#[test]
fn an_answer_past_the_size_cap_stops_at_the_cap() {
    // 10 MB of JSON, sent until the connection closes (no length, no chunks).
    let ten_mb = || {
        move |s: &mut TcpStream| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n[");
            let block = vec![b'1'; 1 << 16];
            for _ in 0..160 {
                if s.write_all(&block).is_err() {
                    return;
                }
            }
        }
    };
    let url = serve(ten_mb());
    fails_with(&url, &client(10_000), "larger than 8388608 bytes");
    // The cap is the caller's to raise.
    let url = serve(ten_mb());
    let roomy = client(10_000).with_max_answer_bytes(20 << 20);
    assert_eq!(send(&url, &roomy).unwrap().len(), 1 + 160 * (1 << 16));
    // JSON nested 100,000 deep is only bytes to the client (the parser's limits come later).
    let deep = "[".repeat(100_000);
    let url = serve(move |s| {
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{deep}",
            100_000
        );
    });
    assert_eq!(send(&url, &client(5000)).unwrap().len(), 100_000);
}

#[test]
fn a_body_that_drips_or_stops_ends_within_the_timeout() {
    // One byte every 200 ms for a minute: the whole answer has the timeout, not each read.
    let url = serve(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n");
        for _ in 0..300 {
            if s.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let started = Instant::now();
    let result = send(&url, &client(1000));
    assert!(matches!(result, Err(HttpError::Timeout(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A body cut short is an error, not a truncated answer.
    let url = serve(bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\ncut"));
    fails_with(&url, &client(2000), "before the answer was complete");
    let url = serve(bytes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ));
    assert!(send(&url, &client(2000)).is_err());
}

#[test]
fn garbage_instead_of_a_tls_handshake_is_a_clear_error() {
    let url = serve(bytes(b"HTTP/1.1 200 OK\r\n\r\nthis is not TLS at all"))
        .replace("http://", "https://");
    let started = Instant::now();
    let result = send(&url, &client(3000));
    assert!(
        matches!(
            result,
            Err(HttpError::Tls(..)) | Err(HttpError::Connection(..))
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
