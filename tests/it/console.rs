//! The operator console (`/console`, issue 18) over HTTP, as an attacker would try it: no page
//! without a session, no form without its CSRF token, no session that outlives the admin
//! token it was made with, sign-out and idle expiry, rate-limited guessing, the cookie's
//! attributes, and hostile strings stored everywhere the console shows them rendered inert.
//! The scenario in a real browser is `console_browser.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    no_console_page_is_reachable_without_signing_in,
    forms_without_the_sessions_csrf_token_are_refused,
    a_session_made_with_another_admin_token_is_refused_after_rotation,
    sign_out_idle_expiry_and_failed_sign_ins,
    hostile_strings_are_rendered_inert_on_every_page,
    the_console_changes_through_the_admin_functions_and_audits_as_console,
);

fn every_get_path(instance: &str, channel: &str, event: &str) -> Vec<String> {
    vec![
        "/console".into(),
        "/console/".into(),
        "/console/instances".into(),
        "/console/instances/new".into(),
        format!("/console/instances/{instance}"),
        format!("/console/instances/{instance}/channels"),
        format!("/console/instances/{instance}/delete"),
        format!("/console/channels/{channel}/disconnect"),
        format!("/console/channels/{channel}/diagnosis"),
        "/console/events".into(),
        format!("/console/events?instance={instance}&state=dead"),
        format!("/console/events/{event}"),
        "/console/messages".into(),
        "/console/messages/msg_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e".into(),
        "/console/audit".into(),
        "/console/nothing/here".into(),
    ]
}

fn every_post_path(instance: &str, channel: &str, event: &str) -> Vec<String> {
    vec![
        "/console/instances".into(),
        format!("/console/instances/{instance}/settings"),
        format!("/console/instances/{instance}/delivery"),
        format!("/console/instances/{instance}/rotate-secret"),
        format!("/console/instances/{instance}/keys"),
        format!("/console/instances/{instance}/keys/retire"),
        format!("/console/instances/{instance}/delete"),
        format!("/console/instances/{instance}/replay-dead"),
        format!("/console/instances/{instance}/connect-link"),
        format!("/console/channels/{channel}/disconnect"),
        format!("/console/events/{event}/replay"),
        "/console/sign-out".into(),
    ]
}

/// An instance with a channel and one stored event: (tenant, channel id, event id).
async fn seeded(app: &TestApp) -> (Tenant, String, String) {
    let t = app.tenant("Loja Ana", None).await;
    let ch = app
        .channel(&t, "whatsapp", "106000000000001", Some("102000000000001"))
        .await;
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let store = &app.state.store;
    wait_until(Duration::from_secs(10), "an event stored", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events")
            .fetch_one(store.pool())
            .await
            .is_ok_and(|n| n >= 1)
    })
    .await;
    let event: String = sqlx::query_scalar("SELECT id FROM events ORDER BY seq LIMIT 1")
        .fetch_one(store.pool())
        .await
        .expect("event");
    (t, ch, event)
}

async fn no_console_page_is_reachable_without_signing_in(db: Db) {
    let app = spawn_app(db).await;
    let (t, ch, ev) = seeded(&app).await;
    let mut anon = ConsoleClient::new(&app.url);
    for path in every_get_path(&t.instance_id, &ch, &ev) {
        let p = anon.get(&path).await;
        assert_eq!(p.status, 303, "GET {path}: {}", p.body);
        assert!(
            p.location().starts_with("/console/sign-in"),
            "GET {path} → {}",
            p.location()
        );
        assert!(!p.body.contains("Loja Ana"), "GET {path} shows data");
    }
    for path in every_post_path(&t.instance_id, &ch, &ev) {
        let p = anon
            .post(&path, &[("action", "pause"), ("confirm", "Loja Ana")])
            .await;
        assert_eq!(p.status, 303, "POST {path}: {}", p.body);
        assert!(p.location().starts_with("/console/sign-in"), "POST {path}");
    }
    // A made-up session cookie is no session.
    anon.cookies
        .insert("mb_console".into(), "forged-session-value".into());
    let p = anon.get("/console").await;
    assert_eq!(p.status, 303);
    assert!(p.location().starts_with("/console/sign-in"));
    // Nothing was changed.
    let (_, v) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{}", t.instance_id),
            None,
        )
        .await;
    assert!(v["delivery_paused_reason"].is_null(), "{v}");
    // The sign-in page itself carries the console's headers.
    let p = anon.get("/console/sign-in").await;
    assert_eq!(p.status, 200);
    let csp = p.headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert_eq!(p.headers["cache-control"], "no-store");
    app.stop().await;
}

