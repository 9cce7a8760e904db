//! What client-side redaction costs per KB of text: `Redaction::builtin()` over chat text of
//! 1 KB and 64 KB, once with nothing to find and once with a sensitive value in every turn.
//!
//! Criterion reports the time per call; the report divides by the size in KB, which is what
//! a user needs to estimate the cost on their own prompts and completions.

use std::hint::black_box;
use std::time::Duration;

use criterion::Throughput;
use llmobs::Redaction;

/// Ordinary support-chat turns: digits, punctuation, `:` and `@`-free text, so the detectors'
/// anchors fire often without matching, as they do on real prompts.
const CLEAN_TURNS: [&str; 4] = [
    "User: When does my sofa ship? I ordered it on March 3rd, order 4471, and the page still says processing.\n",
    "Assistant: Thanks for waiting. Order 4471 left the warehouse at 10:42 today; delivery is planned for 2-4 business days.\n",
    "User: Can you deliver it to the side door? The front steps are narrow, about 80 cm wide, and the sofa is 92 cm deep.\n",
    "Assistant: Of course. I added a note for the driver: use the side door. Anything else I can help with today?\n",
];

/// The same conversation with the values redaction exists for.
const SENSITIVE_TURNS: [&str; 4] = [
    "User: When does my sofa ship? Reach me at jo.smith@example.com or +44 20 7946 0958 if anything changes.\n",
    "Assistant: Thanks. I see card 4111 1111 1111 1111 on file and the order was placed from 192.168.10.24 yesterday.\n",
    "User: My SSN is 123-45-6789, and the support bot used key sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c for the lookup.\n",
    "Assistant: Please never share those here. I forwarded it with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc123 to support.\n",
];

/// `turns` repeated until the text is exactly `bytes` long (every turn is ASCII).
fn chat(turns: &[&str], bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 256);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(turns[i % turns.len()]);
        i += 1;
    }
    s.truncate(bytes);
    s
}

fn main() {
    let mut c = llmobs_bench::criterion()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    let redaction = Redaction::builtin();
    let mut g = c.benchmark_group("redact");
    for (label, kb) in [("1k", 1usize), ("64k", 64)] {
        let bytes = kb * 1024;
        g.throughput(Throughput::Bytes(bytes as u64));
        for (kind, turns) in [("clean", &CLEAN_TURNS), ("sensitive", &SENSITIVE_TURNS)] {
            let text = chat(turns, bytes);
            let found = redaction.redact_text(&text).1;
            assert_eq!(found == 0, kind == "clean", "{kind} text found {found}");
            g.bench_function(format!("{kind}_{label}"), |b| {
                b.iter(|| redaction.redact_text(black_box(&text)))
            });
        }
    }
    g.finish();
    c.final_summary();
}
