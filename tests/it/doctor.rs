//! `metabridge doctor` and `GET /admin/v1/channels/{id}/diagnosis` (issue 16 §6): channels
//! connected through the real connect flows against the strict simulator, then put in each
//! fault the simulator can show (a number flagged, rated red, its name declined, its messaging
//! health blocked; the app's webhook pointing elsewhere or lacking a field; the app's
//! subscription to the WABA dropped; a dead token; a Page no longer linked to its Instagram
//! account). Expected verdicts come from the fault set up here, never from the product; the
//! command is run as the operator runs it, with the server's variables.

use std::process::Command;

use metabridge::sim::graph::SimTemplate;
use metabridge::sim::onboarding::diagnostics::SimAppSubscription;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::connect::{Browser, Connect, IG_LOGIN, PAGE1, PHONE1, connect_env};
use crate::helpers::*;

both_backends!(
    a_whatsapp_channel_passes_then_each_fault_is_named_with_its_fix,
    a_dead_token_fails_and_the_checks_that_need_it_are_skipped,
    instagram_and_messenger_channels_are_checked_for_their_own_faults,
);

const WABA: &str = "102000000000001";

/// Embedded Signup of `PHONE1` to the end: the new channel's id.
async fn connect_whatsapp(env: &Connect) -> String {
    let (id, _, _, redirect) = crate::connect_perm::embedded_signup(env, PHONE1).await;
    assert!(redirect.starts_with(&env.return_url()), "{redirect}");
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    v["channel_ids"][0].as_str().expect("channel").to_string()
}

async fn diagnosis(env: &Connect, channel: &str) -> Value {
    let (status, body) = env
        .app
        .admin(
            Method::GET,
            &format!("/admin/v1/channels/{channel}/diagnosis"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The check `id` of a diagnosis.
fn check<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {d}"))
}

fn verdict<'a>(d: &'a Value, id: &str) -> &'a str {
    check(d, id)["verdict"].as_str().expect("verdict")
}

/// `metabridge doctor <channel> [--json]` with the server's variables: (exit code, stdout).
fn doctor_cli(env: &Connect, channel: &str, json_out: bool) -> (i32, String) {
    let mut args = vec![channel];
    if json_out {
        args.push("--json");
    }
    doctor_cli_args(env, &args)
}

