//! A small blocking HTTP/1.1 client for the providers: plain `http://` for the OpenAI-compatible
//! servers that run beside the data (llama.cpp's llama-server, vLLM, Ollama, LM Studio) and
//! `https://` (rustls with Mozilla's roots, ring backend) for the hosted APIs. It sends one POST
//! per connection with a JSON body, reads the status, the Retry-After header and the body
//! (Content-Length, chunked, or until close), and enforces a timeout on every connect and read
//! and a deadline on the whole answer (the same timeout), and caps an answer's size
//! ([`DEFAULT_MAX_ANSWER_BYTES`], [`Client::with_max_answer_bytes`]): hostile sizes (a chunk of
//! 2⁶⁴ − 1 bytes, a Content-Length of 100 TB, two that disagree) are errors before any allocation.
//!
//! For networks whose proxy re-signs TLS (common in hospitals), [`Client::new`] trusts an extra
//! PEM bundle besides the built-in roots (`--ca-cert FILE` or `EHRSYNTH_CA_CERT`). `https://`
//! requests go through an HTTP CONNECT tunnel when `HTTPS_PROXY` (or `https_proxy`) names an
//! `http://[user:password@]host:port` proxy (a login is sent as Basic proxy authorization),
//! except for hosts listed in `NO_PROXY` and loopback addresses; an unusable proxy setting only
//! fails `https://` requests. Headers (the API key among them) and proxy logins are never logged
//! or placed in an error message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The environment variable naming an extra CA bundle (PEM) to trust.
pub const CA_CERT_VARIABLE: &str = "EHRSYNTH_CA_CERT";

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
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("cannot use URL '{0}': {1}")]
    BadUrl(String, String),
    /// No answer within the timeout.
    #[error("no answer from {0} within the timeout")]
    Timeout(String),
    /// The connection failed or broke.
    #[error("connection to {0} failed: {1}")]
    Connection(String, String),
    /// The TLS handshake failed, e.g. the server's certificate is not trusted.
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    /// The CA bundle or proxy setting cannot be used.
    #[error("{0}")]
    Setup(String),
}

/// A parsed request target.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    tls: bool,
    host: String,
    /// `host:port`.
    authority: String,
    path: String,
}

/// Splits `http(s)://host[:port]/path`.
fn split_url(url: &str) -> Result<Target, HttpError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(HttpError::BadUrl(
            url.into(),
            "expected http:// or https://".into(),
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::BadUrl(url.into(), "no host".into()));
    }
    if authority.contains('@') {
        return Err(HttpError::BadUrl(
            url.into(),
            "credentials do not belong in a URL".into(),
        ));
    }
    let (host, authority) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            (host.to_string(), authority.to_string())
        }
        Some(_) => return Err(HttpError::BadUrl(url.into(), "bad port".into())),
        None => (
            authority.to_string(),
            format!("{authority}:{}", if tls { 443 } else { 80 }),
        ),
    };
    Ok(Target {
        tls,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        authority,
        path: path.to_string(),
    })
}

