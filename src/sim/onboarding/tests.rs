use serde_json::{Value, json};

use super::*;
use crate::sim::graph::{APP_ID, GraphSim, GraphSimOptions, start};

const SECRET: &str = "sim-secret";
const REDIRECT: &str = "https://bridge.example/cb?x=1";

async fn sim() -> GraphSim {
    start(
        "127.0.0.1:0".parse().expect("addr"),
        GraphSimOptions {
            app_secret: SECRET.into(),
            ..Default::default()
        },
    )
    .await
    .expect("start")
}

fn client() -> reqwest::Client {
    crate::crypto::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(sim: &GraphSim, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client().get(format!("{}{path}", sim.url()));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    answer(r.send().await.expect("send")).await
}

async fn send(
    sim: &GraphSim,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, format!("{}{path}", sim.url()));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    answer(r.send().await.expect("send")).await
}

async fn form(sim: &GraphSim, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    client()
        .post(format!("{}{path}", sim.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(s.finish())
        .send()
        .await
        .expect("form")
}

fn location(resp: &reqwest::Response) -> url::Url {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("location");
    url::Url::parse(loc).expect("url")
}

fn param(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn code_of(v: &Value) -> (i64, Option<i64>) {
    (
        v["error"]["code"].as_i64().unwrap_or_default(),
        v["error"]["error_subcode"].as_i64(),
    )
}

fn exchange_path(code: &str, redirect: Option<&str>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("client_id", APP_ID)
        .append_pair("client_secret", SECRET)
        .append_pair("code", code);
    if let Some(r) = redirect {
        s.append_pair("redirect_uri", r);
    }
    format!("/v25.0/oauth/access_token?{}", s.finish())
}

async fn fb_code(sim: &GraphSim, pages: &[&str]) -> String {
    let mut pairs = vec![
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT),
        ("state", "st"),
        ("action", "allow"),
    ];
    pairs.extend(pages.iter().map(|p| ("page", *p)));
    let resp = form(sim, "/dialog-fb/v25.0/dialog/oauth", &pairs).await;
    param(&location(&resp), "code").expect("code")
}

async fn es_code(sim: &GraphSim, action: &str) -> String {
    let resp = form(
        sim,
        "/dialog-fb/v25.0/dialog/embedded_signup",
        &[
            ("app_id", APP_ID),
            ("config_id", "cfg"),
            ("origin", "http://localhost:3000"),
            ("phone", "106000000000001"),
            ("action", action),
        ],
    )
    .await;
    resp.text().await.expect("html")
}

/// Exchanges an Embedded Signup code: the business token.
async fn exchange(sim: &GraphSim, code: &str) -> String {
    let (status, body) = get(sim, &exchange_path(code, None), None).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

fn code_in(html: &str) -> String {
    let at = html.find("\"code\":\"").expect("code") + 8;
    html[at..].split('"').next().expect("code").to_owned()
}

#[tokio::test]
async fn facebook_dialog_shows_pages_escapes_and_redirects() {
    let sim = sim().await;
    let url = format!(
        "/dialog-fb/v25.0/dialog/oauth?client_id={APP_ID}&redirect_uri={}&state=%3Cscript%3E&response_type=code&scope=pages_show_list,pages_messaging",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let resp = client()
        .get(format!("{}{url}", sim.url()))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(html.contains("Simulated Facebook Login"));
    assert!(html.contains("Sim Page") && html.contains("sim.shop"));
    assert!(html.contains("Sim Second Page") && html.contains("pages_messaging"));
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    // Errors like Meta's: wrong app, missing redirect_uri.
    let (status, _) = get(
        &sim,
        "/dialog-fb/v25.0/dialog/oauth?client_id=1&redirect_uri=https://x/",
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = get(
        &sim,
        &format!("/dialog-fb/v25.0/dialog/oauth?client_id={APP_ID}"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    // Allow.
    let resp = form(
        &sim,
        "/dialog-fb/v25.0/dialog/oauth",
        &[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("state", "a&b"),
            ("page", "105000000000001"),
            ("action", "allow"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert_eq!(loc.host_str(), Some("bridge.example"));
    assert_eq!(param(&loc, "x").as_deref(), Some("1"));
    assert_eq!(param(&loc, "state").as_deref(), Some("a&b"));
    assert!(param(&loc, "code").is_some());
    // Cancel.
    let resp = form(
        &sim,
        "/dialog-fb/v25.0/dialog/oauth",
        &[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("state", "s2"),
            ("action", "cancel"),
        ],
    )
    .await;
    let loc = location(&resp);
    assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&loc, "error_reason").as_deref(), Some("user_denied"));
    assert_eq!(param(&loc, "error_code").as_deref(), Some("200"));
    assert_eq!(param(&loc, "state").as_deref(), Some("s2"));
    assert!(param(&loc, "code").is_none());
}

#[tokio::test]
async fn codes_are_single_use_bound_and_expire() {
    let sim = sim().await;
    let code = fb_code(&sim, &["105000000000001"]).await;
    // Wrong secret: refused without spending the code.
    let bad =
        format!("/v25.0/oauth/access_token?client_id={APP_ID}&client_secret=nope&code={code}");
    let (status, body) = get(&sim, &bad, None).await;
    assert_eq!((status, code_of(&body).0), (400, 1));
    let (status, body) = get(&sim, &exchange_path(&code, Some(REDIRECT)), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());
    let (status, body) = get(&sim, &exchange_path(&code, Some(REDIRECT)), None).await;
    assert_eq!((status, code_of(&body)), (400, (100, Some(36009))));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has been used"))
    );
    // Bound to the redirect_uri.
    let code = fb_code(&sim, &[]).await;
    let (_, body) = get(&sim, &exchange_path(&code, None), None).await;
    assert_eq!(code_of(&body), (100, Some(36008)));
    // Embedded Signup codes die after their TTL.
    sim.set_es_code_ttl(Duration::from_millis(50));
    let code = code_in(&es_code(&sim, "finish").await);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (_, body) = get(&sim, &exchange_path(&code, None), None).await;
    assert_eq!(code_of(&body), (100, Some(36007)));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired"))
    );
    let (_, body) = get(&sim, &exchange_path("AQunknown", None), None).await;
    assert_eq!(code_of(&body).0, 100);
}

/// Embedded Signup v4 as Meta documents it, and the phone-number edges as strict as the
/// corpus (`whatsapp.request_code`, `whatsapp.verify_code`, `whatsapp.smb_app_data`).
#[tokio::test]
async fn embedded_signup_v4_events_and_verification_edges() {
    let sim = sim().await;
    let s = &sim;
    let popup = |extras: &'static str, action: &'static str, phone: &'static str| async move {
        form(
            s,
            "/dialog-fb/v25.0/dialog/embedded_signup",
            &[
                ("app_id", APP_ID),
                ("config_id", "cfg"),
                ("extras", extras),
                ("phone", phone),
                ("action", action),
            ],
        )
        .await
    };
    // featureType: only whatsapp_business_app_onboarding (v3 removed "coexistence").
    let bad = popup(
        r#"{"setup":{},"featureType":"coexistence"}"#,
        "finish",
        "106000000000001",
    )
    .await;
    assert_eq!(bad.status().as_u16(), 400);
    let only_waba = popup(r#"{"setup":{}}"#, "finish_only_waba", "106000000000001")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        only_waba.contains(r#""event":"FINISH_ONLY_WABA""#)
            && !only_waba.contains("phone_number_id")
    );
    let error = popup(r#"{"setup":{}}"#, "error", "106000000000001")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        error.contains(r#""event":"ERROR""#)
            && error.contains("error_message")
            && error.contains(r#""code":null"#)
    );
    // A WhatsApp Business app number: only with the feature type, and without phone id.
    let mut accounts = sim.accounts();
    accounts.businesses[0].wabas[0].phone_numbers[0].on_biz_app = true;
    sim.set_accounts(accounts);
    let refused = popup(r#"{"setup":{}}"#, "finish", "106000000000001").await;
    assert_eq!(refused.status().as_u16(), 400);
    let app = popup(
        r#"{"setup":{},"featureType":"whatsapp_business_app_onboarding","sessionInfoVersion":"3"}"#,
        "finish_business_app",
        "106000000000001",
    )
    .await
    .text()
    .await
    .expect("html");
    assert!(
        app.contains(r#""event":"FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING""#)
            && !app.contains("phone_number_id")
    );
    let token = exchange(&sim, &code_in(&app)).await;
    // debug_token names the business integration system user, /me the person.
    let (_, me) = get(&sim, "/v25.0/me?fields=id", Some(&token)).await;
    assert_eq!(me["id"], "122100000000000001");
    let app_token = format!("{APP_ID}|{SECRET}");
    let (_, debug) = get(
        &sim,
        &format!("/v25.0/debug_token?input_token={token}"),
        Some(&app_token),
    )
    .await;
    assert_eq!(debug["data"]["user_id"], "129000000000001", "{debug}");
    // smb_app_data: each sync type once.
    let sync = |t: &'static str| json!({"messaging_product": "whatsapp", "sync_type": t});
    let path = "/v25.0/106000000000001/smb_app_data";
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        path,
        Some(&token),
        Some(sync("smb_app_state_sync")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["request_id"].as_str().is_some());
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        path,
        Some(&token),
        Some(sync("smb_app_state_sync")),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 2593107));
    let (_, body) = send(
        &sim,
        reqwest::Method::POST,
        path,
        Some(&token),
        Some(sync("everything")),
    )
    .await;
    assert_eq!(code_of(&body).0, 100);
    // request_code / verify_code.
    let rc = "/v25.0/106000000000002/request_code";
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{rc}?language=en_US"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 100));
    let (_, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{rc}?code_method=EMAIL&language=en_US"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code_of(&body).0, 100);
    let vc = "/v25.0/106000000000002/verify_code";
    let (_, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{vc}?code=123456"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code_of(&body).0, 136025, "no code was requested");
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{rc}?code_method=SMS&language=en_US"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"success": true})));
    let code = sim.verification_code("106000000000002").expect("sent");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{vc}?code={wrong}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code_of(&body).0, 136025);
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        &format!("{vc}?code={code}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"success": true})));
    assert!(
        !format!("{:?}", sim.requests()).contains(&code),
        "the code is not logged"
    );
}

#[tokio::test]
async fn embedded_signup_popup_and_sdk() {
    let sim = sim().await;
    let resp = client()
        .get(format!("{}/sdk.js", sim.url()))
        .send()
        .await
        .expect("sdk");
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/javascript"))
    );
    let js = resp.text().await.expect("js");
    assert!(
        js.contains("window.FB") && js.contains("fbAsyncInit") && js.contains("embedded_signup")
    );
    let (status, _) = get(&sim, &format!("/dialog-fb/v25.0/dialog/embedded_signup?app_id={APP_ID}&config_id=c&origin=http%3A%2F%2Flocalhost%3A3000"), None).await;
    assert_eq!(status, 200);
    let page = client()
        .get(format!(
            "{}/dialog-fb/v25.0/dialog/embedded_signup?app_id={APP_ID}&config_id=c",
            sim.url()
        ))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Sim Shop +1 555-0100") && page.contains("Sim Shop Two +1 555-0101"));
    let (status, _) = get(
        &sim,
        "/dialog-fb/v25.0/dialog/embedded_signup?app_id=1&config_id=c",
        None,
    )
    .await;
    assert_eq!(status, 400);
    let done = es_code(&sim, "finish").await;
    assert!(done.contains("WA_EMBEDDED_SIGNUP") && done.contains("FINISH"));
    assert!(
        done.contains("\"waba_id\":\"102000000000001\"")
            && done.contains("\"business_id\":\"101000000000001\"")
    );
    assert!(
        done.contains("http://localhost:3000"),
        "the code goes to the opener's origin"
    );
    let cancelled = es_code(&sim, "cancel").await;
    assert!(cancelled.contains("CANCEL") && cancelled.contains("current_step"));
    assert!(cancelled.contains("\"code\":null"));
}

/// A Page token without a field's permission cannot subscribe that field (Meta's `(#200) To
/// subscribe to the leadgen field, one of these permissions is needed: leads_retrieval`);
/// the two-step verification PIN takes 6 digits, and `/register` needs the PIN the number
/// has (133005 otherwise).
#[tokio::test]
async fn page_field_permissions_and_two_step_pin_rules() {
    let sim = sim().await;
    let resp = form(
        &sim,
        "/dialog-fb/v25.0/dialog/oauth",
        &[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("state", "st"),
            ("action", "allow"),
            ("page", "105000000000002"),
            ("decline", "leads_retrieval"),
        ],
    )
    .await;
    let code = param(&location(&resp), "code").expect("code");
    let (_, body) = get(&sim, &exchange_path(&code, Some(REDIRECT)), None).await;
    let user = body["access_token"]
        .as_str()
        .expect("user token")
        .to_owned();
    let (_, pages) = get(&sim, "/v25.0/me/accounts", Some(&user)).await;
    let page_token = pages["data"][0]["access_token"]
        .as_str()
        .expect("page token")
        .to_owned();
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000002/subscribed_apps?subscribed_fields=messages,leadgen",
        Some(&page_token),
        None,
    )
    .await;
    assert_eq!((status, code_of(&body).0), (403, 200), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("leadgen") && message.contains("leads_retrieval"),
        "{message}"
    );
    assert!(!sim.subscriptions().contains_key("105000000000002"));
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000002/subscribed_apps?subscribed_fields=messages,messaging_postbacks",
        Some(&page_token),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Two-step verification PIN.
    let code = code_in(&es_code(&sim, "finish").await);
    let (_, body) = get(&sim, &exchange_path(&code, None), None).await;
    let biz = body["access_token"]
        .as_str()
        .expect("business token")
        .to_owned();
    assert!(sim.set_two_step_pin("106000000000001", Some("482913")));
    let phone = "/v25.0/106000000000001";
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        phone,
        Some(&biz),
        Some(json!({"pin": "12ab"})),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 100), "{body}");
    let register = format!("{phone}/register");
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        &register,
        Some(&biz),
        Some(json!({"messaging_product": "whatsapp", "pin": "111111"})),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 133005), "{body}");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        phone,
        Some(&biz),
        Some(json!({"pin": "111111"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        &register,
        Some(&biz),
        Some(json!({"messaging_product": "whatsapp", "pin": "111111"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        sim.registered_phones()
            .contains(&"106000000000001".to_string())
    );
}

#[tokio::test]
async fn connect_flow_subscriptions_sends_and_control() {
    let sim = sim().await;
    let code = fb_code(&sim, &["105000000000001", "105000000000002"]).await;
    let (_, body) = get(&sim, &exchange_path(&code, Some(REDIRECT)), None).await;
    let short = body["access_token"].as_str().expect("short").to_owned();
    let (status, body) = get(
            &sim,
            &format!("/v25.0/oauth/access_token?grant_type=fb_exchange_token&client_id={APP_ID}&client_secret={SECRET}&fb_exchange_token={short}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["expires_in"].as_i64()),
        (200, Some(LONG_LIVED_SECS))
    );
    let user = body["access_token"].as_str().expect("long").to_owned();
    let (_, me) = get(&sim, "/v25.0/me?fields=id", Some(&user)).await;
    assert_eq!(me, json!({"id": "122100000000000001"}));
    // Paging: one page per call.
    let (_, first_page) = get(&sim, "/v25.0/me/accounts?limit=1", Some(&user)).await;
    assert_eq!(first_page["data"].as_array().map(Vec::len), Some(1));
    let next = first_page["paging"]["next"]
        .as_str()
        .expect("next")
        .to_owned();
    assert!(!next.contains(&user));
    let (_, second) = answer(
        client()
            .get(next)
            .bearer_auth(&user)
            .send()
            .await
            .expect("next"),
    )
    .await;
    assert_eq!(second["data"][0]["id"], "105000000000002");
    assert!(second["paging"]["next"].is_null());
    let page_token = first_page["data"][0]["access_token"]
        .as_str()
        .expect("page token")
        .to_owned();
    assert_eq!(
        first_page["data"][0]["instagram_business_account"]["id"],
        "178410000000001"
    );
    // Page subscriptions need fields; user tokens cannot subscribe a page.
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/subscribed_apps",
        Some(&page_token),
        None,
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 100));
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/subscribed_apps?subscribed_fields=messages",
        Some(&user),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/subscribed_apps?subscribed_fields=messages,leadgen",
        Some(&page_token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, subs) = get(&sim, "/_sim/subscriptions", None).await;
    assert_eq!(subs, json!({"105000000000001": ["messages", "leadgen"]}));
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/_sim/subscriptions/drop",
        None,
        Some(json!({"object_id": "105000000000001"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = get(
        &sim,
        "/v25.0/105000000000001/subscribed_apps",
        Some(&page_token),
    )
    .await;
    assert_eq!(listed, json!({"data": []}));
    // The Page token sends as the Page and as its Instagram account.
    let msg = json!({"recipient": {"id": "7010000000000001"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}});
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/messages",
        Some(&page_token),
        Some(msg.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/178410000000001/messages",
        Some(&page_token),
        Some(msg.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/messages",
        Some(&user),
        Some(msg.clone()),
    )
    .await;
    assert_eq!(status, 401, "a user token does not send");
    // debug_token of minted tokens.
    let (_, dbg) = get(
        &sim,
        &format!("/v25.0/debug_token?input_token={page_token}"),
        Some(&format!("{APP_ID}|{SECRET}")),
    )
    .await;
    assert_eq!(dbg["data"]["type"], "PAGE");
    assert_eq!(dbg["data"]["expires_at"], 0);
    assert_eq!(dbg["data"]["user_id"], "122100000000000001");
    assert!(dbg["data"]["granular_scopes"].as_array().is_some_and(|g| {
        g.iter()
            .any(|s| s["target_ids"] == json!(["105000000000001"]))
    }));
    // Expiry through the control API.
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/_sim/tokens/expire",
        None,
        Some(json!({"token": page_token, "expires_in_secs": 0})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/105000000000001/messages",
        Some(&page_token),
        Some(msg),
    )
    .await;
    assert_eq!((status, code_of(&body)), (401, (190, Some(463))));
    let (_, dbg) = get(
        &sim,
        &format!("/v25.0/debug_token?input_token={page_token}"),
        Some(&format!("{APP_ID}|{SECRET}")),
    )
    .await;
    assert_eq!(dbg["data"]["is_valid"], false);
    assert_eq!(dbg["data"]["error"]["subcode"], 463);
    // revoke_token applies to minted tokens.
    sim.revoke_token(&user);
    let (_, body) = get(&sim, "/v25.0/me", Some(&user)).await;
    assert_eq!(code_of(&body).0, 190);
    // Leads over the control API, with failure injection.
    let (status, _) = send(&sim, reqwest::Method::POST, "/_sim/leads", None, Some(json!({"leadgen_id": "444", "page_id": "105000000000002", "form_id": "990", "field_data": [{"name": "full_name", "values": ["Ana"]}]}))).await;
    assert_eq!(status, 200);
    let page2 = second["data"][0]["access_token"]
        .as_str()
        .expect("page 2")
        .to_owned();
    assert_eq!(sim.minted_tokens().len(), 4, "short, long, two page tokens");
    send(
        &sim,
        reqwest::Method::POST,
        "/_sim/leads/fail",
        None,
        Some(json!({"times": 1})),
    )
    .await;
    let (status, body) = get(&sim, "/v25.0/444?fields=id,field_data", Some(&page2)).await;
    assert_eq!((status, code_of(&body).0), (500, 2));
    let (status, lead) = get(&sim, "/v25.0/444?fields=id,field_data", Some(&page2)).await;
    assert_eq!(status, 200);
    assert_eq!(
        lead,
        json!({"id": "444", "field_data": [{"name": "full_name", "values": ["Ana"]}]})
    );
    // Ad-level fields need an ads permission (the connect flow's scopes have none).
    let (status, body) = get(
        &sim,
        "/v25.0/444?fields=id,field_data,campaign_id",
        Some(&page2),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 200), "{body}");
    assert_eq!(body["error"]["type"], "OAuthException");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/_sim/tokens/grant",
        None,
        Some(json!({"token": page2, "scopes": ["ads_read"]})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, ad) = get(
        &sim,
        "/v25.0/444?fields=ad_id,adset_id,campaign_id",
        Some(&page2),
    )
    .await;
    assert_eq!(status, 200, "{ad}");
    assert_eq!(ad, json!({"id": "444"}), "this lead has no ad (organic)");
    // Forms: their questions, for a token of the form's Page only.
    let (status, _) = send(&sim, reqwest::Method::POST, "/_sim/forms", None, Some(json!({"form_id": "990", "page_id": "105000000000002", "questions": [{"key": "full_name", "label": "Full name", "type": "FULL_NAME", "id": "1"}]}))).await;
    assert_eq!(status, 200);
    let (status, form) = get(&sim, "/v25.0/990?fields=questions", Some(&page2)).await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(
        form,
        json!({"id": "990", "questions": [{"key": "full_name", "label": "Full name", "type": "FULL_NAME", "id": "1"}]})
    );
    // Media metadata still answers for unknown ids.
    let (status, body) = get(&sim, "/v25.0/999", Some(&page2)).await;
    assert_eq!((status, code_of(&body)), (400, (100, Some(33))));
    // Accounts document round trip.
    let (_, accounts) = get(&sim, "/_sim/accounts", None).await;
    assert_eq!(accounts["user"]["id"], "122100000000000001");
    let mut changed = accounts.clone();
    changed["user"]["name"] = json!("Other");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/_sim/accounts",
        None,
        Some(changed),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.accounts().user.name, "Other");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/_sim/accounts",
        None,
        Some(json!({"pages": 5})),
    )
    .await;
    assert_eq!(status, 400);
    // Deauthorize: the user's tokens die, the signed_request verifies with the app secret.
    let (status, body) = send(&sim, reqwest::Method::POST, "/_sim/deauthorize", None, None).await;
    assert_eq!(status, 200);
    let sr = body["signed_request"].as_str().expect("signed_request");
    let payload = crate::meta::oauth::verify_signed_request(sr, SECRET, Some(60), now_secs())
        .expect("verifies");
    assert_eq!(payload["user_id"], "122100000000000001");
    let (_, body) = get(&sim, "/v25.0/444", Some(&page2)).await;
    assert_eq!(code_of(&body).0, 190);
    // Nothing secret in the request log.
    let log = format!("{:?}", sim.requests());
    for secret in [SECRET, &user, &page_token, &short, &code] {
        assert!(!log.contains(secret));
    }
}

#[tokio::test]
async fn whatsapp_phone_registration_and_instagram_login() {
    let sim = sim().await;
    let code = code_in(&es_code(&sim, "finish").await);
    let (_, body) = get(&sim, &exchange_path(&code, None), None).await;
    let biz = body["access_token"].as_str().expect("token").to_owned();
    let (_, phones) = get(&sim, "/v25.0/102000000000001/phone_numbers", Some(&biz)).await;
    assert_eq!(phones["data"][1]["name_status"], "PENDING_REVIEW");
    let reg = json!({"messaging_product": "whatsapp", "pin": "654321"});
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/106000000000001/register",
        Some(&biz),
        Some(reg.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/106000000000001/register",
        Some(&biz),
        Some(json!({"messaging_product": "whatsapp", "pin": "111111"})),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 133005));
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/106000000000002/register",
        Some(&biz),
        Some(reg.clone()),
    )
    .await;
    assert_eq!((status, code_of(&body).0), (400, 133015));
    assert!(sim.set_name_status("106000000000002", "APPROVED"));
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/106000000000002/register",
        Some(&biz),
        Some(reg),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.registered_phones(),
        ["106000000000001", "106000000000002"]
    );
    assert!(!format!("{:?}", sim.requests()).contains("654321"));
    let wa = json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "text", "text": {"body": "hi"}});
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/106000000000001/messages",
        Some(&biz),
        Some(wa),
    )
    .await;
    assert_eq!(status, 200);
    let (_, subs) = send(
        &sim,
        reqwest::Method::POST,
        "/v25.0/102000000000001/subscribed_apps",
        Some(&biz),
        None,
    )
    .await;
    assert_eq!(subs["success"], true);
    let (_, subs) = get(&sim, "/v25.0/102000000000001/subscribed_apps", Some(&biz)).await;
    assert_eq!(subs["data"][0]["whatsapp_business_api_data"]["id"], APP_ID);

    // Instagram Login: dialog, cancel, exchange, long-lived, refresh, me, send.
    let (status, _) = get(&sim, &format!("/dialog-ig/oauth/authorize?client_id={APP_ID}&redirect_uri=https%3A%2F%2Fb.example%2Fig&response_type=code&scope=instagram_business_basic"), None).await;
    assert_eq!(status, 200);
    let resp = form(
        &sim,
        "/dialog-ig/oauth/authorize",
        &[
            ("client_id", APP_ID),
            ("redirect_uri", "https://b.example/ig"),
            ("state", "q"),
            ("action", "cancel"),
        ],
    )
    .await;
    let loc = location(&resp);
    assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&loc, "error_reason").as_deref(), Some("user_denied"));
    let resp = form(
        &sim,
        "/dialog-ig/oauth/authorize",
        &[
            ("client_id", APP_ID),
            ("redirect_uri", "https://b.example/ig"),
            ("state", "q"),
            ("action", "allow"),
        ],
    )
    .await;
    let loc = location(&resp);
    assert_eq!(loc.fragment(), Some("_"));
    let code = param(&loc, "code").expect("code");
    let exchange = |code: String| {
        let sim_url = sim.url();
        async move {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("client_id", APP_ID)
                .append_pair("client_secret", SECRET)
                .append_pair("grant_type", "authorization_code")
                .append_pair("redirect_uri", "https://b.example/ig")
                .append_pair("code", &code);
            answer(
                client()
                    .post(format!("{sim_url}/ig-api/oauth/access_token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(s.finish())
                    .send()
                    .await
                    .expect("exchange"),
            )
            .await
        }
    };
    let (status, body) = exchange(code.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["user_id"],
        json!(178410000000009_u64),
        "flat shape first"
    );
    let short = body["access_token"].as_str().expect("short").to_owned();
    let (status, body) = exchange(code).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)));
    assert!(
        body["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("used"))
    );
    let (status, body) = get(&sim, &format!("/ig-graph/access_token?grant_type=ig_exchange_token&client_secret={SECRET}&access_token={short}"), None).await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("bearer")));
    let long = body["access_token"].as_str().expect("long").to_owned();
    let (status, _) = get(
        &sim,
        &format!("/ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token={long}"),
        None,
    )
    .await;
    assert_eq!(status, 400, "younger than 24 h");
    sim.allow_young_ig_refresh(true);
    let (status, body) = get(
        &sim,
        &format!("/ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token={long}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["expires_in"].as_i64()),
        (200, Some(LONG_LIVED_SECS))
    );
    let (_, me) = get(
        &sim,
        "/ig-graph/v25.0/me?fields=user_id,username",
        Some(&long),
    )
    .await;
    assert_eq!(me["user_id"], "178410000000009");
    assert_eq!(me["username"], "sim.direct");
    assert_ne!(me["id"], me["user_id"]);
    let msg = json!({"recipient": {"id": "6120000000000001"}, "message": {"text": "hi"}});
    let (status, body) = send(
        &sim,
        reqwest::Method::POST,
        "/ig-graph/v25.0/me/messages",
        Some(&long),
        Some(msg.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(
        &sim,
        reqwest::Method::POST,
        "/ig-graph/v25.0/178410000000009/messages",
        Some(&long),
        Some(msg),
    )
    .await;
    assert_eq!(status, 200);
    let (_, dbg) = get(
        &sim,
        &format!("/v25.0/debug_token?input_token={long}"),
        Some(&format!("{APP_ID}|{SECRET}")),
    )
    .await;
    assert_eq!(dbg["data"]["is_valid"], true);
    assert_eq!(dbg["data"]["user_id"], "178410000000009");
    assert!(sim.expire_token(&long, -5));
    let (_, body) = get(&sim, "/ig-graph/v25.0/me", Some(&long)).await;
    assert_eq!(code_of(&body), (190, Some(463)));
    let (status, _) = get(
        &sim,
        &format!("/ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token={long}"),
        None,
    )
    .await;
    assert_eq!(status, 401, "expired tokens cannot be refreshed");
}
