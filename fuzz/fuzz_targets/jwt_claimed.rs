//! `crypto::jwt::claimed_instance` (unverified token parsing, runs before any key is chosen):
//! never panics on any string; a success names the payload's `iss`/`sub` by the documented
//! rule; tokens built from arbitrary claims give exactly that rule's answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabridge_fuzz::oracle::JwtInput;

fuzz_target!(|input: JwtInput| {
    metabridge_fuzz::check_claimed_instance(input);
});
