//! Signature and JWT checks: each compares the library with a small model written from its
//! documentation, on arbitrary inputs and on inputs built to be valid.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use metabridge::config::Secret;
use metabridge::crypto::jwt::{MAX_TOKEN_BYTES, claimed_audience, claimed_instance};
use metabridge::crypto::signature::{SignatureError, sign, verify};
use serde_json::{Map, Value};

/// The escaped-form fallback is tried only up to this size (mirrors signature.rs).
const ESCAPED_FALLBACK_MAX: usize = 1024 * 1024;

#[derive(Arbitrary, Debug)]
pub struct SignatureInput {
    /// The configured secrets (rotation list); may be empty.
    secrets: Vec<String>,
    /// Which secret Meta signs with (an index into `secrets`, or `fallback` when it is empty).
    signer: u8,
    fallback: String,
    body: Vec<u8>,
    other_body: Vec<u8>,
    /// A header as an attacker or a broken proxy may send it.
    header: String,
    /// An edit of the correct header.
    edit: Edit,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Uppercase,
    MixedCase(u64),
    Pad(Pad, Pad),
    Flip { at: u8, by: u8 },
    Truncate(u8),
    Append(char),
    Insert { at: u8, ch: char },
    DropPrefix,
    Prefix(String),
    Repeat,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pad {
    None,
    Space,
    Tab,
    Newline,
    Nbsp,
}

impl Pad {
    fn as_str(self) -> &'static str {
        match self {
            Pad::None => "",
            Pad::Space => " ",
            Pad::Tab => "\t",
            Pad::Newline => "\r\n",
            Pad::Nbsp => "\u{a0}",
        }
    }
}