/// `metabridge doctor <args>` with the server's variables: (exit code, stdout).
fn doctor_cli_args(env: &Connect, args: &[&str]) -> (i32, String) {
    let cfg = &env.app.state.config;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_metabridge"));
    cmd.arg("doctor").args(args);
    let out = cmd
        .env("DATABASE_URL", &cfg.database_url)
        .env(
            "METABRIDGE_FERNET_KEYS",
            cfg.fernet_keys
                .iter()
                .map(|k| k.expose().to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("METABRIDGE_DEV", "true")
        .env("META_APP_ID", metabridge::sim::graph::APP_ID)
        .env("META_APP_SECRET", APP_SECRET)
        .env("META_GRAPH_URL", env.sim.url())
        .env("META_GRAPH_VERSION", &cfg.graph.version)
        .env("INSTAGRAM_GRAPH_URL", format!("{}/ig-graph", env.sim.url()))
        .env("INSTAGRAM_API_URL", format!("{}/ig-api", env.sim.url()))
        .env("METABRIDGE_PUBLIC_URL", &env.app.url)
        .output()
        .expect("run metabridge doctor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn a_whatsapp_channel_passes_then_each_fault_is_named_with_its_fix(db: Db) {
    let env = connect_env(db, |_| {}).await;
    let channel = connect_whatsapp(&env).await;
    let d = diagnosis(&env, &channel).await;
    assert_eq!(d["healthy"], true, "{d}");
    assert_eq!(d["kind"], "whatsapp");
    for id in [
        "channel.connected",
        "token.valid",
        "token.scopes",
        "app.subscribed",
        "webhook.callback",
        "phone.status",
        "phone.quality",
        "phone.name",
        "phone.verification",
        "phone.messaging_limit",
        "phone.health",
    ] {
        assert_eq!(verdict(&d, id), "pass", "{id}: {d}");
    }
    // The simulator's number and webhook as set up: these values come from there.
    assert!(
        check(&d, "webhook.callback")["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("{}/webhooks/meta", env.app.url)),
        "{d}"
    );
    assert!(
        check(&d, "phone.messaging_limit")["summary"]
            .as_str()
            .unwrap()
            .starts_with("TIER_2K"),
        "{d}"
    );
    // The simulated WABA has no template yet: a warning, and the command exits 3.
    assert_eq!(verdict(&d, "templates"), "warn", "{d}");
    let (code, out) = doctor_cli(&env, &channel, false);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("WARN  templates"), "{out}");
    // With an approved template read from Meta, every check passes and the command exits 0.
    env.sim.set_templates(
        WABA,
        vec![SimTemplate::new(
            "order_update",
            "en_US",
            "APPROVED",
            "UTILITY",
        )],
    );
    env.app
        .state
        .templates
        .sync_waba(WABA)
        .await
        .expect("template sync");
    let (code, out) = doctor_cli(&env, &channel, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS  phone.status"), "{out}");
    assert!(out.contains("PASS  templates"), "{out}");
    assert!(out.contains("healthy: 0 failed, 0 warning(s)"), "{out}");

    // Faults on Meta's side.
    let solution = "Verify your business in Business Manager.";
    assert!(env.sim.update_phone(PHONE1, |p| {
        p.status = Some("FLAGGED".into());
        p.quality_rating = "RED".into();
        p.name_status = "DECLINED".into();
        p.health_status = Some(json!({"can_send_message": "BLOCKED", "entities": [
            {"entity_type": "PHONE_NUMBER", "id": PHONE1, "can_send_message": "AVAILABLE"},
            {"entity_type": "WABA", "id": WABA, "can_send_message": "BLOCKED",
             "errors": [{"error_code": 141010, "error_description": "The business has not passed verification.",
                         "possible_solution": solution}]}]}));
    }));
    env.sim.set_app_subscriptions(Some(vec![SimAppSubscription {
        object: "whatsapp_business_account".into(),
        callback_url: "https://old.example.com/hook".into(),
        active: true,
        fields: vec!["messages".into()],
    }]));
    env.sim.drop_subscription(WABA);

    let d = diagnosis(&env, &channel).await;
    assert_eq!(d["healthy"], false, "{d}");
    assert_eq!(verdict(&d, "token.valid"), "pass");
    assert_eq!(verdict(&d, "phone.status"), "warn", "{d}");
    assert_eq!(verdict(&d, "phone.quality"), "fail", "{d}");
    assert_eq!(verdict(&d, "phone.name"), "fail", "{d}");
    assert_eq!(verdict(&d, "phone.health"), "fail", "{d}");
    let health = check(&d, "phone.health")["summary"].as_str().unwrap();
    assert!(
        health.contains("WABA BLOCKED") && health.contains(solution),
        "{health}"
    );
    assert_eq!(verdict(&d, "app.subscribed"), "fail", "{d}");
    assert!(check(&d, "app.subscribed")["fix"].is_string(), "{d}");
    let hook = check(&d, "webhook.callback");
    assert_eq!(hook["verdict"], "fail", "{d}");
    assert!(
        hook["summary"]
            .as_str()
            .unwrap()
            .contains("https://old.example.com/hook"),
        "{hook}"
    );
    assert!(
        hook["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("{}/webhooks/meta", env.app.url)),
        "{hook}"
    );
    // Read-only: the dropped subscription is still dropped.
    assert!(!env.sim.subscriptions().contains_key(WABA));

    // The console shows the same report to a signed-in operator.
    let mut console = ConsoleClient::new(&env.app.url);
    assert_eq!(console.sign_in(ADMIN).await.status, 303);
    let page = console
        .get(&format!("/console/channels/{channel}/diagnosis"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("check(s) failed"), "{}", page.body);
    assert!(
        page.body
            .contains("<span class=\"badge bad\">fail</span></td>\n<td><code>phone.quality</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(solution), "{}", page.body);
    let list = console
        .get(&format!(
            "/console/instances/{}/channels",
            env.tenant.instance_id
        ))
        .await;
    assert!(
        list.body
            .contains(&format!("/console/channels/{channel}/diagnosis")),
        "{}",
        list.body
    );

    // The command exits 1 and its JSON says the same.
    let (code, out) = doctor_cli(&env, &channel, true);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["healthy"], false);
    assert_eq!(verdict(&v, "phone.name"), "fail");

    // The webhook subscription without the messages field: nothing of this channel arrives.
    env.sim.set_app_subscriptions(Some(vec![SimAppSubscription {
        object: "whatsapp_business_account".into(),
        callback_url: format!("{}/webhooks/meta", env.app.url),
        active: true,
        fields: vec!["message_template_status_update".into()],
    }]));
    let d = diagnosis(&env, &channel).await;
    let hook = check(&d, "webhook.callback");
    assert_eq!(hook["verdict"], "fail", "{d}");
    assert!(
        hook["summary"].as_str().unwrap().contains("lacks messages"),
        "{hook}"
    );
    env.app.stop().await;
}

async fn a_dead_token_fails_and_the_checks_that_need_it_are_skipped(db: Db) {
    let env = connect_env(db, |_| {}).await;
    let channel = connect_whatsapp(&env).await;
    let token = env.sim.token_for(PHONE1).expect("the channel's token");
    assert!(env.sim.expire_token(&token, -60));
    let body = diagnosis(&env, &channel).await;
    assert_eq!(body["healthy"], false);
    assert_eq!(verdict(&body, "token.valid"), "fail", "{body}");
    for id in [
        "token.scopes",
        "app.subscribed",
        "phone.status",
        "phone.health",
    ] {
        assert_eq!(verdict(&body, id), "skip", "{id}: {body}");
    }
    // The app's own webhook is checked with the app token, whatever the channel's token.
    assert_eq!(verdict(&body, "webhook.callback"), "pass", "{body}");
    // P01: the token is nowhere in the answer.
    assert!(!body.to_string().contains(&token), "{body}");
    // The doctor only reads: the channel is still active until the lifecycle worker says not.
    let (_, ch) = env
        .app
        .admin(Method::GET, &format!("/admin/v1/channels/{channel}"), None)
        .await;
    assert_eq!(ch["status"], "active", "{ch}");
    // An unknown channel and a missing admin token.
    let (s, b) = env
        .app
        .admin(
            Method::GET,
            "/admin/v1/channels/ch_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e/diagnosis",
            None,
        )
        .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["code"], "channel_not_found");
    let resp = env
        .app
        .http
        .get(format!(
            "{}/admin/v1/channels/{channel}/diagnosis",
            env.app.url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    env.app.stop().await;
}

async fn instagram_and_messenger_channels_are_checked_for_their_own_faults(db: Db) {
    let env = connect_env(db, |_| {}).await;
    // Instagram Login: the token's account is the channel's.
    let ig = env.connect_instagram_login().await;
    let d = diagnosis(&env, &ig).await;
    assert_eq!(d["healthy"], true, "{d}");
    assert_eq!(verdict(&d, "token.valid"), "pass");
    assert_eq!(verdict(&d, "instagram.linkage"), "pass", "{d}");
    assert!(
        check(&d, "instagram.linkage")["summary"]
            .as_str()
            .unwrap()
            .contains(IG_LOGIN),
        "{d}"
    );
    assert_eq!(verdict(&d, "app.subscribed"), "pass", "{d}");
    assert_eq!(verdict(&d, "webhook.callback"), "pass", "{d}");
    // Messenger: the Page's subscription and the app's `page` webhook.
    let page = env.connect_messenger(PAGE1).await;
    let d = diagnosis(&env, &page).await;
    assert_eq!(verdict(&d, "token.valid"), "pass", "{d}");
    assert_eq!(verdict(&d, "app.subscribed"), "pass", "{d}");
    assert_eq!(verdict(&d, "webhook.callback"), "pass", "{d}");
    // Every connected channel of the instance at once: both, and the worst exit status.
    let instance = env.tenant.instance_id.clone();
    let (code, out) = doctor_cli_args(&env, &["--instance", &instance, "--json"]);
    let all: Value = serde_json::from_str(&out).expect("json array");
    let mut ids: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["channel_id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    let mut want = vec![ig.as_str(), page.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "{out}");
    let warned = all.as_array().unwrap().iter().any(|d| {
        d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["verdict"] == "warn")
    });
    assert_eq!(code, if warned { 3 } else { 0 }, "{out}");
    let (code_all, out_all) = doctor_cli_args(&env, &["--all"]);
    assert_eq!(code_all, code, "{out_all}");
    assert!(
        out_all.contains(&ig) && out_all.contains(&page),
        "{out_all}"
    );
    // An unknown instance, and a channel with --all: the command cannot run.
    let (code, _) = doctor_cli_args(
        &env,
        &["--instance", "ins_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e"],
    );
    assert_eq!(code, 2);
    let (code, _) = doctor_cli_args(&env, &[&page, "--all"]);
    assert_eq!(code, 2);
    env.sim.set_app_subscriptions(Some(vec![SimAppSubscription {
        object: "page".into(),
        callback_url: format!("{}/webhooks/meta", env.app.url),
        active: false,
        fields: vec!["messages".into()],
    }]));
    let d = diagnosis(&env, &page).await;
    assert_eq!(verdict(&d, "webhook.callback"), "fail", "{d}");
    assert!(
        check(&d, "webhook.callback")["summary"]
            .as_str()
            .unwrap()
            .contains("not active"),
        "{d}"
    );
    // The Instagram webhook object is not configured at all now.
    let d = diagnosis(&env, &ig).await;
    assert_eq!(verdict(&d, "webhook.callback"), "fail", "{d}");
    env.app.stop().await;

    // Instagram through a Page (Facebook Login): the Page must still lead to the account.
    let env = connect_env(db, |c| {
        c.connect.instagram_flow = metabridge::config::InstagramFlow::FacebookLogin
    })
    .await;
    let (id, link) = env.session("instagram").await;
    let mut b = Browser::new();
    let dialog = env.to_dialog(&mut b, &link).await;
    let back = env
        .answer_dialog(&mut b, &dialog, &[("action", "allow"), ("page", PAGE1)])
        .await;
    assert_eq!(b.get(&back).await.status, 303);
    let v = env.session_view(&id).await;
    let ig = v["channel_ids"][0].as_str().expect("channel").to_string();
    let d = diagnosis(&env, &ig).await;
    assert_eq!(verdict(&d, "instagram.linkage"), "pass", "{d}");
    assert_eq!(verdict(&d, "app.subscribed"), "pass", "{d}");
    let mut accounts = env.sim.accounts();
    let linked = accounts
        .pages
        .iter_mut()
        .find(|p| p.id == PAGE1)
        .expect("page");
    linked.instagram = None;
    env.sim.set_accounts(accounts);
    let d = diagnosis(&env, &ig).await;
    assert_eq!(d["healthy"], false, "{d}");
    let link = check(&d, "instagram.linkage");
    assert_eq!(link["verdict"], "fail", "{d}");
    assert!(
        link["summary"]
            .as_str()
            .unwrap()
            .contains("not linked to an Instagram professional account"),
        "{link}"
    );
    env.app.stop().await;
}