async fn forms_without_the_sessions_csrf_token_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let (t, _, _) = seeded(&app).await;
    let mut c = ConsoleClient::new(&app.url);
    let signed = c.sign_in(ADMIN).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let csrf = c.csrf().await;
    let path = format!("/console/instances/{}/delivery", t.instance_id);
    let paused = || async {
        app.admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{}", t.instance_id),
            None,
        )
        .await
        .1["delivery_paused_reason"]
            .clone()
    };
    for fields in [
        vec![("action", "pause")],
        vec![("action", "pause"), ("csrf", "")],
        vec![("action", "pause"), ("csrf", "0000")],
    ] {
        let p = c.post(&path, &fields).await;
        assert_eq!(p.status, 403, "{fields:?}: {}", p.body);
        assert!(paused().await.is_null(), "{fields:?} changed something");
    }
    // Another session's token does not fit this one.
    let mut other = ConsoleClient::new(&app.url);
    assert_eq!(other.sign_in(ADMIN).await.status, 303);
    let other_csrf = other.csrf().await;
    assert_ne!(other_csrf, csrf);
    let p = c
        .post(&path, &[("action", "pause"), ("csrf", &other_csrf)])
        .await;
    assert_eq!(p.status, 403);
    assert!(paused().await.is_null());
    // The sign-in form has its own token: a cross-site sign-in (no form cookie) is refused.
    let mut fresh = ConsoleClient::new(&app.url);
    let p = fresh
        .post("/console/sign-in", &[("token", ADMIN), ("csrf", "x")])
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(!fresh.cookies.contains_key("mb_console"));
    // With the token, the form works.
    let p = c.post(&path, &[("action", "pause"), ("csrf", &csrf)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(paused().await, "paused_by_operator");
    app.stop().await;
}

async fn a_session_made_with_another_admin_token_is_refused_after_rotation(db: Db) {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let url = fresh_database(db, &dir).await;
    let key = metabridge::crypto::vault::generate_key();
    let app = spawn_app_on(db, Arc::clone(&dir), url.clone(), key.clone(), |_| {}).await;
    let mut c = ConsoleClient::new(&app.url);
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    assert_eq!(c.get("/console").await.status, 200);
    let old_cookies = c.cookies.clone();
    app.stop().await;
    // The bridge starts again with a new admin token, on the same database.
    const NEW: &str = "the-rotated-admin-token-9876543210";
    let app = spawn_app_on(db, dir, url, key, |cfg| {
        cfg.admin_token = metabridge::config::Secret::new(NEW);
    })
    .await;
    let mut c = ConsoleClient::new(&app.url);
    c.cookies = old_cookies;
    let p = c.get("/console").await;
    assert_eq!(p.status, 303, "the old session is refused: {}", p.body);
    assert!(p.location().starts_with("/console/sign-in"));
    let p = c.get("/console/instances").await;
    assert_eq!(p.status, 303);
    // The old token signs nobody in; the new one does.
    let mut c = ConsoleClient::new(&app.url);
    assert_eq!(c.sign_in(ADMIN).await.status, 401);
    assert_eq!(c.sign_in(NEW).await.status, 303);
    assert_eq!(c.get("/console").await.status, 200);
    app.stop().await;
}

async fn sign_out_idle_expiry_and_failed_sign_ins(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.console.idle_timeout = Duration::from_millis(1500);
        c.public_url = "https://console.example".into();
    })
    .await;
    let mut c = ConsoleClient::new(&app.url);
    let signed = c.sign_in(ADMIN).await;
    assert_eq!(signed.status, 303);
    let cookie = signed
        .set_cookies()
        .into_iter()
        .find(|s| s.starts_with("mb_console="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Secure"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // Sign-out ends the session on the server: the same cookie is no longer a session.
    let kept = c.cookies.clone();
    let csrf = c.csrf().await;
    let p = c.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert!(
        !c.cookies.contains_key("mb_console"),
        "the cookie is removed"
    );
    let mut replay = ConsoleClient::new(&app.url);
    replay.cookies = kept;
    assert_eq!(replay.get("/console").await.status, 303);
    // Idle expiry.
    let mut c = ConsoleClient::new(&app.url);
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    assert_eq!(c.get("/console").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let p = c.get("/console").await;
    assert_eq!(p.status, 303, "idle for longer than the timeout");
    // Guessing: wrong tokens are limited per address, then even the right one waits.
    let mut g = ConsoleClient::new(&app.url);
    for i in 0..10 {
        let p = g.sign_in(&format!("wrong-token-{i}-0123456789")).await;
        assert_eq!(p.status, 401, "{}", p.body);
    }
    let p = g.sign_in(ADMIN).await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.headers.contains_key("retry-after"));
    assert!(!g.cookies.contains_key("mb_console"));
    app.stop().await;
}

const PAYLOADS: [&str; 3] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
];

