//! A local stand-in for Meta and for a DSK instance, used by the demo, the tests and the
//! benchmarks: [`emitter`] POSTs correctly signed webhooks (shaped like the fixtures) at a
//! chosen rate, with duplicates, reordering and batching; [`receiver`] is a fake DSK callback
//! endpoint that verifies the bridge's JWT, counts and records events, and can be told to fail.

pub mod emitter;
pub mod graph;
pub mod onboarding;
pub mod payloads;
pub mod receiver;
