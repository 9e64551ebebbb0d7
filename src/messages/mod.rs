//! Outbound sends: what an instance may ask for (`model`: request types, validation against
//! Meta's limits, rendering to the Graph request body), the messaging windows (`window`) and
//! the life of a message (`lifecycle`: a pure state machine) — all pure. [`submit`] is the use
//! case that applies them and queues a send (it sits above the store, like
//! `connect::flow`).

pub mod lifecycle;
pub mod model;
pub mod submit;
pub mod templates;
pub mod window;
