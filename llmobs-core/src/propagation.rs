//! Distributed tracing: carrying the current span across a process boundary in HTTP headers,
//! in the formats the Python SDK writes and reads (Datadog `x-datadog-*` and W3C
//! `traceparent`/`tracestate`), so traces join up in both directions.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::context::{Context, ContextGuard};
use crate::error::PropagationError;
use crate::parent::ParentRef;
use crate::span_event::AgentAttribution;
use crate::span_ref::{self, Missing};
use crate::stack;
use crate::{SharedStr, SpanId, TraceId};

const TRACE_ID: &str = "x-datadog-trace-id";
const PARENT_ID: &str = "x-datadog-parent-id";
const SAMPLING_PRIORITY: &str = "x-datadog-sampling-priority";
const TAGS: &str = "x-datadog-tags";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

const P_TID: &str = "_dd.p.tid";
const P_PARENT_ID: &str = "_dd.p.llmobs_parent_id";
const P_TRACE_ID: &str = "_dd.p.llmobs_trace_id";
const P_ML_APP: &str = "_dd.p.llmobs_ml_app";
const P_SESSION: &str = "_dd.p.llmobs_sid";
const P_AGENT_ID: &str = "_dd.p.llmobs_pagent_span_id";
const P_AGENT_NAME: &str = "_dd.p.llmobs_pagent_name";

/// Receivers drop an `x-datadog-tags` header longer than this (the reference's default
/// `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH`).
const TAGS_MAX: usize = 512;
/// The reference keeps the propagated tags within this budget when adding agent attribution.
const AGENT_TAGS_BUDGET: usize = 485;
/// The reference limits its `dd=` member of `tracestate` to this length.
const DD_MEMBER_MAX: usize = 256;
/// Longer headers are not read at all: no legitimate sender produces them.
const HEADER_READ_MAX: usize = 8192;

/// Something that holds HTTP headers: request headers to inject into, or received ones to
/// activate. Names are matched case-insensitively.
///
/// Implemented for `HashMap<String, String>`, `BTreeMap<String, String>`, and, with the `http`
/// feature, `http::HeaderMap`. Implement it for the header type of another HTTP library:
///
/// ```
/// # use llmobs_core as llmobs;
/// struct Headers(Vec<(String, String)>);
/// impl llmobs::HeaderCarrier for Headers {
///     fn get_header(&self, name: &str) -> Option<&str> {
///         self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
///     }
///     fn set_header(&mut self, name: &str, value: String) {
///         self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
///         self.0.push((name.to_owned(), value));
///     }
/// }
/// ```
pub trait HeaderCarrier {
    /// The value of the header `name` (given in lower case), whatever case it was stored in.
    fn get_header(&self, name: &str) -> Option<&str>;
    /// Sets the header `name` (given in lower case), replacing any value stored under the same
    /// name in any case.
    fn set_header(&mut self, name: &str, value: String);
}

