//! Background work: delivery to instances, per-channel senders to Meta, retention, SQLite checkpoints and outbox gauges.
//! Every worker stops at the shutdown signal between steps, never in the middle of one.

pub mod delivery;
pub mod lifecycle;
pub mod maintenance;
pub mod sender;