/// The TLS settings: Mozilla's roots plus, when given, the certificates of a PEM bundle.
pub fn tls_config(ca_cert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert {
        let unusable = |why: String| {
            HttpError::Setup(format!(
                "cannot use the CA bundle {}: {why}",
                path.display()
            ))
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| unusable(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unusable(e.to_string()))?;
        if certificates.is_empty() {
            return Err(unusable("it holds no PEM certificate".into()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| unusable(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Setup(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An HTTP CONNECT proxy for `https://` requests.
#[derive(Debug, Clone, PartialEq)]
struct Proxy {
    /// `host:port` of the proxy.
    authority: String,
    /// `Proxy-Authorization` value, when the proxy URL carries a login.
    authorization: Option<String>,
    /// Host names (and suffixes) reached directly.
    no_proxy: Vec<String>,
}

impl Proxy {
    /// Reads `HTTPS_PROXY` / `https_proxy` and `NO_PROXY` / `no_proxy`.
    fn from_env() -> Result<Option<Self>, HttpError> {
        let read = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        // Loopback servers are always reached directly.
        let no_proxy = format!(
            "{},localhost,127.0.0.1,::1",
            read(["NO_PROXY", "no_proxy"]).unwrap_or_default()
        );
        match read(["HTTPS_PROXY", "https_proxy"]) {
            Some(url) => Self::parse(&url, Some(&no_proxy)).map(Some),
            None => Ok(None),
        }
    }

    fn parse(url: &str, no_proxy: Option<&str>) -> Result<Self, HttpError> {
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        // A login (user:password@) is cut out before the URL is parsed or shown anywhere.
        let (scheme, rest) = with_scheme
            .split_once("://")
            .unwrap_or(("http", &with_scheme));
        let (login, rest) = match rest.split_once('@') {
            Some((login, rest)) => (Some(login), rest),
            None => (None, rest),
        };
        let target = split_url(&format!("{scheme}://{rest}")).map_err(|e| {
            HttpError::Setup(format!(
                "HTTPS_PROXY must be http://[user:password@]host:port: {e}"
            ))
        })?;
        if target.tls {
            return Err(HttpError::Setup(
                "HTTPS_PROXY must be an http:// proxy (https:// proxies are not supported)".into(),
            ));
        }
        let no_proxy = no_proxy
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Ok(Self {
            authority: target.authority,
            authorization: login.map(|l| format!("Basic {}", base64(l.as_bytes()))),
            no_proxy,
        })
    }

    /// Whether `host` is reached through the proxy.
    fn applies_to(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        !self
            .no_proxy
            .iter()
            .any(|n| n == "*" || host == *n || host.ends_with(&format!(".{n}")))
    }
}

/// The client: TLS settings and proxy, shared by all requests of a run.
#[derive(Debug, Clone)]
pub struct Client {
    timeout: Duration,
    max_answer_bytes: usize,
    tls: Arc<rustls::ClientConfig>,
    /// The proxy, or why the proxy setting cannot be used (which fails `https://` requests only).
    proxy: Result<Option<Proxy>, HttpError>,
}

impl Client {
    /// A client that waits at most `timeout` for a connection or a read, trusting Mozilla's roots
    /// plus `ca_cert` (else the bundle named by `EHRSYNTH_CA_CERT`), and tunnelling through the
    /// proxy named by `HTTPS_PROXY`.
    pub fn new(timeout: Duration, ca_cert: Option<&Path>) -> Result<Self, HttpError> {
        let from_env = std::env::var_os(CA_CERT_VARIABLE).filter(|v| !v.is_empty());
        let ca_cert = ca_cert.or(from_env.as_deref().map(Path::new));
        Ok(Self {
            timeout,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            tls: tls_config(ca_cert)?,
            proxy: Proxy::from_env(),
        })
    }

    /// The same client with another cap on an answer's size (headers and body).
    pub fn with_max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// A client with exactly these settings (no environment): `proxy` is `http://host:port`.
    pub fn with_settings(
        timeout: Duration,
        ca_cert: Option<&Path>,
        proxy: Option<&str>,
    ) -> Result<Self, HttpError> {
        Ok(Self {
            timeout,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            tls: tls_config(ca_cert)?,
            proxy: proxy.map(|p| Proxy::parse(p, None)).transpose(),
        })
    }

    /// POSTs `body` (JSON) to `url` with `headers`.
    pub fn post_json(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<HttpAnswer, HttpError> {
        let target = split_url(url)?;
        let limits = Limits {
            max_bytes: self.max_answer_bytes,
            deadline: Instant::now() + self.timeout,
        };
        let proxy = match (&self.proxy, target.tls) {
            (Err(e), true) => return Err(e.clone()),
            (Ok(Some(p)), true) if p.applies_to(&target.host) => Some(p),
            _ => None,
        };
        let connect_to = proxy.map_or(&target.authority, |p| &p.authority);
        let broken = |e: std::io::Error| io_error(&target.authority, e);
        let mut tcp = connect(connect_to, self.timeout).map_err(broken)?;
        if let Some(proxy) = proxy {
            open_tunnel(&mut tcp, &target.authority, proxy.authorization.as_deref())
                .map_err(broken)?;
        }
        let request = request_text(&target, headers, body);
        if !target.tls {
            return exchange(Guarded::new(tcp, limits), &request).map_err(broken);
        }
        let name = ServerName::try_from(target.host.clone()).map_err(|_| {
            HttpError::BadUrl(url.into(), "the host is not a valid TLS server name".into())
        })?;
        let connection = rustls::ClientConnection::new(self.tls.clone(), name)
            .map_err(|e| HttpError::Tls(target.authority.clone(), e.to_string()))?;
        exchange(
            Guarded::new(rustls::StreamOwned::new(connection, tcp), limits),
            &request,
        )
        .map_err(broken)
    }
}

/// POSTs `body` (JSON) to `url` with `headers`, waiting at most `timeout` for each read, with the
/// default TLS roots and no proxy.
pub fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
) -> Result<HttpAnswer, HttpError> {
    Client::with_settings(timeout, None, None)?.post_json(url, headers, body)
}

/// Maps an I/O error to a timeout, a TLS failure (with advice on certificates) or a broken
/// connection.
fn io_error(authority: &str, e: std::io::Error) -> HttpError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        let advice = match tls {
            rustls::Error::InvalidCertificate(_) => {
                format!(
                    " (the server's certificate is not trusted; if a proxy re-signs TLS on this network, give its CA bundle with --ca-cert FILE or {CA_CERT_VARIABLE})"
                )
            }
            _ => String::new(),
        };
        return HttpError::Tls(authority.into(), format!("{tls}{advice}"));
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            HttpError::Timeout(authority.into())
        }
        _ => HttpError::Connection(authority.into(), e.to_string()),
    }
}

fn connect(authority: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let address = authority.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host name resolves to no address",
        )
    })?;
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Asks the proxy on `stream` for a tunnel to `authority` and reads its answer.
fn open_tunnel(
    stream: &mut TcpStream,
    authority: &str,
    authorization: Option<&str>,
) -> std::io::Result<()> {
    let login = authorization.map_or(String::new(), |a| format!("proxy-authorization: {a}\r\n"));
    stream.write_all(
        format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n{login}\r\n").as_bytes(),
    )?;
    // Byte by byte, so that nothing of the tunnelled stream is read ahead.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 16 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection during CONNECT",
            ));
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::other(format!(
            "the proxy refused the tunnel: '{}'",
            status_line.trim()
        )));
    }
    Ok(())
}

