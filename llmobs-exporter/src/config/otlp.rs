//! Settings of the OTLP destination, read from the OpenTelemetry exporter variables
//! (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) as the OpenTelemetry
//! SDKs read them, each overridable in code through [`crate::Config`].

use std::time::Duration;

use crate::error::Error;

/// How the OTLP destination encodes request bodies (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/protobuf` (the default): `ExportTraceServiceRequest` in protobuf, which every OTLP
    /// receiver accepts.
    #[default]
    HttpProtobuf,
    /// `http/json`: the same messages in OTLP/JSON. Some receivers (Phoenix) refuse it.
    HttpJson,
}

impl OtlpProtocol {
    /// `"http/protobuf"` or `"http/json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

/// Where and how the OTLP destination sends.
#[derive(Debug, Clone, Default)]
pub(crate) struct OtlpSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the base URL, to which `/v1/traces` and `/v1/logs` are
    /// appended.
    pub(crate) endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the traces URL, used as it is.
    pub(crate) traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`: where evaluations go, used as it is.
    pub(crate) logs_endpoint: Option<String>,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key.
    pub(crate) headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds in the variable); `None`: 10 s.
    pub(crate) timeout: Option<Duration>,
    pub(crate) protocol: OtlpProtocol,
    /// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.
    pub(crate) gzip: bool,
    /// `OTEL_SERVICE_NAME`; `None`: `service.name` of the resource attributes, else the span's
    /// ml_app.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub(crate) resource: Vec<(String, String)>,
    /// `OTEL_LOGS_EXPORTER=none`: evaluations are not sent (for receivers without a logs
    /// endpoint, such as Phoenix).
    pub(crate) no_logs: bool,
}

/// The OTLP default request timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl OtlpSettings {
    /// Whether an endpoint was given: that turns the destination on.
    pub(crate) fn enabled(&self) -> bool {
        self.endpoint.is_some() || self.traces_endpoint.is_some()
    }

    /// The URL traces are posted to.
    pub(crate) fn traces_url(&self) -> Option<String> {
        match (&self.traces_endpoint, &self.endpoint) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(base)) => Some(signal_url(base, "traces")),
            (None, None) => None,
        }
    }

    /// The URL evaluations (log records) are posted to: the logs endpoint, else the base
    /// endpoint's `/v1/logs`, else the traces URL with `/v1/traces` replaced by `/v1/logs`.
    pub(crate) fn logs_url(&self) -> Option<String> {
        if self.no_logs {
            return None;
        }
        if let Some(l) = &self.logs_endpoint {
            return Some(l.clone());
        }
        if let Some(base) = &self.endpoint {
            return Some(signal_url(base, "logs"));
        }
        let t = self.traces_endpoint.as_deref()?;
        t.strip_suffix("/v1/traces")
            .map(|base| format!("{base}/v1/logs"))
    }

    /// Reads the variables through `get` (unset and blank variables are `None`). A signal's
    /// own variable (`OTEL_EXPORTER_OTLP_TRACES_*`) wins over the general one.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let either = |name: &'static str| {
            let specific = name.replacen("OTLP_", "OTLP_TRACES_", 1);
            get(&specific)
                .map(|v| (traces_variable(&specific), v))
                .or_else(|| get(name).map(|v| (name, v)))
        };
        let mut s = OtlpSettings {
            endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT").map(|v| trim_url(&v)),
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").map(|v| v.trim().into()),
            logs_endpoint: get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT").map(|v| v.trim().into()),
            service_name: get("OTEL_SERVICE_NAME").map(|v| v.trim().into()),
            ..OtlpSettings::default()
        };
        for (name, url) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &s.endpoint),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &s.traces_endpoint),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &s.logs_endpoint),
        ] {
            if let Some(url) = url {
                check_url(name, url)?;
            }
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            s.headers = parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", &v)?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            // Added after the general ones: a header named in both takes this value.
            for (k, val) in parse_pairs("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &v)? {
                s.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
                s.headers.push((k, val));
            }
        }
        if let Some((name, v)) = either("OTEL_EXPORTER_OTLP_TIMEOUT") {
            const MS: &str = "a positive whole number of milliseconds, e.g. 10000";
            match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => s.timeout = Some(Duration::from_millis(ms)),
                _ => return Err(invalid(name, &v, MS)),
            }
        }
        if let Some((name, v)) = either("OTEL_EXPORTER_OTLP_PROTOCOL") {
            s.protocol =
                match v.trim() {
                    "http/protobuf" => OtlpProtocol::HttpProtobuf,
                    "http/json" => OtlpProtocol::HttpJson,
                    _ => return Err(invalid(
                        name,
                        &v,
                        "http/protobuf or http/json (gRPC is not supported: use the receiver's \
                         HTTP port, usually 4318)",
                    )),
                };
        }
        if let Some((name, v)) = either("OTEL_EXPORTER_OTLP_COMPRESSION") {
            s.gzip = match v.trim() {
                "gzip" => true,
                "none" => false,
                _ => return Err(invalid(name, &v, "gzip or none")),
            };
        }
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            s.resource = parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?;
        }
        // The variable also names the application's own logs exporter (`otlp`, `console`,
        // ...), so only `none` means anything here and no other value is refused.
        s.no_logs = get("OTEL_LOGS_EXPORTER").is_some_and(|v| v.trim() == "none");
        Ok(s)
    }
}

/// The OTLP destination's settings (feature `otlp`). Setting an endpoint turns the destination
/// on: beside the Datadog destination when an Agent or API key is configured, alone otherwise.
/// See `docs/otlp.md` for backends.
///
/// ```no_run
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// // Arize Phoenix on its default port; ml_app names the service and the Phoenix project.
/// let _guard = llmobs::Config::from_env()?
///     .ml_app("furnish-hub")
///     .otlp_endpoint("http://127.0.0.1:6006")
///     .init()?;
/// # Ok::<(), llmobs::Error>(())
/// ```
impl crate::Config {
    /// The receiver's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): traces go to
    /// `{url}/v1/traces`, evaluations to `{url}/v1/logs`.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(trim_url(&url.into()));
        self
    }
    /// The full URL traces go to (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), used as it is.
    pub fn otlp_traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.traces_endpoint = Some(url.into().trim().to_owned());
        self
    }
    /// A header sent with every OTLP request (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key.
    /// A header of the same name (in any case) set before is replaced.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.otlp
            .headers
            .retain(|(h, _)| !h.eq_ignore_ascii_case(&name));
        self.otlp.headers.push((name, value.into()));
        self
    }
    /// How long one OTLP request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }
    /// `http/protobuf` (default) or `http/json` (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp.protocol = protocol;
        self
    }
    /// Gzip request bodies (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`; off by default).
    pub fn otlp_gzip(mut self, on: bool) -> Self {
        self.otlp.gzip = on;
        self
    }
    /// Whether evaluations are sent as OTLP log records (default yes; `OTEL_LOGS_EXPORTER=none`
    /// turns them off). Turn them off for a receiver without a logs endpoint, such as Phoenix,
    /// which would refuse each one.
    pub fn otlp_evaluations(mut self, send: bool) -> Self {
        self.otlp.no_logs = !send;
        self
    }
    /// The `service.name` of the OTLP resource (`OTEL_SERVICE_NAME`). Unset, it is the span's
    /// ml_app, which is where Datadog's OTLP intake reads the ml_app from.
    pub fn otlp_service_name(mut self, name: impl Into<String>) -> Self {
        self.otlp.service_name = Some(name.into());
        self
    }
    /// A resource attribute (`OTEL_RESOURCE_ATTRIBUTES`), e.g.
    /// `openinference.project.name` for the Phoenix project (default: the ml_app).
    pub fn otlp_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        let key = key.into();
        self.otlp.resource.retain(|(k, _)| *k != key);
        self.otlp.resource.push((key, value.into()));
        self
    }
}

