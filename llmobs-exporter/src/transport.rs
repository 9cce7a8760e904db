//! HTTP delivery to the Agent's EVP proxy or directly to the intake, and the Agent probe.

use std::io::Read;
use std::time::Duration;
use ureq::config::AutoHeaderValue;

use crate::config::{ApiKey, Config, Mode};
use crate::destination::Sent;
use crate::payload::PayloadKind;
use crate::retry::{parse_retry_after, Verdict};
use crate::unix_socket;

const SPAN_ENDPOINT: &str = "/api/v2/llmobs";
const EVAL_ENDPOINT: &str = "/api/intake/llm-obs/v2/eval-metric";
const EVP_PROXY_BASE_PATH: &str = "/evp_proxy/v2";
const EVP_SUBDOMAIN_HEADER: &str = "X-Datadog-EVP-Subdomain";
const SPAN_SUBDOMAIN: &str = "llmobs-intake";
const EVAL_SUBDOMAIN: &str = "api";
/// How much of a response body is read: enough for an error message, or an OTLP
/// `partial_success`.
const RESPONSE_BODY_LIMIT: u64 = 16 * 1024;

/// The result of one request.
#[derive(Debug)]
pub(crate) enum Response {
    /// The server answered.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    Failed(String),
}

impl Response {
    /// What the answer means for the payload, by `classify` (which statuses are worth
    /// another attempt); `delivered` reads a successful answer's body.
    pub(crate) fn into_sent(
        self,
        classify: fn(u16) -> Verdict,
        delivered: impl FnOnce(&[u8]) -> Sent,
    ) -> Sent {
        match self {
            Response::Status {
                code,
                retry_after,
                body,
            } => match classify(code) {
                Verdict::Delivered => delivered(&body),
                Verdict::Reject => Sent::Rejected(format!(
                    "got response code {code}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(1024)])
                )),
                Verdict::Retry => Sent::Failed {
                    reason: format!("response code {code}"),
                    retry_after: retry_after.and_then(|v| parse_retry_after(&v, Duration::MAX)),
                },
            },
            Response::Failed(reason) => Sent::Failed {
                reason,
                retry_after: None,
            },
        }
    }
}

/// Where and how requests go in the agent and agentless modes.
pub(crate) struct Transport {
    agent: ureq::Agent,
    spans_url: String,
    evals_url: String,
    evp_proxy: bool,
    api_key: Option<ApiKey>,
}

/// Joins an origin and an endpoint as the reference does: an origin with a path keeps it.
pub(crate) fn join(origin: &str, endpoint: &str) -> String {
    format!(
        "{}/{}",
        origin.trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    )
}

impl Transport {
    pub(crate) fn new(config: &Config, mode: Mode) -> Transport {
        // Only the headers the reference SDK sends: no automatic user-agent, accept or
        // accept-encoding (OBSERVED.md section 2).
        let mut builder = client(config.request_timeout);
        // An Agent on a Unix domain socket (`unix://...`) is reached through it.
        let mut socket = None;
        let (spans_url, evals_url, evp_proxy) = match (mode, &config.override_origin) {
            (Mode::Agentless, Some(origin)) => (
                join(origin, SPAN_ENDPOINT),
                join(origin, EVAL_ENDPOINT),
                false,
            ),
            (Mode::Agentless, None) => {
                // The API key must never travel in clear text; only an explicit override
                // origin may point agentless mode at plain HTTP.
                builder = builder.https_only(true);
                (
                    format!("https://{SPAN_SUBDOMAIN}.{}{SPAN_ENDPOINT}", config.site),
                    format!("https://{EVAL_SUBDOMAIN}.{}{EVAL_ENDPOINT}", config.site),
                    false,
                )
            }
            _ => {
                let (origin, path) = unix_socket::origin(
                    config
                        .override_origin
                        .as_deref()
                        .unwrap_or(&config.agent_url),
                );
                socket = path;
                let base = join(origin, EVP_PROXY_BASE_PATH);
                (join(&base, SPAN_ENDPOINT), join(&base, EVAL_ENDPOINT), true)
            }
        };
        Transport {
            agent: unix_socket::agent(builder.build(), socket),
            spans_url,
            evals_url,
            evp_proxy,
            api_key: if evp_proxy {
                None
            } else {
                config.api_key.clone()
            },
        }
    }

    pub(crate) fn url(&self, kind: PayloadKind) -> &str {
        match kind {
            PayloadKind::Evaluations => &self.evals_url,
            _ => &self.spans_url,
        }
    }

