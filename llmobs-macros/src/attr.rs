//! Parsing the attribute's arguments and the item it is applied to.
//!
//! This stage only checks syntax; whether a key belongs to the kind, and whether its value has the
//! right type, is `valid.rs`'s job, so that all such mistakes are reported in one compile.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{token, Expr, Ident, Item, ItemFn, Token, TraitItemFn};

use crate::kind::Kind;

/// An attribute and the fn it is applied to.
pub(crate) struct Input {
    pub kind: Kind,
    pub args: Vec<Arg>,
    pub item: ItemFn,
}

/// One `key`, `key = value` or `key(list)` of the attribute.
pub(crate) struct Arg {
    pub key: Ident,
    pub value: Value,
}

pub(crate) enum Value {
    /// A bare `key`.
    Missing,
    /// `key = expr`.
    Expr(Expr),
    /// `key(a, b)`; the parenthesis is kept for error spans.
    List(token::Paren, Vec<Ident>),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // Keywords such as `type` are read as keys so they get the "unknown key" message.
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Value::Expr(input.parse()?)
        } else if input.peek(token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            let names =
                Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
            Value::List(paren, names.into_iter().collect())
        } else {
            Value::Missing
        };
        Ok(Arg { key, value })
    }
}

/// Parses the arguments and the item; every syntax error found is returned together.
pub(crate) fn parse(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<Input> {
    let args = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args);
    let item = parse_item(kind, item);
    match (args, item) {
        (Ok(args), Ok(item)) => Ok(Input {
            kind,
            args: args.into_iter().collect(),
            item,
        }),
        (Err(mut a), Err(i)) => {
            a.combine(i);
            Err(a)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

fn parse_item(kind: Kind, tokens: TokenStream) -> syn::Result<ItemFn> {
    let item = match syn::parse2::<Item>(tokens.clone()) {
        Ok(Item::Fn(f)) => return Ok(f),
        Ok(item) => item,
        Err(_) => return Err(not_a_fn(kind, Span::call_site(), "this item")),
    };
    if let Item::Verbatim(_) = item {
        // A fn without a body: a declaration in a trait or in an `extern` block.
        if let Ok(decl) = syn::parse2::<TraitItemFn>(tokens) {
            let msg = format!(
                "{kind} needs a fn with a body; it cannot instrument a declaration \
                 (in a trait or an `extern` block): put it on the fn that implements it"
            );
            return Err(syn::Error::new_spanned(&decl.sig, msg));
        }
    }
    let (span, what) = describe(&item);
    Err(not_a_fn(kind, span, what))
}

fn not_a_fn(kind: Kind, span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("{kind} can only be used on a fn, not on {what}"),
    )
}

/// Where to point, and what to call the item, when the attribute is on something else.
fn describe(item: &Item) -> (Span, &'static str) {
    match item {
        Item::Struct(i) => (i.struct_token.span, "a struct"),
        Item::Enum(i) => (i.enum_token.span, "an enum"),
        Item::Union(i) => (i.union_token.span, "a union"),
        Item::Impl(i) => (i.impl_token.span, "an impl block"),
        Item::Trait(i) => (i.trait_token.span, "a trait"),
        Item::TraitAlias(i) => (i.trait_token.span, "a trait alias"),
        Item::Mod(i) => (i.mod_token.span, "a module"),
        Item::Const(i) => (i.const_token.span, "a const"),
        Item::Static(i) => (i.static_token.span, "a static"),
        Item::Type(i) => (i.type_token.span, "a type alias"),
        Item::Use(i) => (i.use_token.span, "a use declaration"),
        Item::ForeignMod(i) => (i.abi.extern_token.span, "an `extern` block"),
        Item::ExternCrate(i) => (i.extern_token.span, "an `extern crate`"),
        Item::Macro(i) => (i.mac.path.span(), "a macro invocation"),
        _ => (Span::call_site(), "this item"),
    }
}
