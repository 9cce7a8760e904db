// `crate` takes a path (or a string holding one) to llmobs or a module re-exporting it.

#[llmobs::workflow(crate = 5)]
fn number() {}

#[llmobs::task(crate = "my sdk")]
fn not_a_path() {}

#[llmobs::tool(crate = my_sdk::<u8>::llmobs)]
fn generic() {}

#[llmobs::agent(crate = a + b)]
fn expression() {}

#[llmobs::retrieval(crate)]
fn no_value() {}

fn main() {}