    pub(crate) fn send(&self, kind: PayloadKind, body: &[u8]) -> Response {
        let mut req = self
            .agent
            .post(self.url(kind))
            .header("Content-Type", "application/json");
        if self.evp_proxy {
            let sub = match kind {
                PayloadKind::Evaluations => EVAL_SUBDOMAIN,
                _ => SPAN_SUBDOMAIN,
            };
            req = req.header(EVP_SUBDOMAIN_HEADER, sub);
        } else if let Some(key) = &self.api_key {
            req = req.header("DD-API-KEY", key.0.as_str());
        }
        post(req, body)
    }
}

/// Sends one request and reads its answer. The response body is read to the end (up to a
/// limit) even on success: a connection whose response body was left unread is closed instead
/// of going back to the pool, and every request would then pay a new connection (and a TLS
/// handshake).
pub(crate) fn post(req: ureq::RequestBuilder<ureq::typestate::WithBody>, body: &[u8]) -> Response {
    match req.send(body) {
        Ok(mut resp) => {
            let code = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut bytes = Vec::new();
            let _ = resp
                .body_mut()
                .as_reader()
                .take(RESPONSE_BODY_LIMIT)
                .read_to_end(&mut bytes);
            Response::Status {
                code,
                retry_after,
                body: bytes,
            }
        }
        Err(e) => Response::Failed(e.to_string()),
    }
}

/// An HTTP client with only the headers the caller sets: no automatic user-agent, accept or
/// accept-encoding (OBSERVED.md section 2), no redirects, HTTP errors as answers.
pub(crate) fn client(
    timeout: Duration,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(AutoHeaderValue::None)
        .accept(AutoHeaderValue::None)
        .accept_encoding(AutoHeaderValue::None)
        .max_redirects(0)
}

/// Whether the Agent at `agent_url` offers the EVP proxy (an entry of `endpoints` in its `/info`
/// containing `/evp_proxy/v2`). Any failure means no.
pub(crate) fn probe_agent(agent_url: &str, timeout: Duration) -> bool {
    let (origin, socket) = unix_socket::origin(agent_url);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(AutoHeaderValue::None)
        .accept_encoding(AutoHeaderValue::None)
        .build();
    let agent = unix_socket::agent(config, socket);
    let mut resp = match agent.get(join(origin, "/info")).call() {
        Ok(r) if r.status().is_success() => r,
        _ => return false,
    };
    let mut text = String::new();
    if resp
        .body_mut()
        .as_reader()
        .take(1 << 20)
        .read_to_string(&mut text)
        .is_err()
    {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("endpoints")?.as_array().map(|eps| {
                eps.iter()
                    .any(|e| e.as_str().is_some_and(|s| s.contains(EVP_PROXY_BASE_PATH)))
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agentless_is_https_only_and_every_mode_verifies_certificates() {
        let c = Config::default().api_key("k");
        let t = Transport::new(&c, Mode::Agentless);
        assert!(t.agent.config().https_only());
        assert!(t.spans_url.starts_with("https://") && t.evals_url.starts_with("https://"));
        // Plain HTTP only through an origin the user set explicitly.
        let t = Transport::new(
            &c.clone().override_origin("http://proxy:1"),
            Mode::Agentless,
        );
        assert!(!t.agent.config().https_only());
        for mode in [Mode::Agent, Mode::Agentless] {
            let t = Transport::new(&c, mode);
            assert!(!t.agent.config().tls_config().disable_verification());
        }
    }

    #[test]
    fn urls_per_mode() {
        let c = Config::default()
            .agent_url("http://127.0.0.1:8126")
            .site("datadoghq.eu");
        let t = Transport::new(&c, Mode::Agent);
        assert_eq!(
            t.url(PayloadKind::Spans),
            "http://127.0.0.1:8126/evp_proxy/v2/api/v2/llmobs"
        );
        assert_eq!(
            t.url(PayloadKind::Evaluations),
            "http://127.0.0.1:8126/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric"
        );
        let t = Transport::new(&c, Mode::Agentless);
        assert_eq!(
            t.url(PayloadKind::Spans),
            "https://llmobs-intake.datadoghq.eu/api/v2/llmobs"
        );
        assert_eq!(
            t.url(PayloadKind::Evaluations),
            "https://api.datadoghq.eu/api/intake/llm-obs/v2/eval-metric"
        );
        let c = c.override_origin("http://proxy:1/base/");
        let t = Transport::new(&c, Mode::Agentless);
        assert_eq!(
            t.url(PayloadKind::Spans),
            "http://proxy:1/base/api/v2/llmobs"
        );
        let t = Transport::new(&c, Mode::Agent);
        assert_eq!(
            t.url(PayloadKind::Spans),
            "http://proxy:1/base/evp_proxy/v2/api/v2/llmobs"
        );
    }
}
