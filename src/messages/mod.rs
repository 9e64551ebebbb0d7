//! Outbound sends: what an instance may ask for (`model`: request types, validation against
//! Meta's limits, rendering to the Graph request body) and the life of a message
//! (`lifecycle`: a pure state machine).

pub mod lifecycle;
pub mod model;
