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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
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

    /// What `GET /info` returns (404 when `None`).
    pub fn set_info(&self, body: Option<&str>) {
        *lock(&self.state.info) = body.map(str::to_owned);
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
            let info = lock(&state.info).clone();
            req.status = Some(if info.is_some() { 200 } else { 404 });
            lock(&state.requests).push(req);
            match info {
                Some(body) => respond(&mut stream, 200, &[], &body),
                None => respond(&mut stream, 404, &[], "not found"),
            }
            continue;
        }
        let reply = lock(&state.script)
            .pop_front()
            .unwrap_or(Reply::Status(200));
        req.status = match reply {
            Reply::Status(c) | Reply::RetryAfter(c, _) => Some(c),
            Reply::Stall(_) | Reply::Reset => None,
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
            Reply::Reset => return,
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
