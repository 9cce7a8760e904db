//! The pipeline: the exporter's one thread, from the queue to the destinations.
//!
//! It wakes on a timer, or early when the queue passes half its bound, and drains everything
//! queued: each trace is turned into records once, the processors and redaction run once, and
//! the result is offered to every destination ([`crate::Destination`]). What a destination
//! makes into payloads is packed under the payload size limit and sent with the shared delivery
//! policy: attempts with exponential backoff (or the server's `Retry-After`), then, while the
//! intake stays down, kept for later ticks within the retry window and the retry buffer.
//! Batching per tick rather than per span keeps the request count and the wake-ups independent
//! of the span rate.
//!
//! With several destinations the counters of [`crate::Stats`] follow the first one (the
//! Datadog or local destination), and a flush waits until every destination is done with what
//! was queued before it.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use llmobs_core::{EvaluationMetric, SpanEvent};

use crate::config::{Config, Keep, Mode, Processor};
use crate::destination::datadog::Datadog;
use crate::destination::local::Local;
#[cfg(feature = "otlp")]
use crate::destination::otlp::Otlp;
use crate::destination::{Destination, Payload, PayloadKind, Payloads, Sent};
use crate::payload::Batcher;
use crate::queue::{after, Control, Item, Receivers, Shared};
use crate::redact::Redaction;
use crate::retry::backoff;
use crate::stats::DropReason;
use crate::transport::probe_agent;

/// The span metric that counts the values redaction replaced (metric keys may not contain `.`).
pub(crate) const REDACTED_VALUES_METRIC: &str = "redacted_values";

/// The destination the mode names: the one place built-in destinations are chosen.
fn built_in(config: &Config, mode: Mode) -> Box<dyn Destination> {
    match mode {
        Mode::Agent | Mode::Agentless => Box::new(Datadog::new(config, mode)),
        #[cfg(feature = "otlp")]
        Mode::Otlp => match Otlp::new(config) {
            Some(otlp) => Box::new(otlp),
            // `Config::validate` refuses Mode::Otlp without an endpoint.
            None => Box::new(Local::new(config)),
        },
        _ => Box::new(Local::new(config)),
    }
}

/// The built-in destinations that go beside the one the mode names.
fn beside(config: &Config, mode: Mode) -> Vec<Box<dyn Destination>> {
    #[cfg(feature = "otlp")]
    if mode != Mode::Otlp {
        if let Some(otlp) = Otlp::new(config) {
            return vec![Box::new(otlp)];
        }
    }
    let _ = (config, mode);
    Vec::new()
}

/// The mode to start in, and whether it is local mode chosen only because no Agent answered
/// (then the worker keeps looking for one).
///
/// An Agent the user configured is never replaced by local mode: on a production host a
/// sidecar Agent may start after the application, and until it answers, spans wait (within the
/// queue, retry buffer and retry window) rather than being printed and written to a local file.
fn resolve_mode(config: &Config) -> (Mode, bool) {
    if let Some(m) = config.mode {
        return (m, false);
    }
    let timeout = config.request_timeout.min(Duration::from_secs(2));
    match config.agentless {
        Some(true) => (Mode::Agentless, false),
        Some(false) => (Mode::Agent, false),
        None => {
            if probe_agent(&config.agent_url, timeout) {
                (Mode::Agent, false)
            } else if config.api_key.as_ref().is_some_and(|k| !k.0.is_empty()) {
                // As the reference does: an API key and no Agent with the EVP proxy.
                (Mode::Agentless, false)
            } else if config.agent_configured {
                log::warn!(
                    "llmobs: the Datadog Agent at {} does not answer yet; spans are kept and sent \
                     once it does",
                    config.agent_url
                );
                (Mode::Agent, false)
            } else if config.otlp_enabled() {
                // An OTLP endpoint and nothing of Datadog's: OTLP alone.
                (Mode::Otlp, false)
            } else {
                (Mode::Local, true)
            }
        }
    }
}

/// Local mode chosen because no Agent answered: where and when to look for one again.
struct AgentWatch {
    url: String,
    timeout: Duration,
    every: Duration,
    next: Instant,
    /// What replaces local mode once the Agent answers.
    agent: Box<dyn Destination>,
}

/// How payloads are delivered, for every destination.
struct Policy {
    payload_size_bytes: usize,
    retry_buffer_bytes: usize,
    max_attempts: u32,
    retry_window: Duration,
    initial_backoff: Duration,
    retry_after_cap: Duration,
    interval: Duration,
}

