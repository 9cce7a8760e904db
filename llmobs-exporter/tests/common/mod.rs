//! A stand-in for the Datadog Agent and intake on 127.0.0.1: records every request and answers
//! as scripted. Everything it starts stops when it is dropped, and no wait is unbounded.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmobs_core::{SpanEvent, SpanId, SpanKind, TraceId};
use serde_json::Value;

/// How the intake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an empty JSON body.
    Status(u16),
    /// This status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// Say nothing for this long, then close the connection.
    Stall(Duration),
    /// Close the connection without answering.
    Reset,
    /// Close the connection once the headers arrived, before reading the body, so the client
    /// is cut off while it is still uploading.
    ResetMidBody,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status answered, `None` when the connection was stalled or reset.
    pub status: Option<u16>,
    /// When the request (or, for `ResetMidBody`, its headers) arrived.
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Request>>,
    script: Mutex<VecDeque<Reply>>,
    info: Mutex<Option<String>>,
    /// How long `GET /info` waits before answering.
    info_delay: Mutex<Option<Duration>>,
    /// Until then, every request without a scripted reply is answered 500 and 503 in turn.
    outage_until: Mutex<Option<Instant>>,
    /// Every request without a scripted reply stalls this long.
    stall_all: Mutex<Option<Duration>>,
    /// Connections accepted.
    connections: std::sync::atomic::AtomicUsize,
}

pub struct Intake {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// The longest any connection thread lives, so a test that forgets to stop cannot hang.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

impl Intake {
    pub fn start() -> Intake {
        Intake::start_on("127.0.0.1:0")
    }

    /// An intake on a given loopback address (`127.0.0.1:PORT`), e.g. one that an exporter was
    /// configured with before anything listened there.
    pub fn start_on(addr: &str) -> Intake {
        let listener = TcpListener::bind(addr).expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            let started = Instant::now();
            while !st.load(Ordering::SeqCst) && started.elapsed() < CONNECTION_LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        s.connections.fetch_add(1, Ordering::SeqCst);
                        let (s, st) = (s.clone(), st.clone());
                        std::thread::spawn(move || serve(stream, s, st));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Intake {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next requests (other than `GET /info`) in this order, then 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state.script).extend(replies);
    }

    /// Answers 500 and 503 in turn to every unscripted request for `d` from now.
    pub fn outage_for(&self, d: Duration) {
        *lock(&self.state.outage_until) = Some(Instant::now() + d);
    }

    /// Stalls every unscripted request for `d` (or answers normally again with `None`).
    pub fn stall_all(&self, d: Option<Duration>) {
        *lock(&self.state.stall_all) = d;
    }

    /// What `GET /info` returns (404 when `None`).
    pub fn set_info(&self, body: Option<&str>) {
        *lock(&self.state.info) = body.map(str::to_owned);
    }

    /// Makes `GET /info` answer only after `d`, so the exporter's probe is still running.
    #[allow(dead_code)] // not every test binary uses it
    pub fn delay_info(&self, d: Duration) {
        *lock(&self.state.info_delay) = Some(d);
    }

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    pub fn posts(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// Every span event accepted (answered with 2xx), in order.
    pub fn span_events(&self) -> Vec<Value> {
        self.posts()
            .iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .filter(|r| r.path.ends_with("/api/v2/llmobs"))
            .flat_map(|r| {
                r.json()
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|w| w["spans"][0].clone())
            })
            .collect()
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn serve(mut stream: TcpStream, state: Arc<State>, stop: Arc<AtomicBool>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Read until a full request is buffered.
        let request = loop {
            if let Some(req) = parse(&mut buf) {
                break Some(req);
            }
            if headers_complete(&buf)
                && matches!(lock(&state.script).front(), Some(Reply::ResetMidBody))
            {
                lock(&state.script).pop_front();
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let mut first = head.split(' ');
                lock(&state.requests).push(Request {
                    method: first.next().unwrap_or_default().to_owned(),
                    path: first.next().unwrap_or_default().to_owned(),
                    headers: Vec::new(),
                    body: Vec::new(),
                    status: None,
                    at: Instant::now(),
                });
                // Dropping a socket with unread data makes the kernel answer with a reset.
                return;
            }
            if stop.load(Ordering::SeqCst) || started.elapsed() > CONNECTION_LIFETIME {
                break None;
            }
            match stream.read(&mut chunk) {
                Ok(0) => break None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(_) => break None,
            }
        };
        let Some(mut req) = request else { return };
        if req.method == "GET" && req.path == "/info" {
            let delay = *lock(&state.info_delay);
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            let info = lock(&state.info).clone();
            req.status = Some(if info.is_some() { 200 } else { 404 });
            lock(&state.requests).push(req);
            match info {
                Some(body) => respond(&mut stream, 200, &[], &body),
                None => respond(&mut stream, 404, &[], "not found"),
            }
            continue;
        }
        let scripted = lock(&state.script).pop_front();
        let reply = scripted.unwrap_or_else(|| {
            if let Some(d) = *lock(&state.stall_all) {
                return Reply::Stall(d);
            }
            match *lock(&state.outage_until) {
                Some(until) if Instant::now() < until => {
                    let n = lock(&state.requests).len();
                    Reply::Status(if n % 2 == 0 { 500 } else { 503 })
                }
                _ => Reply::Status(200),
            }
        });
        req.status = match reply {
            Reply::Status(c) | Reply::RetryAfter(c, _) => Some(c),
            Reply::Stall(_) | Reply::Reset | Reply::ResetMidBody => None,
        };
        lock(&state.requests).push(req);
        match reply {
            Reply::Status(code) => {
                let body = if code < 300 {
                    "{}"
                } else {
                    "rejected: test intake says no"
                };
                respond(&mut stream, code, &[], body);
            }
            Reply::RetryAfter(code, after) => {
                respond(&mut stream, code, &[("Retry-After", after)], "slow down")
            }
            Reply::Stall(d) => {
                let until = Instant::now() + d;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return;
            }
            Reply::Reset | Reply::ResetMidBody => return,
        }
    }
}

fn respond(stream: &mut TcpStream, code: u16, headers: &[(&str, &str)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn headers_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Takes one complete request off the front of `buf`, if there is one.
fn parse(buf: &mut Vec<u8>) -> Option<Request> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if buf.len() < end + 4 + len {
        return None;
    }
    let body = buf[end + 4..end + 4 + len].to_vec();
    buf.drain(..end + 4 + len);
    Some(Request {
        method,
        path,
        headers,
        body,
        status: None,
        at: Instant::now(),
    })
}

/// A finished span with fresh ids.
pub fn span(kind: SpanKind, name: &str) -> SpanEvent {
    let mut s = SpanEvent::new(
        kind,
        name.to_owned(),
        TraceId::generate(),
        SpanId::generate(),
    );
    s.start_ns = llmobs_core::now_epoch_ns();
    s.duration_ns = 1_000;
    s
}

/// A path in the temp dir unique to this process and call.
pub fn temp_file(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("llmobs-test-{}-{n}-{name}", std::process::id()))
}

/// A loopback port nothing listens on: connecting to it is refused.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Every log line of any level, from the first call of [`capture_logs`] on.
pub fn captured_logs() -> Vec<String> {
    lock(&LOGS).clone()
}

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        lock(&LOGS).push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

/// Records every log line at every level for this test binary.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = log::set_logger(&Recorder);
        log::set_max_level(log::LevelFilter::Trace);
    });
}
