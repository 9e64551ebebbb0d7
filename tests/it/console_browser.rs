//! The operator console in a real browser (issue 18): headless Chromium (Debian's
//! `chromium`) driven by `playwright-core` (`tests/browser/console.mjs`), on both backends.
//! An instance whose receiver is unreachable collects dead letters; the operator signs in,
//! finds it on the overview, opens its dead letters, reads the attempt's error, fixes the
//! callback URL, replays, and watches the events arrive at the test receiver. axe-core checks
//! every page (no serious or critical violation), nothing is requested from another origin,
//! no script error or CSP violation is logged, and screenshots at 1280 and 390 px are kept:
//! in `$CI_ARTIFACTS/console-screenshots/<backend>/` when `CI_ARTIFACTS` is set (.ci/run sets
//! it), else in `tests/browser/artifacts/console/<backend>/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::connect_browser::browser_tools;
use crate::helpers::*;
use metabridge::sim::payloads;

both_backends!(operator_fixes_a_failing_instance_in_the_console);

fn artifacts(db: Db, dir: &std::path::Path) -> PathBuf {
    let backend = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    match std::env::var("CI_ARTIFACTS") {
        Ok(a) if !a.is_empty() => PathBuf::from(a).join("console-screenshots").join(backend),
        _ => dir.join("artifacts/console").join(backend),
    }
}

async fn operator_fixes_a_failing_instance_in_the_console(db: Db) {
    let Some((dir, chromium)) = browser_tools() else {
        return;
    };
    if !dir.join("node_modules/axe-core").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but axe-core is not installed: run `npm ci` in tests/browser"
        );
        eprintln!("SKIPPED console_browser: tests/browser/node_modules/axe-core missing");
        return;
    }
    let app = spawn_app_with(db, |c| {
        c.delivery_backoff = Duration::from_millis(100);
        c.delivery_horizon = Duration::from_millis(1000);
    })
    .await;
    // A healthy instance and its traffic.
    let _healthy = app.fixture_tenant().await;
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    // The failing one: its receiver does not answer.
    let failing = app.tenant("Loja Bia", None).await;
    app.channel(
        &failing,
        "whatsapp",
        "106000000000009",
        Some("102000000000009"),
    )
    .await;
    let dead_url = format!("http://127.0.0.1:{}/events", free_port());
    let (s, v) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/instances/{}", failing.instance_id),
            Some(json!({"callback_url": dead_url})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    const DEAD: i64 = 3;
    for seq in 0..DEAD {
        let body = payloads::meta_bytes(&payloads::whatsapp_text_batch(
            "102000000000009",
            "106000000000009",
            seq as u64,
            1,
            3,
        ));
        assert_eq!(app.post_webhook(&body).await, 200);
    }
    let store = &app.state.store;
    let dead_ids = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT id FROM events WHERE state = 'dead' AND instance_id = $1 ORDER BY seq",
        )
        .bind(&failing.instance_id)
        .fetch_all(store.pool())
        .await
        .expect("dead letters")
    };
    wait_until(Duration::from_secs(20), "the dead letters", || async {
        dead_ids().await.len() as i64 == DEAD
    })
    .await;
    let dead = dead_ids().await;
    // The throughput history has sampled this (every second in tests).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let artifacts = artifacts(db, &dir);
    let plan = json!({
        "bridge": app.url,
        "token": ADMIN,
        "artifacts": artifacts,
        "chromium": chromium,
        "failing": {"id": failing.instance_id, "name": "Loja Bia"},
        "receiverUrl": app.receiver.url(),
        "dead": DEAD,
    });
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("console.mjs"))
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
    assert_eq!(r["a11y"], json!([]), "axe-core: {r:#}");
    assert_eq!(r["foreignRequests"], json!([]), "{r:#}");
    assert_eq!(
        r["consoleErrors"],
        json!([]),
        "script errors or CSP violations: {r:#}"
    );
    assert_eq!(r["dialogs"], json!([]), "{r:#}");
    let s = &r["steps"];
    assert_eq!(
        s["signIn"],
        json!([{"name": "mb_console", "httpOnly": true, "sameSite": "Strict", "path": "/console"}]),
        "{s:#}"
    );
    assert_eq!(s["overview"]["charts"], 10, "{s:#}");
    let webhooks = s["overview"]["webhooks"].as_str().expect("label");
    assert!(
        webhooks.starts_with("Webhooks in, last hour: ") && !webhooks.contains(": 0 in all"),
        "{webhooks}"
    );
    assert_eq!(s["deadLetters"]["dead"], DEAD, "{s:#}");
    let errors = s["attemptError"]["errors"].as_array().expect("errors");
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| !e.as_str().unwrap_or("").trim().is_empty()),
        "every failed attempt shows its error: {s:#}"
    );
    // Shown in the viewer's zone (India, UTC+5:30), not in UTC.
    let shown = s["attemptError"]["time"].as_str().expect("time");
    assert!(!shown.contains("UTC"), "{shown}");
    assert_eq!(
        s["attemptError"]["envelope"], 1,
        "a dead letter's content is shown"
    );
    assert_eq!(s["fixCallback"], app.receiver.url());
    assert_eq!(s["watchArrive"], DEAD);
    assert!(
        s["signOut"]
            .as_str()
            .expect("url")
            .contains("/console/sign-in"),
        "{s:#}"
    );
    // What the receiver saw: the dead letters, under their own ids.
    let r = &app.receiver.state;
    wait_until(Duration::from_secs(10), "the replayed events", || async {
        let got: Vec<String> = r
            .accepted()
            .into_iter()
            .filter(|e| e.instance_id == failing.instance_id)
            .map(|e| e.event_id)
            .collect();
        dead.iter().all(|d| got.contains(d))
    })
    .await;
    // The console's changes are audited as the console's.
    let (_, audit) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?instance_id={}", failing.instance_id),
            None,
        )
        .await;
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_string(),
                e["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for action in ["instance.updated", "dead_letters.replayed"] {
        assert!(
            actions.contains(&("console".to_string(), action.to_string())),
            "{action}: {actions:?}"
        );
    }
    let shots = std::fs::read_dir(&artifacts)
        .expect("screenshots")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(
        shots >= 20,
        "{shots} screenshots in {}",
        artifacts.display()
    );
    app.stop().await;
}
