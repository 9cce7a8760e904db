//! An active annotation context, as the span stack and the contexts that carry it hold it, and
//! how it annotates a span that starts under it (see [`crate::annotation_context`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{AgentManifest, Annotations, Prompt, SharedStr, SpanEvent, SpanKind, SpanLink};

/// The annotations one scope applies.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScopeValues {
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) session_id: Option<SharedStr>,
    pub(crate) name: Option<SharedStr>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) links: Vec<SpanLink>,
    pub(crate) agent: Option<Arc<AgentManifest>>,
    pub(crate) cost_tags: Vec<String>,
}

/// One active annotation context, shared by the frames and contexts that carry it.
#[derive(Debug)]
pub(crate) struct Scope {
    values: ScopeValues,
    /// The scope that was active where this one was entered: applied first.
    outer: Option<Arc<Scope>>,
    active: AtomicBool,
}

impl Scope {
    pub(crate) fn new(values: ScopeValues, outer: Option<Arc<Scope>>) -> Scope {
        Scope {
            values,
            outer,
            active: AtomicBool::new(true),
        }
    }

    /// Ends the scope: spans that start later, wherever it was carried, do not get it.
    pub(crate) fn end(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Applies every active scope of the chain ending at `self`, outermost first, to a span of
    /// `kind` that is starting: its name (`None`: its own), annotations and session.
    #[cold]
    pub(crate) fn apply(
        self: &Arc<Scope>,
        kind: SpanKind,
        name: &mut Option<SharedStr>,
        annotations: &mut Option<Box<Annotations>>,
        session: &mut Option<SharedStr>,
    ) {
        self.apply_since(None, kind, name, annotations, session);
    }

    /// Applies the chain to the record of a span starting outside the arena (async and
    /// detached spans), except `applied` and its outer scopes, which the span already has.
    #[cold]
    pub(crate) fn apply_to_event(
        self: &Arc<Scope>,
        applied: Option<&Arc<Scope>>,
        e: &mut SpanEvent,
    ) {
        let mut name = None;
        self.apply_since(
            applied,
            e.kind,
            &mut name,
            &mut e.annotations,
            &mut e.session_id,
        );
        if let Some(n) = name {
            e.name = n;
        }
    }

    /// [`Scope::apply`], without `applied` and its outer scopes, which the span already got.
    #[cold]
    pub(crate) fn apply_since(
        self: &Arc<Scope>,
        applied: Option<&Arc<Scope>>,
        kind: SpanKind,
        name: &mut Option<SharedStr>,
        annotations: &mut Option<Box<Annotations>>,
        session: &mut Option<SharedStr>,
    ) {
        // The chain from inside out: a few on the stack, any more (deep nesting) in a vector.
        const FEW: usize = 8;
        let mut few: [Option<&Scope>; FEW] = [None; FEW];
        let mut more: Vec<&Scope> = Vec::new();
        let mut n = 0;
        let mut next = Some(&**self);
        while let Some(s) = next {
            if applied.is_some_and(|a| std::ptr::eq(&**a, s)) {
                break;
            }
            if s.active.load(Ordering::Acquire) {
                match few.get_mut(n) {
                    Some(f) => *f = Some(s),
                    None => more.push(s),
                }
                n += 1;
            }
            next = s.outer.as_deref();
        }
        let outermost_first = more
            .into_iter()
            .rev()
            .chain(few[..n.min(FEW)].iter().rev().flatten().copied());
        for s in outermost_first {
            let v = &s.values;
            if let Some(n) = &v.name {
                *name = Some(n.clone());
            }
            if let Some(id) = &v.session_id {
                *session = Some(id.clone());
            }
            let agent = v.agent.as_ref().filter(|_| kind == SpanKind::Agent);
            if v.tags.is_empty()
                && v.prompt.is_none()
                && v.links.is_empty()
                && agent.is_none()
                && v.cost_tags.is_empty()
            {
                continue;
            }
            let a = annotations.get_or_insert_with(Annotations::boxed);
            for (k, val) in &v.tags {
                a.tags.insert(k.clone(), val.clone());
            }
            if let Some(p) = &v.prompt {
                // Only llm spans send a prompt; the others are only tagged as having one (the
                // reference keeps it on them and drops it, with a warning, when it sends them).
                if kind == SpanKind::Llm {
                    a.prompt = Some(match a.prompt.take() {
                        Some(old) => old.updated_by(p.clone()),
                        None => p.clone(),
                    });
                }
                a.prompt_annotated = true;
            }
            a.span_links.extend_from_slice(&v.links);
            if !v.cost_tags.is_empty() {
                a.cost_tags.clone_from(&v.cost_tags);
            }
            if let Some(m) = agent {
                if let Some(version) = &m.version {
                    a.tags.insert("agent_version".into(), version.clone());
                }
                a.agent_manifest = Some(match a.agent_manifest.take() {
                    Some(old) => old.updated_by(m),
                    None => (**m).clone(),
                });
            }
        }
    }
}
