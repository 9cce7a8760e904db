//! Delivery of `llmobs` spans and evaluations to Datadog LLM Observability.
