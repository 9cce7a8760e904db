//! Settings of the exporter: read from the environment with the reference SDK's variable names,
//! each overridable in code.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use llmobs_core::SpanEvent;

use crate::destination::Destination;
use crate::error::Error;
use crate::redact::Redaction;

#[cfg(feature = "otlp")]
pub(crate) mod otlp;
#[cfg(feature = "otlp")]
pub use otlp::OtlpProtocol;

/// Where spans go. Chosen automatically unless set with [`Config::mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Through the Datadog Agent's EVP proxy (`{agent}/evp_proxy/v2/...`).
    Agent,
    /// Directly to the Datadog intake, authenticated with the API key.
    Agentless,
    /// Nowhere on the network: a trace tree on stderr and the intake payloads in a JSONL file.
    Local,
    /// To the OTLP receiver only, no Datadog destination (feature `otlp`; chosen when an OTLP
    /// endpoint is set and no Datadog Agent or API key is).
    Otlp,
}

impl Mode {
    /// `"agent"`, `"agentless"` or `"local"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Agent => "agent",
            Mode::Agentless => "agentless",
            Mode::Local => "local",
            Mode::Otlp => "otlp",
        }
    }
}

/// What a processor decides about a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Export the span (as the processor left it).
    Yes,
    /// Drop the span; it is counted in [`crate::Drops::processor_dropped`].
    No,
}

impl From<bool> for Keep {
    fn from(keep: bool) -> Self {
        if keep {
            Keep::Yes
        } else {
            Keep::No
        }
    }
}

pub(crate) type Processor = Arc<dyn Fn(&mut SpanEvent) -> Keep + Send + Sync>;

/// Makes a destination added with [`Config::destination`] when an exporter starts.
pub(crate) type MakeDestination = Arc<dyn Fn() -> Box<dyn Destination> + Send + Sync>;

/// The API key, kept out of every `Debug` output, log line and error message.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Default size limit of one request body (`DD_LLMOBS_PAYLOAD_SIZE_BYTES`): 5 MiB.
pub const DEFAULT_PAYLOAD_SIZE_BYTES: usize = 5 << 20;
/// Default size at which a span's input and output are dropped (`DD_LLMOBS_EVENT_SIZE_BYTES`).
pub const DEFAULT_EVENT_SIZE_BYTES: usize = 5_000_000;

/// Exporter settings.
///
/// ```no_run
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// let _guard = llmobs::Config::from_env()?
///     .ml_app("furnish-hub")
///     .env("prod")
///     .processor(|span| llmobs::Keep::from(span.name.as_str() != "healthcheck"))
///     .init()?;
/// # Ok::<(), llmobs::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) enabled: bool,
    pub(crate) ml_app: Option<String>,
    pub(crate) ml_app_source: &'static str,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) site: String,
    pub(crate) agentless: Option<bool>,
    pub(crate) agent_url: String,
    pub(crate) env: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) sample_rate: f64,
    /// `DD_LLMOBS_SAMPLING_RULES`, in order.
    pub(crate) sampling_rules: Vec<crate::sampling::SamplingRule>,
    pub(crate) override_origin: Option<String>,
    pub(crate) payload_size_bytes: usize,
    pub(crate) event_size_bytes: usize,
    pub(crate) interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) local_file: PathBuf,
    pub(crate) queue_max_spans: usize,
    pub(crate) queue_max_bytes: usize,
    pub(crate) retry_buffer_bytes: usize,
    pub(crate) max_attempts: u32,
    pub(crate) retry_window: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) mode: Option<Mode>,
    /// Whether the Agent's address was given (`DD_TRACE_AGENT_URL`, `DD_AGENT_HOST`,
    /// `DD_TRACE_AGENT_PORT`, [`Config::agent_url`]): then it is never replaced by local mode.
    pub(crate) agent_configured: bool,
    /// How often local mode, chosen because no Agent answered, looks for one again.
    pub(crate) agent_probe_interval: Duration,
    pub(crate) processors: Vec<Processor>,
    pub(crate) destinations: Vec<MakeDestination>,
    pub(crate) redaction: Option<Arc<Redaction>>,
    pub(crate) print_local_tree: bool,
    /// Where local mode writes the trace viewer at exit; `None`: nowhere.
    /// `Some(None)`: beside the payload file.
    pub(crate) viewer_file: Option<Option<PathBuf>>,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: otlp::OtlpSettings,
}

