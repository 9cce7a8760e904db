// A span guard and a context guard belong to the thread that created them: moving either to
// another thread does not compile (use `start_detached()` or `Context::current()` instead).

fn main() {
    let span = llmobs::task("step").start();
    let ctx = llmobs::Context::current().attach();
    std::thread::spawn(move || drop(span));
    std::thread::spawn(move || drop(ctx));
}
