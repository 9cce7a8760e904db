const SENSITIVE_TURNS: [&str; 4] = [
    "User: When does my sofa ship? Reach me at jo.smith@example.com or +44 20 7946 0958 if anything changes.\n",
    "Assistant: Thanks. I see card 4111 1111 1111 1111 on file and the order was placed from 192.168.10.24 yesterday.\n",
    "User: My SSN is 123-45-6789, and the support bot used key sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c for the lookup.\n",
    "Assistant: Please never share those here. I forwarded it with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc123 to support.\n",
];
const CLEAN_TURNS: [&str; 4] = [
    "User: When does my sofa ship? I ordered it on March 3rd, order 4471, and the page still says processing.\n",
    "Assistant: Thanks for waiting. Order 4471 left the warehouse at 10:42 today; delivery is planned for 2-4 business days.\n",
    "User: Can you deliver it to the side door? The front steps are narrow, about 80 cm wide, and the sofa is 92 cm deep.\n",
    "Assistant: Of course. I added a note for the driver: use the side door. Anything else I can help with today?\n",
];
fn chat(turns: &[&str], bytes: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(turns[i % turns.len()]);
        i += 1;
    }
    s.truncate(bytes);
    s
}
fn main() {
    let r = llmobs_exporter::Redaction::builtin();
    let clean = std::env::args().nth(1).as_deref() == Some("clean");
    let text = chat(
        if clean {
            &CLEAN_TURNS
        } else {
            &SENSITIVE_TURNS
        },
        64 * 1024,
    );
    let mut n = 0;
    r.redact_text(&text);
    let iters: usize = std::env::args()
        .nth(2)
        .and_then(|x| x.parse().ok())
        .unwrap_or(20);
    for _ in 0..iters {
        n += r.redact_text(std::hint::black_box(&text)).1;
    }
    println!("{n}");
}
