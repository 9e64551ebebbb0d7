//! Issue 16 §3: the inbound media cache. Media of a customer's message is recorded with the
//! event (commit before ack), downloaded in the background, and served by
//! `GET /v1/channels/{id}/media/{media_id}` after Meta stopped serving it; the event names the
//! copy (`cache`). WhatsApp files come through `GET /{media-id}` with the channel's token,
//! Instagram / Messenger attachments from the CDN address in the webhook; Instagram story
//! mentions are never kept (Meta forbids storing them). Files that break their kind's limits are
//! not kept and the API says why. Copies go at their expiry, with the channel's disconnect and
//! with the instance (P18). Every expected value below comes from what the test put at "Meta"
//! (bytes, ids, content types) or from the documented retention, never from the product.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metabridge::sim::graph::GraphSim;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::graph::{FAST_STATUSES, IG, IG_PAGE_TOKEN, PNID, TOKEN, WABA, start_sim};
use crate::helpers::*;

both_backends!(
    whatsapp_media_is_kept_and_served_after_meta_forgets_it,
    instagram_attachments_are_kept_but_never_a_story_mention,
    files_that_break_their_kinds_limits_are_not_kept_and_the_api_says_why,
    a_file_recorded_before_a_crash_is_downloaded_after_the_restart,
    p18_kept_media_goes_at_expiry_with_the_channel_and_with_the_instance,
    with_the_cache_off_events_name_no_copy_and_nothing_is_written,
);

const CUSTOMER: &str = "5511988887777";
const IGSID: &str = "6120000000000078";
/// `METABRIDGE_MEDIA_RETENTION_HOURS` of these tests.
const RETENTION_HOURS: i64 = 2;

struct Env {
    app: TestApp,
    sim: GraphSim,
    tenant: Tenant,
    wa: String,
    ig: String,
    media_dir: PathBuf,
    _media_tmp: Arc<tempfile::TempDir>,
}

async fn env(db: Db, cache_on: bool) -> Env {
    let sim = start_sim(FAST_STATUSES, false).await;
    let base = sim.url();
    let media_tmp = Arc::new(tempfile::tempdir().expect("tempdir"));
    let media_dir = media_tmp.path().join("media");
    let dir = media_dir.clone();
    let app = spawn_app_with(db, |c| {
        c.graph.base_url = base.clone();
        c.media.enabled = cache_on;
        c.media.dir = dir;
        c.media.retention = Duration::from_secs(RETENTION_HOURS as u64 * 3600);
    })
    .await;
    sim.add_channel("whatsapp", PNID, Some(WABA), TOKEN);
    sim.add_channel("instagram", IG, None, IG_PAGE_TOKEN);
    let tenant = app.tenant("Loja", None).await;
    let wa = app.channel(&tenant, "whatsapp", PNID, Some(WABA)).await;
    let ig = app
        .channel_with_token(&tenant, "instagram", IG, None, IG_PAGE_TOKEN)
        .await;
    Env {
        app,
        sim,
        tenant,
        wa,
        ig,
        media_dir,
        _media_tmp: media_tmp,
    }
}

/// A generated file whose bytes depend on `seed`.
fn file(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

/// A WhatsApp customer's media message (`kind` image, sticker, …) naming `media_id`.
async fn wa_media(env: &Env, kind: &str, media_id: &str, mime: &str, sha256: &str) -> String {
    let wamid = format!("wamid.{}", uuid::Uuid::new_v4().simple());
    let now = chrono::Utc::now().timestamp();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": now.to_string(), "type": kind,
                kind: {"id": media_id, "mime_type": mime, "sha256": sha256}}]}}]}]});
    let bytes = serde_json::to_vec(&body).expect("json");
    assert_eq!(env.app.post_webhook(&bytes).await, 200);
    wamid
}

/// An Instagram customer's message with these attachments (`(type, url)`).
async fn ig_attachments(env: &Env, attachments: &[(&str, &str)]) -> String {
    let mid = format!("m_{}", uuid::Uuid::new_v4().simple());
    let now = chrono::Utc::now().timestamp_millis();
    let attachments: Vec<Value> = attachments
        .iter()
        .map(|(t, url)| json!({"type": t, "payload": {"url": url}}))
        .collect();
    let body = json!({"object": "instagram", "entry": [{"id": IG, "time": now, "messaging": [{
        "sender": {"id": IGSID}, "recipient": {"id": IG}, "timestamp": now,
        "message": {"mid": mid, "attachments": attachments}}]}]});
    let bytes = serde_json::to_vec(&body).expect("json");
    assert_eq!(env.app.post_webhook(&bytes).await, 200);
    mid
}

