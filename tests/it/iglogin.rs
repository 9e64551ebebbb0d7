//! Issue 12, defect 1: an Instagram channel sends through the Graph host of the login its token
//! came from. Instagram API with Instagram Login: an Instagram User token, accepted only by
//! graph.instagram.com (`POST /{ig-id}/messages`). Instagram through Facebook Login: the linked
//! Page's token on graph.facebook.com, sending as the Page (`POST /me/messages`). The simulator
//! serves graph.instagram.com under `/ig-graph` and refuses a token on the other host, as Meta
//! does (tests/fixtures/meta/conformance/instagram_login.*.json).

use std::time::Duration;

use metabridge::config::InstagramFlow;
use metabridge::sim::graph::GraphRequest;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::connect::{Browser, Connect, IG_LOGIN, PAGE1, connect_env};
use crate::helpers::*;

both_backends!(
    instagram_login_channel_sends_on_the_instagram_host,
    facebook_login_instagram_channel_sends_as_its_page,
    admin_login_is_explicit_or_follows_the_token,
);

/// The Instagram account the simulator links to its first Page (Facebook Login).
const IG_OF_PAGE1: &str = "178410000000001";
/// An Instagram-scoped id of a customer.
const IGSID: &str = "6120000000000077";

/// The customer writes to the Instagram account (opens the 24-hour window).
async fn customer_writes(env: &Connect, account: &str) {
    let now = chrono::Utc::now().timestamp_millis();
    let body = json!({"object": "instagram", "entry": [{"id": account, "time": now, "messaging": [{
        "sender": {"id": IGSID}, "recipient": {"id": account}, "timestamp": now,
        "message": {"mid": format!("m_{}", uuid::Uuid::new_v4().simple()), "text": "oi"}}]}]});
    let bytes = serde_json::to_vec(&body).expect("json");
    assert_eq!(env.app.post_webhook(&bytes).await, 200);
}

/// Sends a text through `channel` and waits until Meta's answer is recorded: the message.
async fn send_text(env: &Connect, channel: &str) -> Value {
    let resp = env
        .app
        .http
        .post(format!("{}/v1/messages", env.app.url))
        .bearer_auth(env.app.jwt(&env.tenant))
        .json(&json!({"channel_id": channel, "to": IGSID, "message": {"type": "text", "body": "Olá!"}}))
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let (_, m) = env
            .app
            .v1(&env.tenant, Method::GET, &format!("/v1/messages/{id}"))
            .await;
        if m["status"] != "queued" && m["status"] != "sending" {
            return m;
        }
        last = m;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("message {id} was never answered: {last}");
}

/// The message sends the simulator received (any host).
fn message_posts(env: &Connect) -> Vec<GraphRequest> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect()
}

async fn channel_view(env: &Connect, channel: &str) -> Value {
    let (s, c) = env
        .app
        .v1(&env.tenant, Method::GET, &format!("/v1/channels/{channel}"))
        .await;
    assert_eq!(s, 200, "{c}");
    c
}

async fn instagram_login_channel_sends_on_the_instagram_host(db: Db) {
    let env = connect_env(db, |c| {
        c.connect.instagram_flow = InstagramFlow::InstagramLogin;
    })
    .await;
    let channel = env.connect_instagram_login().await;
    assert_eq!(channel_view(&env, &channel).await["login"], "instagram");
    customer_writes(&env, IG_LOGIN).await;

    let m = send_text(&env, &channel).await;
    assert_eq!(m["status"], "sent", "accepted by Meta: {m}");
    let posts = message_posts(&env);
    assert_eq!(posts.len(), 1, "one send: {posts:?}");
    let post = &posts[0];
    // graph.instagram.com (the simulator's `/ig-graph`), from the Instagram account's id.
    assert!(
        post.path.starts_with("/ig-graph/"),
        "sent on graph.instagram.com: {}",
        post.path
    );
    assert!(
        post.path.ends_with(&format!("/{IG_LOGIN}/messages")),
        "{}",
        post.path
    );
    assert_eq!(post.answered, 200);
    assert!(post.accepted_send);
    assert_eq!(post.sender_id.as_deref(), Some(IG_LOGIN));
    assert_eq!(post.body["recipient"], json!({"id": IGSID}));
    assert_eq!(post.body["message"]["text"], "Olá!");
    env.app.stop().await;
}

async fn facebook_login_instagram_channel_sends_as_its_page(db: Db) {
    let env = connect_env(db, |c| {
        c.connect.instagram_flow = InstagramFlow::FacebookLogin;
    })
    .await;
    // Facebook Login sharing the first Page, whose Instagram account becomes the channel.
    let (id, link) = env.session("instagram").await;
    let mut b = Browser::new();
    let dialog = env.to_dialog(&mut b, &link).await;
    let back = env
        .answer_dialog(&mut b, &dialog, &[("action", "allow"), ("page", PAGE1)])
        .await;
    let done = b.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let channel = v["channel_ids"][0].as_str().expect("channel").to_string();
    let view = channel_view(&env, &channel).await;
    assert_eq!(view["external_id"], IG_OF_PAGE1);
    assert_eq!(view["login"], "facebook");
    customer_writes(&env, IG_OF_PAGE1).await;
    // The customer is an Instagram user: Meta routes a Page's send to them through the Page's
    // Instagram account.
    env.sim.add_instagram_user(IGSID);

    let m = send_text(&env, &channel).await;
    assert_eq!(m["status"], "sent", "accepted by Meta: {m}");
    let posts = message_posts(&env);
    assert_eq!(posts.len(), 1, "one send: {posts:?}");
    let post = &posts[0];
    // graph.facebook.com (the simulator's root), as the Page: `/{version}/me/messages`.
    assert!(
        !post.path.starts_with("/ig-graph/"),
        "sent on graph.facebook.com: {}",
        post.path
    );
    assert!(post.path.ends_with("/me/messages"), "{}", post.path);
    assert_eq!(post.answered, 200);
    assert!(post.accepted_send);
    assert_eq!(post.sender_id.as_deref(), Some(IG_OF_PAGE1));
    env.app.stop().await;
}

