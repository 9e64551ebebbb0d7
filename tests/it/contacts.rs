//! Issue 16 §2: Instagram and Messenger contact profiles. After a contact's message the bridge
//! reads the profile Meta's User Profile API allows (Instagram through the host of the
//! channel's login, Messenger with the Page token) in the background, keeps it (memory and a
//! table, with a TTL), adds it to later events as `contact.profile`, and returns it with the
//! window from `GET /v1/channels/{id}/contacts/{contact}`. A read that fails never holds an
//! event. The simulator answers as the corpus documents (`*.user_profile.json`, checked by
//! `conformance`); the expected profiles below are what the test registered at "Meta".

use std::time::Duration;

use metabridge::sim::graph::GraphSim;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::graph::{FAST_STATUSES, IG, IG_PAGE_TOKEN, PAGE, TOKEN, start_sim};
use crate::helpers::*;

both_backends!(
    instagram_profile_is_read_after_the_first_message_and_carried_by_later_events,
    instagram_login_profile_is_read_on_the_instagram_host,
    messenger_profile_has_first_and_last_name,
    a_failed_profile_read_never_holds_an_event,
    p13_disconnect_deletes_the_channels_profiles,
);

/// An Instagram account connected with Instagram Login (its token works only on
/// graph.instagram.com).
const IG_LOGIN: &str = "17841400000000009";
const IG_LOGIN_TOKEN: &str = "IGAAContactsTestInstagramUserToken0001";
const IGSID: &str = "6120000000000077";
const PSID: &str = "7120000000000055";

struct Env {
    app: TestApp,
    sim: GraphSim,
    tenant: Tenant,
    ig: String,
    ig_login: String,
    fb: String,
}

async fn env(db: Db) -> Env {
    let sim = start_sim(FAST_STATUSES, false).await;
    let base = sim.url();
    let app = spawn_app_with(db, |c| {
        c.graph.base_url = base.clone();
        c.connect.instagram_graph_url = format!("{base}/ig-graph");
    })
    .await;
    sim.set_webhook_url(&format!("{}/webhooks/meta", app.url));
    sim.add_channel("instagram", IG, None, IG_PAGE_TOKEN);
    sim.add_channel("instagram", IG_LOGIN, None, IG_LOGIN_TOKEN);
    sim.add_channel("messenger", PAGE, None, TOKEN);
    let tenant = app.tenant("Loja", None).await;
    let ig = app
        .channel_with_token(&tenant, "instagram", IG, None, IG_PAGE_TOKEN)
        .await;
    let ig_login = app
        .channel_with_token(&tenant, "instagram", IG_LOGIN, None, IG_LOGIN_TOKEN)
        .await;
    let fb = app.channel(&tenant, "messenger", PAGE, None).await;
    Env {
        app,
        sim,
        tenant,
        ig,
        ig_login,
        fb,
    }
}

fn ana() -> Value {
    json!({"name": "Ana Souza", "username": "ana.souza",
        "profile_pic": "https://scontent.cdninstagram.com/v/ana.jpg", "follower_count": 1234,
        "is_user_follow_business": true, "is_business_follow_user": false})
}

/// A customer message on Instagram (`object` `instagram`) or Messenger (`page`).
async fn writes(env: &Env, object: &str, account: &str, from: &str, text: &str) {
    let now = chrono::Utc::now().timestamp_millis();
    let body = json!({"object": object, "entry": [{"id": account, "time": now, "messaging": [{
        "sender": {"id": from}, "recipient": {"id": account}, "timestamp": now,
        "message": {"mid": format!("m_{}", uuid::Uuid::new_v4().simple()), "text": text}}]}]});
    let bytes = serde_json::to_vec(&body).expect("json");
    assert_eq!(env.app.post_webhook(&bytes).await, 200);
}

