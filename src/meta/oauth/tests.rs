use serde_json::json;

use super::*;
use crate::meta::graph::ErrorClass;
use crate::sim::graph::{APP_ID, GraphSim, GraphSimOptions, start};
use crate::sim::onboarding::accounts::SimLead;

const SECRET: &str = "app-secret-123";

fn pad(s: &str) -> String {
    let mut s = s.to_owned();
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

#[test]
fn signed_request_round_trips_and_rejects_what_it_must() {
    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1_763_380_800, "user_id": "122100000000000001"});
    let sr = sign_request(&payload, SECRET);
    assert!(!sr.contains('='));
    assert_eq!(
        verify_signed_request(&sr, SECRET, None, 0),
        Ok(payload.clone())
    );
    // Padded segments decode the same.
    let (sig, body) = sr.split_once('.').expect("dot");
    let padded = format!("{}.{}", pad(sig), pad(body));
    assert_eq!(
        verify_signed_request(&padded, SECRET, None, 0),
        Ok(payload.clone())
    );
    // Lower-case algorithm name.
    let lower = json!({"algorithm": "hmac-sha256", "issued_at": 10});
    assert!(verify_signed_request(&sign_request(&lower, SECRET), SECRET, None, 0).is_ok());
    // Wrong secret, tampered payload.
    assert_eq!(
        verify_signed_request(&sr, "other", None, 0),
        Err(SignedRequestError::BadSignature)
    );
    let forged =
        URL_SAFE_NO_PAD.encode(json!({"algorithm": "HMAC-SHA256", "user_id": "666"}).to_string());
    assert_eq!(
        verify_signed_request(&format!("{sig}.{forged}"), SECRET, None, 0),
        Err(SignedRequestError::BadSignature)
    );
    // Wrong or missing algorithm (even when correctly signed).
    for p in [json!({"algorithm": "HMAC-SHA1"}), json!({"user_id": "1"})] {
        assert_eq!(
            verify_signed_request(&sign_request(&p, SECRET), SECRET, None, 0),
            Err(SignedRequestError::BadAlgorithm)
        );
    }
    // Malformed.
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    for bad in [
        String::new(),
        "nodot".into(),
        format!("{sig}."),
        format!(".{body}"),
        format!("{sig}.!!!"),
        format!("{sig}.{}", b64("not json")),
        format!("{sig}.{}", b64("[1,2]")),
    ] {
        assert_eq!(
            verify_signed_request(&bad, SECRET, None, 0),
            Err(SignedRequestError::Malformed),
            "{bad}"
        );
    }
    // Age.
    let now = 1_763_380_800 + 100;
    assert!(verify_signed_request(&sr, SECRET, Some(300), now).is_ok());
    assert_eq!(
        verify_signed_request(&sr, SECRET, Some(60), now),
        Err(SignedRequestError::Expired)
    );
    let no_issued = sign_request(&json!({"algorithm": "HMAC-SHA256"}), SECRET);
    assert_eq!(
        verify_signed_request(&no_issued, SECRET, Some(60), now),
        Err(SignedRequestError::Expired)
    );
    // Display never echoes the input.
    let e = verify_signed_request(&sr, "other", None, 0).expect_err("bad");
    assert!(!e.to_string().contains(sig));
}