/// Standard base64 with padding (for a proxy login).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn request_text(target: &Target, headers: &[(String, String)], body: &str) -> String {
    let host = if target
        .authority
        .ends_with(if target.tls { ":443" } else { ":80" })
    {
        target.host.as_str()
    } else {
        target.authority.as_str()
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
        target.path,
        body.len()
    );
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    request.push_str(body); // one write: headers and body leave together
    request
}

/// The largest answer (status line, headers and body) read by default: far above any rows answer,
/// far below what would strain memory.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 8 << 20;

/// What one attempt may take: bytes, and a deadline for the whole answer (not only each read,
/// so a server that drips one byte a second cannot hold a request past its timeout).
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_bytes: usize,
    deadline: Instant,
}

/// A stream that stops with an error once the answer passes its size cap or its deadline.
struct Guarded<S> {
    inner: S,
    limits: Limits,
    read: usize,
}

impl<S> Guarded<S> {
    fn new(inner: S, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            read: 0,
        }
    }
}

impl<S: Read> Read for Guarded<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() > self.limits.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the answer did not finish within the timeout",
            ));
        }
        // Never read past the cap, so a huge answer costs at most the cap in memory.
        let room = (self.limits.max_bytes + 1).saturating_sub(self.read);
        let want = buf.len().min(room.max(1));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n;
        if self.read > self.limits.max_bytes {
            return Err(too_large(self.limits.max_bytes));
        }
        Ok(n)
    }
}

impl<S: Write> Write for Guarded<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn too_large(max: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the answer is larger than {max} bytes (the cap on an answer's size)"),
    )
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

/// Writes `request` and reads the answer.
fn exchange<S: Read + Write>(mut stream: Guarded<S>, request: &str) -> std::io::Result<HttpAnswer> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    read_guarded(stream)
}

