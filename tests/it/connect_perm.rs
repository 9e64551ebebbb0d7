//! Issue 12, defects 5 and 6: Page subscriptions only ask for the webhook fields the granted
//! permissions cover (and the person is told what is missing), and WhatsApp numbers with
//! two-step verification are registered the way Meta documents it (PIN set, then
//! `/register`), with a PIN form when the bridge cannot set the PIN.
//!
//! Expected values come from Meta's documentation (cited in `connect::grants` and
//! `connect::flow`) and from the simulated accounts set up here, never from the product code.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::connect::{
    Browser, Connect, PAGE1, PAGE2, PHONE1, absolute, connect_env, es_code, hidden_value,
};
use crate::helpers::*;

both_backends!(
    page_without_leads_retrieval_subscribes_messaging_only_and_says_so,
    page_without_pages_manage_metadata_is_not_connected,
    instagram_through_a_page_subscribes_the_instagram_messaging_fields,
    two_step_verification_number_registers_after_the_pin_is_set,
    wrong_two_step_pin_is_explained_and_nothing_is_half_written,
    already_registered_number_is_connected_without_registering_again,
);

const WABA: &str = "102000000000001";
const OWNER_PIN: &str = "482913";

/// Runs Embedded Signup for `phone` up to the bridge's answer: (session id, link, browser,
/// the `{redirect}` the bridge answered).
pub async fn embedded_signup(env: &Connect, phone: &str) -> (String, String, Browser, String) {
    let (id, link) = env.session("whatsapp").await;
    let mut b = Browser::new();
    assert_eq!(b.get(&link).await.status, 200);
    assert_eq!(b.post(&format!("{link}/start"), &[]).await.status, 200);
    let code = es_code(&mut b, &env.sim, phone).await;
    let cookie = b.cookie("mb_connect").expect("binding cookie");
    let resp = env
        .app
        .http
        .post(format!("{link}/embedded"))
        .header("cookie", format!("mb_connect={cookie}"))
        .json(&json!({"code": code, "event": "FINISH", "waba_id": WABA, "phone_number_id": phone}))
        .send()
        .await
        .expect("finish");
    let v: Value = resp.json().await.expect("json");
    let redirect = v["redirect"].as_str().expect("redirect").to_string();
    (id, link, b, redirect)
}

/// Sets the simulated phone number `phone`.
fn with_phone(env: &Connect, f: impl FnOnce(&mut metabridge::sim::onboarding::accounts::SimPhone)) {
    let mut accounts = env.sim.accounts();
    let phone = accounts
        .businesses
        .iter_mut()
        .flat_map(|b| b.wabas.iter_mut())
        .flat_map(|w| w.phone_numbers.iter_mut())
        .find(|p| p.id == PHONE1)
        .expect("simulated phone");
    f(phone);
    env.sim.set_accounts(accounts);
}

fn sim_pin(env: &Connect) -> Option<String> {
    env.sim
        .accounts()
        .businesses
        .iter()
        .flat_map(|b| b.wabas.iter())
        .flat_map(|w| w.phone_numbers.iter())
        .find(|p| p.id == PHONE1)
        .and_then(|p| p.two_step_pin.clone())
}

async fn stored_pin(env: &Connect, channel: &str) -> Option<String> {
    let enc: Option<String> =
        sqlx::query_scalar("SELECT register_pin_enc FROM channels WHERE id = $1")
            .bind(channel)
            .fetch_one(env.app.state.store.pool())
            .await
            .expect("pin");
    enc.map(|e| env.app.state.vault.decrypt(&e).expect("decrypts"))
}

async fn channel(env: &Connect, id: &str) -> Value {
    let (status, ch) = env
        .app
        .v1(&env.tenant, Method::GET, &format!("/v1/channels/{id}"))
        .await;
    assert_eq!(status, 200, "{ch}");
    ch
}

