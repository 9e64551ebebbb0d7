//! The connect pages in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `playwright-core` (`tests/browser/connect.mjs`) against the service and the Meta simulator.
//! Messenger (dialog + picker), WhatsApp (the SDK popup of Embedded Signup), Instagram Login,
//! cancel, an expired link and a replayed state; every request the pages make is checked to
//! stay on the bridge or Meta (the simulator), the cookies are checked, each page gets a small
//! accessibility check, and screenshots are kept in `tests/browser/artifacts/`.
//!
//! The pages do not depend on the database, so this runs on SQLite; `.ci/run` installs
//! Chromium and playwright-core, and with `CI` set a missing browser fails the test.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::connect::{IG_LOGIN, PAGE2, PHONE1, PHONE2, connect_env};
use crate::helpers::*;

pub(crate) fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    let ready = chromium.exists()
        && dir.join("node_modules/playwright-core").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if ready {
        return Some((dir, chromium));
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!(
            "CI is set but the browser test cannot run: install Debian's chromium and run `npm ci` in tests/browser (.ci/run does both)"
        );
    }
    eprintln!(
        "SKIPPED connect_browser: chromium or tests/browser/node_modules missing (see .ci/run)"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p16_connect_pages_in_a_real_browser() {
    let Some((dir, chromium)) = browser_tools() else {
        return;
    };
    let env = connect_env(Db::Sqlite, |_| {}).await;
    let (_, messenger) = env.session("messenger").await;
    let (_, whatsapp) = env.session("whatsapp").await;
    let (_, wa_only_waba) = env.session("whatsapp").await;
    let (_, wa_error) = env.session("whatsapp").await;
    let (_, wa_failed) = env.session("whatsapp").await;
    let (_, wa_cancel) = env.session("whatsapp").await;
    let (_, wa_verify) = env.session("whatsapp").await;
    let mut accounts = env.sim.accounts();
    accounts.businesses[0].wabas[0].phone_numbers[1].code_verification_status =
        Some("NOT_VERIFIED".into());
    env.sim.set_accounts(accounts);
    let (_, instagram) = env.session("instagram").await;
    let (cancel_id, cancel) = env.session("messenger").await;
    let (expired_id, expired) = env.session("messenger").await;
    sqlx::query("UPDATE connect_sessions SET expires_at = 1 WHERE id = $1")
        .bind(&expired_id)
        .execute(env.app.state.store.pool())
        .await
        .expect("expire");
    let artifacts = dir.join("artifacts");
    let plan = json!({
        "bridge": env.app.url,
        "sim": env.sim.url(),
        "returnUrl": env.return_url(),
        "artifacts": artifacts,
        "chromium": chromium,
        "unverifiedPhone": PHONE2,
        "links": {"messenger": messenger, "whatsapp": whatsapp, "instagram": instagram,
                  "whatsappOnlyWaba": wa_only_waba, "whatsappError": wa_error,
                  "whatsappFailed": wa_failed, "whatsappCancel": wa_cancel,
                  "whatsappVerify": wa_verify,
                  "cancel": cancel, "expired": expired},
    });
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("connect.mjs"))
            .arg(plan.to_string())
            .current_dir(&dir)
            .output()
            .expect("run node")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!("no result from the browser run\nstdout: {stdout}\nstderr: {stderr}")
        });
    let r: Value = serde_json::from_str(line).expect("result json");
    assert_eq!(r["errors"], json!([]), "{r:#}");
    // P11/P16: nothing but the bridge and Meta (the simulator) is contacted; no analytics.
    assert_eq!(r["foreignRequests"], json!([]), "{r:#}");
    assert_eq!(r["a11y"], json!([]), "{r:#}");

    let m = &r["flows"]["messenger"];
    assert!(
        m["landed"]
            .as_str()
            .expect("landed")
            .contains("status=completed"),
        "{m}"
    );
    assert_eq!(
        m["cookiesBefore"],
        json!([]),
        "opening the link sets no cookie"
    );
    assert_eq!(
        m["cookiesDuring"],
        json!([{"name": "mb_connect", "httpOnly": true, "sameSite": "Lax", "path": "/connect"}]),
        "one cookie, only while connecting"
    );
    assert_eq!(
        m["cookiesAfter"],
        json!([]),
        "the cookie is removed at the end"
    );
    assert_eq!(m["picked"], PAGE2);
    assert_ne!(
        m["replayStatus"], 303,
        "a replayed state connects nothing: {m}"
    );
    assert!(
        r["flows"]["whatsapp"]["landed"]
            .as_str()
            .expect("wa")
            .contains("status=completed")
    );
    assert!(
        r["flows"]["instagram"]["landed"]
            .as_str()
            .expect("ig")
            .contains("status=completed")
    );
    // Embedded Signup v4's other ends, as the person sees them.
    let f = &r["flows"];
    assert_eq!(
        f["whatsappOnlyWaba"]["heading"], "No phone number was added",
        "{f}"
    );
    assert_eq!(
        f["whatsappError"]["heading"], "Meta's sign-up reported a problem",
        "{f}"
    );
    for name in ["whatsappError", "whatsappFailed"] {
        let text = f[name]["text"].as_str().expect("text");
        assert!(
            text.contains("Your verified name violates WhatsApp guidelines")
                && text.contains("524126"),
            "{name}: {text}"
        );
    }
    assert_eq!(
        f["whatsappCancel"]["heading"], "Connection cancelled",
        "{f}"
    );
    assert!(
        f["whatsappCancel"]["text"]
            .as_str()
            .expect("text")
            .contains("PHONE_NUMBER_SETUP"),
        "{f}"
    );
    let v = &f["whatsappVerify"];
    assert!(
        v["wrong"]
            .as_str()
            .expect("wrong")
            .contains("did not accept this code"),
        "{v}"
    );
    assert!(
        v["landed"]
            .as_str()
            .expect("landed")
            .contains("status=completed"),
        "{v}"
    );
    let c = &r["flows"]["cancel"];
    assert_eq!(c["heading"], "Connection cancelled");
    assert!(
        c["text"]
            .as_str()
            .expect("text")
            .contains("start the connection again")
    );
    assert!(
        c["backHref"]
            .as_str()
            .expect("back")
            .contains("error=cancelled")
    );
    assert_eq!(r["flows"]["expired"]["status"], 410);

    // What the platform observes.
    let external: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM channels ORDER BY external_id")
            .fetch_all(env.app.state.store.pool())
            .await
            .expect("channels");
    assert_eq!(
        external,
        vec![
            PAGE2.to_string(),
            PHONE1.to_string(),
            PHONE2.to_string(),
            IG_LOGIN.to_string()
        ]
    );
    for asset in [PAGE2, PHONE1, IG_LOGIN] {
        let enc: String =
            sqlx::query_scalar("SELECT token_enc FROM channels WHERE external_id = $1")
                .bind(asset)
                .fetch_one(env.app.state.store.pool())
                .await
                .expect("token");
        let plain = env
            .app
            .state
            .vault
            .decrypt(&enc)
            .expect("encrypted with the vault");
        assert!(!enc.contains(&plain));
    }
    assert_eq!(
        env.app
            .count("SELECT COUNT(*) FROM connect_sessions WHERE temp_enc IS NOT NULL OR browser_hash IS NOT NULL OR nonce_hash IS NOT NULL")
            .await,
        0,
        "P06: session data is gone"
    );
    assert_eq!(
        env.session_view(&cancel_id).await["failure"]["code"],
        "cancelled"
    );
    env.wait_event("channel.connected", 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.events("channel.connected").len(), 4);
    env.app.stop().await;
}
