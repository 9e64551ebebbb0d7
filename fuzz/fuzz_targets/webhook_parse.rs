//! `parse_webhook` on arbitrary bytes: never panics, and every result has the properties of
//! `metabridge_fuzz::check_webhook` (deterministic keys, canonical form, key/route/conversation
//! shapes, nothing dropped, per-conversation order).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    metabridge_fuzz::check_webhook(body);
});
