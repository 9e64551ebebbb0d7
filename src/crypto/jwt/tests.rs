use super::*;
use ed25519_dalek::pkcs8::EncodePublicKey;
use serde_json::json;

const SECRET: &str = "instance-secret-0123456789abcdef";
const INS: &str = "ins_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const AUD: &str = "metabridge";
const HOUR: Duration = Duration::from_secs(3600);
const EVT_1: &str = "evt_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a1";
const EVT_2: &str = "evt_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a2";

fn ins() -> InstanceId {
    InstanceId::parse(INS).unwrap()
}

fn evt(id: &str) -> EventId {
    EventId::parse(id).unwrap()
}

// Test keys made once with `openssl genrsa 2048|1024`, `openssl rsa -pubout`,
// `openssl rsa -RSAPublicKey_out` and `openssl genpkey -algorithm ec` (P-256).
const RSA_2048_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC5YBb1b9W0vmGv
/DocbS9qa+hRvl+Q+Curj1ygRfPi8JKjCISfI3LilwtLfvKeW87WZPha9HCNW3nz
QD2KD3uX1iQ0vgJ7NTniR5YpyL1Lk2NQjYNssnMY5oxg2HsW0kotO6tVxkyXCDT5
qcXVxU9WGsaKFhvNc5f//wLqyphgphTPdCiKLoT1WFip9ksKH/xHC92oebc78xsL
x2MAoi6gHLTZiB1+GxAScpvAhMV25FHa9J/+QFJPhTzY01bucfZIO9XN/1pL/g2v
ZV+o/xVsr7RyVIuGDY85xnBNDC41AjVBz/JguPbMhfdJlInfbm4rU+HX9AKI3O+t
2FvSHcjZAgMBAAECggEAAg742kteYGYv0AQ5QfkNan1dxFCcn4+97mcGZIo6UdYR
jslorZq3ayA5wiIcABmtY5CV+G6X9F3kbgjT1h1jZjV8y/AjN2qJJMPePUMLJRRz
KSEVKUcXA5sFyoqE3WVC6RstRSPRVGkFK5OQzJWnEqHz+/MQZnjm4nMavXA3/nS8
1gOsgwbHRiG0D/4VZ5BI71Dg3zRWLBP3c8jZB4S+ymJ6biFDUopv44RXH7qJASl3
kZQihhQaU936epNV0NVq/s7nQZaD+wvvsRjzm0Ju0MBvRdvo7l3tjVojwzDbsxjS
Ig2diW50RRxCwor1PfUu5p696EvnpZEpaCO0m9hWQQKBgQDfCb02Hl80zRdxh4bJ
wfNPZutKdqKnGFO6oIfO5MP0q3P8hES1urt/ezpWj2dcqdAjUpswzjwYf1tQZd6n
uVN9znCZpQp6HnpPx9SMdBDftGLeeZeS3e/CPOY3nUDvvlLB26bHCMBJS74X3+Fr
QnTTMikhAj+TlU6bM3uY1i9LuQKBgQDUxXKExknMig2m9Kd49qxeODkh+9ut8Aog
v5FBI2wk+s7zvnZXNgv03HAQZvewJBBRsYXPJT42e14gqvPX3YjD2cZJnkOPVkLY
L/rPymsmQ91Q/M6iMzPnGJkfrsi7cgRo+m6cr00ekvlXhfDBP4THoRYqQ5xbcCZN
sDtBmmw2IQKBgQCE3adi0usCaF7b2dF45VpNZdEq9ctlYT+XwMPGg08ctPqOZjkM
TWYexkj1gc4gTGTadf5PL7xrF4tNNLJUFjnfixhW3xODth5E4pUC6q2Wpj3zrFmY
Oy/19RNr8/jYGPfx1ijfDp6Fy2I9lLgTjm5L1ejcaht3jo1aNWwemxFnuQKBgARv
USG/WE5xGjO+qbb1vUYBef9hVoTbmfpww8BN0rU6nRGriJ/suncSGSveWY9MUSLC
xn0404EjNSUNKyP2tCEQ6vch21qje6Ux6tJl77HOfFBx1ITA+HX6p0ZnyDtP9xOR
FLkjVkIq4hOW8Ru2DThz/RhIbHvjbIj2AWYup87BAoGBAI4iYtH0hfa2tE2z2f9A
Yy8V3wIIe22FJn90gHt6edeaBU0T53D3biqPDaBOEmX/JukOFjGj5fWJPAZUcMdw
ykNWh8QRIdAXCqQyIg9JgALqc4w0aQpU5Wg5be3ybWRCL7CPrSMhfi4oeMQjoK61
Py50so9fXQPM5fVow5xDHHvE
-----END PRIVATE KEY-----
";

