//! What an attribute emits when it cannot expand.

use proc_macro2::TokenStream;

/// The item exactly as written, followed by the errors. Keeping the fn means that one mistake in
/// the attribute does not also produce "cannot find function" errors at every call site, and
/// that rust-analyzer keeps completing inside the body.
pub(crate) fn expand(item: TokenStream, errors: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(errors.into_compile_error());
    out
}
