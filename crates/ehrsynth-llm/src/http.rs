//! A small blocking HTTP/1.1 client for plain `http://` endpoints — the OpenAI-compatible servers
//! that run beside the data (llama.cpp's llama-server, vLLM, Ollama, LM Studio) and loopback test
//! servers. It sends one POST per connection with a JSON body, reads the status, the Retry-After
//! header and the body (Content-Length, chunked, or until close), and enforces a timeout.
//! `https://` URLs are refused with a clear message until the TLS transport lands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A plain HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Retry-After in seconds, when given as a number.
    pub retry_after: Option<u64>,
    /// Body text (lossy UTF-8).
    pub body: String,
}

/// Why no answer came back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host[:port]/path`.
    #[error("cannot use URL '{0}': {1}")]
    BadUrl(String, String),
    /// No answer within the timeout.
    #[error("no answer from {0} within the timeout")]
    Timeout(String),
    /// The connection failed or broke.
    #[error("connection to {0} failed: {1}")]
    Connection(String, String),
}

/// Splits `http://host:port/path` into (host:port, path).
fn split_url(url: &str) -> Result<(String, String), HttpError> {
    if url.starts_with("https://") {
        return Err(HttpError::BadUrl(
            url.into(),
            "https needs the TLS transport, which this build does not have yet; use a local http:// server".into(),
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::BadUrl(url.into(), "expected http://".into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::BadUrl(url.into(), "no host".into()));
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// POSTs `body` (JSON) to `url` with `headers`, waiting at most `timeout` for each read.
pub fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
) -> Result<HttpAnswer, HttpError> {
    let (authority, path) = split_url(url)?;
    let broken = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            HttpError::Timeout(authority.clone())
        }
        _ => HttpError::Connection(authority.clone(), e.to_string()),
    };
    let address = authority
        .to_socket_addrs()
        .map_err(broken)?
        .next()
        .ok_or_else(|| {
            HttpError::Connection(
                authority.clone(),
                "the host name resolves to no address".into(),
            )
        })?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(broken)?;
    stream.set_read_timeout(Some(timeout)).map_err(broken)?;
    stream.set_write_timeout(Some(timeout)).map_err(broken)?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    request.push_str(body); // one write: headers and body leave together
    stream.write_all(request.as_bytes()).map_err(broken)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(broken)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            HttpError::Connection(
                authority.clone(),
                format!("not an HTTP answer: '{}'", status_line.trim()),
            )
        })?;
    let (mut length, mut chunked, mut retry_after) = (None, false, None);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(broken)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "retry-after" => retry_after = value.parse::<u64>().ok(),
                _ => {}
            }
        }
    }
    let bytes = if chunked {
        read_chunked(&mut reader).map_err(broken)?
    } else if let Some(n) = length {
        let mut buf = vec![0; n];
        reader.read_exact(&mut buf).map_err(broken)?;
        buf
    } else {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf).map_err(broken)?;
        buf
    };
    Ok(HttpAnswer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn read_chunked<R: BufRead>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the chunked body ended early",
            ));
        }
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            return Ok(out);
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        out.extend_from_slice(&chunk[..size]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one connection with `answer` (raw bytes), optionally sleeping first. The whole
    /// request is read before answering: closing a socket with unread input resets it.
    fn serve_once(answer: &'static [u8], delay: Duration) -> String {
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
                std::thread::sleep(delay);
                let _ = stream.write_all(answer);
            }
        });
        format!("http://{address}/v1/chat/completions")
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_close() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Duration::ZERO,
        );
        let a = post_json(&url, &[], "{}", Duration::from_secs(5)).unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "hello"));
        let url = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", Duration::ZERO);
        assert_eq!(
            post_json(&url, &[], "{}", Duration::from_secs(5))
                .unwrap()
                .body,
            "abcde"
        );
        let url = serve_once(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\n\r\nslow down",
            Duration::ZERO,
        );
        let a = post_json(&url, &[], "{}", Duration::from_secs(5)).unwrap();
        assert_eq!(
            (a.status, a.retry_after, a.body.as_str()),
            (429, Some(3), "slow down")
        );
    }

    #[test]
    fn broken_answers_and_urls_are_errors() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\ncut",
            Duration::ZERO,
        );
        assert!(matches!(
            post_json(&url, &[], "{}", Duration::from_secs(5)),
            Err(HttpError::Connection(..))
        ));
        let url = serve_once(b"HTTP/1.1 200 OK\r\n\r\n", Duration::from_millis(1500));
        assert!(matches!(
            post_json(&url, &[], "{}", Duration::from_millis(300)),
            Err(HttpError::Timeout(_))
        ));
        let err = post_json(
            "https://api.openai.com/v1/chat/completions",
            &[],
            "{}",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("https needs the TLS transport"));
        assert!(post_json("ftp://x", &[], "{}", Duration::from_secs(1)).is_err());
    }
}
