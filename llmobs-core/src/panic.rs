//! Panics inside spans: a chained panic hook remembers the message, location and (when
//! `RUST_BACKTRACE` enables it) the backtrace, so the span guard that unwinds can record them.
//! The hook calls the previously installed one, so the application's own panic output is kept.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::sync::Once;

use crate::SpanError;

static INSTALL: Once = Once::new();

thread_local! {
    static LAST_PANIC: RefCell<Option<SpanError>> = const { RefCell::new(None) };
    /// Inside [`quietly`]: a panic is caught by the SDK and must not be reported as one.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

/// Runs user code the SDK calls on its own behalf (a `Serialize`, `Debug` or `Display` impl, an
/// error's `source()`), catching a panic without the panic hook's report: the application did
/// not panic, only the reading of one value failed, and that is logged at debug level instead.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    install_hook();
    let _ = QUIET.try_with(|q| q.set(q.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = QUIET.try_with(|q| q.set(q.get().saturating_sub(1)));
    if r.is_err() {
        log::debug!(
            "llmobs: a Serialize, Debug or Display impl (or an error's source()) panicked while \
             its value was read for a span; the value was left out"
        );
    }
    r
}

pub(crate) fn install_hook() {
    // `take_hook` and `set_hook` panic on a thread that is unwinding: install on a later call.
    if INSTALL.is_completed() || std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.try_with(Cell::get).unwrap_or(0) > 0 {
                return;
            }
            // Recorded for every panic, cheap next to the panic itself: a span guard that the
            // panic unwinds through reads it (the stack is not asked whether a span is open,
            // which would make this layer depend on the one above).
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            let location = info
                .location()
                .map(|l| format!("panicked at {}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "panicked".to_owned());
            let bt = Backtrace::capture();
            let stack = if bt.status() == BacktraceStatus::Captured {
                format!("{location}\n{bt}")
            } else {
                location
            };
            let _ = LAST_PANIC.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    *l = Some(SpanError {
                        kind: "panic".into(),
                        message,
                        stack: Some(stack),
                    });
                }
            });
            previous(info);
        }));
    });
}

/// The error recorded for a span that a panic unwinds through.
pub(crate) fn current_panic_error() -> SpanError {
    LAST_PANIC
        .try_with(|l| l.try_borrow().ok().and_then(|l| l.clone()))
        .ok()
        .flatten()
        .unwrap_or_else(|| SpanError {
            kind: "panic".into(),
            message: "the span was unwound by a panic".into(),
            stack: None,
        })
}
