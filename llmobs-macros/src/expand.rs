//! Code generation.
//!
//! The user's attributes, visibility, signature and body tokens are emitted as they came, so
//! lints (`dead_code`, `unused_mut`) and type errors point at user code. The body runs inside a
//! closure or an async block whose return type is the declared one, so a wrong body type is
//! reported against the signature and `?` knows its error type.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    token, Block, Expr, ExprCall, FnArg, GenericArgument, Ident, ItemFn, Pat, PatIdent, ReturnType,
    Stmt, Token, Type,
};

use crate::lifetimes;
use crate::valid::{Options, Plan};

pub(crate) fn expand(mut plan: Plan) -> TokenStream {
    if plan.item.sig.asyncness.is_some() {
        return expand_async(plan);
    }
    match take_boxed_async_tail(&mut plan.item.block) {
        Some(tail) => expand_boxed(plan, tail),
        None => expand_sync(plan),
    }
}

fn expand_sync(plan: Plan) -> TokenStream {
    let Plan { kind, opts, item } = plan;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let rt = runtime(&opts);
    let start = start_sync(kind, &opts);
    let args = captured_params(&sig.inputs, &opts);
    let capture = capture_input(&opts, &args, &format_ident!("__llmobs_span"));
    let body = if returns_unit(&sig.output) {
        // Nothing to read from `()`: no output, and no error.
        quote! {
            #rt::call_once(move || #block)
        }
    } else {
        let hint = ret_hint(&sig.output);
        let outcome = outcome(&rt, opts.capture_output);
        quote! {
            let __llmobs_ret = #rt::call_once(move || -> #hint #block);
            __llmobs_span.record_outcome(&__llmobs_ret, |__llmobs_ret, __llmobs_want_output| #outcome);
            __llmobs_ret
        }
    };
    let inner = quote! {
        let __llmobs_span = if #rt::gate_open() {
            #start
        } else {
            #rt::Span::noop()
        };
        #capture
        #body
    };

    fn_item(&attrs, &vis, &sig, block.brace_token, inner)
}

fn expand_async(plan: Plan) -> TokenStream {
    let Plan { kind, opts, item } = plan;
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = item;
    let rt = runtime(&opts);
    let args = captured_params(&sig.inputs, &opts);
    let captured = lifetimes::name_elided(&mut sig);
    let rebind = move_params_into_future(&mut sig, &block);
    let (declared, declared_span) = match &sig.output {
        ReturnType::Default => (quote!(()), Span::call_site()),
        ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
    };
    let hint = ret_hint(&sig.output);
    let outcome = if returns_unit(&sig.output) {
        quote!(#rt::Outcome::none())
    } else {
        outcome(&rt, opts.capture_output)
    };
    let pending = format_ident!("__llmobs_pending");
    let capture = capture_input(&opts, &args, &pending);
    let mutability = (!capture.is_empty()).then(|| quote!(mut));

    let captures_bound = (!captured.is_empty()).then(|| {
        quote! { + #rt::Captures<(#(&#captured (),)*)> }
    });
    let span = sig
        .asyncness
        .take()
        .map_or_else(Span::call_site, |a| a.span);
    sig.output = syn::parse_quote_spanned! {span=>
        -> impl ::core::future::Future<Output = #declared> #captures_bound
    };
    let builder = builder(kind, &opts);
    // An async block's return type is inferred, so nothing would coerce its `return`s and tail
    // to the declared type (`&String` to `&str`) the way an `async fn` does. A first `return` of
    // the declared type fixes it before the user's code is checked.
    let typed = (!returns_unit(&sig.output)).then(|| {
        // Spanned at the declared type, where "return type inferred here" notes should point.
        quote_spanned! {declared_span=>
            if let ::core::option::Option::Some(__llmobs_never) = ::core::option::Option::<#hint>::None {
                return __llmobs_never;
            }
        }
    });
    // The user's statements are spliced in rather than nested as a block: a nested `{ x }`
    // tail trips `unused_braces` in the user's crate.
    let body = if typed.is_none() && rebind.is_none() {
        quote!(#block)
    } else {
        let stmts = &block.stmts;
        quote!({ #typed #rebind #(#stmts)* })
    };
    let instrumented = quote! {
        #rt::instrument::<#hint, _, _>(
            #pending,
            async move #body,
            |__llmobs_ret, __llmobs_want_output| #outcome,
        )
    };
    // `#[tracing::instrument]` below this attribute sees a plain fn. It enters its span around
    // the future's polls only when the fn ends in an async block, so the future is awaited in
    // one (a state machine more, for these functions alone).
    let tail = if attrs.iter().any(is_instrument_attr) {
        quote!(async move { #instrumented.await })
    } else {
        instrumented
    };
    let inner = quote! {
        let #mutability #pending = if #rt::gate_open() {
            #builder.pending()
        } else {
            #rt::PendingSpan::noop()
        };
        #capture
        #tail
    };
    fn_item(&attrs, &vis, &sig, block.brace_token, inner)
}

/// Whether `attr` is `#[instrument]` or `#[<path>::instrument]` (tracing's attribute).
fn is_instrument_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "instrument")
}

/// The fn whose body ends in `Box::pin(async move { .. })`, with that tail taken off.
fn expand_boxed(plan: Plan, call: ExprCall) -> TokenStream {
    let Plan { kind, opts, item } = plan;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let rt = runtime(&opts);
    let func = &call.func;
    let fut = &call.args[0];
    let hint = future_output(&sig.output).unwrap_or_else(|| syn::parse_quote!(_));
    let outcome = outcome(&rt, opts.capture_output);
    let args = captured_params(&sig.inputs, &opts);
    let pending = format_ident!("__llmobs_pending");
    let capture = capture_input(&opts, &args, &pending);
    let mutability = (!capture.is_empty()).then(|| quote!(mut));
    let builder = builder(kind, &opts);
    let stmts = &block.stmts;
    // The span is built and the arguments captured before the user's statements, which may
    // move the arguments; it only starts timing when the future is first polled.
    let inner = quote! {
        let #mutability #pending = if #rt::gate_open() {
            #builder.pending()
        } else {
            #rt::PendingSpan::noop()
        };
        #capture
        #(#stmts)*
        #func(#rt::instrument::<#hint, _, _>(
            #pending,
            #fut,
            |__llmobs_ret, __llmobs_want_output| #outcome,
        ))
    };
    fn_item(&attrs, &vis, &sig, block.brace_token, inner)
}

