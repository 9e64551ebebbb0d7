//! Instance authentication on `/v1` with registered keys (HS256 secret, RS256 and EdDSA public
//! keys with `kid`), every classic JWT attack, and the bridge's EdDSA callbacks + JWKS (P08).

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::pkcs8::spki::EncodePublicKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(registered_keys_verify_and_every_attack_is_refused);

fn rsa_pair() -> (String, String) {
    let private = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl");
    assert!(private.status.success());
    let mut child = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl pkey");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&private.stdout)
            .expect("write");
    }
    let public = child.wait_with_output().expect("pubout");
    (
        String::from_utf8(private.stdout).expect("pem"),
        String::from_utf8(public.stdout).expect("pem"),
    )
}

fn claims(instance: &str, lifetime: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": instance, "aud": "metabridge", "iat": now, "exp": now + lifetime})
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, key).expect("encode")
}

async fn call(app: &TestApp, token: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}/v1/channels", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn registered_keys_verify_and_every_attack_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let t = app.tenant("Loja", None).await;
    let id = t.instance_id.clone();
    let (rsa_private, rsa_public) = rsa_pair();
    let (bridge_style, ed_private_pem) = metabridge::crypto::jwt::BridgeKey::generate();
    drop(bridge_style);
    let ed_public = ed25519_dalek::SigningKey::from_pkcs8_pem(&ed_private_pem)
        .expect("ed key")
        .verifying_key()
        .to_public_key_pem(Default::default())
        .expect("public pem");
    for (kid, alg, pem) in [
        ("rsa-1", "RS256", &rsa_public),
        ("ed-1", "EdDSA", &ed_public),
    ] {
        let (s, v) = app
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/instances/{id}/keys"),
                Some(json!({"kid": kid, "alg": alg, "public_key": pem})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    // A private key is refused, and never stored.
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/instances/{id}/keys"),
            Some(json!({"kid": "oops", "alg": "RS256", "public_key": rsa_private})),
        )
        .await;
    assert_eq!((s, v["rule"].as_str()), (422, Some("private_key")), "{v}");

    let rsa = EncodingKey::from_rsa_pem(rsa_private.as_bytes()).expect("rsa");
    let ed = EncodingKey::from_ed_pem(ed_private_pem.as_bytes()).expect("ed");
    let hs = EncodingKey::from_secret(t.secret.as_bytes());
    let good = claims(&id, 300);
    // Valid with each key.
    for token in [
        sign(Algorithm::RS256, Some("rsa-1"), &rsa, &good),
        sign(Algorithm::EdDSA, Some("ed-1"), &ed, &good),
        sign(Algorithm::HS256, None, &hs, &good),
    ] {
        assert_eq!(call(&app, &token).await.0, 200);
    }
    let refused = |code: &'static str| {
        move |(s, v): (u16, Value)| {
            assert_eq!(s, 401, "{v}");
            assert_eq!(v["code"], code, "{v}");
        }
    };
    // Expired, not yet valid, wrong audience, over the lifetime cap, another instance.
    let now = chrono::Utc::now().timestamp();
    refused("token_expired")(
        call(
            &app,
            &sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa,
                &json!({"iss": id, "aud": "metabridge", "iat": now - 900, "exp": now - 600}),
            ),
        )
        .await,
    );
    refused("token_invalid")(
        call(
            &app,
            &sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa,
                &json!({"iss": id, "aud": "metabridge", "nbf": now + 600, "exp": now + 900}),
            ),
        )
        .await,
    );
    refused("token_invalid")(
        call(
            &app,
            &sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa,
                &json!({"iss": id, "aud": "someone-else", "exp": now + 60}),
            ),
        )
        .await,
    );
    refused("token_invalid")(
        call(
            &app,
            &sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa,
                &claims(&id, 86_400 * 30),
            ),
        )
        .await,
    );
    let other = app.tenant("Outra", None).await;
    refused("token_invalid")(
        call(
            &app,
            &sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa,
                &claims(&other.instance_id, 300),
            ),
        )
        .await,
    );
    // Wrong signature: the EdDSA key claiming to be the RSA kid; unknown kid.
    refused("token_invalid")(call(&app, &sign(Algorithm::EdDSA, Some("rsa-1"), &ed, &good)).await);
    refused("token_invalid")(call(&app, &sign(Algorithm::RS256, Some("rsa-9"), &rsa, &good)).await);
    // Algorithm confusion: HS256 signed with the RSA public key's PEM as the secret.
    let confused = EncodingKey::from_secret(rsa_public.as_bytes());
    refused("token_invalid")(
        call(
            &app,
            &sign(Algorithm::HS256, Some("rsa-1"), &confused, &good),
        )
        .await,
    );
    refused("token_invalid")(call(&app, &sign(Algorithm::HS256, None, &confused, &good)).await);
    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    refused("token_invalid")(call(&app, &none).await);
    // Oversized token.
    let mut big = good.clone();
    big["pad"] = json!("x".repeat(20_000));
    refused("token_invalid")(call(&app, &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &big)).await);
    // Retiring a key stops its tokens at once (keys rotate without downtime: add, switch, retire).
    let (s, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/instances/{id}/keys/rsa-1"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    refused("token_invalid")(call(&app, &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &good)).await);
    assert_eq!(
        call(&app, &sign(Algorithm::EdDSA, Some("ed-1"), &ed, &good))
            .await
            .0,
        200
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p08_callbacks_can_be_signed_eddsa_and_verified_with_the_jwks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, pem) = metabridge::crypto::jwt::BridgeKey::generate();
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.jwt_signing_key = Some(metabridge::config::Secret::new(pem));
    })
    .await;
    drop(dir);
    let jwks: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    // Deliver one event and verify its token with the published key, as a receiver would.
    let t = app.fixture_tenant().await;
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let h = std::sync::Arc::clone(&hits);
    let recv = poem::Route::new().at(
        "/hook",
        poem::post(poem::endpoint::make(move |req: poem::Request| {
            let h = std::sync::Arc::clone(&h);
            async move {
                if let Some(a) = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                {
                    h.lock()
                        .expect("lock")
                        .push(a.trim_start_matches("Bearer ").to_string());
                }
                poem::http::StatusCode::OK
            }
        })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    tokio::spawn(poem::Server::new(poem::listener::TcpListener::bind(addr)).run(recv));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, v) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/instances/{}", t.instance_id),
            Some(json!({"callback_url": format!("http://{addr}/hook")})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    wait_until(Duration::from_secs(10), "callback", || async {
        !hits.lock().expect("lock").is_empty()
    })
    .await;
    let token = hits.lock().expect("lock")[0].clone();
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).expect("jwk");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[&t.instance_id]);
    validation.set_issuer(&["metabridge"]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
        &validation,
    )
    .expect("the callback token verifies with the JWKS key");
    app.stop().await;
}
