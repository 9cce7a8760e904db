//! A stand-in for the Datadog Agent and intake on 127.0.0.1, for the tests and the benches.
//!
//! [`Intake::start`] records every request and answers as scripted (tests);
//! [`Intake::discarding`] only counts what it receives and answers at once, optionally after a
//! delay that makes it a slow intake (benches, which must not spend CPU or memory on what the
//! exporter under measurement sends). Everything it starts stops when it is dropped, and no
//! connection outlives a bounded lifetime, so a test or bench that forgets to stop cannot hang.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How the intake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an empty JSON body.
    Status(u16),
    /// This status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// This status with this body (e.g. an OTLP response message).
    Body(u16, Vec<u8>),
    /// Say nothing for this long, then close the connection.
    Stall(Duration),
    /// Close the connection without answering.
    Reset,
    /// Close the connection once the headers arrived, before reading the body, so the client
    /// is cut off while it is still uploading.
    ResetMidBody,
}

/// One request as the intake received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: String,
    /// The request target, e.g. `/evp_proxy/v2/api/v2/llmobs`.
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status answered, `None` when the connection was stalled or reset.
    pub status: Option<u16>,
    /// When the request (or, for `ResetMidBody`, its headers) arrived.
    pub at: Instant,
}

impl Request {
    /// The value of a header (`name` lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body, parsed.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Default)]
struct State {
    /// Whether requests are kept (else only counted).
    keep: bool,
    /// How long every `POST` waits before its answer.
    delay: Duration,
    posts: AtomicU64,
    body_bytes: AtomicU64,
    /// Counts the spans of one request body (`Intake::counting`).
    count: Option<fn(&str, &[u8]) -> u64>,
    spans: AtomicU64,
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
    connections: AtomicUsize,
}

/// The running intake.
pub struct Intake {
    /// `http://127.0.0.1:PORT`, or `unix:///path/to.socket`.
    url: String,
    /// The socket file of an intake on a Unix socket, removed when the intake stops.
    socket: Option<PathBuf>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// The longest any connection thread lives, so a test or bench that forgets to stop cannot
/// hang.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(900);

impl Intake {
    /// An intake that records every request and answers as scripted (200 by default, 404 to
    /// `GET /info` until [`set_info`](Self::set_info)).
    pub fn start() -> Intake {
        Intake::start_on("127.0.0.1:0")
    }

    /// [`start`](Self::start) on a given loopback address (`127.0.0.1:PORT`), e.g. one that an
    /// exporter was configured with before anything listened there.
    pub fn start_on(addr: &str) -> Intake {
        Intake::listen(
            addr,
            State {
                keep: true,
                ..State::default()
            },
        )
    }