impl Default for Config {
    /// The defaults, ignoring the environment.
    fn default() -> Self {
        Config {
            enabled: true,
            ml_app: None,
            ml_app_source: "Config::ml_app",
            api_key: None,
            site: "datadoghq.com".into(),
            agentless: None,
            agent_url: "http://localhost:8126".into(),
            env: None,
            service: None,
            version: None,
            tags: Vec::new(),
            sample_rate: 1.0,
            sampling_rules: Vec::new(),
            override_origin: None,
            payload_size_bytes: DEFAULT_PAYLOAD_SIZE_BYTES,
            event_size_bytes: DEFAULT_EVENT_SIZE_BYTES,
            interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            flush_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(3),
            local_file: PathBuf::from("./llmobs-payloads.jsonl"),
            queue_max_spans: 100_000,
            queue_max_bytes: 256 << 20,
            retry_buffer_bytes: 64 << 20,
            max_attempts: 3,
            retry_window: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            retry_after_cap: Duration::from_secs(10),
            mode: None,
            agent_configured: false,
            agent_probe_interval: Duration::from_secs(10),
            processors: Vec::new(),
            destinations: Vec::new(),
            redaction: None,
            print_local_tree: true,
            viewer_file: Some(None),
            #[cfg(feature = "otlp")]
            otlp: otlp::OtlpSettings::default(),
        }
    }
}

const BOOL: &str = "one of true, false, 1, 0, yes, no, on, off";

fn parse_bool(name: &'static str, v: &str) -> Result<bool, Error> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(name, v, BOOL)),
    }
}

fn parse_seconds(name: &'static str, v: &str) -> Result<Duration, Error> {
    const SECONDS: &str = "a non-negative number of seconds, e.g. 1.5";
    let secs: f64 = v.trim().parse().map_err(|_| invalid(name, v, SECONDS))?;
    Duration::try_from_secs_f64(secs).map_err(|_| invalid(name, v, SECONDS))
}

/// A positive duration: an interval or request timeout of zero would make the worker spin or
/// every request fail.
fn parse_positive_seconds(name: &'static str, v: &str) -> Result<Duration, Error> {
    const POSITIVE: &str = "a positive number of seconds, e.g. 1.5";
    match parse_seconds(name, v) {
        Ok(d) if d >= Duration::from_millis(1) => Ok(d),
        _ => Err(invalid(name, v, POSITIVE)),
    }
}

fn parse_size(name: &'static str, v: &str) -> Result<usize, Error> {
    const SIZE: &str = "a positive whole number of bytes";
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(name, v, SIZE)),
    }
}

fn parse_rate(name: &'static str, v: &str) -> Result<f64, Error> {
    const RATE: &str = "a number from 0 to 1, e.g. 0.5";
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(invalid(name, v, RATE)),
    }
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> Error {
    Error::InvalidSetting {
        name,
        value: value.to_owned(),
        expected,
    }
}

/// Parses `DD_TAGS`: `k:v` entries separated by commas or spaces. Entries without a `:` are
/// skipped, as the reference does, rather than failing start-up over a cosmetic setting.
pub(crate) fn parse_tags(v: &str) -> Vec<(String, String)> {
    let sep = if v.contains(',') { ',' } else { ' ' };
    v.split(sep)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|entry| match entry.split_once(':') {
            Some((k, val)) if !k.trim().is_empty() => {
                Some((k.trim().to_owned(), val.trim().to_owned()))
            }
            _ => {
                log::warn!("llmobs: ignoring DD_TAGS entry {entry:?}: expected key:value");
                None
            }
        })
        .collect()
}

/// Checks an ml_app name against [`crate::error::ML_APP_RULE`].
///
/// The rule lives in `llmobs-rules`, which the attributes also use to check a literal
/// `ml_app = ".."` at compile time, so the two cannot disagree.
pub fn validate_ml_app(name: &str) -> bool {
    llmobs_rules::is_valid_ml_app(name)
}

