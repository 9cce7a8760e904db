//! A stand-in for an OpenAI-compatible API on a loopback port: chat completions (plain, with a
//! tool call round, streamed), embeddings, and an error reply. It answers from rules, not a
//! model, so runs are offline and repeatable:
//!
//! - a chat request offering tools, with no tool result yet, whose last user message names a
//!   catalogue SKU (an upper-case word with a dash, such as `SOFA-OSLO-3`), gets a call of the
//!   first tool with the arguments `{"sku": "<that SKU>"}`;
//! - a chat request with a tool result gets an answer that quotes it;
//! - any other chat request gets an answer that quotes the last user message;
//! - a last user message containing `[fail]` gets `500 Internal Server Error`;
//! - `"stream": true` gets the same answer as server-sent events, split in chunks, with usage
//!   in a last chunk when `stream_options.include_usage` asks for it.
//!
//! Token counts are words: input tokens are the words of the messages' text, output tokens the
//! answer's (at least 1 each).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// The model name the stand-in reports for chat answers.
pub const CHAT_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The model name it reports for embeddings.
pub const EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// A running stand-in; stops when dropped.
pub struct StandIn {
    url: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl StandIn {
    /// Starts the stand-in on `127.0.0.1` and a free port.
    pub fn start() -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/v1/", listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (stop.clone(), requests.clone());
        std::thread::Builder::new()
            .name("llm-stand-in".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let r = r.clone();
                            std::thread::spawn(move || {
                                let _ = serve(stream, &r);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })?;
        Ok(StandIn {
            url,
            stop,
            requests,
        })
    }

    /// The base URL, ending in `/v1/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The requests answered so far: path and JSON body.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn words(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(a) => a.iter().map(words).sum(),
        Value::Object(o) => o.values().map(words).sum(),
        _ => 0,
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<(String, Value)>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut l) = log.lock() {
        l.push((path.clone(), body.clone()));
    }
    let mut out = stream;
    if path.ends_with("/embeddings") {
        return respond(&mut out, 200, &embeddings(&body));
    }
    if !path.ends_with("/chat/completions") {
        return respond(&mut out, 404, &json!({"error": {"message": "not found"}}));
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    if last_user.contains("[fail]") {
        let err =
            json!({"error": {"message": "the stand-in was asked to fail", "type": "server_error"}});
        return respond(&mut out, 500, &err);
    }
    let tool_result = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .map(|m| text_of(&m["content"]));
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    // A catalogue SKU named in the question: upper-case words with a dash, e.g. SOFA-OSLO-3.
    let sku = last_user
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| {
            w.len() > 4
                && w.contains('-')
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        })
        .map(str::to_owned);
    let (content, calls) = match (&tool_result, tools.first(), sku) {
        (None, Some(tool), Some(sku)) => {
            let name = tool["function"]["name"]
                .as_str()
                .or_else(|| tool["name"].as_str())
                .unwrap_or("tool")
                .to_owned();
            (String::new(), vec![(name, json!({ "sku": sku }))])
        }
        (Some(result), _, _) => (format!("According to the tool: {result}."), Vec::new()),
        _ => (format!("You asked: {last_user}"), Vec::new()),
    };
    let input_tokens = messages
        .iter()
        .map(|m| words(&Value::String(text_of(&m["content"]))))
        .sum::<u64>()
        .max(1);
    let output_tokens = (content.split_whitespace().count() as u64).max(1);
    let usage = json!({
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    });
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{}", i + 1), "type": "function",
                   "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    if body["stream"] == true {
        let include_usage = body["stream_options"]["include_usage"] == true;
        return stream_reply(
            &mut out,
            &content,
            &tool_calls,
            finish,
            include_usage.then_some(usage),
        );
    }
    let mut message = json!({"role": "assistant", "content": if content.is_empty() { Value::Null } else { Value::String(content) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    respond(
        &mut out,
        200,
        &json!({
            "id": "chatcmpl-stand-in", "object": "chat.completion", "created": 0, "model": CHAT_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }),
    )
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn embeddings(body: &Value) -> Value {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(text_of).collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            // A small deterministic vector from the text's bytes.
            let mut v = [0f64; 8];
            for (j, b) in text.bytes().enumerate() {
                v[j % 8] += f64::from(b) / 1000.0;
            }
            json!({"object": "embedding", "index": i, "embedding": v.to_vec()})
        })
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|t| t.split_whitespace().count() as u64)
        .sum();
    json!({"object": "list", "data": data, "model": EMBEDDING_MODEL,
           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
}

fn respond(out: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

fn stream_reply(
    out: &mut TcpStream,
    content: &str,
    tool_calls: &[Value],
    finish: &str,
    usage: Option<Value>,
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-stand-in", "object": "chat.completion.chunk", "created": 0,
               "model": CHAT_MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let words: Vec<&str> = content.split_inclusive(' ').collect();
    for piece in words.chunks(3) {
        events.push(chunk(json!({"content": piece.concat()}), Value::Null));
    }
    for (i, call) in tool_calls.iter().enumerate() {
        let mut c = call.clone();
        c["index"] = json!(i);
        events.push(chunk(json!({"tool_calls": [c]}), Value::Null));
    }
    events.push(chunk(json!({}), Value::String(finish.into())));
    if let Some(usage) = usage {
        events.push(
            json!({"id": "chatcmpl-stand-in", "object": "chat.completion.chunk", "created": 0,
                           "model": CHAT_MODEL, "choices": [], "usage": usage}),
        );
    }
    for e in events {
        write!(out, "data: {e}\n\n")?;
        out.flush()?;
    }
    write!(out, "data: [DONE]\n\n")?;
    out.flush()
}
