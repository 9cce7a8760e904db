//! The `tracing` bridge with real Rust LLM clients: the tests (`tests/`) and examples
//! (`examples/`) of this crate drive `genai` and `rig-core` against [`StandIn`], an
//! OpenAI-compatible server on a loopback port, with `llmobs::tracing::layer()` installed.
//!
//! Everything but the stand-in needs the feature `clients`:
//!
//! ```text
//! cargo test -p llmobs-clients --features clients
//! cargo run -p llmobs-clients --features clients --example genai_chat
//! ```

#![deny(missing_docs)]

mod stand_in;

pub use stand_in::{StandIn, CHAT_MODEL, EMBEDDING_MODEL};