/// The delivered `message.received` event of Meta's message `id`.
async fn delivered(env: &Env, id: &str) -> Value {
    let find = || {
        env.app
            .receiver
            .state
            .accepted()
            .into_iter()
            .find(|e| e.event_type == "message.received" && e.body["data"]["message_id"] == id)
            .map(|e| e.body)
    };
    wait_until(
        Duration::from_secs(20),
        "the event is delivered",
        || async { find().is_some() },
    )
    .await;
    find().expect("delivered")
}

/// `GET` an API path as the tenant: status and JSON body.
async fn api_get(env: &Env, path: &str) -> (u16, Value) {
    env.app.v1(&env.tenant, Method::GET, path).await
}

/// `GET` an API path that must fail: status and the error's `code`.
async fn api_code(env: &Env, path: &str) -> (u16, String) {
    let (status, v) = api_get(env, path).await;
    (status, v["code"].as_str().unwrap_or_default().to_owned())
}

/// `GET` a media path of the API: status, `X-Metabridge-Media-Source`, content type, bytes.
async fn download(env: &Env, path: &str) -> (u16, String, String, Vec<u8>) {
    let resp = env
        .app
        .http
        .get(format!("{}{path}", env.app.url))
        .bearer_auth(env.app.jwt(&env.tenant))
        .send()
        .await
        .expect("download");
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let source = header("x-metabridge-media-source");
    let mime = header("content-type");
    let body = resp.bytes().await.expect("body").to_vec();
    (status, source, mime, body)
}

/// Waits until the bridge serves `path` from its own copy.
async fn wait_kept(env: &Env, path: &str) {
    wait_until(Duration::from_secs(20), "the file is kept", || async {
        download(env, path).await.1 == "cache"
    })
    .await;
}

/// The files under the media directory (relative paths), partial ones included.
fn files_on_disk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn rfc3339_ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .timestamp_millis()
}

async fn whatsapp_media_is_kept_and_served_after_meta_forgets_it(db: Db) {
    let env = env(db, true).await;
    let media_id = "1480000000000101";
    let bytes = file(7, 300_000);
    env.sim.add_media(media_id, "image/jpeg", bytes.clone());
    let sha = hex::encode(Sha256::digest(&bytes));
    let before = chrono::Utc::now().timestamp_millis();
    let wamid = wa_media(&env, "image", media_id, "image/jpeg", &sha).await;
    let after = chrono::Utc::now().timestamp_millis();
    let event = delivered(&env, &wamid).await;
    let cache = &event["data"]["media"]["cache"];
    let path = format!("/v1/channels/{}/media/{media_id}", env.wa);
    assert_eq!(cache["media_id"], media_id, "{event}");
    assert_eq!(cache["download_path"], path.as_str());
    let hours = RETENTION_HOURS * 3_600_000;
    let expires = rfc3339_ms(&cache["expires_at"]);
    assert!(
        (before + hours..=after + hours).contains(&expires),
        "expires_at {expires} outside [{}, {}]",
        before + hours,
        after + hours
    );

    wait_kept(&env, &path).await;
    // Meta forgets the media (its webhook media ids expire after 7 days): the copy is served.
    env.sim.remove_media(media_id);
    let (status, source, mime, body) = download(&env, &path).await;
    assert_eq!(
        (status, source.as_str(), mime.as_str()),
        (200, "cache", "image/jpeg")
    );
    assert!(body == bytes, "the kept file is the customer's file");
    // On disk under <dir>/<instance>/<channel>/<media id>, nothing else (no partial file).
    assert_eq!(
        files_on_disk(&env.media_dir),
        vec![format!("{}/{}/{media_id}", env.tenant.instance_id, env.wa)]
    );
    // The export lists the kept file's metadata (P14), never its bytes.
    let export = env.app.export(&env.tenant).await;
    let kept = export.of("media_file");
    assert_eq!(kept.len(), 1, "{}", export.text);
    assert_eq!(kept[0]["media_id"], media_id);
    assert_eq!(kept[0]["channel_id"], env.wa.as_str());
    assert_eq!(kept[0]["state"], "stored");
    assert_eq!(kept[0]["mime_type"], "image/jpeg");
    assert_eq!(kept[0]["size"], bytes.len() as u64);
    assert_eq!(kept[0]["sha256"], sha.as_str());
    assert_eq!(export.of("end")[0]["counts"]["media_files"], 1);
    // Another instance cannot read it (P10).
    let other = env.app.tenant("Other", None).await;
    let resp = env
        .app
        .http
        .get(format!("{}{path}", env.app.url))
        .bearer_auth(env.app.jwt(&other))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status().as_u16(), 404);
    assert!(
        env.app
            .metric_with("metabridge_media_downloads_total", "outcome", "stored")
            .await
            >= 1.0
    );
    env.app.stop().await;
}