const RSA_2048_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuWAW9W/VtL5hr/w6HG0v
amvoUb5fkPgrq49coEXz4vCSowiEnyNy4pcLS37ynlvO1mT4WvRwjVt580A9ig97
l9YkNL4CezU54keWKci9S5NjUI2DbLJzGOaMYNh7FtJKLTurVcZMlwg0+anF1cVP
VhrGihYbzXOX//8C6sqYYKYUz3Qoii6E9VhYqfZLCh/8RwvdqHm3O/MbC8djAKIu
oBy02YgdfhsQEnKbwITFduRR2vSf/kBST4U82NNW7nH2SDvVzf9aS/4Nr2VfqP8V
bK+0clSLhg2POcZwTQwuNQI1Qc/yYLj2zIX3SZSJ325uK1Ph1/QCiNzvrdhb0h3I
2QIDAQAB
-----END PUBLIC KEY-----
";

const RSA_2048_PUBLIC_PKCS1: &str = "\
-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAuWAW9W/VtL5hr/w6HG0vamvoUb5fkPgrq49coEXz4vCSowiEnyNy
4pcLS37ynlvO1mT4WvRwjVt580A9ig97l9YkNL4CezU54keWKci9S5NjUI2DbLJz
GOaMYNh7FtJKLTurVcZMlwg0+anF1cVPVhrGihYbzXOX//8C6sqYYKYUz3Qoii6E
9VhYqfZLCh/8RwvdqHm3O/MbC8djAKIuoBy02YgdfhsQEnKbwITFduRR2vSf/kBS
T4U82NNW7nH2SDvVzf9aS/4Nr2VfqP8VbK+0clSLhg2POcZwTQwuNQI1Qc/yYLj2
zIX3SZSJ325uK1Ph1/QCiNzvrdhb0h3I2QIDAQAB
-----END RSA PUBLIC KEY-----
";

const RSA_1024_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCf2k+48EPSFqxXOFBY5GNfQN/c
BcO6Rq661vbMHh5jeouWMyUZ85UcFYnwf9NopMjHeTg4LAnMyHZV+lu8xi5Efr1f
kKgbw9XPShjOr43kEvS2TS3Qzh9GxoNhjzcrXvrJqwfvWas0cGtS14NcaGXzNc6a
2Sxdf72yqmhT3gpOnwIDAQAB
-----END PUBLIC KEY-----
";

const EC_P256_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEp6u/iTiy+OFeFDB+6lMntE8aqA5o
XxM50AaTZkrolRGoX0NpCcD4O098dydajsTdk/0JAwKtO6Df0w8fIYd3WQ==
-----END PUBLIC KEY-----
";

fn token(alg: Algorithm, claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

fn signed(
    alg: Algorithm,
    kid: Option<&str>,
    claims: serde_json::Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, key).expect("encode")
}

fn verify(t: &str) -> Result<(), AuthError> {
    verify_instance_token(t, &ins(), SECRET, AUD, HOUR)
}

fn verify_keys(t: &str, keys: &[VerificationKey]) -> Result<(), AuthError> {
    verify_instance_token_with_keys(t, &ins(), keys, AUD, HOUR)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn good_claims() -> serde_json::Value {
    json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 60})
}

fn b64(v: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).expect("json"))
}

fn rsa_signing_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_2048_PRIVATE.as_bytes()).expect("rsa key")
}

fn rs256_key(kid: &str) -> VerificationKey {
    VerificationKey::public_pem(kid, KeyAlg::Rs256, RSA_2048_PUBLIC).expect("rs256 key")
}

