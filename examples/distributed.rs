//! Distributed tracing over HTTP on loopback: a client injects the propagation headers, a server
//! activates them, and both sides' spans form one trace.
//!
//! ```text
//! cargo run --example distributed
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// The server side: reads one request, activates its headers, handles it in a span.
fn serve_one(listener: TcpListener) -> std::io::Result<()> {
    let (stream, _) = listener.accept()?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line)?; // request line
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    // Never an error: headers with no usable trace context (an uninstrumented caller) start a
    // new trace, and `remote.error()` says why they were not used.
    let remote = llmobs::activate_distributed_headers(&headers).ok();
    let answer = handle_remote();
    drop(remote);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    Ok(())
}

#[llmobs::workflow(name = "inventory_service")]
fn handle_remote() -> String {
    lookup_stock("SOFA-OSLO-3").to_string()
}

#[llmobs::tool]
fn lookup_stock(sku: &str) -> u32 {
    sku.len() as u32
}

#[llmobs::agent(session_id = "sess-dist")]
fn client(port: u16) -> Result<String, Box<dyn std::error::Error>> {
    let mut headers = HashMap::new();
    // Observability never fails the request: a refusal is logged. (Off, this writes nothing.)
    if let Err(e) = llmobs::inject_distributed_headers(&mut headers) {
        eprintln!("llmobs: {e}");
    }
    let mut req = ureq::get(&format!("http://127.0.0.1:{port}/stock"));
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    Ok(req.call()?.body_mut().read_to_string()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("distributed-demo")
        .init()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = std::thread::spawn(move || serve_one(listener));
    let stock = client(port)?;
    server.join().map_err(|_| "server thread panicked")??;
    println!(
        "remote inventory service says: {stock} in stock (one trace across client and server)"
    );
    Ok(())
}