async fn contact(env: &Env, channel: &str, who: &str) -> Value {
    let (status, v) = env
        .app
        .v1(
            &env.tenant,
            Method::GET,
            &format!("/v1/channels/{channel}/contacts/{who}"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Waits until the contact endpoint shows a read (a profile or an error) and returns it.
async fn read_profile(env: &Env, channel: &str, who: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = contact(env, channel, who).await;
        if v.get("profile").is_some() || v.get("profile_error").is_some() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the profile was never read: {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The received `message.received` events whose text is `text`.
fn received(env: &Env, text: &str) -> Vec<Value> {
    env.app
        .receiver
        .state
        .accepted()
        .into_iter()
        .filter(|e| e.event_type == "message.received" && e.body["data"]["text"] == text)
        .map(|e| e.body)
        .collect()
}

async fn wait_received(env: &Env, text: &str) -> Value {
    wait_until(
        Duration::from_secs(20),
        "the event is delivered",
        || async { !received(env, text).is_empty() },
    )
    .await;
    received(env, text).remove(0)
}

/// The profile reads the simulator got for `who`: (path, whether on graph.instagram.com).
fn profile_reads(sim: &GraphSim, who: &str) -> Vec<(String, bool)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{who}")))
        .map(|r| (r.path.clone(), r.path.starts_with("/ig-graph/")))
        .collect()
}

async fn instagram_profile_is_read_after_the_first_message_and_carried_by_later_events(db: Db) {
    let env = env(db).await;
    env.sim.add_contact_profile(IGSID, ana());
    writes(&env, "instagram", IG, IGSID, "primeira").await;
    let v = read_profile(&env, &env.ig, IGSID).await;
    assert_eq!(v["profile"], ana(), "{v}");
    assert_eq!(v["window_open"], true);
    assert!(v["last_inbound_at"].is_string());
    assert!(v["profile_fetched_at"].is_string());
    assert_eq!(v["profile_refreshing"], false);
    // Facebook Login: read with the Page token on graph.facebook.com.
    let reads = profile_reads(&env.sim, IGSID);
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(!reads[0].1, "{reads:?}");
    // The first message was delivered whether or not the profile was known then.
    let first = wait_received(&env, "primeira").await;
    assert_eq!(first["contact"]["id"], IGSID);
    // A later message carries the profile, and the TTL spares Meta a second read.
    writes(&env, "instagram", IG, IGSID, "segunda").await;
    let second = wait_received(&env, "segunda").await;
    assert_eq!(
        second["contact"],
        json!({"id": IGSID, "profile": ana()}),
        "{second}"
    );
    holds_for(Duration::from_millis(300), "one profile read", || async {
        profile_reads(&env.sim, IGSID).len() == 1
    })
    .await;
    // Another instance cannot read this channel's contacts (P10).
    let other = env.app.tenant("Outra", None).await;
    let (status, v) = env
        .app
        .v1(
            &other,
            Method::GET,
            &format!("/v1/channels/{}/contacts/{IGSID}", env.ig),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("channel_not_found"))
    );
    env.app.stop().await;
}

async fn instagram_login_profile_is_read_on_the_instagram_host(db: Db) {
    let env = env(db).await;
    env.sim.add_contact_profile(IGSID, ana());
    writes(&env, "instagram", IG_LOGIN, IGSID, "oi").await;
    let v = read_profile(&env, &env.ig_login, IGSID).await;
    assert_eq!(v["profile"], ana(), "{v}");
    let reads = profile_reads(&env.sim, IGSID);
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(
        reads[0].1,
        "Instagram Login reads on graph.instagram.com: {reads:?}"
    );
    env.app.stop().await;
}

async fn messenger_profile_has_first_and_last_name(db: Db) {
    let env = env(db).await;
    let bruno = json!({"first_name": "Bruno", "last_name": "Lima",
        "profile_pic": "https://platform-lookaside.fbsbx.com/bruno.jpg"});
    env.sim.add_contact_profile(PSID, bruno.clone());
    writes(&env, "page", PAGE, PSID, "olá").await;
    let v = read_profile(&env, &env.fb, PSID).await;
    assert_eq!(v["profile"], bruno, "{v}");
    assert!(v["human_agent_expires_at"].is_string());
    let reads = profile_reads(&env.sim, PSID);
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(!reads[0].1);
    writes(&env, "page", PAGE, PSID, "de novo").await;
    let later = wait_received(&env, "de novo").await;
    assert_eq!(later["contact"]["profile"], bruno, "{later}");
    env.app.stop().await;
}

async fn a_failed_profile_read_never_holds_an_event(db: Db) {
    let env = env(db).await;
    // This person is unknown to Meta's profile API (no consent): the read fails.
    writes(&env, "instagram", IG, IGSID, "sem perfil").await;
    let ev = wait_received(&env, "sem perfil").await;
    assert_eq!(ev["contact"], json!({"id": IGSID}));
    let v = read_profile(&env, &env.ig, IGSID).await;
    assert!(v.get("profile").is_none(), "{v}");
    assert_eq!(v["profile_error"], "meta_100_33", "{v}");
    assert_eq!(v["window_open"], true);
    // Later messages still go out at once, without a profile.
    writes(&env, "instagram", IG, IGSID, "ainda sem").await;
    let ev = wait_received(&env, "ainda sem").await;
    assert_eq!(ev["contact"], json!({"id": IGSID}));
    // Someone who never wrote: no window, no profile, and no read is asked for (Meta gives a
    // profile only after the person wrote).
    let v = contact(&env, &env.fb, PSID).await;
    assert_eq!(v["window_open"], false, "{v}");
    assert_eq!(v["profile_refreshing"], false, "{v}");
    assert!(
        v.get("profile").is_none() && v.get("profile_error").is_none(),
        "{v}"
    );
    holds_for(
        Duration::from_millis(300),
        "no read for a silent contact",
        || async { profile_reads(&env.sim, PSID).is_empty() },
    )
    .await;
    env.app.stop().await;
}

async fn p13_disconnect_deletes_the_channels_profiles(db: Db) {
    let env = env(db).await;
    env.sim.add_contact_profile(IGSID, ana());
    env.sim
        .add_contact_profile(PSID, json!({"first_name": "Bruno"}));
    writes(&env, "instagram", IG, IGSID, "oi").await;
    writes(&env, "page", PAGE, PSID, "oi").await;
    read_profile(&env, &env.ig, IGSID).await;
    read_profile(&env, &env.fb, PSID).await;
    assert_eq!(
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM contact_profiles")
            .await,
        2
    );
    env.app.disconnect_channel(&env.ig).await;
    // The disconnected channel's profiles are gone; the other channel's stay.
    assert_eq!(
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM contact_profiles")
            .await,
        1
    );
    // Deleting the instance deletes the rest.
    env.app.delete_instance(&env.tenant).await;
    assert_eq!(
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM contact_profiles")
            .await,
        0
    );
    env.app.stop().await;
}