/// An Ed25519 pair: (signing key for tokens, registered verification key, private PEM).
fn ed_pair(kid: &str) -> (EncodingKey, VerificationKey, String) {
    let (_, private_pem) = BridgeKey::generate();
    let sk = ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem).expect("pem");
    let public_pem = sk
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    let enc = EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("ed key");
    let vk = VerificationKey::public_pem(kid, KeyAlg::EdDsa, public_pem).expect("ed vk");
    (enc, vk, private_pem)
}

#[test]
fn p08_valid_token_is_accepted() {
    let t = token(Algorithm::HS256, good_claims(), SECRET);
    assert_eq!(claimed_instance(&t).expect("claim"), INS);
    assert_eq!(verify(&t), Ok(()));
    // The single-secret wrapper ignores a kid.
    let t = signed(
        Algorithm::HS256,
        Some("whatever"),
        good_claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    );
    assert_eq!(verify(&t), Ok(()));
}

#[test]
fn p08_token_attacks_are_refused() {
    let n = now();
    // Expired.
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Expired));
    // No exp.
    let t = token(Algorithm::HS256, json!({"iss": INS, "aud": AUD}), SECRET);
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Wrong audience.
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": "other", "exp": n + 60}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Several audiences, ours among them.
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": [AUD, "other"], "exp": n + 60}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Wrong secret.
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": AUD, "exp": n + 60}),
        "other-secret",
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Other algorithm with the same secret.
    let t = token(
        Algorithm::HS512,
        json!({"iss": INS, "aud": AUD, "exp": n + 60}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Lifetime over the maximum.
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": AUD, "iat": n, "exp": n + 7200}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // Another instance named.
    let t = token(
        Algorithm::HS256,
        json!({"iss": "ins_x", "aud": AUD, "exp": n + 60}),
        SECRET,
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    // alg none.
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"iss": INS, "aud": AUD, "exp": n + 60}))
    );
    assert_eq!(verify(&none), Err(AuthError::Invalid));
    // Garbage.
    assert_eq!(claimed_instance("a.b"), Err(AuthError::Invalid));
    assert_eq!(verify("not a token"), Err(AuthError::Invalid));
}

#[test]
fn keys_valid_hs256_rs256_eddsa_tokens_are_accepted() {
    let (ed_enc, ed_vk, _) = ed_pair("ed1");
    let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1"), ed_vk];
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let rsa = rsa_signing_key();
    for kid in [None, Some("h1")] {
        let t = signed(Algorithm::HS256, kid, good_claims(), &hs);
        assert_eq!(verify_keys(&t, &keys), Ok(()), "HS256 kid {kid:?}");
    }
    for kid in [None, Some("r1")] {
        let t = signed(Algorithm::RS256, kid, good_claims(), &rsa);
        assert_eq!(verify_keys(&t, &keys), Ok(()), "RS256 kid {kid:?}");
    }
    for kid in [None, Some("ed1")] {
        let t = signed(Algorithm::EdDSA, kid, good_claims(), &ed_enc);
        assert_eq!(verify_keys(&t, &keys), Ok(()), "EdDSA kid {kid:?}");
    }
    // `sub` names the instance when `iss` is absent; no `iat` means exp - now counts.
    let t = signed(
        Algorithm::RS256,
        None,
        json!({"sub": INS, "aud": AUD, "exp": now() + 120}),
        &rsa,
    );
    assert_eq!(verify_keys(&t, &keys), Ok(()));
    // A PKCS#1 RSA public key works too.
    let pkcs1 =
        VerificationKey::public_pem("r2", KeyAlg::Rs256, RSA_2048_PUBLIC_PKCS1).expect("pkcs1 key");
    let t = signed(Algorithm::RS256, None, good_claims(), &rsa);
    assert_eq!(verify_keys(&t, &[pkcs1]), Ok(()));
}

