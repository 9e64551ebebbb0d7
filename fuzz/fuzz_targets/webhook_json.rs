//! Structure-aware: Meta-shaped bodies built by `metabridge_fuzz::meta_json`, checked like
//! `webhook_parse`, plus: the generator always writes a JSON object, so the body parses
//! exactly when its `entry` is an array.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabridge_fuzz::meta_json::Body;

fuzz_target!(|body: Body| {
    let bytes = body.to_bytes();
    let events = metabridge_fuzz::check_webhook(&bytes);
    assert_eq!(events.is_some(), body.has_entry_array());
});