/// The fn with a new body inside the user's own braces: an item whose tokens all come from the
/// user keeps its lints (`dead_code`) reported at the user's code rather than silenced as
/// macro output.
fn fn_item(
    attrs: &[syn::Attribute],
    vis: &syn::Visibility,
    sig: &syn::Signature,
    braces: token::Brace,
    inner: TokenStream,
) -> TokenStream {
    // Inner attributes (`#![allow(..)]` at the top of the body) stay at the top of the body.
    let (outer, inner_attrs): (Vec<_>, Vec<_>) = attrs
        .iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Outer));
    let mut body = Group::new(Delimiter::Brace, quote!(#(#inner_attrs)* #inner));
    body.set_span(braces.span.join());
    quote! {
        #(#outer)* #vis #sig #body
    }
}

/// Removes and returns the body's tail if it is `Box::pin(async { .. })`.
fn take_boxed_async_tail(block: &mut Block) -> Option<ExprCall> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last() else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let mut names = path.path.segments.iter().rev().map(|s| s.ident.to_string());
    let is_box_pin =
        names.next().as_deref() == Some("pin") && names.next().as_deref() == Some("Box");
    if !is_box_pin || call.args.len() != 1 || !matches!(call.args[0], Expr::Async(_)) {
        return None;
    }
    match block.stmts.pop() {
        Some(Stmt::Expr(Expr::Call(call), None)) => Some(call),
        _ => None,
    }
}

/// `T` from the `Output = T` of a declared `Pin<Box<dyn Future<Output = T> + ..>>`.
fn future_output(output: &ReturnType) -> Option<Type> {
    struct Find(Option<Type>);
    impl VisitMut for Find {
        fn visit_generic_argument_mut(&mut self, arg: &mut GenericArgument) {
            if let GenericArgument::AssocType(a) = arg {
                if a.ident == "Output" && a.generics.is_none() && self.0.is_none() {
                    self.0 = Some(a.ty.clone());
                    return;
                }
            }
            visit_mut::visit_generic_argument_mut(self, arg);
        }
    }
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let mut find = Find(None);
    find.visit_type_mut(&mut ty.as_ref().clone());
    find.0.map(erase_impl_trait)
}