#[test]
fn keys_expired_and_not_yet_valid() {
    let n = now();
    let (ed_enc, ed_vk, _) = ed_pair("ed1");
    let keys = [rs256_key("r1"), ed_vk];
    let expired = json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300});
    let t = signed(Algorithm::RS256, None, expired.clone(), &rsa_signing_key());
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Expired));
    let t = signed(Algorithm::EdDSA, None, expired, &ed_enc);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Expired));
    // Expired but signed by someone else: not `Expired`.
    let (other_enc, _, _) = ed_pair("x");
    let t = signed(
        Algorithm::EdDSA,
        None,
        json!({"iss": INS, "aud": AUD, "iat": n - 600, "exp": n - 300}),
        &other_enc,
    );
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    // nbf in the future (beyond the leeway).
    let t = signed(
        Algorithm::RS256,
        None,
        json!({"iss": INS, "aud": AUD, "iat": n, "nbf": n + 600, "exp": n + 900}),
        &rsa_signing_key(),
    );
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    // nbf within the leeway is fine.
    let t = signed(
        Algorithm::RS256,
        None,
        json!({"iss": INS, "aud": AUD, "iat": n, "nbf": n + 5, "exp": n + 900}),
        &rsa_signing_key(),
    );
    assert_eq!(verify_keys(&t, &keys), Ok(()));
    // iat in the future.
    let t = signed(
        Algorithm::RS256,
        None,
        json!({"iss": INS, "aud": AUD, "iat": n + 600, "exp": n + 900}),
        &rsa_signing_key(),
    );
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
}

#[test]
fn keys_claim_checks() {
    let n = now();
    let keys = [rs256_key("r1")];
    let rsa = rsa_signing_key();
    let check = |claims: serde_json::Value| {
        verify_keys(&signed(Algorithm::RS256, None, claims, &rsa), &keys)
    };
    // Wrong audience.
    assert_eq!(
        check(json!({"iss": INS, "aud": "other", "iat": n, "exp": n + 60})),
        Err(AuthError::Invalid)
    );
    // Missing audience, missing exp.
    assert_eq!(
        check(json!({"iss": INS, "iat": n, "exp": n + 60})),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        check(json!({"iss": INS, "aud": AUD, "iat": n})),
        Err(AuthError::Invalid)
    );
    // iss of another instance (even with our id in sub).
    let other = "ins_0190b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
    assert_eq!(
        check(json!({"iss": other, "sub": INS, "aud": AUD, "iat": n, "exp": n + 60})),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        check(json!({"sub": other, "aud": AUD, "iat": n, "exp": n + 60})),
        Err(AuthError::Invalid)
    );
    // No instance named at all.
    assert_eq!(
        check(json!({"aud": AUD, "iat": n, "exp": n + 60})),
        Err(AuthError::Invalid)
    );
    // Lifetime over the maximum, with iat and without (exp - now).
    assert_eq!(
        check(json!({"iss": INS, "aud": AUD, "iat": n, "exp": n + 3600 + 60})),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        check(json!({"iss": INS, "aud": AUD, "exp": n + 7200})),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        check(json!({"iss": INS, "aud": AUD, "exp": n + 3000})),
        Ok(())
    );
}

#[test]
fn keys_wrong_signature_is_refused() {
    let (_, ed_vk, _) = ed_pair("ed1");
    let (other_ed, _, _) = ed_pair("ed2");
    let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1"), ed_vk];
    let t = token(Algorithm::HS256, good_claims(), "not-the-secret");
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    let t = signed(Algorithm::EdDSA, None, good_claims(), &other_ed);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    // A valid RS256 token whose payload was swapped.
    let good = signed(Algorithm::RS256, None, good_claims(), &rsa_signing_key());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 3000, "x": 1})),
        parts[2]
    );
    assert_eq!(verify_keys(&forged, &keys), Err(AuthError::Invalid));
    // No keys at all.
    assert_eq!(verify_keys(&good, &[]), Err(AuthError::Invalid));
}

#[test]
fn keys_alg_none_is_refused() {
    let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "none", "kid": "h1"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE"}),
    ] {
        let t = format!("{}.{}.", b64(header.clone()), b64(good_claims()));
        assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid), "{header}");
    }
}