async fn instagram_attachments_are_kept_but_never_a_story_mention(db: Db) {
    let env = env(db, true).await;
    let photo = file(1, 120_000);
    let clip = file(2, 400_000);
    let story = file(3, 50_000);
    let photo_url = env.sim.add_cdn_file("image/png", photo.clone());
    let clip_url = env.sim.add_cdn_file("video/mp4", clip.clone());
    let story_url = env.sim.add_cdn_file("image/jpeg", story);
    let mid = ig_attachments(
        &env,
        &[
            ("image", &photo_url),
            ("story_mention", &story_url),
            ("video", &clip_url),
        ],
    )
    .await;
    let event = delivered(&env, &mid).await;
    let attachments = event["data"]["attachments"]
        .as_array()
        .expect("attachments")
        .clone();
    assert_eq!(attachments.len(), 3, "{event}");
    // Meta's CDN addresses stay in the event as sent; the story mention names no copy.
    assert_eq!(attachments[0]["url"], photo_url.as_str());
    assert!(attachments[1].get("cache").is_none(), "{event}");
    let mut paths = Vec::new();
    for (a, expected) in [(&attachments[0], &photo), (&attachments[2], &clip)] {
        let id = a["cache"]["media_id"].as_str().expect("a kept attachment");
        assert!(id.starts_with("med_") && id.len() == 36, "{id}");
        let path = a["cache"]["download_path"]
            .as_str()
            .expect("path")
            .to_owned();
        assert_eq!(path, format!("/v1/channels/{}/media/{id}", env.ig));
        paths.push((path, expected.clone()));
    }
    assert_ne!(paths[0].0, paths[1].0);
    for (path, _) in &paths {
        wait_kept(&env, path).await;
    }
    // The CDN addresses expire: the copies are still served, with the CDN's content types.
    env.sim.expire_cdn_file(&photo_url);
    env.sim.expire_cdn_file(&clip_url);
    for ((path, expected), mime) in paths.iter().zip(["image/png", "video/mp4"]) {
        let (status, source, got_mime, body) = download(&env, path).await;
        assert_eq!(
            (status, source.as_str(), got_mime.as_str()),
            (200, "cache", mime)
        );
        assert!(&body == expected, "the kept file is the attachment");
    }
    // The story was never fetched: Meta forbids storing story media.
    assert_eq!(env.sim.cdn_fetches(&story_url), 0);
    assert_eq!(files_on_disk(&env.media_dir).len(), 2);
    // An Instagram channel has no Meta media ids to download.
    assert_eq!(
        api_code(
            &env,
            &format!("/v1/channels/{}/media/1480000000000101", env.ig)
        )
        .await,
        (422, "validation_failed".to_owned())
    );
    env.app.stop().await;
}