async fn admin_login_is_explicit_or_follows_the_token(db: Db) {
    let env = connect_env(db, |_| {}).await;
    // Meta knows the Instagram Login account registered by hand below (its token is checked
    // on graph.instagram.com by the token-health worker).
    env.sim.add_channel(
        "instagram",
        "178410000000201",
        None,
        "IGAAhand-ig-user-token",
    );
    let create = |external_id: &str, token: &str, login: Option<&str>, kind: &str| {
        let mut body = json!({"instance_id": env.tenant.instance_id, "kind": kind,
            "external_id": external_id, "access_token": token});
        if let Some(l) = login {
            body["login"] = json!(l);
        }
        if kind == "whatsapp" {
            body["waba_id"] = json!("102000000000009");
        }
        body
    };
    let post = |body: Value| {
        let app = &env.app;
        async move {
            app.admin(Method::POST, "/admin/v1/channels", Some(body))
                .await
        }
    };

    // Defaulted from the token: Instagram User tokens start with `IG`, Page tokens do not.
    let (s, ig) = post(create(
        "178410000000201",
        "IGAAhand-ig-user-token",
        None,
        "instagram",
    ))
    .await;
    assert_eq!(s, 201, "{ig}");
    assert_eq!(ig["login"], "instagram");
    let (s, fb) = post(create(
        "178410000000202",
        "EAAGhand-page-token",
        None,
        "instagram",
    ))
    .await;
    assert_eq!(s, 201, "{fb}");
    assert_eq!(fb["login"], "facebook");
    // Explicit and consistent with the token.
    let (s, v) = post(create(
        "178410000000203",
        "IGAAother-ig-user-token",
        Some("instagram"),
        "instagram",
    ))
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["login"], "instagram");
    let (s, v) = post(create(
        "178410000000204",
        "EAAGother-page-token",
        Some("facebook"),
        "instagram",
    ))
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["login"], "facebook");

    // Invalid values: 422 naming the field, nothing stored.
    for (login, token, kind) in [
        ("twitter", "IGAAx-token", "instagram"),
        ("Instagram", "IGAAx-token", "instagram"),
        ("instagram", "EAAGx-page-token", "instagram"),
        ("facebook", "IGAAx-token", "instagram"),
        ("facebook", "EAAGx-token", "whatsapp"),
    ] {
        let (s, v) = post(create("178410000000299", token, Some(login), kind)).await;
        assert_eq!(s, 422, "{login} {kind}: {v}");
        assert_eq!(v["code"], "validation_failed", "{v}");
        assert_eq!(v["field"], "login", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(
        env.app
            .count("SELECT COUNT(*) FROM channels WHERE external_id = '178410000000299'")
            .await,
        0
    );

    // The instance's channels API shows the login (absent for other kinds).
    let wa = env
        .app
        .channel(
            &env.tenant,
            "whatsapp",
            "106000000000009",
            Some("102000000000009"),
        )
        .await;
    let (s, list) = env.app.v1(&env.tenant, Method::GET, "/v1/channels").await;
    assert_eq!(s, 200, "{list}");
    let items = list
        .get("data")
        .and_then(Value::as_array)
        .or_else(|| list.as_array())
        .expect("list")
        .clone();
    let of = |id: &str| {
        items
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed: {list}"))
    };
    assert_eq!(of(ig["id"].as_str().expect("id"))["login"], "instagram");
    assert_eq!(of(fb["id"].as_str().expect("id"))["login"], "facebook");
    assert!(of(&wa).get("login").is_none(), "{list}");

    // A replaced token brings its login along (an Instagram User token → graph.instagram.com).
    let fb_id = fb["id"].as_str().expect("id").to_string();
    let (s, v) = env
        .app
        .admin(
            Method::PUT,
            &format!("/admin/v1/channels/{fb_id}/token"),
            Some(json!({"access_token": "IGAAreplacement-ig-user-token"})),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    assert_eq!(channel_view(&env, &fb_id).await["login"], "instagram");

    // A hand-registered Instagram Login channel sends on graph.instagram.com too.
    customer_writes(&env, "178410000000201").await;
    let m = send_text(&env, ig["id"].as_str().expect("id")).await;
    assert_eq!(m["status"], "sent", "{m}");
    let posts = message_posts(&env);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].path.starts_with("/ig-graph/")
            && posts[0].path.ends_with("/178410000000201/messages"),
        "{}",
        posts[0].path
    );
    assert!(posts[0].accepted_send);
    env.app.stop().await;
}