#[test]
fn keys_algorithm_confusion_is_refused() {
    // HS256 token whose HMAC secret is the registered RS256 public key's PEM text.
    for pem in [RSA_2048_PUBLIC, RSA_2048_PUBLIC.trim()] {
        let confused = EncodingKey::from_secret(pem.as_bytes());
        let keys = [rs256_key("r1")];
        for kid in [None, Some("r1")] {
            let t = signed(Algorithm::HS256, kid, good_claims(), &confused);
            assert_eq!(
                verify_keys(&t, &keys),
                Err(AuthError::Invalid),
                "kid {kid:?}"
            );
        }
        // Also when an HS256 key exists: the kid of the RSA key does not lend its PEM.
        let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
        for kid in [None, Some("r1")] {
            let t = signed(Algorithm::HS256, kid, good_claims(), &confused);
            assert_eq!(
                verify_keys(&t, &keys),
                Err(AuthError::Invalid),
                "kid {kid:?}"
            );
        }
    }
    // Same with an EdDSA key's PEM.
    let (_, ed_vk, _) = ed_pair("ed1");
    let KeyMaterial::PublicPem(ed_pem) = ed_vk.material.clone() else {
        panic!("pem");
    };
    let t = signed(
        Algorithm::HS256,
        None,
        good_claims(),
        &EncodingKey::from_secret(ed_pem.as_bytes()),
    );
    assert_eq!(verify_keys(&t, &[ed_vk]), Err(AuthError::Invalid));
    // Material that does not fit the declared algorithm is never used.
    let mislabeled = VerificationKey {
        kid: "m".into(),
        alg: KeyAlg::Hs256,
        material: KeyMaterial::PublicPem(RSA_2048_PUBLIC.into()),
    };
    let t = signed(
        Algorithm::HS256,
        None,
        good_claims(),
        &EncodingKey::from_secret(RSA_2048_PUBLIC.as_bytes()),
    );
    assert_eq!(verify_keys(&t, &[mislabeled]), Err(AuthError::Invalid));
    // An empty secret is never a key.
    let t = token(Algorithm::HS256, good_claims(), "");
    assert_eq!(
        verify_keys(&t, &[VerificationKey::hs256("e", "")]),
        Err(AuthError::Invalid)
    );
}

#[test]
fn keys_rs256_token_with_only_hs256_key_is_refused() {
    let keys = [VerificationKey::hs256("h1", SECRET)];
    let t = signed(Algorithm::RS256, None, good_claims(), &rsa_signing_key());
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    let t = signed(
        Algorithm::RS256,
        Some("h1"),
        good_claims(),
        &rsa_signing_key(),
    );
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    // And the single-secret wrapper.
    assert_eq!(verify(&t), Err(AuthError::Invalid));
}

#[test]
fn keys_unknown_kid_is_refused() {
    let keys = [VerificationKey::hs256("h1", SECRET), rs256_key("r1")];
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let t = signed(Algorithm::HS256, Some("nope"), good_claims(), &hs);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    let t = signed(Algorithm::HS256, Some(""), good_claims(), &hs);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
}

#[test]
fn keys_kid_selects_one_of_two_during_rotation() {
    let old = "old-secret-0123456789abcdef0123456";
    let new = "new-secret-0123456789abcdef0123456";
    let keys = [
        VerificationKey::hs256("k-old", old),
        VerificationKey::hs256("k-new", new),
    ];
    let enc_old = EncodingKey::from_secret(old.as_bytes());
    let enc_new = EncodingKey::from_secret(new.as_bytes());
    // Both keys valid, each under its own kid or without a kid.
    for (kid, enc) in [("k-old", &enc_old), ("k-new", &enc_new)] {
        let t = signed(Algorithm::HS256, Some(kid), good_claims(), enc);
        assert_eq!(verify_keys(&t, &keys), Ok(()), "{kid}");
        let t = signed(Algorithm::HS256, None, good_claims(), enc);
        assert_eq!(verify_keys(&t, &keys), Ok(()), "{kid} without kid");
    }
    // A kid selects only its key: signed by the new key, labelled old.
    let t = signed(Algorithm::HS256, Some("k-old"), good_claims(), &enc_new);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    // Once the old key is removed its tokens stop working.
    let t = signed(Algorithm::HS256, Some("k-old"), good_claims(), &enc_old);
    assert_eq!(verify_keys(&t, &keys[1..]), Err(AuthError::Invalid));
    // Same with two EdDSA keys.
    let (e1, v1, _) = ed_pair("e1");
    let (e2, v2, _) = ed_pair("e2");
    let keys = [v1, v2];
    let t = signed(Algorithm::EdDSA, Some("e2"), good_claims(), &e2);
    assert_eq!(verify_keys(&t, &keys), Ok(()));
    let t = signed(Algorithm::EdDSA, Some("e1"), good_claims(), &e2);
    assert_eq!(verify_keys(&t, &keys), Err(AuthError::Invalid));
    let t = signed(Algorithm::EdDSA, None, good_claims(), &e1);
    assert_eq!(verify_keys(&t, &keys), Ok(()));
}

