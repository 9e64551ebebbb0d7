//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the exact bytes received, keyed with
//! the Meta app secret, compared in constant time. Several secrets may be configured so a
//! secret can be rotated; any of them is accepted. Never verify over a re-serialised body.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The escaped-form fallback (see [`verify`]) is tried only for bodies up to this size, so a
/// flood of large unsigned bodies cannot make the bridge re-encode megabytes each.
const ESCAPED_FALLBACK_MAX: usize = 1024 * 1024;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    Malformed,
    /// Well-formed, but no configured secret produces it.
    Mismatch,
}

impl SignatureError {
    /// Stable machine-readable code (error bodies, metric labels).
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_invalid",
        }
    }
}

fn mac_matches(secret: &[u8], body: &[u8], expected: &[u8; 32]) -> bool {
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

/// Computes the header value Meta would send for `body` (used by the simulator and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Escapes every non-ASCII character as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs),
/// the form Meta documents signing over. Only used as a fallback when the raw bytes do not
/// verify and contain non-ASCII bytes.
fn escape_non_ascii(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::with_capacity(body.len() + 64);
    for ch in text.chars() {
        if ch.is_ascii() {
            out.push(ch as u8);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
            }
        }
    }
    Some(out)
}

/// Verifies `header` (the `X-Hub-Signature-256` value) over `body` with any of `secrets`.
pub fn verify(secrets: &[Secret], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_part = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut expected).map_err(|_| SignatureError::Malformed)?;
    if secrets
        .iter()
        .any(|s| mac_matches(s.expose().as_bytes(), body, &expected))
    {
        return Ok(());
    }
    if body.len() <= ESCAPED_FALLBACK_MAX
        && !body.is_ascii()
        && let Some(escaped) = escape_non_ascii(body)
        && secrets
            .iter()
            .any(|s| mac_matches(s.expose().as_bytes(), &escaped, &expected))
    {
        return Ok(());
    }
    Err(SignatureError::Mismatch)
}

/// Compares two secrets in time that tells nothing about them: their SHA-256 digests are
/// compared without stopping at the first difference, so neither how much of a guess was right
/// nor whether its length was (a length check first would answer at once for a wrong length:
/// issue 17 item 8) shows in the time taken.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality_of_the_bytes_whatever_the_lengths() {
        assert!(constant_time_eq(b"admin-token-0123", b"admin-token-0123"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"admin-token-0123", b"admin-token-0124"));
        assert!(!constant_time_eq(b"admin-token-0123", b"admin-token-012"));
        assert!(!constant_time_eq(b"admin-token-0123", b"admin-token-01234"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}],"x":"a\/b \u00e7"}"#;

    #[test]
    fn p07_good_signature_is_accepted() {
        let header = sign("s3cret", BODY);
        assert_eq!(verify(&secrets(&["s3cret"]), Some(&header), BODY), Ok(()));
        // Uppercase hex is still the same digest.
        let upper = format!("sha256={}", header[7..].to_ascii_uppercase());
        assert_eq!(verify(&secrets(&["s3cret"]), Some(&upper), BODY), Ok(()));
    }

    #[test]
    fn p07_signature_matches_python_hmac_vector() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'test-app-secret', b'{\"a\":1}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("test-app-secret", br#"{"a":1}"#),
            "sha256=a9076adb7408d26443ef1902aaae098b7ab6b934eddfa6fc1338cd0153ddda4d"
        );
    }

    #[test]
    fn p07_bad_missing_and_malformed_signatures_are_refused() {
        let s = secrets(&["s3cret"]);
        let header = sign("other", BODY);
        assert_eq!(
            verify(&s, Some(&header), BODY),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&s, None, BODY), Err(SignatureError::Missing));
        let no_prefix = &sign("s3cret", BODY)[7..];
        assert_eq!(
            verify(&s, Some(no_prefix), BODY),
            Err(SignatureError::Malformed)
        );
        let sha1 = format!("sha1={}", &sign("s3cret", BODY)[7..]);
        assert_eq!(
            verify(&s, Some(&sha1), BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&s, Some("sha256=zz"), BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&s, Some("sha256="), BODY),
            Err(SignatureError::Malformed)
        );
        // A signature of another body.
        let other = sign("s3cret", b"{}");
        assert_eq!(
            verify(&s, Some(&other), BODY),
            Err(SignatureError::Mismatch)
        );
        // Truncated signature.
        let cut = &sign("s3cret", BODY)[..60];
        assert_eq!(verify(&s, Some(cut), BODY), Err(SignatureError::Malformed));
    }

    #[test]
    fn p07_any_secret_in_the_rotation_list_is_accepted() {
        let s = secrets(&["old", "new"]);
        assert_eq!(verify(&s, Some(&sign("old", BODY)), BODY), Ok(()));
        assert_eq!(verify(&s, Some(&sign("new", BODY)), BODY), Ok(()));
        assert_eq!(
            verify(&s, Some(&sign("gone", BODY)), BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn signature_over_escaped_form_is_accepted_for_unescaped_body() {
        let unescaped = "{\"t\":\"ação 😀\"}".as_bytes();
        let escaped = br#"{"t":"a\u00e7\u00e3o \ud83d\ude00"}"#;
        let header = sign("k", escaped);
        assert_eq!(verify(&secrets(&["k"]), Some(&header), unescaped), Ok(()));
        // ...but never the other way round for an unrelated body.
        assert_eq!(
            verify(&secrets(&["k"]), Some(&header), b"{\"t\":\"x\"}"),
            Err(SignatureError::Mismatch)
        );
    }
}