#[test]
fn response_shapes_parse_leniently() {
    let flat =
        json!({"access_token": "IGQ1", "user_id": 17841400000000009_u64, "permissions": ["a"]});
    assert_eq!(
        ig_short_token_from(&flat).expect("flat"),
        IgShortToken {
            access_token: "IGQ1".into(),
            user_id: Some("17841400000000009".into())
        }
    );
    let data = json!({"data": [{"access_token": "IGQ2", "user_id": "178", "permissions": "a,b"}]});
    assert_eq!(
        ig_short_token_from(&data).expect("data").user_id.as_deref(),
        Some("178")
    );
    assert!(ig_short_token_from(&json!({"data": []})).is_err());
    let t =
        access_token_from(&json!({"access_token": "x", "expires_in": "5183944"})).expect("token");
    assert_eq!(t.expires_in, Some(5_183_944));
    assert_eq!(
        access_token_from(&json!({"access_token": "x"}))
            .expect("no expiry")
            .expires_in,
        None
    );
    let dbg = debug_token_from(&json!({"data": {
            "is_valid": false, "user_id": 122100000000000001_u64, "type": "USER",
            "expires_at": 0, "data_access_expires_at": "1771156800",
            "scopes": ["pages_show_list"],
            "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": [102000000000001_u64, "102000000000002"]}, {"scope": "public_profile"}],
            "error": {"code": 190, "subcode": 463}
        }}))
        .expect("debug");
    assert_eq!(dbg.user_id.as_deref(), Some("122100000000000001"));
    assert_eq!(dbg.expires_at, Some(0));
    assert_eq!(dbg.data_access_expires_at, Some(1_771_156_800));
    assert_eq!(
        dbg.granular_scopes[0].target_ids,
        ["102000000000001", "102000000000002"]
    );
    assert!(dbg.granular_scopes[1].target_ids.is_empty());
    assert_eq!((dbg.error_code, dbg.error_subcode), (Some(190), Some(463)));
    let page = page_from(
        &json!({"id": 105000000000001_u64, "name": "P", "access_token": "t",
            "tasks": ["MESSAGING"], "instagram_business_account": {"id": 178410000000001_u64}}),
    )
    .expect("page");
    assert_eq!(page.id, "105000000000001");
    assert_eq!(
        page.instagram,
        Some(IgAccount {
            id: "178410000000001".into(),
            username: None
        })
    );
    let waba = subscribed_apps_from(&json!({"data": [{"whatsapp_business_api_data": {"id": 236400000000001_u64, "name": "App"}}]}))
            .expect("waba");
    assert_eq!(waba[0].app_id.as_deref(), Some("236400000000001"));
    assert!(waba[0].subscribed_fields.is_empty());
    let page_subs = subscribed_apps_from(
        &json!({"data": [{"id": "236400000000001", "subscribed_fields": ["messages", "leadgen"]}]}),
    )
    .expect("page");
    assert_eq!(page_subs[0].subscribed_fields, ["messages", "leadgen"]);
    let ig =
        ig_profile_from(&json!({"id": "999", "user_id": 178410000000009_u64, "username": "u"}))
            .expect("ig");
    assert_eq!(ig.user_id, "178410000000009");
    assert!(ig_profile_from(&json!({"id": "999"})).is_err());
    assert!(success(&json!({"success": true})).is_ok());
    assert!(success(&json!({"success": false})).is_err());
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let creds = AppCredentials {
        app_id: "1".into(),
        app_secret: "very-secret".into(),
    };
    assert!(!format!("{creds:?}").contains("very-secret"));
    let t = AccessToken {
        access_token: "EAAtoken".into(),
        expires_in: None,
    };
    assert!(!format!("{t:?}").contains("EAAtoken"));
    let e = redact(
        GraphCallError::Transport("failed for EAAtoken and very-secret".into()),
        &["EAAtoken", "very-secret"],
    );
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("EAAtoken") && !text.contains("very-secret"),
        "{text}"
    );
    assert!(
        OAuthClient::new(
            OAuthEndpoints::simulator("not a url", "v25.0"),
            creds.clone(),
            None,
            Duration::from_secs(1)
        )
        .is_err()
    );
    let client = OAuthClient::new(
        OAuthEndpoints::meta("v25.0"),
        creds,
        None,
        Duration::from_secs(1),
    )
    .expect("client");
    assert!(!format!("{client:?}").contains("very-secret"));
}

// ---------------------------------------------------------------------------------
// Round trips against the simulator