async fn files_that_break_their_kinds_limits_are_not_kept_and_the_api_says_why(db: Db) {
    let env = env(db, true).await;
    // A sticker over WhatsApp's 500 KB: not kept; served from Meta while Meta has it.
    let sticker_id = "1480000000000202";
    env.sim
        .add_media(sticker_id, "image/webp", file(4, 600 * 1024));
    let wamid = wa_media(&env, "sticker", sticker_id, "image/webp", "").await;
    delivered(&env, &wamid).await;
    wait_until(
        Duration::from_secs(20),
        "the sticker is refused",
        || async {
            env.app
                .metric_with("metabridge_media_downloads_total", "outcome", "too_large")
                .await
                >= 1.0
        },
    )
    .await;
    let sticker_path = format!("/v1/channels/{}/media/{sticker_id}", env.wa);
    let (status, source, _, body) = download(&env, &sticker_path).await;
    assert_eq!(
        (status, source.as_str(), body.len()),
        (200, "meta", 600 * 1024)
    );
    env.sim.remove_media(sticker_id);
    let (status, v) = api_get(&env, &sticker_path).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("media_not_found")));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("too_large")),
        "{v}"
    );

    // An "image" the CDN answers as a web page (an error page with 200): not kept.
    let page_url = env
        .sim
        .add_cdn_file("text/html", b"<html>gone</html>".to_vec());
    let mid = ig_attachments(&env, &[("image", &page_url)]).await;
    let event = delivered(&env, &mid).await;
    let path = event["data"]["attachments"][0]["cache"]["download_path"]
        .as_str()
        .expect("the bridge tried to keep it")
        .to_owned();
    wait_until(Duration::from_secs(20), "the page is refused", || async {
        env.app
            .metric_with(
                "metabridge_media_downloads_total",
                "outcome",
                "type_mismatch",
            )
            .await
            >= 1.0
    })
    .await;
    let (status, v) = api_get(&env, &path).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("media_not_found")));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("type_mismatch")),
        "{v}"
    );
    // A bridge id nobody was given: 404; neither form of id: 422.
    let (status, _) = api_get(
        &env,
        &format!(
            "/v1/channels/{}/media/med_0123456789abcdef0123456789abcdef",
            env.ig
        ),
    )
    .await;
    assert_eq!(status, 404);
    // On a WhatsApp channel too, and Meta is not asked about an id that is not Meta's.
    assert_eq!(
        api_code(
            &env,
            &format!(
                "/v1/channels/{}/media/med_0123456789abcdef0123456789abcdef",
                env.wa
            )
        )
        .await,
        (404, "media_not_found".to_owned())
    );
    assert!(
        env.sim.requests().iter().all(|r| !r.path.contains("med_")),
        "a bridge media id reached the Graph API"
    );
    assert_eq!(
        api_code(
            &env,
            &format!("/v1/channels/{}/media/..%2F..%2Fetc", env.wa)
        )
        .await,
        (422, "validation_failed".to_owned())
    );
    assert!(files_on_disk(&env.media_dir).is_empty());
    env.app.stop().await;
}

async fn a_file_recorded_before_a_crash_is_downloaded_after_the_restart(db: Db) {
    // The first process takes the webhook in and stops before any download (workers off).
    let sim = start_sim(FAST_STATUSES, false).await;
    let base = sim.url();
    let media_tmp = Arc::new(tempfile::tempdir().expect("tempdir"));
    let media_dir = media_tmp.path().join("media");
    let tweak_dir = media_dir.clone();
    let tweak = |workers: bool| {
        let base = base.clone();
        let dir = tweak_dir.clone();
        move |c: &mut metabridge::config::Config| {
            c.graph.base_url = base;
            c.media.enabled = true;
            c.media.dir = dir;
            c.run_workers = workers;
        }
    };
    let db_dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let url = fresh_database(db, &db_dir).await;
    let key = metabridge::crypto::vault::generate_key();
    let app = spawn_app_on(
        db,
        Arc::clone(&db_dir),
        url.clone(),
        key.clone(),
        tweak(false),
    )
    .await;
    sim.add_channel("whatsapp", PNID, Some(WABA), TOKEN);
    let tenant = app.tenant("Loja", None).await;
    let wa = app.channel(&tenant, "whatsapp", PNID, Some(WABA)).await;
    let media_id = "1480000000000303";
    let bytes = file(9, 80_000);
    sim.add_media(media_id, "audio/ogg", bytes.clone());
    let env = Env {
        app,
        sim,
        tenant,
        wa,
        ig: String::new(),
        media_dir,
        _media_tmp: media_tmp,
    };
    wa_media(&env, "audio", media_id, "audio/ogg", "").await;
    assert!(files_on_disk(&env.media_dir).is_empty());
    let Env {
        app,
        sim,
        tenant,
        wa,
        ig,
        media_dir,
        _media_tmp,
    } = env;
    app.stop().await;
    // A new process on the same database downloads it without any new webhook (its media
    // worker stepped by hand: one pass finds the file recorded before the stop).
    let app = spawn_app_on(db, db_dir, url, key, tweak(false)).await;
    assert_eq!(app.state.media.download_due().await.expect("download"), 1);
    assert_eq!(app.state.media.download_due().await.expect("download"), 0);
    let env = Env {
        app,
        sim,
        tenant,
        wa,
        ig,
        media_dir,
        _media_tmp,
    };
    let path = format!("/v1/channels/{}/media/{media_id}", env.wa);
    wait_kept(&env, &path).await;
    env.sim.remove_media(media_id);
    let (status, source, mime, body) = download(&env, &path).await;
    assert_eq!(
        (status, source.as_str(), mime.as_str()),
        (200, "cache", "audio/ogg")
    );
    assert!(body == bytes);
    env.app.stop().await;
}