#[test]
fn keys_oversized_token_is_refused() {
    let padding = "x".repeat(MAX_TOKEN_BYTES);
    let t = token(
        Algorithm::HS256,
        json!({"iss": INS, "aud": AUD, "iat": now(), "exp": now() + 60, "pad": padding}),
        SECRET,
    );
    assert!(t.len() > MAX_TOKEN_BYTES);
    assert_eq!(
        verify_keys(&t, &[VerificationKey::hs256("h", SECRET)]),
        Err(AuthError::Invalid)
    );
    assert_eq!(verify(&t), Err(AuthError::Invalid));
    assert_eq!(claimed_instance(&t), Err(AuthError::Invalid));
}

#[test]
fn eddsa_callback_token_verifies_with_jwks() {
    let (key, pem) = BridgeKey::generate();
    let (retired, _) = BridgeKey::generate();
    let set = jwks(&[&key, &retired, &key]);
    assert_eq!(set["keys"].as_array().map(Vec::len), Some(2));
    let first = &set["keys"][0];
    assert_eq!(first["kty"], "OKP");
    assert_eq!(first["crv"], "Ed25519");
    assert_eq!(first["alg"], "EdDSA");
    assert_eq!(first["use"], "sig");
    assert_eq!(first["kid"], key.kid());
    assert_eq!(first["x"], key.x());

    let t = mint_callback_token_eddsa(&key, &ins(), &evt(EVT_1), b"{}");
    let header = jsonwebtoken::decode_header(&t).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    assert_eq!(claimed_audience(&t).as_deref(), Some(INS));

    // A receiver: pick the key by kid from the JWKS, decode it back from the JWK.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(set).expect("jwks");
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("key in set");
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[INS]);
    v.set_issuer(&[BRIDGE_ISSUER]);
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    let data =
        jsonwebtoken::decode::<CallbackClaims>(&t, &DecodingKey::from_jwk(jwk).expect("jwk"), &v)
            .expect("verifies");
    assert_eq!(data.claims.sub, EVT_1);
    assert!(data.claims.exp - data.claims.iat <= CALLBACK_TOKEN_TTL_SECS);
    // From the raw x too.
    let raw = DecodingKey::from_ed_components(key.x()).expect("x");
    assert!(jsonwebtoken::decode::<CallbackClaims>(&t, &raw, &v).is_ok());
    // The retired key does not verify it.
    let wrong = set.find(retired.kid()).expect("retired");
    assert!(
        jsonwebtoken::decode::<CallbackClaims>(&t, &DecodingKey::from_jwk(wrong).expect("jwk"), &v)
            .is_err()
    );
    // The stored PEM reloads into the same key.
    let reloaded = BridgeKey::from_pkcs8_pem(&pem).expect("reload");
    assert_eq!(reloaded.kid(), key.kid());
    assert_eq!(reloaded.x(), key.x());
    assert!(
        jsonwebtoken::decode::<CallbackClaims>(
            &mint_callback_token_eddsa(&reloaded, &ins(), &evt(EVT_2), b"{}"),
            &key.decoding_key(),
            &v
        )
        .is_ok()
    );
    // The Debug form shows no key material.
    assert!(!format!("{key:?}").contains(pem.lines().nth(1).unwrap_or("-")));
}

