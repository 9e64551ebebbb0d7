//! Black-box tests over real HTTP: the service on a random port with a fresh database, the
//! fake DSK receiver and signed webhooks. Every scenario runs on SQLite, and on PostgreSQL
//! when `METABRIDGE_TEST_POSTGRES_URL` is set (CI sets it; with `CI` set and no URL the
//! PostgreSQL variants fail instead of skipping).

// Test code may unwrap: clippy's allow-unwrap-in-tests covers #[test] fns only, not the helpers.
#![allow(clippy::unwrap_used)]

mod helpers;

mod api;
mod attacks;
mod cli;
mod cluster;
mod conformance;
mod connect;
mod connect_browser;
mod connect_perm;
mod console;
mod console_browser;
mod contacts;
mod dbfaults;
mod delivery;
mod doctor;
mod faults;
mod handover;
mod iglogin;
mod inbound;
mod jwt;
mod layers;
mod leads;
mod media;
mod media_cache;
mod openapi;
mod outbound;
mod process;
mod protocol;
mod send_state;
mod templates;
mod vault;
