//! The blocking HTTP client of the providers, on [ureq] 3 with rustls (ring backend): plain
//! `http://` for the OpenAI-compatible servers that run beside the data (llama.cpp's
//! llama-server, vLLM, Ollama, LM Studio) and `https://` for the hosted APIs. It sends one JSON
//! POST and gives back the status, the Retry-After header and the body; what ureq does not decide
//! for us is set here:
//! - a deadline on the whole attempt (connect, TLS, headers and the whole body), so a server that
//!   drips one byte a second cannot hold a request past its timeout;
//! - a cap on an answer's size ([`DEFAULT_MAX_ANSWER_BYTES`], [`Client::with_max_answer_bytes`]),
//!   checked while the body is read, so a Content-Length of 100 TB or a chunk of 2⁶⁴ − 1 bytes
//!   costs at most the cap in memory;
//! - no compression is offered (no `accept-encoding`), so there is no decompression bomb to fear;
//! - status codes come back as answers (the providers judge them), redirects are not followed
//!   (a POST is never resent elsewhere), and no connection is kept for reuse.
//!
//! For networks whose proxy re-signs TLS (common in hospitals), [`Client::new`] trusts an extra
//! PEM bundle besides Mozilla's roots (`--ca-cert FILE` or `EHRSYNTH_CA_CERT`). `https://`
//! requests go through an HTTP CONNECT tunnel when `HTTPS_PROXY` (or `https_proxy`) names an
//! `http://[user:password@]host:port` proxy (ureq sends the login as Basic proxy
//! authorization), except for hosts listed in `NO_PROXY` and loopback addresses; plain `http://`
//! requests always go direct, and an unusable proxy setting only fails `https://` requests.
//! Headers (the API key among them) and proxy logins are never logged or placed in an error
//! message.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// The environment variable naming an extra CA bundle (PEM) to trust.
pub const CA_CERT_VARIABLE: &str = "EHRSYNTH_CA_CERT";

/// The largest answer body read by default: far above any rows answer, far below what would
/// strain memory. (Headers have ureq's own cap of 64 KiB.)
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 8 << 20;

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
    /// The connection failed or broke, or what came back is not a usable HTTP answer.
    #[error("connection to {0} failed: {1}")]
    Connection(String, String),
    /// The TLS handshake failed, e.g. the server's certificate is not trusted.
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    /// The CA bundle, the proxy setting or a request header cannot be used.
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

/// Mozilla's roots plus, when given, the certificates of a PEM bundle: every certificate of the
/// bundle must parse as a trust anchor, so a broken bundle is an error and not a silent
/// fallback to the built-in roots.
fn root_certificates(ca_cert: Option<&Path>) -> Result<RootCerts, HttpError> {
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()))
        .collect();
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
        let mut check = rustls::RootCertStore::empty();
        for certificate in certificates {
            check
                .add(certificate.clone())
                .map_err(|e| unusable(e.to_string()))?;
            roots.push(Certificate::from_der(certificate.as_ref()).to_owned());
        }
    }
    Ok(RootCerts::Specific(Arc::new(roots)))
}

/// An HTTP CONNECT proxy for `https://` requests.
#[derive(Debug, Clone)]
struct Proxy {
    /// The proxy for ureq (its login, if any, stays inside).
    proxy: ureq::Proxy,
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

