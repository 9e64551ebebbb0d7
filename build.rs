//! `sqlx::migrate!` embeds `migrations/` into the binary at compile time, but on stable Rust it
//! cannot tell cargo that it read that folder: a migration added without touching a `.rs` file
//! would leave a build that does not apply it (and then fails on the missing column). This
//! makes a change under `migrations/` rebuild the crate (sqlx's documented remedy, "sqlx migrate
//! build-script").
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