/// The value stored under `name`: the exact key first, else any key equal ignoring case.
fn lookup<'a>(
    exact: Option<&'a String>,
    mut all: impl Iterator<Item = (&'a String, &'a String)>,
    name: &str,
) -> Option<&'a str> {
    exact
        .or_else(|| {
            all.find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

impl<S: BuildHasher> HeaderCarrier for HashMap<String, String, S> {
    fn get_header(&self, name: &str) -> Option<&str> {
        lookup(self.get(name), self.iter(), name)
    }
    fn set_header(&mut self, name: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

impl HeaderCarrier for BTreeMap<String, String> {
    fn get_header(&self, name: &str) -> Option<&str> {
        lookup(self.get(name), self.iter(), name)
    }
    fn set_header(&mut self, name: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

#[cfg(feature = "http")]
impl HeaderCarrier for http::HeaderMap {
    fn get_header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
    fn set_header(&mut self, name: &str, value: String) {
        // Every value the SDK writes is printable ASCII, so conversion only fails on a bug.
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(n, v);
        }
    }
}

impl<T: HeaderCarrier + ?Sized> HeaderCarrier for &mut T {
    fn get_header(&self, name: &str) -> Option<&str> {
        (**self).get_header(name)
    }
    fn set_header(&mut self, name: &str, value: String) {
        (**self).set_header(name, value)
    }
}

/// Writes the current span's context into outgoing request headers, so that spans of the
/// receiving service (Rust or Python) join this trace as children of the current span.
///
/// Writes `x-datadog-trace-id`, `x-datadog-parent-id`, `x-datadog-sampling-priority`,
/// `x-datadog-tags` (with the LLM Observability parent, trace id, ml_app, session and agent),
/// and the W3C `traceparent` and `tracestate`, replacing earlier values. A value that cannot
/// travel in a header (a comma or a non-ASCII character in an ml_app or session id for
/// `x-datadog-tags`) is left out of that header rather than corrupting it.
///
/// When LLM Observability is disabled and no test capture is in scope, this writes nothing and
/// returns `Ok(())`.
///
/// ```
/// # use llmobs_core as llmobs;
/// use std::collections::HashMap;
/// # fn main() -> Result<(), llmobs::PropagationError> {
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let _call = llmobs::tool("call_inventory_service").start();
/// let mut headers = HashMap::new();
/// llmobs::inject_distributed_headers(&mut headers)?;
/// assert!(headers.contains_key("x-datadog-tags"));
/// assert!(headers["traceparent"].starts_with("00-"));
/// # Ok(()) }
/// ```
pub fn inject_distributed_headers<H: HeaderCarrier + ?Sized>(
    headers: &mut H,
) -> Result<(), PropagationError> {
    let parent = match span_ref::with_event(None, |e| ParentRef::of_span(e, None)) {
        Ok(p) => p,
        Err(Missing::NoSpan { quiet: true }) => return Ok(()),
        Err(Missing::Finished) => return Err(PropagationError::SpanFinished),
        // An activated remote context with no local span under it is forwarded as it is.
        Err(_) => {
            let p = stack::current_parent();
            if p.trace.is_none() || p.span_id.is_none() {
                return Err(PropagationError::NoActiveSpan);
            }
            p
        }
    };
    let (Some((llm_trace, apm_trace)), Some(span_id)) = (parent.trace, parent.span_id) else {
        return Err(PropagationError::NoActiveSpan);
    };
    let ml_app = parent.ml_app.unwrap_or_else(crate::default_ml_app);
    let session = parent.session_id;

    let mut tags: Vec<(&str, String)> = Vec::with_capacity(7);
    if apm_trace.high() != 0 {
        tags.push((P_TID, format!("{:016x}", apm_trace.high())));
    }
    tags.push((P_PARENT_ID, span_id.0.to_string()));
    // Decimal, because older receivers parse this value as a base-10 integer.
    tags.push((P_TRACE_ID, llm_trace.0.to_string()));
    tags.push((P_ML_APP, ml_app.to_string()));
    if let Some(s) = &session {
        tags.push((P_SESSION, s.to_string()));
    }
    let agent_tags = parent.agent.map(|a| {
        let mut t = vec![(P_AGENT_ID, a.span_id.0.to_string())];
        if let Some(n) = a.name {
            t.push((P_AGENT_NAME, n.to_string()));
        }
        t
    });

    headers.set_header(TRACE_ID, apm_trace.low().to_string());
    headers.set_header(PARENT_ID, span_id.0.to_string());
    headers.set_header(SAMPLING_PRIORITY, "1".to_owned());
    let dd_tags = datadog_tags(&tags, agent_tags.as_deref().unwrap_or_default());
    if !dd_tags.is_empty() {
        headers.set_header(TAGS, dd_tags);
    }
    headers.set_header(
        TRACEPARENT,
        format!("00-{:032x}-{:016x}-01", apm_trace.0, span_id.0),
    );
    let mut all = tags;
    all.extend(agent_tags.unwrap_or_default());
    headers.set_header(TRACESTATE, dd_tracestate(span_id, &all));
    Ok(())
}

fn valid_tag_value(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',')
}

/// `k=v,k=v`, adding each tag only if it can be written and keeps the header within the limit
/// receivers enforce (they drop an over-long header entirely).
fn datadog_tags(tags: &[(&str, String)], agent: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut add = |k: &str, v: &str, limit: usize| {
        if !valid_tag_value(v) {
            log::debug!("llmobs: `{k}` is not sent in x-datadog-tags: its value has a ',' or a non-ASCII character");
            return;
        }
        let extra = k.len() + 1 + v.len() + usize::from(!out.is_empty());
        if out.len() + extra > limit {
            log::debug!("llmobs: `{k}` is not sent in x-datadog-tags: the header would exceed {limit} characters");
            return;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    };
    for (k, v) in tags {
        add(k, v, TAGS_MAX);
    }
    for (k, v) in agent {
        add(k, v, AGENT_TAGS_BUDGET);
    }
    out
}

/// Makes a value safe inside the `dd=` member of `tracestate`: `=` travels as `~` (and is
/// restored on receipt); separators and non-printable characters become `_`.
fn encode_tracestate_value(v: &str) -> String {
    let mut s: String = v
        .chars()
        .map(|c| match c {
            '=' => '~',
            ',' | ';' | '~' => '_',
            c if (' '..='~').contains(&c) => c,
            _ => '_',
        })
        .collect();
    if s.ends_with(' ') {
        s.pop();
        s.push('_');
    }
    s
}

fn dd_tracestate(span_id: SpanId, tags: &[(&str, String)]) -> String {
    let mut out = format!("dd=p:{:016x};s:1", span_id.0);
    for (k, v) in tags {
        // The full trace id already travels in `traceparent`.
        if *k == P_TID {
            continue;
        }
        let Some(name) = k.strip_prefix("_dd.p.") else {
            continue;
        };
        let entry = format!(";t.{name}:{}", encode_tracestate_value(v));
        if out.len() + entry.len() <= DD_MEMBER_MAX {
            out.push_str(&entry);
        }
    }
    out
}

/// Reads the trace context of a request from its headers, as a [`Context`] to
/// [`attach`](Context::attach) wherever the request is handled (for example in an async task
/// with [`crate::Instrument::with_context`]).
///
/// See [`activate_distributed_headers`] for what is accepted.
///
/// ```
/// # use llmobs_core as llmobs;
/// use std::collections::HashMap;
/// let headers = HashMap::from([
///     ("traceparent".to_string(), "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01".to_string()),
/// ]);
/// let ctx = llmobs::extract_distributed_headers(&headers).unwrap();
/// assert!(!ctx.is_empty());
/// ```
pub fn extract_distributed_headers<H: HeaderCarrier + ?Sized>(
    headers: &H,
) -> Result<Context, PropagationError> {
    let remote = read_remote(headers)?;
    let mut parent = remote.into_parent();
    parent.capture = stack::current_parent().capture;
    Ok(Context { parent })
}

/// Makes the span that sent these request headers the parent of the spans started on this
/// thread while the returned guard lives.
///
/// Accepts the Datadog headers (`x-datadog-trace-id`, `x-datadog-parent-id`, `x-datadog-tags`),
/// the W3C headers (`traceparent`, `tracestate`), or both, with any capitalisation, as the
/// Python SDK and this SDK send them. The LLM Observability parent, trace id, ml_app, session and
/// agent come from the propagated `_dd.p.llmobs_*` tags; without an LLM Observability parent the
/// spans are roots of the same trace.
///
/// Headers with no trace context (a caller that is not instrumented: the normal case for the
/// first service of a trace) start a new trace: spans started under the guard are roots. So do
/// headers that cannot be read, which are also logged; [`RemoteContextGuard::error`] says why
/// they were not used, and [`extract_distributed_headers`] returns that error for callers who
/// want to refuse such requests. This never returns `Err`: the `Result` lets `?` stay in code
/// written for earlier versions.
///
/// ```
/// # use llmobs_core as llmobs;
/// use std::collections::HashMap;
/// # fn main() -> Result<(), llmobs::PropagationError> {
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let headers = HashMap::from([
///     ("x-datadog-trace-id".to_string(), "16328246908969189812".to_string()),
///     ("x-datadog-parent-id".to_string(), "17674040498822370026".to_string()),
///     ("x-datadog-tags".to_string(), "_dd.p.llmobs_parent_id=17674040498822370026,_dd.p.llmobs_ml_app=furnish-hub".to_string()),
/// ]);
/// let remote = llmobs::activate_distributed_headers(&headers)?;
/// let _wf = llmobs::workflow("handle_request").start(); // child of the remote span
/// # drop(_wf); drop(remote);
/// # Ok(()) }
/// ```
pub fn activate_distributed_headers<H: HeaderCarrier + ?Sized>(
    headers: &H,
) -> Result<RemoteContextGuard, PropagationError> {
    let (context, error) = match extract_distributed_headers(headers) {
        Ok(context) => (context, None),
        Err(e) => {
            if e != PropagationError::MissingContext {
                log_unreadable_headers(&e);
            }
            // A new trace, still under the test capture in scope if there is one.
            let parent = ParentRef {
                capture: stack::current_parent().capture,
                ..ParentRef::default()
            };
            (Context { parent }, Some(e))
        }
    };
    Ok(RemoteContextGuard {
        _guard: context.attach(),
        context,
        error,
    })
}

/// Logs headers that could not be read: at warn level the first time, then at debug level, so
/// a caller that always sends them does not flood the log.
fn log_unreadable_headers(e: &PropagationError) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        log::debug!("llmobs: {e}; the request starts a new trace");
    } else {
        log::warn!(
            "llmobs: {e}; the request starts a new trace (further cases are logged at debug level)"
        );
    }
}

/// Keeps a remote parent (from [`activate_distributed_headers`]) current on this thread until
/// dropped. Not `Send`: carry [`context`](RemoteContextGuard::context) to other threads or
/// tasks instead.
///
/// ```
/// # use llmobs_core as llmobs;
/// use std::collections::HashMap;
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let headers = HashMap::from([
///     ("traceparent".to_string(), "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01".to_string()),
///     ("tracestate".to_string(), "dd=p:f546ce314e2cd2ea;s:1;t.llmobs_parent_id:17674040498822370026".to_string()),
/// ]);
/// let remote = llmobs::activate_distributed_headers(&headers).unwrap();
/// assert_eq!(remote.parent_id(), Some(llmobs::SpanId(17674040498822370026)));
/// let ctx = remote.context().clone();
/// std::thread::spawn(move || {
///     let _g = ctx.attach();
///     let _work = llmobs::task("background").start(); // also a child of the remote span
/// }).join().unwrap();
/// ```
#[must_use = "the remote context is deactivated as soon as this guard is dropped"]
#[derive(Debug)]
pub struct RemoteContextGuard {
    _guard: ContextGuard,
    context: Context,
    error: Option<PropagationError>,
}

impl RemoteContextGuard {
    /// The activated context, to attach in other threads or async tasks.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The remote LLM Observability parent span, if the headers named one.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.context.parent.span_id
    }

    /// The LLM Observability trace id that spans started under the guard belong to (`None`
    /// when they start a new trace).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.context.parent.trace.map(|(t, _)| t)
    }

    /// Why the headers were not used, when they were not: they carried no trace context
    /// ([`PropagationError::MissingContext`]) or could not be read. Spans started under the
    /// guard then start a new trace.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use std::collections::HashMap;
    /// let headers: HashMap<String, String> = HashMap::new();
    /// let remote = llmobs::activate_distributed_headers(&headers).unwrap();
    /// assert_eq!(remote.error(), Some(&llmobs::PropagationError::MissingContext));
    /// ```
    pub fn error(&self) -> Option<&PropagationError> {
        self.error.as_ref()
    }
}

/// A trace context read from headers, before its LLM Observability tags are interpreted.
#[derive(Debug)]
struct Remote {
    apm_trace: u128,
    tags: Vec<(String, String)>,
}

impl Remote {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn into_parent(self) -> ParentRef {
        let apm = TraceId(self.apm_trace);
        let llm = self
            .tag(P_TRACE_ID)
            .and_then(parse_llmobs_trace_id)
            .unwrap_or(apm);
        let span_id = self.tag(P_PARENT_ID).and_then(parse_span_id);
        let text = |k: &str| {
            self.tag(k)
                .filter(|v| !v.is_empty())
                .map(SharedStr::copy_from)
        };
        let agent = self
            .tag(P_AGENT_ID)
            .and_then(parse_span_id)
            .map(|id| AgentAttribution {
                span_id: id,
                name: text(P_AGENT_NAME),
            });
        ParentRef {
            trace: Some((llm, apm)),
            span_id,
            ml_app: text(P_ML_APP),
            session_id: text(P_SESSION),
            agent,
            capture: None,
            scope: None,
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A decimal, non-zero 64-bit id (`"undefined"` and anything else give `None`).
pub(crate) fn parse_span_id(s: &str) -> Option<SpanId> {
    if !is_digits(s) || s.len() > 20 {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v != 0).map(SpanId)
}

/// 32 hex digits, not all zero: a trace id as [`crate::export_span`] writes it.
pub(crate) fn parse_hex_trace_id(s: &str) -> Option<TraceId> {
    if s.len() != 32 || !is_hex(s) {
        return None;
    }
    u128::from_str_radix(s, 16)
        .ok()
        .filter(|v| *v != 0)
        .map(TraceId)
}

/// Decimal as the reference writes it, or 32 hex characters as older writers did; a 32-digit
/// value is hex when it starts with `0` (a decimal would not) or has a letter.
fn parse_llmobs_trace_id(s: &str) -> Option<TraceId> {
    let hexish = s.len() == 32
        && is_hex(s)
        && (s.starts_with('0') || s.bytes().any(|b| b.is_ascii_alphabetic()));
    if hexish {
        return parse_hex_trace_id(s);
    }
    let v = if is_digits(s) && s.len() <= 39 {
        s.parse::<u128>().ok()?
    } else {
        return None;
    };
    (v != 0).then_some(TraceId(v))
}

fn invalid(name: &'static str, reason: impl Into<String>) -> PropagationError {
    PropagationError::InvalidHeader {
        name,
        reason: reason.into(),
    }
}

fn read<'h, H: HeaderCarrier + ?Sized>(
    h: &'h H,
    name: &'static str,
) -> Result<Option<&'h str>, PropagationError> {
    match h.get_header(name) {
        None => Ok(None),
        Some(v) if v.len() > HEADER_READ_MAX => Err(invalid(
            name,
            format!("it is longer than {HEADER_READ_MAX} characters"),
        )),
        Some(v) => Ok(Some(v.trim())),
    }
}

fn read_id(
    h: &(impl HeaderCarrier + ?Sized),
    name: &'static str,
) -> Result<Option<u64>, PropagationError> {
    let Some(v) = read(h, name)? else {
        return Ok(None);
    };
    if !is_digits(v) || v.len() > 20 {
        return Err(invalid(name, "it is not a decimal 64-bit number"));
    }
    match v.parse::<u64>() {
        Ok(0) => Err(invalid(name, "it is zero")),
        Ok(id) => Ok(Some(id)),
        Err(_) => Err(invalid(name, "it does not fit in 64 bits")),
    }
}

fn read_datadog<H: HeaderCarrier + ?Sized>(h: &H) -> Result<Option<Remote>, PropagationError> {
    let trace = read_id(h, TRACE_ID)?;
    let parent = read_id(h, PARENT_ID)?;
    let low = match (trace, parent) {
        (None, None) => return Ok(None),
        (Some(t), Some(_)) => t,
        (None, Some(_)) => {
            return Err(invalid(
                TRACE_ID,
                "it is missing while x-datadog-parent-id is present",
            ))
        }
        (Some(_), None) => {
            return Err(invalid(
                PARENT_ID,
                "it is missing while x-datadog-trace-id is present",
            ))
        }
    };
    let mut tags = Vec::new();
    match h.get_header(TAGS) {
        Some(raw) if raw.len() > TAGS_MAX => {
            log::debug!("llmobs: ignoring x-datadog-tags longer than {TAGS_MAX} characters");
        }
        Some(raw) => {
            for entry in raw.split(',') {
                if let Some((k, v)) = entry.trim().split_once('=') {
                    if k.starts_with("_dd.p.") {
                        tags.push((k.to_owned(), v.to_owned()));
                    }
                }
            }
        }
        None => {}
    }
    let high = tags
        .iter()
        .find(|(k, _)| k == P_TID)
        .filter(|(_, v)| v.len() == 16 && is_hex(v))
        .and_then(|(_, v)| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    Ok(Some(Remote {
        apm_trace: (u128::from(high) << 64) | u128::from(low),
        tags,
    }))
}

fn read_w3c<H: HeaderCarrier + ?Sized>(h: &H) -> Result<Option<Remote>, PropagationError> {
    let Some(tp) = read(h, TRACEPARENT)? else {
        return Ok(None);
    };
    let parts: Vec<&str> = tp.split('-').collect();
    let [version, trace, parent, flags, rest @ ..] = parts.as_slice() else {
        return Err(invalid(
            TRACEPARENT,
            "expected version-traceid-parentid-flags",
        ));
    };
    if version.len() != 2 || !is_hex(version) || version.eq_ignore_ascii_case("ff") {
        return Err(invalid(
            TRACEPARENT,
            "the version is not two hex digits other than ff",
        ));
    }
    if *version == "00" && !rest.is_empty() {
        return Err(invalid(TRACEPARENT, "version 00 has exactly four fields"));
    }
    if trace.len() != 32 || !is_hex(trace) {
        return Err(invalid(TRACEPARENT, "the trace id is not 32 hex digits"));
    }
    if parent.len() != 16 || !is_hex(parent) {
        return Err(invalid(TRACEPARENT, "the parent id is not 16 hex digits"));
    }
    if flags.len() != 2 || !is_hex(flags) {
        return Err(invalid(TRACEPARENT, "the flags are not two hex digits"));
    }
    let apm_trace =
        u128::from_str_radix(trace, 16).map_err(|_| invalid(TRACEPARENT, "bad trace id"))?;
    let parent_id =
        u64::from_str_radix(parent, 16).map_err(|_| invalid(TRACEPARENT, "bad parent id"))?;
    if apm_trace == 0 || parent_id == 0 {
        return Err(invalid(
            TRACEPARENT,
            "the trace id or parent id is all zeros",
        ));
    }
    let mut tags = Vec::new();
    if let Ok(Some(state)) = read(h, TRACESTATE) {
        let dd = state
            .split(',')
            .filter_map(|m| m.trim().split_once('='))
            .find(|(k, _)| *k == "dd")
            .map(|(_, v)| v);
        for entry in dd.into_iter().flat_map(|v| v.split(';')) {
            if let Some((k, v)) = entry.split_once(':') {
                if let Some(name) = k.strip_prefix("t.") {
                    tags.push((format!("_dd.p.{name}"), v.replace('~', "=")));
                }
            }
        }
    }
    Ok(Some(Remote { apm_trace, tags }))
}

fn read_remote<H: HeaderCarrier + ?Sized>(h: &H) -> Result<Remote, PropagationError> {
    let dd = read_datadog(h);
    let w3c = read_w3c(h);
    match (dd, w3c) {
        (Ok(Some(mut d)), w) => {
            // Both styles describe the same request: fill in what the Datadog tags lack (for
            // instance when a proxy dropped an over-long x-datadog-tags) from tracestate.
            if let Ok(Some(w)) = w {
                if w.apm_trace as u64 == d.apm_trace as u64 {
                    if d.tag(P_TID).is_none() {
                        d.apm_trace = w.apm_trace;
                    }
                    for (k, v) in w.tags {
                        if d.tag(&k).is_none() {
                            d.tags.push((k, v));
                        }
                    }
                }
            }
            Ok(d)
        }
        (_, Ok(Some(w))) => Ok(w),
        (Err(e), _) | (Ok(None), Err(e)) => Err(e),
        (Ok(None), Ok(None)) => Err(PropagationError::MissingContext),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llmobs_trace_id_decimal_or_hex() {
        let hex = "6b02448b000000007a4215f033075000";
        let dec = "142239170359270705861105798300834418688";
        assert_eq!(parse_llmobs_trace_id(dec), parse_llmobs_trace_id(hex));
        assert_eq!(
            parse_llmobs_trace_id("0000000000000000000000000000000a").map(|t| t.0),
            Some(10)
        );
        assert_eq!(parse_llmobs_trace_id("+5"), None);
        assert_eq!(parse_llmobs_trace_id("0"), None);
        assert_eq!(
            parse_llmobs_trace_id("999999999999999999999999999999999999999"),
            None
        );
    }

    #[test]
    fn tracestate_values_are_escaped() {
        assert_eq!(encode_tracestate_value("a=b,c;d~é "), "a~b_c_d___");
        assert_eq!(encode_tracestate_value("sess dist"), "sess dist");
    }

    #[test]
    fn span_ids() {
        assert_eq!(parse_span_id("undefined"), None);
        assert_eq!(parse_span_id("0"), None);
        assert_eq!(parse_span_id("18446744073709551616"), None);
        assert_eq!(
            parse_span_id("18446744073709551615"),
            Some(SpanId(u64::MAX))
        );
    }
}