    /// Checks `http://[user:password@]host:port` (the scheme may be left out) and hands it to
    /// ureq; no message shows the login.
    fn parse(url: &str, no_proxy: Option<&str>) -> Result<Self, HttpError> {
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        // A login (user:password@) is cut out before the URL is checked or shown anywhere.
        let (scheme, rest) = with_scheme
            .split_once("://")
            .unwrap_or(("http", &with_scheme));
        let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
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
        let proxy = ureq::Proxy::new(&with_scheme).map_err(|_| {
            HttpError::Setup(format!(
                "HTTPS_PROXY must be http://[user:password@]host:port (a proxy at {} that cannot be used)",
                target.authority
            ))
        })?;
        let no_proxy = no_proxy
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Ok(Self { proxy, no_proxy })
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

/// The client: the agents (direct and, when a proxy is set, tunnelled) shared by all requests of
/// a run.
#[derive(Debug, Clone)]
pub struct Client {
    max_answer_bytes: usize,
    direct: ureq::Agent,
    /// The proxy with its agent, or why the proxy setting cannot be used (which fails
    /// `https://` requests only).
    proxied: Result<Option<(Proxy, ureq::Agent)>, HttpError>,
}

/// An agent with the settings every request shares (module docs).
fn agent(timeout: Duration, roots: RootCerts, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(roots)
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .user_agent(concat!("ehrsynth/", env!("CARGO_PKG_VERSION")))
        .proxy(proxy)
        .tls_config(tls)
        .build()
        .into()
}

impl Client {
    /// A client that gives each attempt at most `timeout` (connect to last byte), trusting
    /// Mozilla's roots plus `ca_cert` (else the bundle named by `EHRSYNTH_CA_CERT`), and
    /// tunnelling through the proxy named by `HTTPS_PROXY`.
    pub fn new(timeout: Duration, ca_cert: Option<&Path>) -> Result<Self, HttpError> {
        let from_env = std::env::var_os(CA_CERT_VARIABLE).filter(|v| !v.is_empty());
        let ca_cert = ca_cert.or(from_env.as_deref().map(Path::new));
        Self::build(timeout, ca_cert, Proxy::from_env())
    }

    /// A client with exactly these settings (no environment): `proxy` is `http://host:port`.
    pub fn with_settings(
        timeout: Duration,
        ca_cert: Option<&Path>,
        proxy: Option<&str>,
    ) -> Result<Self, HttpError> {
        Self::build(
            timeout,
            ca_cert,
            proxy.map(|p| Proxy::parse(p, None)).transpose(),
        )
    }

    fn build(
        timeout: Duration,
        ca_cert: Option<&Path>,
        proxy: Result<Option<Proxy>, HttpError>,
    ) -> Result<Self, HttpError> {
        let roots = root_certificates(ca_cert)?;
        let proxied = proxy.map(|proxy| {
            proxy.map(|p| {
                let tunnelled = agent(timeout, roots.clone(), Some(p.proxy.clone()));
                (p, tunnelled)
            })
        });
        Ok(Self {
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            direct: agent(timeout, roots, None),
            proxied,
        })
    }

    /// The same client with another cap on an answer body's size.
    pub fn with_max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// POSTs `body` (JSON) to `url` with `headers`.
    pub fn post_json(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<HttpAnswer, HttpError> {
        let target = split_url(url)?;
        let agent = match (&self.proxied, target.tls) {
            (Err(e), true) => return Err(e.clone()),
            (Ok(Some((proxy, tunnelled))), true) if proxy.applies_to(&target.host) => tunnelled,
            _ => &self.direct,
        };
        let mut request = agent.post(url);
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host") {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let failed = |e| failure(&target.authority, self.max_answer_bytes, e);
        let mut answer = request.send(body).map_err(failed)?;
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let status = answer.status().as_u16();
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(self.max_answer_bytes as u64)
            .read_to_vec()
            .map_err(failed)?;
        Ok(HttpAnswer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// POSTs `body` (JSON) to `url` with `headers`, the whole attempt within `timeout`, with the
/// default TLS roots and no proxy.
pub fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
) -> Result<HttpAnswer, HttpError> {
    Client::with_settings(timeout, None, None)?.post_json(url, headers, body)
}

/// Says why an attempt at `authority` failed, in words a user can act on; never with a header
/// value (the API key) or a proxy login.
fn failure(authority: &str, max_bytes: usize, e: ureq::Error) -> HttpError {
    let broken = |why: String| HttpError::Connection(authority.into(), why);
    match e {
        ureq::Error::Timeout(_) => HttpError::Timeout(authority.into()),
        ureq::Error::Io(e) => io_failure(authority, e),
        ureq::Error::Rustls(e) => tls_failure(authority, &e),
        ureq::Error::Tls(why) => HttpError::Tls(authority.into(), why.into()),
        ureq::Error::BodyExceedsLimit(_) => broken(format!(
            "the answer is larger than {max_bytes} bytes (the cap on an answer's size)"
        )),
        ureq::Error::Protocol(e) => broken(format!("not a valid HTTP answer: {e}")),
        ureq::Error::HostNotFound => broken("the host name resolves to no address".into()),
        ureq::Error::ConnectProxyFailed(why) => {
            broken(format!("the proxy refused the tunnel: {why}"))
        }
        // The http crate rejects a header name or value (which may be a key): say which kind only.
        ureq::Error::Http(_) => {
            HttpError::Setup("a request header is not valid in HTTP (check the API key)".into())
        }
        ureq::Error::BadUri(why) => HttpError::BadUrl(authority.into(), why),
        other => broken(other.to_string()),
    }
}

/// An I/O failure: a timeout, a TLS failure carried inside, or a broken connection.
fn io_failure(authority: &str, e: std::io::Error) -> HttpError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return tls_failure(authority, tls);
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            HttpError::Timeout(authority.into())
        }
        std::io::ErrorKind::UnexpectedEof => HttpError::Connection(
            authority.into(),
            "the server closed the connection before the answer was complete".into(),
        ),
        _ => HttpError::Connection(authority.into(), e.to_string()),
    }
}

/// A TLS failure, with advice where the certificate is not trusted.
fn tls_failure(authority: &str, tls: &rustls::Error) -> HttpError {
    let advice = match tls {
        rustls::Error::InvalidCertificate(_) => format!(
            " (the server's certificate is not trusted; if a proxy re-signs TLS on this network, give its CA bundle with --ca-cert FILE or {CA_CERT_VARIABLE})"
        ),
        _ => String::new(),
    };
    HttpError::Tls(authority.into(), format!("{tls}{advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
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
        assert_eq!(
            (proxy.proxy.host(), proxy.proxy.port()),
            ("proxy.hospital.org", 3128)
        );
        assert!(proxy.applies_to("api.openai.com"));
        assert!(!proxy.applies_to("127.0.0.1"));
        assert!(!proxy.applies_to("localhost"));
        assert!(!proxy.applies_to("llm.internal.org"));
        assert!(!proxy.applies_to("gpu.lab.net"));
        assert!(Proxy::parse("https://proxy:3128", None).is_err());
        let with_login = Proxy::parse("http://aladdin:opensesame@proxy:3128", None).unwrap();
        assert_eq!(
            (with_login.proxy.username(), with_login.proxy.password()),
            (Some("aladdin"), Some("opensesame"))
        );
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
        let err = root_certificates(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = root_certificates(Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot use the CA bundle"), "{err}");
    }
}