impl Config {
    /// Reads the settings from the process environment.
    ///
    /// See `docs/configuration.md` for every variable. A malformed value is an error that names
    /// the variable and what it accepts; unset variables take their defaults.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` instead of the process environment (for tests, or
    /// settings kept elsewhere). `lookup` returns the value of a variable, or `None` when unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut c = Config::default();
        if let Some(v) = get("DD_LLMOBS_ENABLED") {
            c.enabled = parse_bool("DD_LLMOBS_ENABLED", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_ML_APP") {
            c.ml_app = Some(v.trim().to_owned());
            c.ml_app_source = "DD_LLMOBS_ML_APP";
        }
        c.api_key = get("DD_API_KEY").map(|k| ApiKey(k.trim().to_owned()));
        // Empty takes the default like every other variable: an empty site would make the
        // automatic mode post to `https://llmobs-intake./`.
        if let Some(v) = get("DD_SITE") {
            c.site = v.trim().to_owned();
        }
        if let Some(v) = get("DD_AGENTLESS_ENABLED") {
            c.agentless = Some(parse_bool("DD_AGENTLESS_ENABLED", &v)?);
        }
        if let Some(v) = get("DD_LLMOBS_AGENTLESS_ENABLED") {
            c.agentless = Some(parse_bool("DD_LLMOBS_AGENTLESS_ENABLED", &v)?);
        }
        if let Some(v) = get("DD_TRACE_AGENT_URL") {
            c.agent_url = v.trim().trim_end_matches('/').to_owned();
            c.agent_configured = true;
        } else if get("DD_AGENT_HOST").is_some() || get("DD_TRACE_AGENT_PORT").is_some() {
            c.agent_configured = true;
            let host = get("DD_AGENT_HOST").unwrap_or_else(|| "localhost".into());
            let port = match get("DD_TRACE_AGENT_PORT") {
                Some(p) => p.trim().parse::<u16>().map_err(|_| {
                    invalid("DD_TRACE_AGENT_PORT", &p, "a TCP port number, e.g. 8126")
                })?,
                None => 8126,
            };
            let host = host.trim();
            // An IPv6 literal needs brackets to be a valid URL authority.
            c.agent_url = if host.contains(':') && !host.starts_with('[') {
                format!("http://[{host}]:{port}")
            } else {
                format!("http://{host}:{port}")
            };
        }
        c.env = get("DD_ENV").map(|v| v.trim().to_owned());
        c.service = get("DD_SERVICE").map(|v| v.trim().to_owned());
        c.version = get("DD_VERSION").map(|v| v.trim().to_owned());
        if let Some(v) = get("DD_TAGS") {
            c.tags = parse_tags(&v);
        }
        if let Some(v) = get("DD_LLMOBS_SAMPLE_RATE") {
            c.sample_rate = parse_rate("DD_LLMOBS_SAMPLE_RATE", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_SAMPLING_RULES") {
            c.sampling_rules = crate::sampling::parse_rules("DD_LLMOBS_SAMPLING_RULES", &v)?;
        }
        c.override_origin = get("DD_LLMOBS_OVERRIDE_ORIGIN").map(|v| v.trim().to_owned());
        if let Some(v) = get("DD_LLMOBS_REDACT") {
            c.redaction =
                parse_bool("DD_LLMOBS_REDACT", &v)?.then(|| Arc::new(Redaction::builtin()));
        }
        if let Some(v) = get("DD_LLMOBS_PAYLOAD_SIZE_BYTES") {
            c.payload_size_bytes = parse_size("DD_LLMOBS_PAYLOAD_SIZE_BYTES", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_EVENT_SIZE_BYTES") {
            c.event_size_bytes = parse_size("DD_LLMOBS_EVENT_SIZE_BYTES", &v)?;
        }
        if let Some(v) = get("_DD_LLMOBS_AGENT_PROBE_INTERVAL") {
            c.agent_probe_interval = parse_positive_seconds("_DD_LLMOBS_AGENT_PROBE_INTERVAL", &v)?;
        }
        if let Some(v) = get("_DD_LLMOBS_WRITER_INTERVAL") {
            c.interval = parse_positive_seconds("_DD_LLMOBS_WRITER_INTERVAL", &v)?;
        }
        if let Some(v) = get("_DD_LLMOBS_WRITER_TIMEOUT") {
            c.request_timeout = parse_positive_seconds("_DD_LLMOBS_WRITER_TIMEOUT", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_FLUSH_TIMEOUT") {
            c.flush_timeout = parse_seconds("DD_LLMOBS_FLUSH_TIMEOUT", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_SHUTDOWN_TIMEOUT") {
            c.shutdown_timeout = parse_seconds("DD_LLMOBS_SHUTDOWN_TIMEOUT", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_LOCAL_FILE") {
            c.local_file = PathBuf::from(v);
        }
        if let Some(v) = get("DD_LLMOBS_VIEWER_FILE") {
            c.viewer_file = Some(Some(PathBuf::from(v)));
        }
        if let Some(v) = get("DD_LLMOBS_VIEWER") {
            if !parse_bool("DD_LLMOBS_VIEWER", &v)? {
                c.viewer_file = None;
            }
        }
        if let Some(v) = get("DD_LLMOBS_QUEUE_MAX_SPANS") {
            c.queue_max_spans = parse_size("DD_LLMOBS_QUEUE_MAX_SPANS", &v)?;
        }
        if let Some(v) = get("DD_LLMOBS_QUEUE_MAX_BYTES") {
            c.queue_max_bytes = parse_size("DD_LLMOBS_QUEUE_MAX_BYTES", &v)?;
        }
        #[cfg(feature = "otlp")]
        {
            c.otlp = otlp::OtlpSettings::from_lookup(get)?;
        }
        #[cfg(not(feature = "otlp"))]
        for name in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            if get(name).is_some() {
                log::warn!(
                    "llmobs: {name} is set, but this build has no OTLP destination; enable the                      `otlp` feature of llmobs to send spans there"
                );
            }
        }
        Ok(c)
    }

    /// Turns LLM Observability on or off (`DD_LLMOBS_ENABLED`, default on once `init` is called).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }
    /// The application name (`DD_LLMOBS_ML_APP`); falls back to the service, then `unnamed-ml-app`.
    pub fn ml_app(mut self, ml_app: impl Into<String>) -> Self {
        self.ml_app = Some(ml_app.into());
        self.ml_app_source = "Config::ml_app";
        self
    }
    /// The ml_app to use when neither `DD_LLMOBS_ML_APP` (nor [`ml_app`](Self::ml_app)) nor
    /// `DD_SERVICE` names one: an application's own name, which its deployment can still
    /// override.
    ///
    /// ```
    /// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
    /// let config = llmobs::Config::from_lookup(|_| None).unwrap().default_ml_app("furnish-hub");
    /// assert_eq!(config.resolved_ml_app(), "furnish-hub");
    /// let config = llmobs::Config::from_lookup(|v| (v == "DD_LLMOBS_ML_APP").then(|| "prod-app".into()))
    ///     .unwrap()
    ///     .default_ml_app("furnish-hub");
    /// assert_eq!(config.resolved_ml_app(), "prod-app");
    /// ```
    pub fn default_ml_app(mut self, ml_app: impl Into<String>) -> Self {
        if self.ml_app.is_none() && self.service.is_none() {
            self.ml_app = Some(ml_app.into());
            self.ml_app_source = "Config::default_ml_app";
        }
        self
    }
    /// The Datadog API key (`DD_API_KEY`), needed in agentless mode.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey(key.into()));
        self
    }
    /// The Datadog site (`DD_SITE`, default `datadoghq.com`).
    pub fn site(mut self, site: impl Into<String>) -> Self {
        self.site = site.into();
        self
    }
    /// Sends directly to the intake instead of through an Agent (`DD_LLMOBS_AGENTLESS_ENABLED`).
    pub fn agentless(mut self, on: bool) -> Self {
        self.agentless = Some(on);
        self
    }
    /// The Agent's URL (`DD_TRACE_AGENT_URL`, default `http://localhost:8126`).
    ///
    /// An Agent given here (or by `DD_TRACE_AGENT_URL`, `DD_AGENT_HOST`, `DD_TRACE_AGENT_PORT`)
    /// is used even when it does not answer yet: spans wait, within the queue and retry bounds,
    /// and are sent once it does. Only with no Agent configured does the SDK fall back to local
    /// mode (see `docs/local-mode.md`).
    pub fn agent_url(mut self, url: impl Into<String>) -> Self {
        self.agent_url = url.into().trim_end_matches('/').to_owned();
        self.agent_configured = true;
        self
    }

    /// Where to look for an Agent when none is configured (default `http://localhost:8126`),
    /// without configuring one: local mode is still chosen if nothing answers there. For tests.
    #[doc(hidden)]
    pub fn probe_agent_at(mut self, url: impl Into<String>) -> Self {
        self.agent_url = url.into().trim_end_matches('/').to_owned();
        self.agent_configured = false;
        self
    }

    /// How often local mode, chosen because no Agent answered, looks for one again
    /// (`_DD_LLMOBS_AGENT_PROBE_INTERVAL`, default 10 s). An Agent that starts later is then
    /// used from its first answer on.
    #[doc(hidden)]
    pub fn agent_probe_interval(mut self, every: Duration) -> Self {
        self.agent_probe_interval = every.max(Duration::from_millis(1));
        self
    }
    /// The environment tag (`DD_ENV`).
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }
    /// The service tag (`DD_SERVICE`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }
    /// The version tag (`DD_VERSION`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
    /// Adds a tag to every span (like an entry of `DD_TAGS`).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.tags.retain(|(k, _)| *k != key);
        self.tags.push((key, value.into()));
        self
    }
    /// The sampling rate reported with every span (`DD_LLMOBS_SAMPLE_RATE`, 0 to 1; values
    /// outside are clamped). As in the reference, unsampled spans are still sent, marked
    /// `sampling_decision: "0"`.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }
    /// Adds a sampling rule (`DD_LLMOBS_SAMPLING_RULES`), tried after the rules added before:
    /// the first whose tags all match the tags of a trace's root span gives the trace's rate;
    /// traces no rule matches are sampled at [`Config::sample_rate`].
    ///
    /// ```
    /// # mod llmobs { pub use llmobs_exporter::*; }
    /// let config = llmobs::Config::default()
    ///     .sampling_rule(llmobs::SamplingRule::new(0.1, [("env", "staging")]))
    ///     .sampling_rule(llmobs::SamplingRule::new(1.0, [("route", "checkout-*")]))
    ///     .sample_rate(0.5);
    /// # drop(config);
    /// ```
    pub fn sampling_rule(mut self, rule: crate::sampling::SamplingRule) -> Self {
        self.sampling_rules.push(rule);
        self
    }
    /// Replaces the scheme and host of both intake URLs (`DD_LLMOBS_OVERRIDE_ORIGIN`), e.g. for
    /// a proxy. It is the only way to let agentless mode use plain `http://`.
    pub fn override_origin(mut self, origin: impl Into<String>) -> Self {
        self.override_origin = Some(origin.into());
        self
    }
    /// The largest request body (`DD_LLMOBS_PAYLOAD_SIZE_BYTES`, default 5 MiB).
    pub fn payload_size_bytes(mut self, bytes: usize) -> Self {
        self.payload_size_bytes = bytes.max(1);
        self
    }
    /// The event size at which input and output are dropped (`DD_LLMOBS_EVENT_SIZE_BYTES`,
    /// default 5,000,000).
    pub fn event_size_bytes(mut self, bytes: usize) -> Self {
        self.event_size_bytes = bytes.max(1);
        self
    }
    /// How often the worker sends what was queued (`_DD_LLMOBS_WRITER_INTERVAL`, default 1 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// The timeout of one HTTP request (`_DD_LLMOBS_WRITER_TIMEOUT`, default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// How long [`crate::flush`] waits (`DD_LLMOBS_FLUSH_TIMEOUT`, default 10 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }
    /// The most that dropping the guard (or [`crate::shutdown`]) waits for what is still queued
    /// to be delivered (`DD_LLMOBS_SHUTDOWN_TIMEOUT`, default 3 s), whether or not `flush()` ran
    /// before. When a `flush()` has just timed out with nothing delivered since, it does not
    /// wait again. What is left undelivered is counted and reported in one line on stderr.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
    /// The JSONL file local mode appends payloads to (`DD_LLMOBS_LOCAL_FILE`, default
    /// `./llmobs-payloads.jsonl`).
    pub fn local_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.local_file = path.into();
        self
    }
    /// Whether local mode prints the trace tree on stderr (default on).
    pub fn print_local_tree(mut self, on: bool) -> Self {
        self.print_local_tree = on;
        self
    }
    /// Where local mode writes the trace viewer (a self-contained HTML page of every trace in
    /// the payload file) when the exporter stops (`DD_LLMOBS_VIEWER_FILE`, default
    /// `llmobs-traces.html` beside the payload file). See `docs/viewer.md`.
    pub fn viewer_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.viewer_file = Some(Some(path.into()));
        self
    }
    /// Whether local mode writes the trace viewer at exit (`DD_LLMOBS_VIEWER=0` turns it off;
    /// default on).
    pub fn viewer(mut self, on: bool) -> Self {
        self.viewer_file = match (on, self.viewer_file.take()) {
            (false, _) => None,
            (true, Some(f)) => Some(f),
            (true, None) => Some(None),
        };
        self
    }

    /// The viewer's path, if local mode writes one.
    pub(crate) fn resolved_viewer_file(&self) -> Option<PathBuf> {
        match &self.viewer_file {
            None => None,
            Some(Some(p)) => Some(p.clone()),
            Some(None) => Some(
                self.local_file
                    .parent()
                    .unwrap_or(std::path::Path::new(""))
                    .join("llmobs-traces.html"),
            ),
        }
    }
    /// The most spans and evaluations waiting in the queue (`DD_LLMOBS_QUEUE_MAX_SPANS`,
    /// default 100,000); more are dropped and counted.
    pub fn queue_max_spans(mut self, n: usize) -> Self {
        self.queue_max_spans = n.max(1);
        self
    }
    /// The approximate bytes waiting in the queue (`DD_LLMOBS_QUEUE_MAX_BYTES`, default 256 MiB).
    pub fn queue_max_bytes(mut self, n: usize) -> Self {
        self.queue_max_bytes = n.max(1);
        self
    }
    /// The bytes of failed requests kept for a later attempt (default 64 MiB).
    pub fn retry_buffer_bytes(mut self, n: usize) -> Self {
        self.retry_buffer_bytes = n;
        self
    }
    /// Attempts per request within one send (default 3).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// How long a failed request is kept and tried again on later ticks (default 60 s).
    pub fn retry_window(mut self, window: Duration) -> Self {
        self.retry_window = window;
        self
    }
    /// The first backoff between attempts; it doubles each time, with jitter (default 100 ms).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }
    /// The longest `Retry-After` honoured (default 10 s).
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }
    /// Forces a mode instead of choosing one from the environment and the Agent's `/info`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Adds a processor that may rewrite or drop each span before it is encoded. Processors run
    /// on the exporter's thread, in the order added; a panicking processor drops the span (it
    /// may have been half-redacted) and the exporter keeps running.
    pub fn processor<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut SpanEvent) -> Keep + Send + Sync + 'static,
    {
        self.processors.push(Arc::new(f));
        self
    }

    /// Adds a destination beside the Datadog (or local) one: it gets every span and evaluation
    /// that one gets, after the processors and redaction. Each exporter started from this
    /// configuration gets its own clone. See [`Destination`] for an example.
    pub fn destination<D>(mut self, destination: D) -> Self
    where
        D: Destination + Clone + Sync,
    {
        self.destinations
            .push(Arc::new(move || Box::new(destination.clone())));
        self
    }

    /// Masks sensitive values (`DD_LLMOBS_REDACT=1` turns on [`Redaction::builtin`]; off by
    /// default). Redaction runs on the exporter's thread after the processors and before
    /// anything is encoded, printed or written, so no output of the SDK carries the original
    /// text. Each span that had values replaced gets the metric `redacted_values` (their
    /// count). [`Redaction::none`] turns redaction off again.
    ///
    /// ```no_run
    /// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
    /// use llmobs::{Config, Redaction};
    /// let _guard = Config::from_env()?
    ///     .redact(Redaction::builtin().literal("Project Falcon", "[Codename]"))
    ///     .init()?;
    /// # Ok::<(), llmobs::Error>(())
    /// ```
    pub fn redact(mut self, redaction: Redaction) -> Self {
        self.redaction = (!redaction.is_empty()).then(|| Arc::new(redaction));
        self
    }

    /// Whether the OTLP destination is on: an endpoint is set (and the `otlp` feature is).
    pub(crate) fn otlp_enabled(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.otlp.enabled();
        #[cfg(not(feature = "otlp"))]
        false
    }

    /// The resolved ml_app: the configured one, else the service, else `unnamed-ml-app`.
    pub fn resolved_ml_app(&self) -> String {
        self.ml_app
            .clone()
            .or_else(|| self.service.clone())
            .unwrap_or_else(|| llmobs_core::DEFAULT_ML_APP.to_owned())
    }

    /// Checks what can be checked before starting: the ml_app name, and agentless needs.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let ml_app = self.resolved_ml_app();
        if !validate_ml_app(&ml_app) {
            let source = if self.ml_app.is_some() {
                self.ml_app_source
            } else {
                "DD_SERVICE"
            };
            return Err(Error::InvalidMlApp {
                name: ml_app,
                source,
            });
        }
        if let Some(origin) = &self.override_origin {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(
                    "DD_LLMOBS_OVERRIDE_ORIGIN",
                    origin,
                    "an http:// or https:// URL",
                ));
            }
        }
        let socket_ok = cfg!(unix)
            && crate::unix_socket::socket_path(&self.agent_url).is_some_and(|p| p.is_absolute());
        if !(self.agent_url.starts_with("http://")
            || self.agent_url.starts_with("https://")
            || socket_ok)
        {
            return Err(invalid(
                "DD_TRACE_AGENT_URL",
                &self.agent_url,
                "an http:// or https:// URL, or unix:// and the absolute path of the Agent's \
                 socket (unix:///var/run/datadog/apm.socket)",
            ));
        }
        for (name, d) in [
            ("_DD_LLMOBS_WRITER_INTERVAL", self.interval),
            ("_DD_LLMOBS_WRITER_TIMEOUT", self.request_timeout),
        ] {
            if d < Duration::from_millis(1) {
                return Err(invalid(name, &format!("{d:?}"), "a positive duration"));
            }
        }
        if self.site.contains('/') || self.site.contains(char::is_whitespace) {
            return Err(invalid(
                "DD_SITE",
                &self.site,
                "a host name such as datadoghq.com",
            ));
        }
        #[cfg(feature = "otlp")]
        {
            for (name, url) in [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp.endpoint),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    &self.otlp.traces_endpoint,
                ),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &self.otlp.logs_endpoint),
            ] {
                if let Some(url) = url {
                    otlp::check_url(name, url)?;
                }
            }
        }
        if self.mode == Some(Mode::Otlp) && !self.otlp_enabled() {
            return Err(invalid(
                "Config::mode",
                "Mode::Otlp",
                "an OTLP endpoint as well (OTEL_EXPORTER_OTLP_ENDPOINT or \
                 Config::otlp_endpoint, with the `otlp` feature)",
            ));
        }
        let agentless = self.mode == Some(Mode::Agentless)
            || (self.mode.is_none() && self.agentless == Some(true));
        if agentless {
            if self.api_key.as_ref().is_none_or(|k| k.0.is_empty()) {
                return Err(Error::MissingApiKey);
            }
            if self.site.is_empty() && self.override_origin.is_none() {
                return Err(Error::MissingSite);
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        d.field("enabled", &self.enabled)
            .field("ml_app", &self.ml_app)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("site", &self.site)
            .field("agentless", &self.agentless)
            .field("agent_url", &self.agent_url)
            .field("env", &self.env)
            .field("service", &self.service)
            .field("version", &self.version)
            .field("tags", &self.tags)
            .field("sample_rate", &self.sample_rate)
            .field("override_origin", &self.override_origin)
            .field("payload_size_bytes", &self.payload_size_bytes)
            .field("event_size_bytes", &self.event_size_bytes)
            .field("interval", &self.interval)
            .field("request_timeout", &self.request_timeout)
            .field("flush_timeout", &self.flush_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("agent_configured", &self.agent_configured)
            .field("local_file", &self.local_file)
            .field("viewer_file", &self.resolved_viewer_file())
            .field("queue_max_spans", &self.queue_max_spans)
            .field("queue_max_bytes", &self.queue_max_bytes)
            .field("mode", &self.mode)
            .field("processors", &self.processors.len())
            .field("destinations", &self.destinations.len())
            .field("redaction", &self.redaction);
        #[cfg(feature = "otlp")]
        d.field("otlp_traces_url", &self.otlp.traces_url());
        d.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = from(&[]).expect("empty env is valid");
        assert!(c.enabled);
        assert_eq!(c.site, "datadoghq.com");
        assert_eq!(c.agent_url, "http://localhost:8126");
        assert_eq!(c.payload_size_bytes, 5 * 1024 * 1024);
        assert_eq!(c.event_size_bytes, 5_000_000);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.resolved_ml_app(), "unnamed-ml-app");
    }

    #[test]
    fn reads_every_variable() {
        let c = from(&[
            ("DD_LLMOBS_ENABLED", "0"),
            ("DD_LLMOBS_ML_APP", "furnish-hub"),
            ("DD_API_KEY", "k"),
            ("DD_SITE", "datadoghq.eu"),
            ("DD_LLMOBS_AGENTLESS_ENABLED", "true"),
            ("DD_AGENT_HOST", "agent"),
            ("DD_TRACE_AGENT_PORT", "9000"),
            ("DD_ENV", "dev"),
            ("DD_SERVICE", "support-ai"),
            ("DD_VERSION", "1.0.1"),
            ("DD_TAGS", "region:eu,team:ai"),
            ("DD_LLMOBS_SAMPLE_RATE", "0.5"),
            ("DD_LLMOBS_OVERRIDE_ORIGIN", "http://127.0.0.1:1"),
            ("DD_LLMOBS_PAYLOAD_SIZE_BYTES", "1000"),
            ("DD_LLMOBS_EVENT_SIZE_BYTES", "900"),
            ("_DD_LLMOBS_WRITER_INTERVAL", "0.25"),
            ("_DD_LLMOBS_WRITER_TIMEOUT", "2"),
            ("DD_LLMOBS_LOCAL_FILE", "/tmp/x.jsonl"),
            ("DD_LLMOBS_QUEUE_MAX_SPANS", "10"),
            ("DD_LLMOBS_QUEUE_MAX_BYTES", "2048"),
        ])
        .expect("valid");
        assert!(!c.enabled);
        assert_eq!(c.resolved_ml_app(), "furnish-hub");
        assert_eq!(c.site, "datadoghq.eu");
        assert_eq!(c.agentless, Some(true));
        assert_eq!(c.agent_url, "http://agent:9000");
        assert_eq!(
            c.tags,
            vec![("region".into(), "eu".into()), ("team".into(), "ai".into())]
        );
        assert_eq!(c.sample_rate, 0.5);
        assert_eq!(c.payload_size_bytes, 1000);
        assert_eq!(c.event_size_bytes, 900);
        assert_eq!(c.interval, Duration::from_millis(250));
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(c.local_file, PathBuf::from("/tmp/x.jsonl"));
        assert_eq!((c.queue_max_spans, c.queue_max_bytes), (10, 2048));
    }

    #[test]
    fn trace_agent_url_wins_over_host_and_port() {
        let c = from(&[
            ("DD_TRACE_AGENT_URL", "http://a:1/"),
            ("DD_AGENT_HOST", "b"),
        ])
        .expect("valid");
        assert_eq!(c.agent_url, "http://a:1");
    }

    #[test]
    fn space_separated_tags() {
        assert_eq!(
            parse_tags("a:1 b:2:3 junk"),
            vec![("a".into(), "1".into()), ("b".into(), "2:3".into())]
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_accepted_values() {
        let e = from(&[("DD_LLMOBS_SAMPLE_RATE", "abc")]).expect_err("abc is not a rate");
        let text = e.to_string();
        assert!(
            text.contains("DD_LLMOBS_SAMPLE_RATE") && text.contains("from 0 to 1"),
            "{text}"
        );
        let e = from(&[("DD_LLMOBS_SAMPLE_RATE", "1.5")]).expect_err("out of range");
        assert!(e.to_string().contains("DD_LLMOBS_SAMPLE_RATE"));
        let e = from(&[("DD_LLMOBS_ENABLED", "maybe")]).expect_err("maybe is not a bool");
        let text = e.to_string();
        assert!(
            text.contains("DD_LLMOBS_ENABLED") && text.contains("true, false"),
            "{text}"
        );
        assert!(from(&[("_DD_LLMOBS_WRITER_INTERVAL", "-1")]).is_err());
        assert!(from(&[("_DD_LLMOBS_WRITER_INTERVAL", "0")]).is_err());
        assert!(from(&[("_DD_LLMOBS_WRITER_TIMEOUT", "0")]).is_err());
        assert!(
            from(&[("DD_LLMOBS_FLUSH_TIMEOUT", "1e19")]).is_ok(),
            "huge is fine: never"
        );
        assert!(from(&[("DD_LLMOBS_PAYLOAD_SIZE_BYTES", "0")]).is_err());
        assert!(from(&[("DD_TRACE_AGENT_PORT", "http")]).is_err());
    }

    #[test]
    fn ml_app_rule() {
        for ok in ["furnish-hub", "a", "team/app:v1.2", "a_b", &"x".repeat(193)] {
            assert!(validate_ml_app(ok), "{ok}");
        }
        for bad in [
            "",
            "Upper",
            "a b",
            "a__b",
            "trailing_",
            "é",
            &"x".repeat(194),
        ] {
            assert!(!validate_ml_app(bad), "{bad}");
        }
        let e = Config::default()
            .ml_app("Bad App")
            .validate()
            .expect_err("invalid");
        assert!(e.to_string().contains("lower-case"), "{e}");
        let e = from(&[("DD_SERVICE", "Support AI")])
            .expect("parses")
            .validate()
            .expect_err("invalid");
        assert!(e.to_string().contains("DD_SERVICE"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_api_key() {
        let c = Config::default().api_key("super-secret-key-123");
        let text = format!("{c:?} {:?}", c.api_key);
        assert!(!text.contains("super-secret-key-123"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn agentless_needs_a_key() {
        assert_eq!(
            Config::default().agentless(true).validate(),
            Err(Error::MissingApiKey)
        );
        assert_eq!(
            Config::default()
                .agentless(true)
                .api_key("k")
                .site("")
                .validate(),
            Err(Error::MissingSite)
        );
        assert!(Config::default()
            .agentless(true)
            .api_key("k")
            .validate()
            .is_ok());
    }

    #[test]
    fn redaction_is_off_by_default_and_on_with_one_variable() {
        assert!(from(&[]).expect("valid").redaction.is_none());
        for on in ["1", "true"] {
            let c = from(&[("DD_LLMOBS_REDACT", on)]).expect("valid");
            let r = c.redaction.expect("on");
            assert!(crate::Detector::ALL.iter().all(|d| r.has(*d)));
        }
        assert!(from(&[("DD_LLMOBS_REDACT", "0")])
            .expect("valid")
            .redaction
            .is_none());
        let e = from(&[("DD_LLMOBS_REDACT", "emails")]).expect_err("not a bool");
        assert!(e.to_string().contains("DD_LLMOBS_REDACT"), "{e}");
        let c = from(&[("DD_LLMOBS_REDACT", "1")])
            .expect("valid")
            .redact(Redaction::none());
        assert!(c.redaction.is_none(), "the setter wins over the variable");
    }

    #[test]
    fn setters_override_env() {
        let c = from(&[("DD_LLMOBS_ML_APP", "env-app"), ("DD_ENV", "dev")])
            .expect("valid")
            .ml_app("code-app")
            .env("prod");
        assert_eq!(c.resolved_ml_app(), "code-app");
        assert_eq!(c.env.as_deref(), Some("prod"));
    }
}