/// `{base}/v1/{signal}`, as the OpenTelemetry SDKs build it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

fn trim_url(v: &str) -> String {
    v.trim().trim_end_matches('/').to_owned()
}

pub(crate) fn check_url(name: &'static str, url: &str) -> Result<(), Error> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            name,
            url,
            "an http:// or https:// URL, e.g. http://localhost:4318",
        ))
    }
}

/// The `/// The variable names built at run time are few and fixed: keep them for the error value.'static` name of a signal-specific variable built at run time, for the error value.
fn traces_variable(name: &str) -> &'static str {
    match name {
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" => "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        _ => "OTEL_EXPORTER_OTLP_TRACES_*",
    }
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> Error {
    Error::InvalidSetting {
        name,
        value: value.to_owned(),
        expected,
    }
}

/// Parses the W3C Baggage-like lists of `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` entries separated by commas, values percent-decoded.
fn parse_pairs(name: &'static str, v: &str) -> Result<Vec<(String, String)>, Error> {
    const PAIRS: &str = "comma-separated key=value entries, e.g. api-key=secret,team=ml";
    let mut out = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((k, val)) = entry.split_once('=') else {
            return Err(invalid(name, v, PAIRS));
        };
        let k = percent_decode(k.trim());
        if k.is_empty() {
            return Err(invalid(name, v, PAIRS));
        }
        out.push((k, percent_decode(val.trim())));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; anything malformed is kept as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<OtlpSettings, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpSettings::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn urls_follow_the_opentelemetry_rules() {
        let s = from(&[]).unwrap();
        assert!(!s.enabled());
        let s = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:6006/")]).unwrap();
        assert!(s.enabled());
        assert_eq!(s.traces_url().unwrap(), "http://127.0.0.1:6006/v1/traces");
        assert_eq!(s.logs_url().unwrap(), "http://127.0.0.1:6006/v1/logs");
        // A signal's endpoint is used as it is.
        let s = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://otlp.datadoghq.com/v1/traces",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.traces_url().unwrap(),
            "https://otlp.datadoghq.com/v1/traces"
        );
        assert_eq!(s.logs_url().unwrap(), "http://a:4318/v1/logs");
        let s = from(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/x/v1/traces")]).unwrap();
        assert_eq!(s.logs_url().unwrap(), "http://c/x/v1/logs");
        let s = from(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/ingest")]).unwrap();
        assert_eq!(s.logs_url(), None);
        // No logs (evaluations) for a receiver without a logs endpoint; other exporter names
        // are the application's own business.
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        let s = from(&[base, ("OTEL_LOGS_EXPORTER", "none")]).unwrap();
        assert_eq!(s.logs_url(), None);
        assert!(s.traces_url().is_some());
        let s = from(&[base, ("OTEL_LOGS_EXPORTER", "console")]).unwrap();
        assert_eq!(s.logs_url().unwrap(), "http://a:4318/v1/logs");
    }

    #[test]
    fn headers_resource_and_options() {
        let s = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "dd-api-key=k1, dd-otlp-source=llmobs,x=a%20b%2Cc",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "DD-API-KEY=k2"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_SERVICE_NAME", "svc"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=prod,team=ml%2Fai",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.headers,
            [
                ("dd-otlp-source".to_owned(), "llmobs".to_owned()),
                ("x".to_owned(), "a b,c".to_owned()),
                ("DD-API-KEY".to_owned(), "k2".to_owned()),
            ]
        );
        assert_eq!(s.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(s.protocol, OtlpProtocol::HttpJson);
        assert!(s.gzip);
        assert_eq!(s.service_name.as_deref(), Some("svc"));
        assert_eq!(s.resource[1], ("team".to_owned(), "ml/ai".to_owned()));
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_takes() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "ten"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ] {
            let e = from(&[(var, value)]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(var) && msg.contains(value), "{msg}");
        }
    }
}
