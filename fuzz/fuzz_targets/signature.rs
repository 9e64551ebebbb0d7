//! `crypto::signature::{sign, verify}`: the correct signature verifies (with every secret of
//! the rotation list, in any hex case, with surrounding whitespace); a missing header is
//! `Missing`; a signature of another body is refused; and for any header, including edits of
//! the correct one, `verify` gives exactly the answer of an independent model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabridge_fuzz::oracle::SignatureInput;

fuzz_target!(|input: SignatureInput| {
    metabridge_fuzz::check_signature(input);
});