/// Makes every typed parameter a plain binding the future can move in, and returns the `let`
/// that rebinds the user's patterns inside it.
///
/// An `async fn` keeps all its arguments alive until it completes, even unused ones such as a
/// `_permit`; mentioning each in the future's first statement keeps that true after the
/// desugaring. A name the body uses keeps its tokens, so `unused_mut` still points at the user's
/// parameter; one it does not use (perhaps only the attribute does) is kept alive under a
/// hidden name rather than reported as unused.
fn move_params_into_future(sig: &mut syn::Signature, body: &Block) -> Option<TokenStream> {
    let body = quote!(#body);
    let mut pats = Vec::new();
    let mut exprs = Vec::new();
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(t) = arg else { continue };
        let hidden = format_ident!("__llmobs_arg{}", i, span = t.pat.span());
        let (outer, inner) = match &*t.pat {
            Pat::Ident(p) if mentions(&body, &p.ident) => (p.ident.clone(), quote!(#p)),
            Pat::Ident(p) => (p.ident.clone(), quote!(#hidden)),
            Pat::Wild(_) => (hidden.clone(), quote!(#hidden)),
            other => (hidden, quote!(#other)),
        };
        pats.push(inner);
        // Moving the value in is the macro's doing, not a use by the user's code that lints
        // such as `clippy::used_underscore_binding` should see.
        let mut moved = outer.clone();
        moved.set_span(Span::call_site());
        exprs.push(quote!(#moved));
        let attrs = match &*t.pat {
            Pat::Ident(p) => p.attrs.clone(),
            _ => Vec::new(),
        };
        *t.pat = Pat::Ident(PatIdent {
            attrs,
            by_ref: None,
            mutability: None,
            ident: outer,
            subpat: None,
        });
    }
    if pats.is_empty() {
        return None;
    }
    Some(quote! { let (#(#pats,)*) = (#(#exprs,)*); })
}

/// Whether `ident` may be used in `tokens`, macro arguments and format strings included.
fn mentions(tokens: &TokenStream, ident: &Ident) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == *ident,
        TokenTree::Group(g) => mentions(&g.stream(), ident),
        // `format!("{name}")` uses `name` from inside a string literal.
        TokenTree::Literal(l) => l.to_string().contains(&ident.unraw().to_string()),
        TokenTree::Punct(_) => false,
    })
}

/// Starts a sync fn's span. Without options there is nothing for a builder to carry: the span
/// starts from its kind and static name alone, the cheapest path there is.
fn start_sync(kind: crate::kind::Kind, opts: &Options) -> TokenStream {
    let rt = runtime(opts);
    let plain = opts.session_id.is_none()
        && opts.ml_app.is_none()
        && opts.model_name.is_none()
        && opts.model_provider.is_none();
    let literal = |v: &Option<Expr>| match v {
        Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        })) => Some(lit.clone()),
        _ => None,
    };
    let variant = Ident::new(kind.spec().variant, Span::call_site());
    let name = &opts.name;
    if plain {
        quote! {
            #rt::Span::enter(#rt::SpanKind::#variant, #name)
        }
    } else if let (None, None, Some(model), true) = (
        &opts.session_id,
        &opts.ml_app,
        literal(&opts.model_name),
        opts.model_provider.is_none() || literal(&opts.model_provider).is_some(),
    ) {
        // A model known at compile time: noted, with no builder and no annotations box.
        let provider = literal(&opts.model_provider)
            .map_or_else(|| "unknown".to_owned(), |p| p.value().to_lowercase());
        quote! {
            #rt::Span::enter_model(
                #rt::SpanKind::#variant,
                #name,
                &[#model, #provider],
            )
        }
    } else {
        let builder = builder(kind, opts);
        quote!(#builder.start())
    }
}

/// The span builder with the attribute's options.
fn builder(kind: crate::kind::Kind, opts: &Options) -> TokenStream {
    let rt = runtime(opts);
    let variant = Ident::new(kind.spec().variant, Span::call_site());
    let name = &opts.name;
    let mut b = quote! {
        #rt::SpanBuilder::new(#rt::SpanKind::#variant, #name).decorator()
    };
    let setters = [
        ("session_id", &opts.session_id),
        ("ml_app", &opts.ml_app),
        ("model_name", &opts.model_name),
        ("model_provider", &opts.model_provider),
    ];
    for (method, value) in setters {
        if let Some(v) = value {
            // Spanned at the value so a type error names the user's expression.
            let method = Ident::new(method, v.span());
            let arg = match v {
                // A literal is borrowed for the life of the program rather than copied for every
                // span; a provider is lower-cased here rather than checked at run time.
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => {
                    if method == "model_provider" {
                        let lit = syn::LitStr::new(&lit.value().to_lowercase(), lit.span());
                        b.extend(quote_spanned!(v.span()=> .model_provider_lowercase(#lit)));
                        continue;
                    }
                    quote_spanned!(v.span()=> #rt::SharedStr::Static(#lit))
                }
                _ => quote!(#v),
            };
            b.extend(quote_spanned!(v.span()=> .#method(#arg)));
        }
    }
    b
}

/// The path of the runtime support the expansion calls: `::llmobs::__private`, or under the
/// attribute's `crate = ..` path when a crate re-exports `llmobs`.
///
/// `__private` takes the span of the path's last segment, so that a path which does not lead to
/// llmobs ("could not find `__private` in `my_sdk`") is reported at the user's path.
fn runtime(opts: &Options) -> TokenStream {
    let krate = &opts.krate;
    let span = krate
        .segments
        .last()
        .map_or_else(Span::call_site, |s| s.ident.span());
    let private = Ident::new("__private", span);
    quote!(#krate::#private)
}

/// A parameter whose value is recorded as input: its name and how to reach it.
struct Param {
    name: String,
    value: TokenStream,
}

fn captured_params(inputs: &Punctuated<FnArg, Token![,]>, opts: &Options) -> Vec<Param> {
    inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .filter_map(|p| {
            let name = p.ident.unraw().to_string();
            // Reading the value for capture is the macro's doing, not a use by the user's code.
            let mut ident = p.ident.clone();
            ident.set_span(Span::call_site());
            (!opts.skip.contains(&name)).then(|| Param {
                name,
                value: quote!(#ident),
            })
        })
        .collect()
}

fn capture_input(opts: &Options, params: &[Param], span: &Ident) -> TokenStream {
    if !opts.capture_input || params.is_empty() {
        return TokenStream::new();
    }
    let rt = runtime(opts);
    let lines = params.iter().map(|p| {
        let name = &p.name;
        let value = &p.value;
        quote! {
            __llmobs_args.arg(#name, (&&&#rt::Cap(&#value)).llmobs_capture());
        }
    });
    quote! {
        if #span.is_recording() {
            #rt::out_of_line(|| {
                let mut __llmobs_args = #rt::CapturedArgs::new();
                {
                    use #rt::{ViaSerialize as _, ViaDebug as _, ViaNothing as _};
                    #(#lines)*
                }
                #span.record_input(__llmobs_args);
            });
        }
    }
}

/// Reads the span's error, and its output when wanted, from `__llmobs_ret: &R`.
fn outcome(rt: &TokenStream, capture_output: bool) -> TokenStream {
    let output = capture_output.then(|| {
        quote! {
            else if __llmobs_want_output {
                match __llmobs_split.ok() {
                    ::core::option::Option::Some(__llmobs_v) => #rt::Outcome::output(
                        (&&&#rt::Cap(__llmobs_v)).llmobs_capture(),
                    ),
                    ::core::option::Option::None => #rt::Outcome::none(),
                }
            }
        }
    });
    let capture_traits =
        capture_output.then(|| quote!(ViaSerialize as _, ViaDebug as _, ViaNothing as _,));
    quote! {{
        use #rt::{
            SplitResult as _, SplitPlain as _, ErrViaStd as _, ErrViaDisplay as _, ErrViaDebug as _,
            ErrViaNothing as _, #capture_traits
        };
        let __llmobs_split = (&&#rt::Ret(__llmobs_ret)).llmobs_split();
        if let ::core::option::Option::Some(__llmobs_e) = __llmobs_split.err() {
            #rt::Outcome::error((&&&&#rt::ErrRef(__llmobs_e)).llmobs_error())
        } #output else {
            #rt::Outcome::none()
        }
    }}
}

fn returns_unit(output: &ReturnType) -> bool {
    match output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
    }
}

/// The declared return type with each `impl Trait` replaced by `_`, which closures and
/// turbofishes accept.
fn ret_hint(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => erase_impl_trait((**ty).clone()),
    }
}

fn erase_impl_trait(mut ty: Type) -> Type {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(t) = ty {
                let underscore = syn::Token![_](t.impl_token.span);
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: underscore,
                });
            } else {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    Erase.visit_type_mut(&mut ty);
    ty
}
