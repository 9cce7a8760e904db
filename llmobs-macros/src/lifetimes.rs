//! Naming the elided lifetimes of an `async fn`'s parameters.
//!
//! The attribute turns `async fn f(&self, s: &str) -> R` into a plain fn returning
//! `impl Future<Output = R> + Captures<..>`. An `async fn`'s future captures every lifetime of
//! its parameters; a plain fn's `impl Trait` (before edition 2024) captures only the lifetimes it
//! names, so each elided one gets a name that the `Captures` bound can list. Elided lifetimes in
//! the return type then get the name that the elision rules would have picked, so that the
//! signature does not mix named and elided forms of one lifetime (`mismatched_lifetime_syntaxes`).

use proc_macro2::Span;
use syn::visit_mut::{self, VisitMut};
use syn::{FnArg, GenericParam, Lifetime, LifetimeParam, ReturnType, Signature, Type};

/// Names every elided lifetime in `sig`'s parameters and adds it to the generics. Returns every
/// lifetime the future must capture: the new ones and the declared ones.
pub(crate) fn name_elided(sig: &mut Signature) -> Vec<Lifetime> {
    let mut namer = Namer::default();
    let mut self_lifetime = None;
    for arg in &mut sig.inputs {
        match arg {
            FnArg::Receiver(r) if r.colon_token.is_none() => {
                // `&self` is printed from `reference`; `ty` holds the same `&Self` and must agree.
                if let Some((_, lt)) = &mut r.reference {
                    let named = match lt {
                        Some(l) if l.ident != "_" => l.clone(),
                        _ => namer.fresh(),
                    };
                    *lt = Some(named.clone());
                    namer.saw(&named);
                    self_lifetime = Some(named.clone());
                    if let Type::Reference(t) = &mut *r.ty {
                        t.lifetime = Some(named);
                    }
                }
            }
            FnArg::Receiver(r) => {
                let before = namer.seen.len();
                namer.visit_type_mut(&mut r.ty);
                if namer.seen.len() == before + 1 {
                    self_lifetime = namer.seen.last().cloned();
                }
            }
            FnArg::Typed(t) => namer.visit_type_mut(&mut t.ty),
        }
    }
    if !namer.added.is_empty() {
        let single = (namer.seen.len() == 1).then(|| namer.seen[0].clone());
        if let (Some(target), ReturnType::Type(_, ty)) = (self_lifetime.or(single), &mut sig.output)
        {
            Elision(target).visit_type_mut(ty);
        }
    }
    let declared: Vec<Lifetime> = sig
        .generics
        .lifetimes()
        .map(|l| l.lifetime.clone())
        .collect();
    for lt in namer.added.iter().rev() {
        sig.generics
            .params
            .insert(0, GenericParam::Lifetime(LifetimeParam::new(lt.clone())));
    }
    namer.added.into_iter().chain(declared).collect()
}

#[derive(Default)]
struct Namer {
    /// The lifetimes this pass named.
    added: Vec<Lifetime>,
    /// Every distinct lifetime of the parameters, named here or by the user.
    seen: Vec<Lifetime>,
}

impl Namer {
    /// A new lifetime, spanned as macro output: lints about how lifetimes are written
    /// (`clippy::needless_lifetimes`) concern the user's code, not these.
    fn fresh(&mut self) -> Lifetime {
        let lt = Lifetime::new(
            &format!("'__llmobs_l{}", self.added.len()),
            Span::call_site(),
        );
        self.added.push(lt.clone());
        lt
    }

    fn saw(&mut self, lt: &Lifetime) {
        if !self.seen.iter().any(|s| s.ident == lt.ident) {
            self.seen.push(lt.clone());
        }
    }
}

impl VisitMut for Namer {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        if r.lifetime.is_none() {
            r.lifetime = Some(self.fresh());
        }
        visit_mut::visit_type_reference_mut(self, r);
    }

    fn visit_lifetime_mut(&mut self, l: &mut Lifetime) {
        if l.ident == "_" {
            *l = self.fresh();
        }
        self.saw(l);
    }

    // Elided lifetimes in `fn(&str)` and `Fn(&str)` are higher-ranked: they belong to each call
    // of the function value, not to the enclosing fn, so naming them would change the type.
    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}

    fn visit_parenthesized_generic_arguments_mut(
        &mut self,
        _: &mut syn::ParenthesizedGenericArguments,
    ) {
    }
}

/// Gives the return type's elided lifetimes the one the elision rules chose.
struct Elision(Lifetime);

impl VisitMut for Elision {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        if r.lifetime.is_none() {
            r.lifetime = Some(self.0.clone());
        }
        visit_mut::visit_type_reference_mut(self, r);
    }

    fn visit_lifetime_mut(&mut self, l: &mut Lifetime) {
        if l.ident == "_" {
            *l = self.0.clone();
        }
    }

    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}

    fn visit_parenthesized_generic_arguments_mut(
        &mut self,
        _: &mut syn::ParenthesizedGenericArguments,
    ) {
    }
}