/// Reads one HTTP answer (status line, headers, body) from `source`, at most `max_bytes` of it:
/// the parser every request goes through, without the network (the fuzz target's entry).
pub fn read_answer(source: impl Read, max_bytes: usize) -> std::io::Result<HttpAnswer> {
    let limits = Limits {
        max_bytes,
        deadline: Instant::now() + Duration::from_secs(24 * 3600),
    };
    read_guarded(Guarded::new(source, limits))
}

fn read_guarded<S: Read>(stream: Guarded<S>) -> std::io::Result<HttpAnswer> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: '{}'", status_line.trim()),
            )
        })?;
    let (mut length, mut chunked, mut retry_after) = (None::<usize>, false, None);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => {
                    let n = value
                        .parse::<usize>()
                        .map_err(|_| invalid(&format!("bad Content-Length '{value}'")))?;
                    if length.is_some_and(|m| m != n) {
                        return Err(invalid("two different Content-Length headers"));
                    }
                    length = Some(n);
                }
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "retry-after" => retry_after = value.parse::<u64>().ok(),
                _ => {}
            }
        }
    }
    let max_bytes = reader.get_ref().limits.max_bytes;
    let bytes = if chunked {
        read_chunked(&mut reader, max_bytes)?
    } else if let Some(n) = length {
        if n > max_bytes {
            return Err(too_large(max_bytes));
        }
        let mut buf = vec![0; n];
        reader.read_exact(&mut buf)?;
        buf
    } else {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf)?;
        buf
    };
    Ok(HttpAnswer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn read_chunked<R: BufRead>(reader: &mut R, max_bytes: usize) -> std::io::Result<Vec<u8>> {
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
        // Checked before allocating: a chunk of ffffffffffffffff bytes overflowed `size + 2`.
        if size > max_bytes.saturating_sub(out.len()) {
            return Err(too_large(max_bytes));
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
        assert!(matches!(
            post_json(
                "https://user:key@api.openai.com/v1",
                &[],
                "{}",
                Duration::from_secs(1)
            ),
            Err(HttpError::BadUrl(..))
        ));
        assert!(post_json("ftp://x", &[], "{}", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn urls_split_with_default_ports() {
        let t = split_url("https://api.openai.com/v1/chat/completions").unwrap();
        assert_eq!(
            (
                t.tls,
                t.host.as_str(),
                t.authority.as_str(),
                t.path.as_str()
            ),
            (
                true,
                "api.openai.com",
                "api.openai.com:443",
                "/v1/chat/completions"
            )
        );
        let t = split_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.tls, t.authority.as_str(), t.path.as_str()),
            (false, "127.0.0.1:8080", "/")
        );
        assert!(split_url("http://host:notaport/x").is_err());
    }

    #[test]
    fn proxies_skip_loopback_and_no_proxy_hosts() {
        let proxy = Proxy::parse(
            "proxy.hospital.org:3128",
            Some("internal.org, .lab.net,localhost,127.0.0.1"),
        )
        .unwrap();
        assert_eq!(proxy.authority, "proxy.hospital.org:3128");
        assert!(proxy.applies_to("api.openai.com"));
        assert!(!proxy.applies_to("127.0.0.1"));
        assert!(!proxy.applies_to("localhost"));
        assert!(!proxy.applies_to("llm.internal.org"));
        assert!(!proxy.applies_to("gpu.lab.net"));
        assert!(Proxy::parse("https://proxy:3128", None).is_err());
        let with_login = Proxy::parse("http://aladdin:opensesame@proxy:3128", None).unwrap();
        assert_eq!(with_login.authority, "proxy:3128");
        assert_eq!(
            with_login.authorization.as_deref(),
            Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        // An unusable proxy fails https requests only, with a message that hides the login.
        let client = Client::with_settings(
            Duration::from_secs(1),
            None,
            Some("http://user:secret@proxy:notaport"),
        )
        .unwrap();
        let err = client
            .post_json("https://api.openai.com/v1", &[], "{}")
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Setup(_)) && !err.to_string().contains("secret"),
            "{err}"
        );
    }

    #[test]
    fn unusable_ca_bundles_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let err = tls_config(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = tls_config(Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot use the CA bundle"), "{err}");
    }
}