async fn p18_kept_media_goes_at_expiry_with_the_channel_and_with_the_instance(db: Db) {
    let env = env(db, true).await;
    let first = "1480000000000401";
    let second = "1480000000000402";
    for (id, seed) in [(first, 1), (second, 2)] {
        env.sim.add_media(id, "image/jpeg", file(seed, 10_000));
    }
    let photo_url = env.sim.add_cdn_file("image/jpeg", file(3, 10_000));
    wa_media(&env, "image", first, "image/jpeg", "").await;
    let mid = ig_attachments(&env, &[("image", &photo_url)]).await;
    let ig_path = delivered(&env, &mid).await["data"]["attachments"][0]["cache"]["download_path"]
        .as_str()
        .expect("kept")
        .to_owned();
    let first_path = format!("/v1/channels/{}/media/{first}", env.wa);
    wait_kept(&env, &first_path).await;
    wait_kept(&env, &ig_path).await;
    env.sim.remove_media(first);

    // At expiry (the retention after the webhook) the copy goes; a sweep just before keeps it.
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let early = env
        .app
        .state
        .media
        .sweep(now + (RETENTION_HOURS - 1) * hour)
        .await
        .expect("sweep");
    assert_eq!(early.expired, 0);
    assert_eq!(download(&env, &first_path).await.0, 200);
    wa_media(&env, "image", second, "image/jpeg", "").await;
    let second_path = format!("/v1/channels/{}/media/{second}", env.wa);
    wait_kept(&env, &second_path).await;
    let report = env
        .app
        .state
        .media
        .sweep(now + RETENTION_HOURS * hour + 60_000)
        .await
        .expect("sweep");
    assert!(report.expired >= 3, "{report:?}");
    let (status, v) = api_get(&env, &first_path).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("media_not_found")));
    assert!(files_on_disk(&env.media_dir).is_empty());

    // Disconnecting a channel withdraws consent: its copies go at the next sweep.
    let third = "1480000000000403";
    env.sim.add_media(third, "image/jpeg", file(5, 10_000));
    wa_media(&env, "image", third, "image/jpeg", "").await;
    let third_path = format!("/v1/channels/{}/media/{third}", env.wa);
    wait_kept(&env, &third_path).await;
    let photo2 = env.sim.add_cdn_file("image/jpeg", file(6, 10_000));
    let mid = ig_attachments(&env, &[("image", &photo2)]).await;
    let ig_path2 = delivered(&env, &mid).await["data"]["attachments"][0]["cache"]["download_path"]
        .as_str()
        .expect("kept")
        .to_owned();
    wait_kept(&env, &ig_path2).await;
    env.app.disconnect_channel(&env.wa).await;
    let report = env
        .app
        .state
        .media
        .sweep(chrono::Utc::now().timestamp_millis())
        .await
        .expect("sweep");
    assert_eq!(report.withdrawn, 1, "{report:?}");
    let left = files_on_disk(&env.media_dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains(&env.ig), "{left:?}");

    // Deleting the instance deletes the rest — and nothing the bridge did not write (a
    // volume's lost+found, an operator's note).
    std::fs::create_dir_all(env.media_dir.join("lost+found")).expect("mkdir");
    std::fs::write(env.media_dir.join("lost+found").join("x"), b"x").expect("write");
    std::fs::write(env.media_dir.join("NOTES.txt"), b"x").expect("write");
    env.app.delete_instance(&env.tenant).await;
    env.app
        .state
        .media
        .sweep(chrono::Utc::now().timestamp_millis())
        .await
        .expect("sweep");
    assert_eq!(files_on_disk(&env.media_dir), ["NOTES.txt", "lost+found/x"]);
    assert!(
        !env.media_dir.join(&env.tenant.instance_id).exists(),
        "no directory of the instance is left"
    );
    assert_eq!(
        env.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM media_files")
            .await,
        0
    );
    env.app.stop().await;
}

async fn with_the_cache_off_events_name_no_copy_and_nothing_is_written(db: Db) {
    let env = env(db, false).await;
    let media_id = "1480000000000501";
    env.sim.add_media(media_id, "image/jpeg", file(8, 10_000));
    let wamid = wa_media(&env, "image", media_id, "image/jpeg", "").await;
    let event = delivered(&env, &wamid).await;
    assert_eq!(event["data"]["media"]["id"], media_id);
    assert!(event["data"]["media"].get("cache").is_none(), "{event}");
    // Served from Meta, as before the cache existed.
    let path = format!("/v1/channels/{}/media/{media_id}", env.wa);
    let (status, source, _, body) = download(&env, &path).await;
    assert_eq!((status, source.as_str(), body.len()), (200, "meta", 10_000));
    assert!(files_on_disk(&env.media_dir).is_empty());
    env.app.stop().await;
}