/// One destination and its delivery state.
struct Outlet {
    dest: Box<dyn Destination>,
    name: String,
    spans: Batcher,
    evaluations: Batcher,
    /// Bodies that filled up, to be sent.
    ready: Vec<Payload>,
    /// Payloads that failed, for a later tick.
    kept: VecDeque<Payload>,
    kept_bytes: usize,
    next_retry: Instant,
    /// Whether a payload failed this tick: then the rest is kept without trying, so an outage
    /// does not cost a timeout per payload.
    down: bool,
    /// Spans and evaluations this destination is done with (delivered or dropped).
    settled: [u64; 2],
}

impl Outlet {
    fn new(dest: Box<dyn Destination>, policy: &Policy) -> Outlet {
        let batcher = |kind| Batcher::new(kind, dest.framing(kind), policy.payload_size_bytes);
        Outlet {
            name: dest.name(),
            spans: batcher(PayloadKind::Spans),
            evaluations: batcher(PayloadKind::Evaluations),
            dest,
            ready: Vec::new(),
            kept: VecDeque::new(),
            kept_bytes: 0,
            next_retry: Instant::now(),
            down: false,
            settled: [0; 2],
        }
    }

    fn batcher(&mut self, kind: PayloadKind) -> &mut Batcher {
        match kind {
            PayloadKind::Spans => &mut self.spans,
            PayloadKind::Evaluations => &mut self.evaluations,
        }
    }
}

