//! The admin and instance APIs: authentication, isolation (P10), validation, errors.

use std::time::Duration;

use crate::both_backends;
use crate::helpers::*;
use serde_json::json;

both_backends!(
    deleting_an_instance_leaves_only_its_id_in_the_audit_log,
    admin_api_requires_the_admin_token,
    p10_an_instance_never_sees_another_instances_events,
    p08_instance_tokens_are_checked,
    instance_crud_and_validation_errors,
    p01_channel_tokens_are_stored_encrypted_and_never_shown,
);

async fn admin_api_requires_the_admin_token(db: Db) {
    let app = spawn_app(db).await;
    let r = app
        .http
        .get(format!("{}/admin/v1/instances", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "token_missing");
    let r = app
        .http
        .get(format!("{}/admin/v1/instances", app.url))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let (s, _) = app
        .admin(reqwest::Method::GET, "/admin/v1/instances", None)
        .await;
    assert_eq!(s, 200);
    app.stop().await;
}

async fn p10_an_instance_never_sees_another_instances_events(db: Db) {
    let app = spawn_app(db).await;
    let a = app.fixture_tenant().await;
    let b = app.tenant("Other", None).await;
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let r = &app.receiver.state;
    wait_until(Duration::from_secs(10), "delivery", || async {
        r.accepted().len() == 1
    })
    .await;
    let id = r.accepted()[0].event_id.clone();
    let (s, _) = app
        .v1(&a, reqwest::Method::GET, &format!("/v1/events/{id}"))
        .await;
    assert_eq!(s, 200);
    let (s_other, v_other) = app
        .v1(&b, reqwest::Method::GET, &format!("/v1/events/{id}"))
        .await;
    let (s_missing, v_missing) = app
        .v1(
            &b,
            reqwest::Method::GET,
            "/v1/events/evt_0000000000000000000000000000000a",
        )
        .await;
    assert_eq!((s_other, s_missing), (404, 404));
    assert_eq!(
        v_other, v_missing,
        "another instance's event looks exactly like a missing one"
    );
    let (s, _) = app
        .v1(
            &b,
            reqwest::Method::POST,
            &format!("/v1/events/{id}/replay"),
        )
        .await;
    assert_eq!(s, 404);
    let (_, list) = app.v1(&b, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(list["events"].as_array().map(Vec::len), Some(0));
    let (_, list) = app.v1(&a, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(list["events"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn p08_instance_tokens_are_checked(db: Db) {
    let app = spawn_app(db).await;
    let t = app.tenant("Loja", None).await;
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value, secret: &str, alg: jsonwebtoken::Algorithm| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("jwt")
    };
    let cases = [
        (
            sign(
                json!({"iss": t.instance_id, "aud": "metabridge", "iat": now - 600, "exp": now - 300}),
                &t.secret,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_expired",
        ),
        (
            sign(
                json!({"iss": t.instance_id, "aud": "other", "exp": now + 60}),
                &t.secret,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_invalid",
        ),
        (
            sign(
                json!({"iss": t.instance_id, "aud": "metabridge", "exp": now + 60}),
                "guess",
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_invalid",
        ),
        (
            sign(
                json!({"iss": t.instance_id, "aud": "metabridge", "exp": now + 60}),
                &t.secret,
                jsonwebtoken::Algorithm::HS384,
            ),
            "token_invalid",
        ),
        (
            sign(
                json!({"iss": t.instance_id, "aud": "metabridge", "iat": now, "exp": now + 86_400}),
                &t.secret,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_invalid",
        ),
        ("garbage".to_string(), "token_invalid"),
    ];
    for (token, code) in cases {
        let r = app
            .http
            .get(format!("{}/v1/events", app.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 401);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["code"], code);
        assert!(!body.to_string().contains(&t.secret));
    }
    let r = app
        .http
        .get(format!("{}/v1/events", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["code"],
        "token_missing"
    );
    // Rotation with the default grace: the old secret keeps working (zero downtime)…
    let old_token = app.jwt(&t);
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/instances/{}/rotate-secret", t.instance_id),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let call = |token: String| {
        let req = app
            .http
            .get(format!("{}/v1/events", app.url))
            .bearer_auth(token);
        async move { req.send().await.expect("get").status().as_u16() }
    };
    assert_eq!(
        call(old_token.clone()).await,
        200,
        "old secret within its grace period"
    );
    // …and a rotation with grace 0 (a leak) revokes every older secret at once.
    let (s, v2) = app
        .admin(
            reqwest::Method::POST,
            &format!(
                "/admin/v1/instances/{}/rotate-secret?grace_seconds=0",
                t.instance_id
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(call(old_token).await, 401);
    let between = Tenant {
        instance_id: t.instance_id.clone(),
        secret: v["signing_secret"].as_str().expect("secret").into(),
    };
    assert_eq!(call(app.jwt(&between)).await, 401, "revoked at once");
    let v = v2;
    let rotated = Tenant {
        instance_id: t.instance_id.clone(),
        secret: v["signing_secret"].as_str().expect("secret").into(),
    };
    let (s, _) = app.v1(&rotated, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(s, 200);
    app.stop().await;
}

async fn instance_crud_and_validation_errors(db: Db) {
    let app = spawn_app_with(db, |c| c.allow_private_callbacks = false).await;
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/instances",
            Some(json!({"name": "x", "callback_url": "http://127.0.0.1:9/cb"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["code"], "validation_failed");
    assert_eq!(v["field"], "callback_url");
    let (s, v) = app
        .admin(reqwest::Method::POST, "/admin/v1/instances", Some(json!({"name": "x", "callback_url": "https://dsk.example.com/cb", "event_types": ["nope"]})))
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("event_types")));
    let r = app
        .http
        .post(format!("{}/admin/v1/instances", app.url))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["code"],
        "invalid_request"
    );
    let (s, v) = app
        .admin(reqwest::Method::POST, "/admin/v1/instances", Some(json!({"name": "Loja '; DROP TABLE instances; --", "callback_url": "https://dsk.example.com/cb"})))
        .await;
    assert_eq!(s, 201);
    let id = v["instance"]["id"].as_str().expect("id").to_string();
    assert!(v["signing_secret"].as_str().is_some_and(|s| s.len() == 64));
    let (s, v) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "Loja '; DROP TABLE instances; --");
    assert!(
        v.get("signing_secret").is_none(),
        "the secret is shown once only"
    );
    let (s, v) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/instances/{id}"),
            Some(json!({"name": "Loja Nova", "event_types": ["message.received"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "Loja Nova");
    assert_eq!(v["event_types"], json!(["message.received"]));
    // Channels: validation, duplicates.
    let ch = json!({"instance_id": id, "kind": "whatsapp", "external_id": "106000000000001", "access_token": "EAAG"});
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/channels",
            Some(ch.clone()),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (422, Some("waba_id")));
    let mut ch = ch;
    ch["waba_id"] = json!("102000000000001");
    let (s, _) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/channels",
            Some(ch.clone()),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/channels",
            Some(ch.clone()),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("channel_already_registered"))
    );
    ch["external_id"] = json!("../../etc/passwd");
    let (s, _) = app
        .admin(reqwest::Method::POST, "/admin/v1/channels", Some(ch))
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/instances/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/instances/{id}"),
            None,
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("instance_not_found")));
    assert_eq!(app.count("SELECT COUNT(*) FROM channels").await, 0);
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'instance.deleted'")
            .await
            == 1
    );
    app.stop().await;
}

async fn p01_channel_tokens_are_stored_encrypted_and_never_shown(db: Db) {
    let app = spawn_app(db).await;
    let t = app.tenant("Loja", None).await;
    let id = app.channel(&t, "messenger", "105000000000001", None).await;
    let (s, v) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/channels/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["has_token"], true);
    assert!(!v.to_string().contains("EAAG-test-token-secret"));
    let stored: String = sqlx::query_scalar("SELECT token_enc FROM channels")
        .fetch_one(app.state.store.pool())
        .await
        .expect("token");
    assert!(!stored.contains("EAAG"));
    assert_eq!(
        app.state.vault.decrypt(&stored).expect("decrypts"),
        "EAAG-test-token-secret"
    );
    let secret_enc: String = sqlx::query_scalar("SELECT signing_secret_enc FROM instances")
        .fetch_one(app.state.store.pool())
        .await
        .expect("secret");
    assert!(!secret_enc.contains(&t.secret));
    app.stop().await;
}

/// Issue 6: per-instance `/v1` limits and the admin limit answer 429 with `Retry-After`; one
/// instance over its budget does not slow another; an unauthenticated request never spends
/// an instance's budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_over_the_rate_limit_get_429_with_retry_after() {
    use metabridge::config::Limit;
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.api_limit = Limit {
            per_second: 1,
            burst: 3,
        };
        c.admin_limit = Limit {
            per_second: 1,
            burst: 5,
        };
    })
    .await;
    let a = app.tenant("A", None).await;
    let b = app.tenant("B", None).await;
    // Forged tokens naming A (wrong key) are refused before the limiter: A's budget is intact.
    for _ in 0..10 {
        let r = app
            .http
            .get(format!("{}/v1/channels", app.url))
            .bearer_auth(app.jwt(&Tenant {
                instance_id: a.instance_id.clone(),
                secret: "not-the-secret".into(),
            }))
            .send()
            .await
            .expect("forged");
        assert_eq!(r.status().as_u16(), 401);
    }
    for _ in 0..3 {
        assert_eq!(
            app.v1(&a, reqwest::Method::GET, "/v1/channels").await.0,
            200
        );
    }
    let r = app
        .http
        .get(format!("{}/v1/channels", app.url))
        .bearer_auth(app.jwt(&a))
        .send()
        .await
        .expect("limited");
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(
        app.v1(&b, reqwest::Method::GET, "/v1/channels").await.0,
        200,
        "B is not limited"
    );
    // The admin token has its own budget (2 tenants were created with it already).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.admin(reqwest::Method::GET, "/admin/v1/instances", None)
                .await
                .0,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.v1(&a, reqwest::Method::GET, "/v1/channels").await.0,
        200,
        "refilled"
    );
    app.stop().await;
}

/// Every table and text column of the database, read from the database itself (not from a
/// list the product keeps): `(table, column)`.
async fn text_columns(app: &TestApp) -> Vec<(String, String)> {
    let pool = app.state.store.pool();
    if app.state.config.database_url.starts_with("sqlite") {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(pool)
        .await
        .expect("tables");
        let mut out = Vec::new();
        for t in tables {
            let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                .bind(&t)
                .fetch_all(pool)
                .await
                .expect("columns");
            out.extend(cols.into_iter().map(|c| (t.clone(), c)));
        }
        out
    } else {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%' \
             AND data_type IN ('text', 'character varying', 'jsonb', 'json')",
        )
        .fetch_all(pool)
        .await
        .expect("columns");
        rows
    }
}

/// Issue 17: deleting an instance deletes everything the bridge holds about it — an inbound
/// event with its content, its attempt, a queued send (body and recipient), the customer's
/// window, a connect session, its channels and their tokens — and only the audit log keeps its
/// id. Every text column of every table is searched for the instance id and the channel ids
/// (the tables come from the database's own catalogue); on SQLite the files are searched for
/// the two texts after the worker's truncating checkpoint.
async fn deleting_an_instance_leaves_only_its_id_in_the_audit_log(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.run_workers = false;
        // Connect sessions can be created (nothing here opens one: Meta is never called).
        metabridge::sim::graph::point_connect_at(&mut c.connect, "http://127.0.0.1:9");
    })
    .await;
    let t = app.fixture_tenant().await;
    let (s, channels) = app.v1(&t, reqwest::Method::GET, "/v1/channels").await;
    assert_eq!(s, 200, "{channels}");
    let channel_ids: Vec<String> = channels
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["id"].as_str().expect("channel id").to_string())
        .collect();
    assert_eq!(channel_ids.len(), 3);
    let wa = channels
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["kind"] == "whatsapp")
        .expect("whatsapp channel")["id"]
        .as_str()
        .expect("id")
        .to_string();
    // An inbound message (pending: the workers are off), whose text is a marker.
    let inbound = format!("inbound-marker-{}", uuid::Uuid::new_v4().simple());
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("wa-text.json")).expect("fixture json");
    body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] =
        serde_json::Value::String(inbound.clone());
    assert_eq!(
        app.post_webhook(&serde_json::to_vec(&body).expect("json"))
            .await,
        200
    );
    // One failed attempt (the receiver refuses), so delivery_attempts has a row.
    app.receiver.state.set_status(500);
    assert_eq!(app.deliver_due().await, 1);
    // A queued answer to that customer, another marker.
    let outbound = format!("outbound-marker-{}", uuid::Uuid::new_v4().simple());
    let resp = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .bearer_auth(app.jwt(&t))
        // The fixture's message is dated long ago: the window is Meta's time, so ignore it.
        .json(
            &json!({"channel_id": wa, "to": "15550001234", "ignore_window": true,
                      "message": {"type": "text", "body": outbound}}),
        )
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    assert_eq!(status, 202, "{}", resp.text().await.unwrap_or_default());
    let resp = app
        .http
        .post(format!("{}/v1/connect-sessions", app.url))
        .bearer_auth(app.jwt(&t))
        .json(&json!({"kind": "messenger", "return_url": format!("{}/done", app.receiver.url())}))
        .send()
        .await
        .expect("connect session");
    let status = resp.status().as_u16();
    assert_eq!(status, 201, "{}", resp.text().await.unwrap_or_default());
    let columns = text_columns(&app).await;
    let holding = |needle: String| {
        let columns = columns.clone();
        let pool = app.state.store.pool().clone();
        async move {
            let mut found = Vec::new();
            for (table, column) in &columns {
                let sql =
                    format!("SELECT COUNT(*) FROM {table} WHERE CAST({column} AS TEXT) LIKE $1");
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(format!("%{needle}%"))
                    .fetch_one(&pool)
                    .await
                    .expect("search");
                if n > 0 {
                    found.push(format!("{table}.{column}"));
                }
            }
            found.sort();
            found.dedup();
            found
        }
    };
    // Before: the instance id is in the tables that hold its data (the search works).
    let before = holding(t.instance_id.clone()).await;
    for table in [
        "events.instance_id",
        "delivery_attempts.instance_id",
        "messages.instance_id",
        "contact_windows.instance_id",
        "connect_sessions.instance_id",
        "channels.instance_id",
        "instances.id",
    ] {
        assert!(before.iter().any(|f| f == table), "{table} in {before:?}");
    }
    let (s, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/instances/{}", t.instance_id),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let after = holding(t.instance_id.clone()).await;
    assert!(
        after.iter().all(|f| f.starts_with("audit_log.")),
        "only the audit log keeps the instance id: {after:?}"
    );
    for c in &channel_ids {
        let left = holding(c.clone()).await;
        assert!(
            left.iter().all(|f| f.starts_with("audit_log.")),
            "{c}: {left:?}"
        );
    }
    for marker in [&inbound, &outbound] {
        assert_eq!(
            holding(marker.clone()).await,
            Vec::<String>::new(),
            "{marker}"
        );
    }
    if let Some(path) = app.state.config.database_url.strip_prefix("sqlite://") {
        app.state
            .store
            .checkpoint_truncate()
            .await
            .expect("truncate checkpoint");
        let path = path.split('?').next().expect("path");
        for file in [path.to_string(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for marker in [&inbound, &outbound] {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                    "{file} still holds {marker}"
                );
            }
        }
    }
    app.stop().await;
}
