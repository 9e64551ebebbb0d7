//! Meta's Graph API: the HTTP client the bridge calls it with, and the classification of its
//! errors (what to retry, what to fail, when a token is dead).

pub mod bsuid;
pub mod errors;
pub mod graph;
pub mod login;
pub mod oauth;
