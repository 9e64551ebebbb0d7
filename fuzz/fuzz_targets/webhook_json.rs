//! Structure-aware: Meta-shaped bodies built by `metabridge_fuzz::meta_json`, checked like
//! `webhook_parse`, plus: such a body always parses (it is an object with an entry array
//! unless the generator replaced it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabridge_fuzz::meta_json::Body;

fuzz_target!(|body: Body| {
    let bytes = body.to_bytes();
    metabridge_fuzz::check_webhook(&bytes);
});