async fn sim() -> (GraphSim, OAuthClient) {
    let sim = start(
        "127.0.0.1:0".parse().expect("addr"),
        GraphSimOptions {
            app_secret: SECRET.into(),
            ..Default::default()
        },
    )
    .await
    .expect("sim");
    let client = OAuthClient::new(
        OAuthEndpoints::simulator(&sim.url(), "v25.0"),
        AppCredentials {
            app_id: APP_ID.into(),
            app_secret: SECRET.into(),
        },
        None,
        Duration::from_secs(5),
    )
    .expect("client");
    (sim, client)
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn submit(url: String, pairs: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("submit")
}

fn location_param(resp: &reqwest::Response, key: &str) -> Option<String> {
    let loc = resp.headers().get("location")?.to_str().ok()?;
    let url = Url::parse(loc).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The Embedded Signup code the popup page hands to the SDK shim.
async fn es_code(sim: &GraphSim, phone: &str) -> String {
    let resp = submit(
        format!("{}/dialog-fb/v25.0/dialog/embedded_signup", sim.url()),
        &[
            ("app_id", APP_ID),
            ("config_id", "cfg1"),
            ("origin", "http://localhost:8080"),
            ("phone", phone),
            ("action", "finish"),
        ],
    )
    .await;
    let html = resp.text().await.expect("html");
    let at = html.find("\"code\":\"").expect("code in page") + 8;
    html[at..].split('"').next().expect("code").to_owned()
}

fn graph_code(e: &GraphCallError) -> Option<(i64, ErrorClass)> {
    match e {
        GraphCallError::Graph { error, class } => Some((error.code, *class)),
        _ => None,
    }
}

#[tokio::test]
async fn facebook_login_pages_and_leads_round_trip() {
    let (sim, client) = sim().await;
    let redirect = "https://bridge.example/connect/callback";
    let resp = submit(
        format!("{}/dialog-fb/v25.0/dialog/oauth", sim.url()),
        &[
            ("client_id", APP_ID),
            ("redirect_uri", redirect),
            ("state", "st1"),
            ("page", "105000000000001"),
            ("page", "105000000000002"),
            ("action", "allow"),
        ],
    )
    .await;
    let code = location_param(&resp, "code").expect("code");
    // A wrong redirect_uri kills the code.
    let e = client
        .exchange_code(&code, Some("https://evil.example/"))
        .await
        .expect_err("redirect mismatch");
    assert_eq!(graph_code(&e).map(|c| c.0), Some(100));
    let text = format!("{e} {e:?}");
    assert!(!text.contains(&code) && !text.contains(SECRET), "{text}");
    let resp = submit(
        format!("{}/dialog-fb/v25.0/dialog/oauth", sim.url()),
        &[
            ("client_id", APP_ID),
            ("redirect_uri", redirect),
            ("page", "105000000000001"),
            ("page", "105000000000002"),
            ("action", "allow"),
        ],
    )
    .await;
    let code = location_param(&resp, "code").expect("code");
    let short = client
        .exchange_code(&code, Some(redirect))
        .await
        .expect("exchange");
    assert!(short.expires_in.is_some_and(|s| s < 86_400));
    let e = client
        .exchange_code(&code, Some(redirect))
        .await
        .expect_err("reused");
    assert!(e.to_string().contains("has been used"), "{e}");
    let long = client
        .long_lived_user_token(&short.access_token)
        .await
        .expect("long-lived");
    assert_eq!(long.expires_in, Some(5_183_944));
    assert_eq!(
        client.me_id(&long.access_token).await.expect("me"),
        "122100000000000001"
    );
    let pages = client.pages(&long.access_token).await.expect("pages");
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[0].instagram.as_ref().map(|i| i.id.as_str()),
        Some("178410000000001")
    );
    assert!(pages[1].instagram.is_none());
    let page_token = pages[0].access_token.clone();
    client
        .subscribe_app(&page_token, "105000000000001", &["messages", "leadgen"])
        .await
        .expect("subscribe");
    let subs = client
        .subscribed_apps(&page_token, "105000000000001")
        .await
        .expect("subs");
    assert_eq!(subs[0].subscribed_fields, ["messages", "leadgen"]);
    assert_eq!(subs[0].app_id.as_deref(), Some(APP_ID));
    let dbg = client.debug_token(&page_token).await.expect("debug");
    assert!(dbg.is_valid);
    assert_eq!(dbg.token_type.as_deref(), Some("PAGE"));
    assert_eq!(dbg.expires_at, Some(0));
    let dbg = client.debug_token(&long.access_token).await.expect("debug");
    assert_eq!(dbg.user_id.as_deref(), Some("122100000000000001"));
    assert!(dbg.expires_at.is_some_and(|e| e > 0));
    // Leads, with a transient failure first.
    sim.add_lead(SimLead::new(
        "1234567890123456",
        "105000000000001",
        "990000000000001",
        json!([{"name": "email", "values": ["a@b.com"]}]),
    ));
    sim.fail_lead_fetches(1);
    let e = client
        .fetch_lead(&page_token, "1234567890123456")
        .await
        .expect_err("transient");
    assert_eq!(graph_code(&e), Some((2, ErrorClass::Retry)));
    let lead = client
        .fetch_lead(&page_token, "1234567890123456")
        .await
        .expect("lead");
    assert_eq!(lead["field_data"][0]["values"][0], "a@b.com");
    assert_eq!(lead["created_time"], "2026-11-17T12:00:00+0000");
    // The second page's token cannot read the first page's lead.
    assert!(
        client
            .fetch_lead(&pages[1].access_token, "1234567890123456")
            .await
            .is_err()
    );
    client
        .unsubscribe_app(&page_token, "105000000000001")
        .await
        .expect("unsubscribe");
    assert!(sim.subscriptions().is_empty());
    // Expiry: 190 everywhere.
    sim.expire_token(&long.access_token, 0);
    let e = client.pages(&long.access_token).await.expect_err("expired");
    assert_eq!(graph_code(&e), Some((190, ErrorClass::TokenSuspect)));
    let dbg = client.debug_token(&long.access_token).await.expect("debug");
    assert!(!dbg.is_valid);
    assert_eq!((dbg.error_code, dbg.error_subcode), (Some(190), Some(463)));
}

#[tokio::test]
async fn embedded_signup_round_trip() {
    let (sim, client) = sim().await;
    let code = es_code(&sim, "106000000000001").await;
    let token = client.exchange_code(&code, None).await.expect("exchange");
    assert_eq!(token.expires_in, None);
    let dbg = client
        .debug_token(&token.access_token)
        .await
        .expect("debug");
    assert_eq!(dbg.token_type.as_deref(), Some("SYSTEM_USER"));
    let waba = dbg
        .granular_scopes
        .iter()
        .find(|g| g.scope == "whatsapp_business_management")
        .expect("scope");
    assert_eq!(waba.target_ids, ["102000000000001"]);
    let phones = client
        .phone_numbers(&token.access_token, "102000000000001")
        .await
        .expect("phones");
    assert_eq!(phones.len(), 2);
    assert_eq!(phones[0].verified_name, "Sim Shop");
    client
        .subscribe_app(&token.access_token, "102000000000001", &[])
        .await
        .expect("subscribe");
    let subs = client
        .subscribed_apps(&token.access_token, "102000000000001")
        .await
        .expect("subs");
    assert_eq!(subs[0].app_id.as_deref(), Some(APP_ID));
    client
        .register_phone(&token.access_token, "106000000000001", "123456")
        .await
        .expect("register");
    let e = client
        .register_phone(&token.access_token, "106000000000002", "123456")
        .await
        .expect_err("pending");
    assert_eq!(graph_code(&e), Some((133_015, ErrorClass::Retry)));
    assert!(e.is_retryable());
    // The business token sends as the number.
    assert_eq!(
        sim.token_for("106000000000001"),
        Some(token.access_token.clone())
    );
    // The request log holds no token, code or PIN.
    let log = format!("{:?}", sim.requests());
    assert!(!log.contains(&token.access_token) && !log.contains(&code));
    assert!(!log.contains("123456") && !log.contains(SECRET));
}

#[tokio::test]
async fn instagram_login_round_trip() {
    let (sim, client) = sim().await;
    let redirect = "https://bridge.example/ig/callback";
    for round in 0..2 {
        let resp = submit(
            format!("{}/dialog-ig/oauth/authorize", sim.url()),
            &[
                ("client_id", APP_ID),
                ("redirect_uri", redirect),
                ("state", "s"),
                ("account", "178410000000009"),
                ("action", "allow"),
            ],
        )
        .await;
        let loc = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("location")
            .to_owned();
        assert!(loc.ends_with("#_"), "{loc}");
        // The code as a careless caller would take it, fragment included.
        let code = format!("{}#_", location_param(&resp, "code").expect("code"));
        let short = client
            .ig_exchange_code(&code, redirect)
            .await
            .expect("exchange (flat, then data[])");
        assert_eq!(
            short.user_id.as_deref(),
            Some("178410000000009"),
            "round {round}"
        );
        let long = client
            .ig_long_lived(&short.access_token)
            .await
            .expect("long");
        assert_eq!(long.expires_in, Some(5_183_944));
        let me = client.ig_me(&long.access_token).await.expect("me");
        assert_eq!(me.user_id, "178410000000009");
        assert_eq!(me.username.as_deref(), Some("sim.direct"));
        client
            .ig_subscribe(&long.access_token, &["messages", "messaging_postbacks"])
            .await
            .expect("subscribe");
        let subs = client
            .ig_subscribed_apps(&long.access_token)
            .await
            .expect("subs");
        assert_eq!(
            subs[0].subscribed_fields,
            ["messages", "messaging_postbacks"]
        );
        let e = client
            .ig_refresh(&long.access_token)
            .await
            .expect_err("young");
        assert_eq!(graph_code(&e).map(|c| c.0), Some(100));
        sim.age_token(&long.access_token, 2 * 86_400);
        let fresh = client
            .ig_refresh(&long.access_token)
            .await
            .expect("refresh");
        assert_ne!(fresh.access_token, long.access_token);
        // The old token keeps working until its own expiry.
        assert!(client.ig_me(&long.access_token).await.is_ok());
        client
            .ig_unsubscribe(&fresh.access_token)
            .await
            .expect("unsubscribe");
    }
    let e = client
        .ig_exchange_code("AQnope", redirect)
        .await
        .expect_err("bad code");
    assert_eq!(graph_code(&e).map(|c| c.0), Some(400));
}