fn edit_header(good: &str, edit: &Edit) -> String {
    let hex = &good["sha256=".len()..];
    match edit {
        Edit::Uppercase => format!("sha256={}", hex.to_ascii_uppercase()),
        Edit::MixedCase(bits) => {
            let mixed: String = hex
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            format!("sha256={mixed}")
        }
        Edit::Pad(a, b) => format!("{}{good}{}", a.as_str(), b.as_str()),
        Edit::Flip { at, by } => {
            let mut bytes = good.as_bytes().to_vec();
            let i = usize::from(*at) % bytes.len();
            bytes[i] = bytes[i].wrapping_add((*by).max(1));
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Edit::Truncate(n) => good[..usize::from(*n) % good.len()].to_owned(),
        Edit::Append(c) => format!("{good}{c}"),
        Edit::Insert { at, ch } => {
            let mut s = good.to_owned();
            s.insert(usize::from(*at) % good.len(), *ch);
            s
        }
        Edit::DropPrefix => hex.to_owned(),
        Edit::Prefix(p) => format!("{p}{hex}"),
        Edit::Repeat => format!("{good}{hex}"),
    }
}

/// Meta's documented escaped form: every non-ASCII character as `\uXXXX` (lowercase, UTF-16).
fn escape_non_ascii(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    Some(out.into_bytes())
}

/// What `verify` must answer: the header, trimmed, is `sha256=` and 64 hex digits (any case)
/// equal to the HMAC of the body, or of its escaped form, under one of the secrets.
fn model(secrets: &[String], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let hex = hex.to_ascii_lowercase();
    let mut forms = vec![body.to_vec()];
    if body.len() <= ESCAPED_FALLBACK_MAX
        && !body.is_ascii()
        && let Some(escaped) = escape_non_ascii(body)
    {
        forms.push(escaped);
    }
    let matches = secrets
        .iter()
        .any(|s| forms.iter().any(|f| sign(s, f)["sha256=".len()..] == hex));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

pub fn check_signature(input: SignatureInput) {
    let mut names = input.secrets;
    names.truncate(4);
    let secrets: Vec<Secret> = names.iter().map(|s| Secret::new(s.as_str())).collect();
    let signer = if names.is_empty() {
        input.fallback.clone()
    } else {
        names[usize::from(input.signer) % names.len()].clone()
    };
    let body = &input.body;

    // sign: the header format Meta uses.
    let good = sign(&signer, body);
    assert_eq!(good.len(), "sha256=".len() + 64, "{good}");
    assert!(good.starts_with("sha256="));
    assert!(
        good["sha256=".len()..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_eq!(good, sign(&signer, body), "sign is not deterministic");

    // Missing header.
    assert_eq!(verify(&secrets, None, body), Err(SignatureError::Missing));

    // The correct signature verifies, with every secret of the rotation list.
    if !names.is_empty() {
        for s in &names {
            assert_eq!(verify(&secrets, Some(&sign(s, body)), body), Ok(()));
        }
    }

    // The same signature over another body is refused (unless that body's escaped form is
    // the signed one, which is the documented fallback).
    let other = &input.other_body;
    let escapes_to_body = !other.is_ascii()
        && other.len() <= ESCAPED_FALLBACK_MAX
        && escape_non_ascii(other).as_deref() == Some(body.as_slice());
    if other != body && !escapes_to_body {
        let only_signer = [Secret::new(signer.as_str())];
        assert_eq!(
            verify(&only_signer, Some(&good), other),
            Err(SignatureError::Mismatch),
            "a signature of another body was accepted"
        );
    }

    // Whatever the header, verify answers exactly what the model says.
    let edited = edit_header(&good, &input.edit);
    for (header, b) in [
        (good.as_str(), body.as_slice()),
        (good.as_str(), other.as_slice()),
        (edited.as_str(), body.as_slice()),
        (input.header.as_str(), body.as_slice()),
        (input.header.as_str(), other.as_slice()),
    ] {
        assert_eq!(
            verify(&secrets, Some(header), b),
            model(&names, Some(header), b),
            "header {header:?}"
        );
    }
}

#[derive(Arbitrary, Debug)]
pub struct JwtInput {
    /// Any string presented as a bearer token.
    raw: String,
    /// A well-formed token: header and signature segments (dots removed), payload claims.
    header: String,
    iss: Option<Claim>,
    sub: Option<Claim>,
    extra: Vec<(String, String)>,
    padding: u8,
    signature: String,
}

#[derive(Arbitrary, Debug)]
enum Claim {
    Instance(String),
    Other(String),
}

impl Claim {
    fn value(&self) -> String {
        match self {
            Claim::Instance(s) => format!("{}{s}", metabridge::ids::INSTANCE),
            Claim::Other(s) => s.clone(),
        }
    }
}

/// `iss` when it is an instance id, else `sub` (mirrors jwt.rs's rule, from its doc).
fn expected_instance(iss: Option<&str>, sub: Option<&str>) -> Option<String> {
    match iss {
        Some(i) if i.starts_with(metabridge::ids::INSTANCE) => Some(i.to_owned()),
        _ => sub.map(str::to_owned),
    }
}

pub fn check_claimed_instance(input: JwtInput) {
    // Arbitrary strings: never panics; a success names the payload's instance.
    let _ = claimed_audience(&input.raw);
    if let Ok(claimed) = claimed_instance(&input.raw) {
        assert!(input.raw.len() <= MAX_TOKEN_BYTES);
        let parts: Vec<&str> = input.raw.split('.').collect();
        assert_eq!(parts.len(), 3, "accepted a token without three segments");
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[1].trim_end_matches('='))
            .expect("accepted a payload that is not base64url");
        let payload: Value = serde_json::from_slice(&bytes).expect("accepted a non-JSON payload");
        let (iss, sub) = match &payload {
            Value::Object(m) => (m.get("iss"), m.get("sub")),
            // serde's derived Deserialize also takes a struct as a sequence of its fields.
            Value::Array(a) if a.len() == 2 => (a.first(), a.get(1)),
            other => panic!("accepted payload {other}"),
        };
        let expected = expected_instance(iss.and_then(Value::as_str), sub.and_then(Value::as_str));
        assert_eq!(Some(claimed), expected);
    }

    // Built tokens: the claimed instance follows the rule above, whatever else the token holds.
    let strip = |s: &str| s.replace('.', "");
    let mut claims = Map::new();
    for (k, v) in input.extra.iter().take(8) {
        if k != "iss" && k != "sub" {
            claims.insert(k.clone(), Value::String(v.clone()));
        }
    }
    let iss = input.iss.as_ref().map(Claim::value);
    let sub = input.sub.as_ref().map(Claim::value);
    if let Some(i) = &iss {
        claims.insert("iss".to_owned(), Value::String(i.clone()));
    }
    if let Some(s) = &sub {
        claims.insert("sub".to_owned(), Value::String(s.clone()));
    }
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
    let token = format!(
        "{}.{payload}{}.{}",
        strip(&input.header),
        "=".repeat(usize::from(input.padding % 3)),
        strip(&input.signature)
    );
    let got = claimed_instance(&token).ok();
    if token.len() > MAX_TOKEN_BYTES {
        assert_eq!(got, None, "oversized token accepted");
    } else {
        assert_eq!(got, expected_instance(iss.as_deref(), sub.as_deref()));
    }
}