/// What is offered to a destination.
#[derive(Clone, Copy)]
enum Offer<'a> {
    Spans(&'a [SpanEvent]),
    Evaluation(&'a EvaluationMetric),
}

/// The result of sending one payload, retries included.
enum Delivery {
    Delivered,
    /// Delivered, with this many refused by the receiver.
    PartlyRejected(u64),
    Rejected,
    Failed,
    Panicked,
}

struct Worker {
    shared: Arc<Shared>,
    policy: Policy,
    processors: Vec<Processor>,
    redaction: Option<Arc<Redaction>>,
    outlets: Vec<Outlet>,
    /// Spans and evaluations every destination is done with, per kind.
    settled_everywhere: [u64; 2],
    agent_watch: Option<AgentWatch>,
    last_warning: HashMap<String, Instant>,
}

/// The pipeline's thread: runs until shutdown.
pub(crate) fn run(shared: Arc<Shared>, config: Config, rx: Receivers) {
    let (mode, watch) = resolve_mode(&config);
    shared.set_mode(mode);
    log::debug!("llmobs: exporter mode {}", mode.as_str());
    let policy = Policy {
        payload_size_bytes: config.payload_size_bytes,
        retry_buffer_bytes: config.retry_buffer_bytes,
        max_attempts: config.max_attempts,
        retry_window: config.retry_window,
        initial_backoff: config.initial_backoff,
        retry_after_cap: config.retry_after_cap,
        interval: config.interval,
    };
    let mut outlets = vec![Outlet::new(built_in(&config, mode), &policy)];
    outlets.extend(
        beside(&config, mode)
            .into_iter()
            .chain(config.destinations.iter().map(|d| d()))
            .map(|d| Outlet::new(d, &policy)),
    );
    let agent_watch = watch.then(|| AgentWatch {
        url: config.agent_url.clone(),
        timeout: config.request_timeout.min(Duration::from_secs(2)),
        every: config.agent_probe_interval,
        next: Instant::now() + config.agent_probe_interval,
        agent: built_in(&config, Mode::Agent),
    });
    let mut w = Worker {
        shared,
        policy,
        processors: config.processors.clone(),
        redaction: config.redaction.clone(),
        outlets,
        settled_everywhere: [0; 2],
        agent_watch,
        last_warning: HashMap::new(),
    };
    let mut next_tick = after(config.interval);
    loop {
        let mut stop = false;
        let mut forced = false;
        crossbeam_channel::select! {
            recv(rx.wake) -> _ => {}
            recv(rx.control) -> msg => match msg {
                Ok(Control::Flush) => forced = true,
                Ok(Control::Shutdown) | Err(_) => stop = true,
            },
            default(next_tick.saturating_duration_since(Instant::now())) => {}
        }
        if Instant::now() >= next_tick {
            forced = true;
            next_tick = after(config.interval);
        }
        if !stop {
            w.watch_for_agent();
        }
        let ticked = catch_unwind(AssertUnwindSafe(|| w.tick(&rx.items, forced || stop)));
        if ticked.is_err() {
            log::error!("llmobs: exporter tick failed unexpectedly; continuing");
        }
        if stop {
            w.drop_kept();
            break;
        }
    }
}

impl Worker {
    /// In local mode chosen because no Agent answered, looks for one when due; from its first
    /// answer on, everything goes to it.
    fn watch_for_agent(&mut self) {
        let Some(watch) = &mut self.agent_watch else {
            return;
        };
        let now = Instant::now();
        if now < watch.next {
            return;
        }
        if !probe_agent(&watch.url, watch.timeout) {
            watch.next = now + watch.every;
            return;
        }
        if let Some(watch) = self.agent_watch.take() {
            // Said where local mode said it started: on stderr.
            eprintln!(
                "llmobs: a Datadog Agent answered at {}; local mode ends, spans go to the Agent from now on",
                watch.url
            );
            let agent = Outlet::new(watch.agent, &self.policy);
            let mut local = std::mem::replace(&mut self.outlets[0], agent);
            let _ = catch_unwind(AssertUnwindSafe(|| local.dest.end_tick()));
            // Both encode the intake's payloads: what local mode kept goes to the Agent.
            let o = &mut self.outlets[0];
            o.settled = local.settled;
            o.kept = local.kept;
            o.kept_bytes = local.kept_bytes;
            self.shared.set_mode(Mode::Agent);
        }
    }

    /// Logs `msg` at most once a minute per `key`.
    fn warn(&mut self, key: String, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        let due = self
            .last_warning
            .get(&key)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
        if due {
            self.last_warning.insert(key, now);
            log::warn!("llmobs: {}", msg());
        }
    }

    fn tick(&mut self, items: &Receiver<Item>, retry_now: bool) {
        let now = Instant::now();
        for at in 0..self.outlets.len() {
            let o = &mut self.outlets[at];
            o.down = false;
            if !o.kept.is_empty() && (retry_now || now >= o.next_retry) {
                self.retry_kept(at);
            }
        }
        // Bounded by what is queued now, so a producer faster than us cannot keep the tick
        // from ever sending.
        let n = items.len();
        for item in items.try_iter().take(n) {
            match item {
                Item::Spans(batch, bytes) => {
                    self.shared.taken(batch.len(), bytes);
                    // Dropping the batch sends its emptied slot arena home (in a group with
                    // others: see `send_home` below).
                    self.take_spans(batch.into_events());
                }
                Item::Eval(metric, bytes) => {
                    self.shared.taken(1, bytes);
                    for at in 0..self.outlets.len() {
                        self.offer(at, Offer::Evaluation(&metric));
                    }
                }
            }
        }
        // The arenas of this tick's batches go back to their threads before anything waits on
        // the network.
        llmobs_core::__private::send_home();
        for at in 0..self.outlets.len() {
            for kind in [PayloadKind::Spans, PayloadKind::Evaluations] {
                if let Some(p) = self.outlets[at].batcher(kind).finish() {
                    self.dispatch(at, p);
                }
            }
            let dest = &mut self.outlets[at].dest;
            if catch_unwind(AssertUnwindSafe(|| dest.end_tick())).is_err() {
                self.panicked(at);
            }
        }
    }

    /// Runs processors and redaction on one trace's records and offers what is left to every
    /// destination.
    fn take_spans(&mut self, mut spans: Vec<SpanEvent>) {
        // The reference sends a trace's spans in start order (root first), whatever order they
        // finished in.
        spans.sort_by_key(|s| s.start_ns);
        let kept =
            if self.processors.is_empty() && self.redaction.as_ref().is_none_or(|r| r.is_empty()) {
                // Nothing can rewrite or drop a span: skip the pass and its second vector.
                spans
            } else {
                self.apply_processors(spans)
            };
        if !kept.is_empty() {
            for at in 0..self.outlets.len() {
                self.offer(at, Offer::Spans(&kept));
            }
        }
    }

    /// Runs the processors, then redaction, on each span; the spans left to send.
    fn apply_processors(&mut self, spans: Vec<SpanEvent>) -> Vec<SpanEvent> {
        let mut kept = Vec::with_capacity(spans.len());
        let mut dropped = 0u64;
        'spans: for mut span in spans {
            for p in &self.processors {
                match catch_unwind(AssertUnwindSafe(|| p(&mut span))) {
                    Ok(Keep::Yes) => {}
                    Ok(Keep::No) => {
                        dropped += 1;
                        continue 'spans;
                    }
                    Err(_) => {
                        // A processor that panicked may have redacted only part of the span.
                        log::error!("llmobs: a span processor panicked; the span was dropped");
                        dropped += 1;
                        continue 'spans;
                    }
                }
            }
            // After the processors, so whatever they added is covered too and spans they drop
            // cost no scan; before any destination, so nothing the SDK prints, writes or sends
            // holds the original text.
            if let Some(r) = &self.redaction {
                match catch_unwind(AssertUnwindSafe(|| r.redact_span(&mut span))) {
                    Ok(0) => {}
                    Ok(n) => {
                        span.annotations_mut()
                            .metrics
                            .insert(REDACTED_VALUES_METRIC.into(), (n as u64).into());
                    }
                    Err(_) => {
                        // Half-redacted is not redacted: never send it.
                        log::error!("llmobs: redaction failed on a span; the span was dropped");
                        dropped += 1;
                        continue 'spans;
                    }
                }
            }
            kept.push(span);
        }
        if dropped > 0 {
            for o in &mut self.outlets {
                o.settled[0] += dropped;
            }
            self.settled_everywhere[0] += dropped;
            self.shared.worker_settled(
                PayloadKind::Spans,
                Some(DropReason::ProcessorDropped),
                dropped,
                dropped,
            );
        }
        kept
    }

    /// Records that destination `at` is done with `n` spans or evaluations: delivered
    /// (`outcome` is `None`) or dropped.
    fn settled(&mut self, at: usize, kind: PayloadKind, outcome: Option<DropReason>, n: u64) {
        let k = kind.index();
        self.outlets[at].settled[k] += n;
        let everywhere = self.outlets.iter().map(|o| o.settled[k]).min().unwrap_or(0);
        let newly = everywhere.saturating_sub(self.settled_everywhere[k]);
        self.settled_everywhere[k] = everywhere;
        let counted = if at == 0 { n } else { 0 };
        if counted > 0 || newly > 0 {
            self.shared.worker_settled(kind, outcome, counted, newly);
        }
    }

    /// Offers spans or an evaluation to destination `at`, and sends the payloads that filled.
    fn offer(&mut self, at: usize, offer: Offer<'_>) {
        let (kind, n) = match offer {
            Offer::Spans(s) => (PayloadKind::Spans, s.len() as u64),
            Offer::Evaluation(_) => (PayloadKind::Evaluations, 1),
        };
        let o = &mut self.outlets[at];
        let mut out = Payloads {
            spans: &mut o.spans,
            evaluations: &mut o.evaluations,
            ready: &mut o.ready,
            added: [0; 2],
            truncated: 0,
        };
        let dest = &mut o.dest;
        let taken = catch_unwind(AssertUnwindSafe(|| match offer {
            Offer::Spans(spans) => dest.take_spans(spans, &mut out),
            Offer::Evaluation(metric) => dest.take_evaluation(metric, &mut out),
        }));
        let (added, truncated) = (out.added[kind.index()], out.truncated);
        if at == 0 && truncated > 0 {
            let c = &self.shared.counters.spans_truncated;
            c.fetch_add(truncated, Relaxed);
        }
        // What the destination took without making it into a payload item is done with.
        let mut direct = (None, n.saturating_sub(added));
        if taken.is_err() {
            // The body being built may hold part of an item: it is dropped with the rest.
            let lost = self.outlets[at].batcher(kind).discard();
            direct = (Some(DropReason::SinkPanicked), direct.1 + lost);
            self.panicked(at);
        }
        if direct.1 > 0 {
            self.settled(at, kind, direct.0, direct.1);
        }
        let mut ready = std::mem::take(&mut self.outlets[at].ready);
        for p in ready.drain(..) {
            self.dispatch(at, p);
        }
        self.outlets[at].ready = ready;
    }

    #[cold]
    fn panicked(&mut self, at: usize) {
        let name = self.outlets[at].name.clone();
        self.warn(format!("panicked {at}"), || {
            format!("{name} panicked; what it held was dropped and counted (sink_panicked)")
        });
    }

    fn dispatch(&mut self, at: usize, payload: Payload) {
        if self.outlets[at].down {
            self.keep(at, payload);
            return;
        }
        let outcome = match self.deliver(at, &payload) {
            Delivery::Delivered => None,
            Delivery::PartlyRejected(n) => {
                let n = n.min(payload.units);
                self.settled(at, payload.kind, Some(DropReason::PayloadRejected), n);
                if payload.units > n {
                    self.settled(at, payload.kind, None, payload.units - n);
                }
                self.outlets[at].batcher(payload.kind).recycle(payload.body);
                return;
            }
            Delivery::Rejected => Some(DropReason::PayloadRejected),
            Delivery::Panicked => {
                self.panicked(at);
                Some(DropReason::SinkPanicked)
            }
            Delivery::Failed => {
                self.outlets[at].down = true;
                self.keep(at, payload);
                return;
            }
        };
        self.settled(at, payload.kind, outcome, payload.units);
        // The body's memory serves the next body.
        self.outlets[at].batcher(payload.kind).recycle(payload.body);
    }

    /// Keeps a failed payload for a later tick while the retry window and buffer allow.
    fn keep(&mut self, at: usize, mut payload: Payload) {
        let now = Instant::now();
        let first = *payload.first_failure.get_or_insert(now);
        self.outlets[at].next_retry = now + self.policy.interval;
        let (kind, units) = (payload.kind, payload.units);
        let name = self.outlets[at].name.clone();
        let reason = if self.shared.stopping.load(SeqCst) {
            DropReason::Shutdown
        } else if now.duration_since(first) >= self.policy.retry_window {
            self.warn(format!("exhausted {at}"), || {
                format!("dropping {units} LLMObs events for {name} after retrying for the whole retry window")
            });
            DropReason::RetriesExhausted
        } else if self.outlets[at].kept_bytes + payload.body.len() > self.policy.retry_buffer_bytes
        {
            self.warn(format!("buffer {at}"), || {
                format!("retry buffer full, dropping LLMObs events for {name}")
            });
            DropReason::BufferFull
        } else {
            let o = &mut self.outlets[at];
            o.kept_bytes += payload.body.len();
            o.kept.push_back(payload);
            return;
        };
        self.settled(at, kind, Some(reason), units);
    }

    fn retry_kept(&mut self, at: usize) {
        let o = &mut self.outlets[at];
        let pending: Vec<Payload> = o.kept.drain(..).collect();
        o.kept_bytes = 0;
        for payload in pending {
            self.dispatch(at, payload);
        }
    }

    fn drop_kept(&mut self) {
        for at in 0..self.outlets.len() {
            let o = &mut self.outlets[at];
            o.kept_bytes = 0;
            let kept: Vec<Payload> = o.kept.drain(..).collect();
            for p in kept {
                self.settled(at, p.kind, Some(DropReason::Shutdown), p.units);
            }
        }
    }

    /// Sends one payload to destination `at`, with the attempts and backoff of the policy.
    fn deliver(&mut self, at: usize, payload: &Payload) -> Delivery {
        let counters = &self.shared.counters;
        let mut last_error = String::new();
        let max_attempts = self.policy.max_attempts;
        for attempt in 0..max_attempts {
            if at == 0 {
                counters.requests.fetch_add(1, Relaxed);
                if attempt > 0 {
                    counters.retries.fetch_add(1, Relaxed);
                }
            }
            let dest = &mut self.outlets[at].dest;
            let Ok(sent) = catch_unwind(AssertUnwindSafe(|| dest.send(payload))) else {
                return Delivery::Panicked;
            };
            let wait = match sent {
                Sent::Delivered => {
                    self.count_bytes(at, payload);
                    return Delivery::Delivered;
                }
                Sent::PartlyRejected { rejected, reason } => {
                    self.count_bytes(at, payload);
                    let (what, name) = (payload.kind.as_str(), &self.outlets[at].name);
                    let msg = format!("{name} refused {rejected} LLMObs {what} events: {reason}");
                    self.warn(format!("partly rejected {at}"), || msg);
                    return Delivery::PartlyRejected(rejected);
                }
                Sent::Rejected(reason) => {
                    let (units, what, name) =
                        (payload.units, payload.kind.as_str(), &self.outlets[at].name);
                    let msg =
                        format!("failed to send {units} LLMObs {what} events to {name}, {reason}");
                    self.warn(format!("rejected {at}"), || msg);
                    return Delivery::Rejected;
                }
                Sent::Failed {
                    reason,
                    retry_after,
                } => {
                    last_error = reason;
                    retry_after
                        .map(|d| d.min(self.policy.retry_after_cap))
                        .unwrap_or_else(|| backoff(self.policy.initial_backoff, attempt))
                }
            };
            if attempt + 1 < max_attempts && !self.sleep(wait) {
                break;
            }
        }
        let (units, what, name) = (payload.units, payload.kind.as_str(), &self.outlets[at].name);
        let msg = format!(
            "failed to send {units} LLMObs {what} events to {name}: {last_error}; will retry"
        );
        self.warn(format!("failed {at}"), || msg);
        Delivery::Failed
    }

    fn count_bytes(&self, at: usize, payload: &Payload) {
        if at == 0 {
            let bytes = payload.body.len() as u64;
            self.shared.counters.bytes_sent.fetch_add(bytes, Relaxed);
        }
    }

    /// Sleeps unless the exporter is stopping; returns whether it slept the whole time.
    fn sleep(&self, d: Duration) -> bool {
        let end = after(d);
        loop {
            if self.shared.stopping.load(SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}