    /// An intake that keeps nothing: it counts `POST`s and their bytes and answers 202 after
    /// `delay`, and offers the EVP proxy at `GET /info`.
    pub fn discarding(delay: Duration) -> Intake {
        Intake::listen(
            "127.0.0.1:0",
            State {
                delay,
                info: Mutex::new(Some(r#"{"endpoints": ["/evp_proxy/v2/"]}"#.to_owned())),
                ..State::default()
            },
        )
    }

    /// An intake that keeps nothing but counts: `POST`s, their bytes, and the spans `count`
    /// finds in each body (by request path); it answers 200 at once and offers the EVP proxy at
    /// `GET /info`.
    pub fn counting(count: fn(&str, &[u8]) -> u64) -> Intake {
        Intake::listen(
            "127.0.0.1:0",
            State {
                count: Some(count),
                info: Mutex::new(Some(r#"{"endpoints": ["/evp_proxy/v2/"]}"#.to_owned())),
                ..State::default()
            },
        )
    }

    /// Spans counted by an [`Intake::counting`] intake.
    pub fn spans_counted(&self) -> u64 {
        self.state.spans.load(Ordering::Relaxed)
    }

    /// [`start`](Self::start) on a Unix domain socket at `path` (a file in a temp dir), as an
    /// Agent listening on `/var/run/datadog/apm.socket` is; its [`url`](Self::url) is
    /// `unix://{path}`.
    pub fn start_unix(path: &Path) -> Intake {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind the socket file");
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(State {
            keep: true,
            ..State::default()
        });
        let mut intake =
            Intake::accepting(format!("unix://{}", path.display()), state, move || {
                listener.accept().map(|(s, _)| s)
            });
        intake.socket = Some(path.to_owned());
        intake
    }

    fn listen(addr: &str, state: State) -> Intake {
        let listener = TcpListener::bind(addr).expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        Intake::accepting(format!("http://{addr}"), Arc::new(state), move || {
            listener.accept().map(|(s, _)| s)
        })
    }

    /// Serves each connection `accept` gives on a thread of its own, until stopped.
    fn accepting<C: Conn>(
        url: String,
        state: Arc<State>,
        accept: impl Fn() -> std::io::Result<C> + Send + 'static,
    ) -> Intake {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            let started = Instant::now();
            while !st.load(Ordering::SeqCst) && started.elapsed() < CONNECTION_LIFETIME {
                match accept() {
                    Ok(stream) => {
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
            url,
            socket: None,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// The base URL, to pass as the Agent URL or override origin: `http://127.0.0.1:PORT`, or
    /// `unix://{path}` for [`start_unix`](Self::start_unix).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Turns LLM Observability on with the exporter in agent mode, sending here (default queue
    /// bounds, a 2 s flush timeout), as the benches' agent-mode rows measure it.
    pub fn init_agent_mode(&self) -> llmobs::LlmObsGuard {
        llmobs::Config::default()
            .mode(llmobs::Mode::Agent)
            .agent_url(self.url())
            .ml_app("llmobs-bench")
            .flush_timeout(Duration::from_secs(2))
            .init()
            .expect("start the exporter in agent mode")
    }

    /// `POST` requests answered, and their body bytes (counted in both kinds of intake).
    pub fn received(&self) -> (u64, u64) {
        let s = &self.state;
        (
            s.posts.load(Ordering::Relaxed),
            s.body_bytes.load(Ordering::Relaxed),
        )
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
    pub fn delay_info(&self, d: Duration) {
        *lock(&self.state.info_delay) = Some(d);
    }

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Every request recorded so far.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    /// Every `POST` recorded so far.
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
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connection the intake serves: TCP, or a Unix domain socket.
trait Conn: Read + Write + Send + 'static {
    /// Blocking, with short reads, so the stop flag is seen while a connection idles in the
    /// client's pool.
    fn prepare(&self);
}

impl Conn for TcpStream {
    fn prepare(&self) {
        let _ = self.set_nonblocking(false);
        let _ = self.set_nodelay(true);
        let _ = self.set_read_timeout(Some(Duration::from_millis(50)));
    }
}

impl Conn for UnixStream {
    fn prepare(&self) {
        let _ = self.set_nonblocking(false);
        let _ = self.set_read_timeout(Some(Duration::from_millis(50)));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn serve<C: Conn>(mut stream: C, state: Arc<State>, stop: Arc<AtomicBool>) {
    stream.prepare();
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        // Read until a full request is buffered.
        let request = loop {
            if let Some(req) = parse(&mut buf, state.keep || state.count.is_some()) {
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
        let Some((mut req, body_len)) = request else {
            return;
        };
        if req.method == "POST" {
            state.posts.fetch_add(1, Ordering::Relaxed);
            state
                .body_bytes
                .fetch_add(body_len as u64, Ordering::Relaxed);
            if !state.delay.is_zero() {
                std::thread::sleep(state.delay);
            }
            if let Some(count) = state.count {
                let n = count(&req.path, &req.body);
                state.spans.fetch_add(n, Ordering::Relaxed);
                respond(&mut stream, 200, &[], b"{}");
                continue;
            }
            if !state.keep {
                respond(&mut stream, 202, &[], b"{}");
                continue;
            }
        }
        if req.method == "GET" && req.path == "/info" {
            let delay = *lock(&state.info_delay);
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            let info = lock(&state.info).clone();
            req.status = Some(if info.is_some() { 200 } else { 404 });
            if state.keep {
                lock(&state.requests).push(req);
            }
            match info {
                Some(body) => respond(&mut stream, 200, &[], body.as_bytes()),
                None => respond(&mut stream, 404, &[], b"not found"),
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
            Reply::Status(c) | Reply::RetryAfter(c, _) | Reply::Body(c, _) => Some(c),
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
                respond(&mut stream, code, &[], body.as_bytes());
            }
            Reply::Body(code, body) => respond(&mut stream, code, &[], &body),
            Reply::RetryAfter(code, after) => {
                respond(&mut stream, code, &[("Retry-After", after)], b"slow down")
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

fn respond(stream: &mut impl Write, code: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn headers_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Takes one complete request off the front of `buf`, if there is one, with its body length;
/// the body itself only when it is to be kept.
fn parse(buf: &mut Vec<u8>, keep: bool) -> Option<(Request, usize)> {
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
    let body = if keep {
        buf[end + 4..end + 4 + len].to_vec()
    } else {
        Vec::new()
    };
    buf.drain(..end + 4 + len);
    let req = Request {
        method,
        path,
        headers,
        body,
        status: None,
        at: Instant::now(),
    };
    Some((req, len))
}