#[test]
fn bridge_signer_mints_both_kinds() {
    let (key, _) = BridgeKey::generate();
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[INS]);
    let hs = BridgeSigner::InstanceSecret(SECRET);
    assert_eq!(hs.alg(), KeyAlg::Hs256);
    let t = hs.mint(&ins(), &evt(EVT_1), b"hs");
    let data = jsonwebtoken::decode::<CallbackClaims>(
        &t,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &v,
    )
    .expect("hs256 verifies");
    assert_eq!(data.claims.body_sha256, body_sha256(b"hs"));
    let ed = BridgeSigner::BridgeKey(&key);
    assert_eq!(ed.alg(), KeyAlg::EdDsa);
    let t = ed.mint(&ins(), &evt(EVT_1), b"ed");
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[INS]);
    let data = jsonwebtoken::decode::<CallbackClaims>(&t, &key.decoding_key(), &v)
        .expect("eddsa verifies");
    assert_eq!(data.claims.body_sha256, body_sha256(b"ed"));
    assert!(!format!("{hs:?}").contains(SECRET));
}

#[test]
fn bridge_key_kid_is_the_rfc7638_thumbprint() {
    // RFC 8037 appendix A.1 / A.3: the Ed25519 key and its JWK thumbprint.
    let d = URL_SAFE_NO_PAD
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .expect("d");
    let seed: [u8; 32] = d.try_into().expect("32 bytes");
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .expect("pem");
    let key = BridgeKey::from_pkcs8_pem(&pem).expect("key");
    assert_eq!(key.x(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

#[test]
fn bridge_key_refuses_other_keys() {
    let err = BridgeKey::from_pkcs8_pem(RSA_2048_PRIVATE).expect_err("rsa");
    assert_eq!(err.code(), "wrong_key_type");
    let err = BridgeKey::from_pkcs8_pem(RSA_2048_PUBLIC).expect_err("public");
    assert_eq!(err.code(), "invalid_key");
    let err = BridgeKey::from_pkcs8_pem("garbage").expect_err("garbage");
    assert_eq!(err.code(), "invalid_key");
    let (_, pem) = BridgeKey::generate();
    let two = format!("{pem}{pem}");
    assert_eq!(
        BridgeKey::from_pkcs8_pem(&two).expect_err("two").code(),
        "invalid_key"
    );
}

#[test]
fn public_key_validation() {
    assert_eq!(
        validate_public_key_pem(KeyAlg::Rs256, RSA_2048_PUBLIC),
        Ok(())
    );
    assert_eq!(
        validate_public_key_pem(KeyAlg::Rs256, RSA_2048_PUBLIC_PKCS1),
        Ok(())
    );
    let (_, ed_vk, ed_private) = ed_pair("e");
    let KeyMaterial::PublicPem(ed_pem) = &ed_vk.material else {
        panic!("pem");
    };
    assert_eq!(validate_public_key_pem(KeyAlg::EdDsa, ed_pem), Ok(()));
    // CRLF line endings and surrounding whitespace.
    let crlf = format!("\n{}\n", ed_pem.replace('\n', "\r\n"));
    assert_eq!(validate_public_key_pem(KeyAlg::EdDsa, &crlf), Ok(()));

    // Private keys, with the exact message.
    for (alg, pem) in [
        (KeyAlg::Rs256, RSA_2048_PRIVATE),
        (KeyAlg::EdDsa, ed_private.as_str()),
        (KeyAlg::EdDsa, RSA_2048_PRIVATE),
    ] {
        let err = validate_public_key_pem(alg, pem).expect_err("private");
        assert_eq!(err, KeyError::PrivateKey);
        assert_eq!(err.code(), "private_key");
        assert_eq!(err.message(), "private key: register the public half only");
    }
    // A public key followed by a private one.
    let both = format!("{RSA_2048_PUBLIC}{RSA_2048_PRIVATE}");
    assert_eq!(
        validate_public_key_pem(KeyAlg::Rs256, &both)
            .expect_err("both")
            .code(),
        "private_key"
    );

    // RSA-1024.
    let err = validate_public_key_pem(KeyAlg::Rs256, RSA_1024_PUBLIC).expect_err("weak");
    assert_eq!(err.code(), "weak_key");
    assert!(err.message().contains("1024"), "{err}");

    // Wrong type for the algorithm.
    for (alg, pem) in [
        (KeyAlg::Rs256, ed_pem.as_str()),
        (KeyAlg::Rs256, EC_P256_PUBLIC),
        (KeyAlg::EdDsa, RSA_2048_PUBLIC),
        (KeyAlg::EdDsa, RSA_2048_PUBLIC_PKCS1),
        (KeyAlg::EdDsa, EC_P256_PUBLIC),
        (KeyAlg::Hs256, RSA_2048_PUBLIC),
    ] {
        let err = validate_public_key_pem(alg, pem).expect_err("wrong type");
        assert_eq!(err.code(), "wrong_key_type", "{alg} {err}");
    }

    // Unreadable, oversized, several blocks, certificate.
    for (alg, pem) in [
        (KeyAlg::Rs256, "not a pem".to_string()),
        (KeyAlg::EdDsa, String::new()),
        (
            KeyAlg::Rs256,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_string(),
        ),
        (KeyAlg::Rs256, RSA_2048_PUBLIC.replace("MIIB", "MIIC")),
        (KeyAlg::Rs256, format!("{RSA_2048_PUBLIC}{RSA_2048_PUBLIC}")),
        (
            KeyAlg::Rs256,
            format!("{RSA_2048_PUBLIC}{}", " ".repeat(MAX_KEY_PEM_BYTES)),
        ),
        (
            KeyAlg::Rs256,
            RSA_2048_PUBLIC.replace("PUBLIC KEY", "CERTIFICATE"),
        ),
    ] {
        let err = validate_public_key_pem(alg, &pem).expect_err("invalid");
        assert_eq!(err.code(), "invalid_key", "{alg} {err}");
    }

    // A key of the right shape that fails validation is never used for verification,
    // even if it was stored before the rule existed.
    let weak = VerificationKey {
        kid: "w".into(),
        alg: KeyAlg::Rs256,
        material: KeyMaterial::PublicPem(RSA_1024_PUBLIC.into()),
    };
    assert!(weak.decoding_key().is_none());
    assert!(VerificationKey::public_pem("w", KeyAlg::Rs256, RSA_1024_PUBLIC).is_err());
    // Debug never shows a secret.
    assert!(!format!("{:?}", VerificationKey::hs256("h", SECRET)).contains(SECRET));
}

#[test]
fn key_alg_names_round_trip() {
    for alg in KeyAlg::ALL {
        assert_eq!(KeyAlg::parse(alg.as_str()), Some(alg));
        assert_eq!(alg.as_str().parse::<KeyAlg>(), Ok(alg));
        assert_eq!(
            alg.algorithm(),
            Algorithm::from_str(alg.as_str()).expect("alg")
        );
        assert_eq!(
            serde_json::to_value(alg).expect("json"),
            serde_json::Value::String(alg.as_str().to_string())
        );
    }
    assert_eq!(KeyAlg::parse("eddsa"), Some(KeyAlg::EdDsa));
    assert_eq!(KeyAlg::parse("none"), None);
    assert_eq!(KeyAlg::parse("HS512"), None);
    assert_eq!(
        "PS256".parse::<KeyAlg>().expect_err("ps").code(),
        "invalid_key"
    );
}

#[test]
fn callback_token_verifies_with_instance_secret() {
    let body = br#"{"id":"evt"}"#;
    let t = mint_callback_token(SECRET, &ins(), &evt(EVT_1), body);
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[INS]);
    let data = jsonwebtoken::decode::<CallbackClaims>(
        &t,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &v,
    )
    .expect("verifies");
    assert_eq!(data.claims.iss, BRIDGE_ISSUER);
    assert_eq!(data.claims.sub, EVT_1);
    assert!(data.claims.exp - data.claims.iat <= CALLBACK_TOKEN_TTL_SECS);
    assert_eq!(data.claims.body_sha256, body_sha256(body));
}

#[test]
fn body_sha256_is_lowercase_hex_of_the_bytes() {
    // FIPS 180-2 test vector ("abc").
    assert_eq!(
        body_sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        body_sha256(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