/// Defect 5: the person declines `leads_retrieval` in Meta's dialog. Meta refuses a
/// subscription that includes `leadgen` without it (`(#200) To subscribe to the leadgen field,
/// one of these permissions is needed: leads_retrieval`), so the Page is subscribed to the
/// Messenger fields only, and the page says leads will not arrive.
async fn page_without_leads_retrieval_subscribes_messaging_only_and_says_so(db: Db) {
    let env = connect_env(db, |_| {}).await;
    let (id, link) = env.session("messenger").await;
    let mut b = Browser::new();
    let dialog = env.to_dialog(&mut b, &link).await;
    let back = env
        .answer_dialog(
            &mut b,
            &dialog,
            &[
                ("action", "allow"),
                ("page", PAGE2),
                ("decline", "leads_retrieval"),
            ],
        )
        .await;
    let page = b.get(&back).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Connected, with limits"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("leads_retrieval") && page.body.contains("Lead Ads"),
        "the person is told which permission is missing and what will not arrive: {}",
        page.body
    );
    assert!(page.body.contains("status=completed"), "{}", page.body);
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let ch_id = v["channel_ids"][0].as_str().expect("channel").to_string();
    let ch = channel(&env, &ch_id).await;
    assert_eq!(ch["status"], "active", "{ch}");
    assert_eq!(ch["external_id"], PAGE2);

    let subs = env.sim.subscriptions();
    let fields = subs.get(PAGE2).expect("the page is subscribed");
    for f in [
        "messages",
        "messaging_postbacks",
        "message_reads",
        "message_deliveries",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    assert!(
        !fields.iter().any(|x| x == "leadgen"),
        "leadgen needs leads_retrieval: {fields:?}"
    );
    let ev = env.wait_event("channel.connected", 1).await;
    assert_eq!(
        ev[0]["data"]["missing_permissions"],
        json!(["leads_retrieval"])
    );

    // A dropped subscription is restored with the same fields (asking for leadgen again would
    // make Meta refuse the whole call).
    env.sim.drop_subscription(PAGE2);
    env.exec(
        "UPDATE channels SET subscription_checked_at = 0 WHERE id = $1",
        &ch_id,
    )
    .await;
    env.wait_event("channel.subscription_restored", 1).await;
    let again = env.sim.subscriptions();
    assert_eq!(again.get(PAGE2), Some(fields));
    env.app.stop().await;
}

/// Without `pages_manage_metadata` Meta lets no app subscribe to the Page: nothing would
/// arrive, so nothing is connected and the person is told why.
async fn page_without_pages_manage_metadata_is_not_connected(db: Db) {
    let env = connect_env(db, |_| {}).await;
    let (id, link) = env.session("messenger").await;
    let mut b = Browser::new();
    let dialog = env.to_dialog(&mut b, &link).await;
    let back = env
        .answer_dialog(
            &mut b,
            &dialog,
            &[
                ("action", "allow"),
                ("page", PAGE1),
                ("decline", "pages_manage_metadata"),
            ],
        )
        .await;
    let page = b.get(&back).await;
    assert!(
        page.body.contains("pages_manage_metadata"),
        "{} {}",
        page.status,
        page.body
    );
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["failure"]["code"], "permission_denied", "{v}");
    assert_eq!(env.app.count("SELECT COUNT(*) FROM channels").await, 0);
    assert!(!env.sim.subscriptions().contains_key(PAGE1));
    env.app.stop().await;
}

/// Instagram through a Page (Facebook Login): the login asks for `instagram_manage_messages`,
/// not `pages_messaging` or `leads_retrieval`; Meta's Instagram page lists
/// `instagram_manage_messages` for the messaging fields. The Page is subscribed to those fields
/// only (no `leadgen`, which would make Meta refuse the call).
async fn instagram_through_a_page_subscribes_the_instagram_messaging_fields(db: Db) {
    let env = connect_env(db, |c| {
        c.connect.instagram_flow = metabridge::config::InstagramFlow::FacebookLogin
    })
    .await;
    let (id, link) = env.session("instagram").await;
    let mut b = Browser::new();
    let dialog = env.to_dialog(&mut b, &link).await;
    assert!(!dialog.contains("leads_retrieval"), "{dialog}");
    let back = env
        .answer_dialog(&mut b, &dialog, &[("action", "allow"), ("page", PAGE1)])
        .await;
    let done = b.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let ch = channel(&env, v["channel_ids"][0].as_str().expect("channel")).await;
    assert_eq!(ch["kind"], "instagram");
    let subs = env.sim.subscriptions();
    let fields = subs.get(PAGE1).expect("the linked Page is subscribed");
    assert!(fields.iter().any(|f| f == "messages"), "{fields:?}");
    assert!(!fields.iter().any(|f| f == "leadgen"), "{fields:?}");
    env.app.stop().await;
}

/// Defect 6: the number has two-step verification with a PIN the bridge does not know. Meta:
/// `/register` takes the number's PIN (else 133005); the PIN can be changed first with
/// `POST /{phone-number-id}` `{"pin"}`. The number ends registered, with the PIN the bridge set
/// and kept.
async fn two_step_verification_number_registers_after_the_pin_is_set(db: Db) {
    let env = connect_env(db, |_| {}).await;
    with_phone(&env, |p| p.two_step_pin = Some(OWNER_PIN.into()));
    let (id, _link, _b, redirect) = embedded_signup(&env, PHONE1).await;
    assert!(redirect.starts_with(&env.return_url()), "{redirect}");
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let ch_id = v["channel_ids"][0].as_str().expect("channel").to_string();
    let ch = channel(&env, &ch_id).await;
    assert_eq!(ch["status"], "active", "{ch}");
    assert!(env.sim.registered_phones().contains(&PHONE1.to_string()));
    let now_pin = sim_pin(&env).expect("the number has a PIN");
    assert_ne!(now_pin, OWNER_PIN, "the bridge set a new PIN");
    assert_eq!(
        stored_pin(&env, &ch_id).await.as_deref(),
        Some(now_pin.as_str()),
        "the PIN the number has is the one kept (encrypted) for re-registration"
    );
    env.app.stop().await;
}

