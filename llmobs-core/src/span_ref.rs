//! Finding the span a call is about: a span handle the caller passes, or the current span of
//! this thread.

use crate::stack::{self, Current};
use crate::{Annotations, DetachedSpan, Span, SpanEvent, SpanKind};

mod sealed {
    use crate::SpanEvent;

    pub trait Sealed {
        /// Runs `f` on the span's event; `None` when the span is not recorded, `Some(false)` when
        /// it has finished.
        fn visit(&self, f: &mut dyn FnMut(&mut SpanEvent)) -> Option<bool>;
    }
}

/// A handle to a span: [`Span`] or [`DetachedSpan`]. Accepted by
/// [`Annotate::apply_to`](crate::Annotate::apply_to) and [`export_span`](crate::export_span).
///
/// The trait is sealed: the SDK's span handles are the only implementations.
///
/// ```
/// # use llmobs_core as llmobs;
/// fn ids(span: &dyn llmobs::SpanRef) -> Option<llmobs::ExportedSpan> {
///     llmobs::export_span(Some(span)).ok()
/// }
/// let _cap = llmobs::testing::Capture::new();
/// let _g = _cap.context().attach();
/// let bg = llmobs::task("bg").start_detached();
/// assert!(ids(&bg).is_some());
/// ```
pub trait SpanRef: sealed::Sealed {}

impl sealed::Sealed for Span {
    fn visit(&self, f: &mut dyn FnMut(&mut SpanEvent)) -> Option<bool> {
        if !self.is_recording() {
            return None;
        }
        Some(self.with_event(f).is_some())
    }
}
impl SpanRef for Span {}

impl sealed::Sealed for DetachedSpan {
    fn visit(&self, f: &mut dyn FnMut(&mut SpanEvent)) -> Option<bool> {
        if !self.is_recording() {
            return None;
        }
        Some(self.with_event(f).is_some())
    }
}
impl SpanRef for DetachedSpan {}

impl<T: SpanRef + ?Sized> sealed::Sealed for &T {
    fn visit(&self, f: &mut dyn FnMut(&mut SpanEvent)) -> Option<bool> {
        (**self).visit(f)
    }
}
impl<T: SpanRef + ?Sized> SpanRef for &T {}

/// Why no span event could be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Nothing active on this thread (`quiet`: and nothing is being recorded anyway, because the
    /// SDK is disabled and no test capture is in scope).
    NoSpan { quiet: bool },
    /// The span finished.
    Finished,
    /// The handle belongs to a span that is not recorded.
    NotRecording,
}

/// Runs `f` on the kind and annotations of the given span, or of the current span when `span`
/// is `None`. The current sync span is annotated in place, without building its full record.
pub(crate) fn with_annotations<R>(
    span: Option<&dyn SpanRef>,
    f: impl FnOnce(SpanKind, &mut Option<Box<Annotations>>) -> R,
) -> Result<R, Missing> {
    if span.is_none() {
        if let Current::Span(id) = stack::current() {
            return stack::with_annotations_mut(id, f).ok_or(Missing::Finished);
        }
    }
    with_event(span, |e| f(e.kind, &mut e.annotations))
}

/// Runs `f` on the event of the given span, or of the current span when `span` is `None`.
pub(crate) fn with_event<R>(
    span: Option<&dyn SpanRef>,
    f: impl FnOnce(&mut SpanEvent) -> R,
) -> Result<R, Missing> {
    let mut f = Some(f);
    let mut out = None;
    let mut visit = |e: &mut SpanEvent| {
        if let Some(f) = f.take() {
            out = Some(f(e));
        }
    };
    let found = match span {
        Some(s) => match sealed::Sealed::visit(s, &mut visit) {
            None => return Err(Missing::NotRecording),
            Some(found) => found,
        },
        None => match stack::current() {
            Current::Span(id) => stack::with_span_mut(id, &mut visit).is_some(),
            Current::Detached(event) => {
                let mut g = match event.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                match g.as_mut() {
                    Some(e) => {
                        visit(e);
                        true
                    }
                    None => false,
                }
            }
            Current::None | Current::Context => {
                let quiet = !crate::gate::is_enabled() && stack::current_parent().capture.is_none();
                return Err(Missing::NoSpan { quiet });
            }
        },
    };
    match (found, out) {
        (true, Some(r)) => Ok(r),
        _ => Err(Missing::Finished),
    }
}