/// Whether a page shows a payload as markup anywhere.
fn raw_markup(body: &str) -> Option<&'static str> {
    ["<script>alert", "<img src=x", "<svg onload"]
        .into_iter()
        .find(|m| body.contains(m))
}

async fn hostile_strings_are_rendered_inert_on_every_page(db: Db) {
    let app = spawn_app(db).await;
    // Stored strings: instance name and callback URL, channel name, a contact's profile name
    // in an event's content, an attempt's error, a message's reference and Meta's error, an
    // audit record's detail.
    let t = app.tenant(PAYLOADS[0], None).await;
    let (s, v) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/instances/{}", t.instance_id),
            Some(json!({"callback_url": format!("{}?q=\"><script>alert(4)</script>", app.receiver.url())})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/channels",
            Some(json!({"instance_id": t.instance_id, "kind": "whatsapp", "external_id": "106000000000001",
                "waba_id": "102000000000001", "access_token": "EAAG-test", "name": PAYLOADS[1]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let ch = v["id"].as_str().expect("id").to_string();
    let mut hook: serde_json::Value =
        serde_json::from_slice(&fixture("wa-text.json")).expect("json");
    hook["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = json!(PAYLOADS[2]);
    app.receiver.state.set_status(500);
    assert_eq!(
        app.post_webhook(&serde_json::to_vec(&hook).expect("json"))
            .await,
        200
    );
    let store = &app.state.store;
    wait_until(Duration::from_secs(10), "an attempt", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM delivery_attempts")
            .fetch_one(store.pool())
            .await
            .is_ok_and(|n| n >= 1)
    })
    .await;
    let event: String = sqlx::query_scalar("SELECT id FROM events ORDER BY seq LIMIT 1")
        .fetch_one(store.pool())
        .await
        .expect("event");
    for (sql, p) in [
        ("UPDATE delivery_attempts SET error = $1", PAYLOADS[0]),
        ("UPDATE events SET last_error = $1", PAYLOADS[1]),
    ] {
        sqlx::query(sql)
            .bind(p)
            .execute(store.pool())
            .await
            .expect("update");
    }
    let resp = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .bearer_auth(app.jwt(&t))
        .json(&json!({"channel_id": ch, "to": "15550001234", "ignore_window": true, "client_reference": PAYLOADS[2],
            "message": {"type": "text", "body": "hi"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 202);
    let msg: serde_json::Value = resp.json().await.expect("json");
    let msg = msg["id"].as_str().expect("id").to_string();
    sqlx::query("UPDATE messages SET error_title = $1, error_reason = $2, statuses = $3")
        .bind(PAYLOADS[0])
        .bind(PAYLOADS[1])
        .bind(
            json!([{"status": PAYLOADS[2], "at": PAYLOADS[0], "error_code": PAYLOADS[1]}])
                .to_string(),
        )
        .execute(store.pool())
        .await
        .expect("update message");
    store
        .audit("console", PAYLOADS[1], &t.instance_id, Some(PAYLOADS[2]))
        .await
        .expect("audit");

    let mut c = ConsoleClient::new(&app.url);
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    let id = &t.instance_id;
    for path in [
        "/console".to_string(),
        "/console/instances".into(),
        format!("/console/instances?q={}", urlencode(PAYLOADS[0])),
        format!("/console/instances/{id}"),
        format!("/console/instances/{id}/channels"),
        format!("/console/instances/{id}/delete"),
        format!("/console/channels/{ch}/disconnect"),
        format!("/console/events?instance={id}"),
        format!(
            "/console/events?type={}&channel={}",
            urlencode(PAYLOADS[1]),
            urlencode(PAYLOADS[2])
        ),
        format!("/console/events/{event}"),
        format!("/console/messages?instance={id}"),
        format!("/console/messages/{msg}"),
        format!("/console/audit?action={}", urlencode(PAYLOADS[1])),
        "/console/audit".into(),
        format!("/console/sign-in?next={}", urlencode(PAYLOADS[0])),
        format!("/console/instances/{id}?done={}", urlencode(PAYLOADS[0])),
    ] {
        let p = c.get(&path).await;
        assert!(
            p.status == 200 || p.status == 303,
            "GET {path}: {} {}",
            p.status,
            p.body
        );
        if let Some(m) = raw_markup(&p.body) {
            panic!("GET {path} renders {m} as markup:\n{}", p.body);
        }
        if p.status == 200 {
            assert!(
                p.headers["content-security-policy"]
                    .to_str()
                    .expect("csp")
                    .contains("script-src 'self'"),
                "{path}"
            );
        }
    }
    // The strings are there, escaped.
    let p = c.get(&format!("/console/instances/{id}")).await;
    assert!(p.body.contains("&lt;script&gt;alert(1)"), "{}", p.body);
    let p = c.get(&format!("/console/events/{event}")).await;
    assert!(
        p.body.contains("&lt;svg onload=alert(3)&gt;"),
        "the envelope's contact: {}",
        p.body
    );
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn the_console_changes_through_the_admin_functions_and_audits_as_console(db: Db) {
    let app = spawn_app(db).await;
    let mut c = ConsoleClient::new(&app.url);
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
    let csrf = c.csrf().await;
    // Create: the secret is shown once, on the answer.
    let p = c
        .post(
            "/console/instances",
            &[
                ("csrf", &csrf),
                ("name", "Loja Caio"),
                ("callback_url", &app.receiver.url()),
                ("types", "some"),
                ("event_type", "message.received"),
                ("event_type", "message.status"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.headers["cache-control"], "no-store");
    let (_, list) = app
        .admin(reqwest::Method::GET, "/admin/v1/instances", None)
        .await;
    let inst = list[0].clone();
    let id = inst["id"].as_str().expect("id").to_string();
    assert_eq!(inst["name"], "Loja Caio");
    assert_eq!(
        inst["event_types"],
        json!(["message.received", "message.status"])
    );
    let secret_at = p.body.find("class=\"secret\">").expect("secret shown") + 15;
    let secret = &p.body[secret_at..secret_at + 64];
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert!(
        !c.get(&format!("/console/instances/{id}"))
            .await
            .body
            .contains(secret)
    );
    // Edit, pause, resume, rotate, delete.
    let p = c
        .post(
            &format!("/console/instances/{id}/settings"),
            &[
                ("csrf", &csrf),
                ("name", "Loja Caio 2"),
                ("callback_url", &format!("{}/v2", app.receiver.url())),
                ("types", "all"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, v) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{id}"),
            None,
        )
        .await;
    assert_eq!(v["name"], "Loja Caio 2");
    assert!(v["callback_url"].as_str().expect("url").ends_with("/v2"));
    assert!(v["event_types"].is_null());
    // A refused value says why and changes nothing.
    let p = c
        .post(
            &format!("/console/instances/{id}/settings"),
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("callback_url", "ftp://nope"),
                ("types", "all"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("callback_url"), "{}", p.body);
    for action in ["pause", "resume"] {
        let p = c
            .post(
                &format!("/console/instances/{id}/delivery"),
                &[("csrf", &csrf), ("action", action)],
            )
            .await;
        assert_eq!(p.status, 303);
    }
    let p = c
        .post(
            &format!("/console/instances/{id}/rotate-secret"),
            &[("csrf", &csrf), ("grace_seconds", "0")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("class=\"secret\">"));
    let p = c
        .post(
            &format!("/console/instances/{id}/delete"),
            &[("csrf", &csrf), ("confirm", "not the name")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(p.location().contains("err=invalid"), "{}", p.location());
    let p = c
        .post(
            &format!("/console/instances/{id}/delete"),
            &[("csrf", &csrf), ("confirm", "Loja Caio 2")],
        )
        .await;
    assert_eq!(p.status, 303);
    let (s, _) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 404, "deleted");
    // Every change is in the audit log, by the console.
    let (_, audit) = app
        .admin(reqwest::Method::GET, "/admin/v1/audit?limit=50", None)
        .await;
    let by_console: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor"] == "console")
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    for action in [
        "console.signed_in",
        "instance.created",
        "instance.updated",
        "instance.delivery_paused",
        "instance.secret_rotated",
        "instance.deleted",
    ] {
        assert!(by_console.contains(&action), "{action} in {by_console:?}");
    }
    let page = c.get("/console/audit?actor=console").await;
    assert!(
        page.body.contains("instance.secret_rotated"),
        "{}",
        page.body
    );
    app.stop().await;
}