/// Meta refuses the PIN change, so only the number's own PIN registers it: the person is asked
/// for it. A wrong PIN is explained (Meta's 133005) and leaves no channel and no registration
/// behind; the right PIN connects the number.
async fn wrong_two_step_pin_is_explained_and_nothing_is_half_written(db: Db) {
    let env = connect_env(db, |_| {}).await;
    with_phone(&env, |p| {
        p.two_step_pin = Some(OWNER_PIN.into());
        p.refuse_pin_change = true;
    });
    let (id, _link, mut b, redirect) = embedded_signup(&env, PHONE1).await;
    assert!(redirect.ends_with("/pin"), "{redirect}");
    let pin_url = absolute(&env.app.url, &redirect);
    let form = b.get(&pin_url).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains("two-step verification") && form.body.contains("WhatsApp Manager"),
        "{}",
        form.body
    );
    let csrf = hidden_value(&form.body, "csrf");
    assert_eq!(hidden_value(&form.body, "phone_number_id"), PHONE1);

    let wrong = b
        .post(
            &pin_url,
            &[
                ("csrf", &csrf),
                ("phone_number_id", PHONE1),
                ("pin", "111111"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(
        wrong.body.contains("not the two-step verification PIN") && wrong.body.contains("133005"),
        "{}",
        wrong.body
    );
    let malformed = b
        .post(
            &pin_url,
            &[
                ("csrf", &csrf),
                ("phone_number_id", PHONE1),
                ("pin", "12ab"),
            ],
        )
        .await;
    assert_eq!(malformed.status, 422, "{}", malformed.body);
    assert!(malformed.body.contains("6 digits"), "{}", malformed.body);
    // Nothing half-written: no channel, no registration, no event, the session still open.
    assert_eq!(env.app.count("SELECT COUNT(*) FROM channels").await, 0);
    assert!(!env.sim.registered_phones().contains(&PHONE1.to_string()));
    assert_eq!(sim_pin(&env).as_deref(), Some(OWNER_PIN));
    assert_eq!(env.session_view(&id).await["state"], "pending");
    assert!(env.events("channel.connected").is_empty());

    let right = b
        .post(
            &pin_url,
            &[
                ("csrf", &csrf),
                ("phone_number_id", PHONE1),
                ("pin", OWNER_PIN),
            ],
        )
        .await;
    assert_eq!(right.status, 303, "{}", right.body);
    assert!(
        right
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&env.return_url())),
        "{:?}",
        right.location
    );
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let ch_id = v["channel_ids"][0].as_str().expect("channel").to_string();
    assert_eq!(channel(&env, &ch_id).await["status"], "active");
    assert!(env.sim.registered_phones().contains(&PHONE1.to_string()));
    assert_eq!(stored_pin(&env, &ch_id).await.as_deref(), Some(OWNER_PIN));
    assert_eq!(
        env.app
            .count("SELECT COUNT(*) FROM connect_sessions WHERE temp_enc IS NOT NULL")
            .await,
        0
    );
    env.app.stop().await;
}

/// A number already registered with the Cloud API (`platform_type` CLOUD_API) is connected as
/// it is: no new registration (Meta limits them to 10 per 72 hours) and its owner's PIN is not
/// replaced.
async fn already_registered_number_is_connected_without_registering_again(db: Db) {
    let env = connect_env(db, |_| {}).await;
    with_phone(&env, |p| {
        p.two_step_pin = Some(OWNER_PIN.into());
        p.cloud_api_registered = true;
    });
    let (id, _link, _b, _redirect) = embedded_signup(&env, PHONE1).await;
    let v = env.session_view(&id).await;
    assert_eq!(v["state"], "completed", "{v}");
    let ch_id = v["channel_ids"][0].as_str().expect("channel").to_string();
    assert_eq!(channel(&env, &ch_id).await["status"], "active");
    assert!(
        !env.sim.registered_phones().contains(&PHONE1.to_string()),
        "no /register call for a registered number"
    );
    assert_eq!(sim_pin(&env).as_deref(), Some(OWNER_PIN));
    assert!(env.sim.subscriptions().contains_key(WABA));
    env.app.stop().await;
}
