//! A stand-in for the Datadog Agent on 127.0.0.1: answers `GET /info` with the EVP proxy
//! endpoint and every `POST` with 202, optionally after a delay that makes it a slow intake.
//! It only counts requests and bytes: parsing the JSON would take CPU from the exporter being
//! measured on a 2-core machine. Everything stops when it is dropped, and every connection
//! thread has a bounded lifetime.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the intake received.
#[derive(Debug, Default)]
pub struct Received {
    /// `POST` requests answered.
    pub posts: AtomicU64,
    /// Body bytes of those requests.
    pub body_bytes: AtomicU64,
}

/// The running intake.
pub struct Intake {
    addr: SocketAddr,
    received: Arc<Received>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// No connection outlives this, so a bench that forgets to stop cannot hang.
const MAX_LIFETIME: Duration = Duration::from_secs(900);

impl Intake {
    /// Starts an intake that answers at once.
    pub fn start() -> Intake {
        Intake::with_delay(Duration::ZERO)
    }

    /// Starts an intake that waits `delay` before answering each `POST`.
    pub fn with_delay(delay: Duration) -> Intake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let addr = listener.local_addr().expect("listener address");
        let received = Arc::new(Received::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st) = (received.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            let started = Instant::now();
            while !st.load(Ordering::Relaxed) && started.elapsed() < MAX_LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, st) = (r.clone(), st.clone());
                        std::thread::spawn(move || serve(stream, &r, &st, delay, started));
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
            received,
            stop,
            accept: Some(accept),
        }
    }

    /// The base URL, to pass as the Agent URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

    /// What was received so far.
    pub fn received(&self) -> &Received {
        &self.received
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    received: &Received,
    stop: &AtomicBool,
    delay: Duration,
    started: Instant,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    // Short reads so the stop flag is seen while a connection idles in the client's pool.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let request = loop {
            if let Some(req) = take_request(&mut buf) {
                break Some(req);
            }
            if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_LIFETIME {
                break None;
            }
            match stream.read(&mut chunk) {
                Ok(0) => break None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break None,
            }
        };
        let Some((is_info, body_len)) = request else {
            return;
        };
        if is_info {
            respond(&mut stream, 200, r#"{"endpoints": ["/evp_proxy/v2/"]}"#);
            continue;
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        received.posts.fetch_add(1, Ordering::Relaxed);
        received
            .body_bytes
            .fetch_add(body_len as u64, Ordering::Relaxed);
        respond(&mut stream, 202, "{}");
    }
}

fn respond(stream: &mut TcpStream, code: u16, body: &str) {
    let head = format!(
        "HTTP/1.1 {code} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// Takes one complete request off the front of `buf`: whether it is `GET /info`, and its body
/// length.
fn take_request(buf: &mut Vec<u8>) -> Option<(bool, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let is_info = head.starts_with("GET /info");
    let body_len: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    if buf.len() < end + 4 + body_len {
        return None;
    }
    buf.drain(..end + 4 + body_len);
    Some((is_info, body_len))
}
