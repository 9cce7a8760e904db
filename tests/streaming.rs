//! Streamed model calls (`llmobs::llm(..).stream(..)` / `.stream_async(..)`): a real streamed
//! reply read from the loopback OpenAI-compatible stand-in as server-sent events, and the ways a
//! stream ends that lose spans elsewhere: an error in the middle, and a reader that stops early
//! (sync and async, on a multi-thread runtime).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use llmobs::stream::{Chunk, Stream};
use llmobs::{SpanEvent, SpanKind};
use llmobs_clients::StandIn;
use serde_json::{json, Value};

/// The `data:` events of a streamed chat completion from the stand-in, as they arrive.
fn sse_chunks(stand_in: &StandIn, question: &str) -> impl Iterator<Item = Value> {
    let addr = stand_in
        .url()
        .trim_start_matches("http://")
        .trim_end_matches("/v1/")
        .to_owned();
    let body = json!({
        "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": question}],
    })
    .to_string();
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    BufReader::new(conn)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
        .take_while(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap())
}

/// What an OpenAI chunk says: the content delta, and the usage of the last chunk.
fn read_openai(chunk: &Value) -> Chunk<'_> {
    let c = match chunk["choices"][0]["delta"]["content"].as_str() {
        Some(t) => Chunk::text(t),
        None => Chunk::nothing(),
    };
    match (
        chunk["usage"]["prompt_tokens"].as_u64(),
        chunk["usage"]["completion_tokens"].as_u64(),
    ) {
        (Some(i), Some(o)) => c.usage(i, o),
        _ => c,
    }
}

fn the_llm_span(spans: &[SpanEvent]) -> &SpanEvent {
    let llm: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Llm).collect();
    assert_eq!(llm.len(), 1, "{spans:#?}");
    llm[0]
}

fn output_text(s: &SpanEvent) -> &str {
    &s.output()
        .expect("an output")
        .as_messages()
        .expect("messages")[0]
        .content
}

#[test]
fn a_streamed_reply_from_a_loopback_server_is_one_span_finished_at_its_end() {
    let stand_in = StandIn::start().unwrap();
    let (text, spans) = llmobs::testing::capture_with_result(|| {
        let _root = llmobs::workflow("answer").start();
        let reply = llmobs::llm("chat")
            .model_name("gpt-4o-mini")
            .model_provider("openai")
            .stream(
                sse_chunks(&stand_in, "Tell me about the Sol lamp"),
                read_openai,
            );
        // The span is open while the reply streams: annotate its input meanwhile.
        llmobs::annotate()
            .input_messages([llmobs::Message::user("Tell me about the Sol lamp")])
            .apply_to(reply.span().expect("recording"))
            .unwrap();
        reply
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect::<String>()
    });
    assert_eq!(text, "You asked: Tell me about the Sol lamp");
    let s = the_llm_span(&spans);
    let root = spans.iter().find(|s| s.kind == SpanKind::Workflow).unwrap();
    assert_eq!(s.parent_id, Some(root.span_id));
    assert_eq!(s.model_name(), Some("gpt-4o-mini"));
    assert_eq!(output_text(s), text, "the assembled reply");
    assert_eq!(
        s.input().unwrap().as_messages().unwrap()[0].content,
        "Tell me about the Sol lamp"
    );
    assert_eq!(s.metric("input_tokens"), Some(6.0));
    assert_eq!(s.metric("output_tokens"), Some(8.0));
    assert_eq!(s.metric("total_tokens"), Some(14.0));
    let ttft = s
        .metric(llmobs::stream::TIME_TO_FIRST_TOKEN)
        .expect("time to first token");
    assert!(ttft > 0.0 && ttft * 1e9 <= s.duration_ns as f64, "{ttft}");
    assert!(s.error.is_none());
}

#[test]
fn an_error_in_the_middle_keeps_the_reply_so_far_and_marks_the_span() {
    let items: Vec<Result<&str, String>> = vec![
        Ok("Hello"),
        Ok(", wor"),
        Err("connection reset".into()),
        Ok("ld"),
    ];
    let (seen, spans) = llmobs::testing::capture_with_result(|| {
        llmobs::llm("chat")
            .model_name("m")
            .stream(items.into_iter(), |i| match i {
                Ok(t) => Chunk::text(t),
                Err(e) => Chunk::error(e),
            })
            .count()
    });
    assert_eq!(seen, 4, "the caller still gets every item");
    let s = the_llm_span(&spans);
    let e = s.error.as_ref().expect("an error");
    assert_eq!(
        (e.kind.as_str(), e.message.as_str()),
        ("StreamError", "connection reset")
    );
    assert_eq!(
        output_text(s),
        "Hello, world",
        "what arrived, around the error"
    );
}

#[test]
fn a_stream_dropped_before_its_end_is_recorded_as_cancelled_with_its_partial_reply() {
    let spans = llmobs::testing::capture(|| {
        let mut reply = llmobs::llm("chat")
            .model_name("m")
            .stream(["The ", "Oslo ", "sofa ", "is "].into_iter(), |t| {
                Chunk::text(t)
            });
        reply.next();
        reply.next();
        // The reader stops: a timeout, a client that went away.
    });
    let s = the_llm_span(&spans);
    assert_eq!(s.error.as_ref().unwrap().kind, "StreamCancelled");
    assert_eq!(output_text(s), "The Oslo ");
}

/// An async stream of the values sent on a channel.
struct Channel<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> Stream for Channel<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn an_async_stream_on_a_multi_thread_runtime_finishes_at_its_end_or_when_dropped() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spans = llmobs::testing::capture(|| {
        let _root = llmobs::workflow("answer").start();
        for (name, take) in [("whole", usize::MAX), ("dropped", 1)] {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            // The producer: a model's chunks arriving on another task.
            rt.spawn(async move {
                for t in ["Four ", "units ", "left."] {
                    tokio::task::yield_now().await;
                    if tx.send(t.to_owned()).await.is_err() {
                        return;
                    }
                }
            });
            let mut reply = llmobs::llm(name)
                .model_name("m")
                .stream_async(Channel(rx), |t: &String| Chunk::text(t));
            rt.block_on(async {
                // Read on a worker thread.
                tokio::spawn(async move {
                    let mut got = 0;
                    while got < take {
                        if next(&mut reply).await.is_none() {
                            break;
                        }
                        got += 1;
                    }
                })
                .await
                .unwrap()
            });
        }
    });
    let whole = spans.iter().find(|s| s.name.as_str() == "whole").unwrap();
    assert_eq!(output_text(whole), "Four units left.");
    assert!(whole.error.is_none());
    let dropped = spans.iter().find(|s| s.name.as_str() == "dropped").unwrap();
    assert_eq!(output_text(dropped), "Four ");
    assert_eq!(dropped.error.as_ref().unwrap().kind, "StreamCancelled");
    let root = spans.iter().find(|s| s.kind == SpanKind::Workflow).unwrap();
    assert!(spans
        .iter()
        .filter(|s| s.kind == SpanKind::Llm)
        .all(|s| s.parent_id == Some(root.span_id)));
}
