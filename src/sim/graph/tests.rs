use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use poem::EndpointExt;
use poem::Request;
use poem::http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::routing::is_version;
use super::status::status_plan;
use super::validate::recipient_key;
use super::*;
use crate::config::Secret;
use crate::crypto::signature;

const PNID: &str = "106000000000001";
const WABA: &str = "102000000000001";
const WA_TOKEN: &str = "wa-token";
const IG_ID: &str = "17841400000000001";
const IG_TOKEN: &str = "ig-token";
const PAGE_ID: &str = "105000000000001";
const PAGE_TOKEN: &str = "page-token";
const IGSID: &str = "6120000000000001";
const PSID: &str = "7010000000000001";
const SECRET: &str = "s3cret";
const WA_PATH: &str = "/v25.0/106000000000001/messages";
const IG_PATH: &str = "/v25.0/17841400000000001/messages";

async fn sim_with(opts: GraphSimOptions) -> GraphSim {
    let sim = start("127.0.0.1:0".parse().expect("addr"), opts)
        .await
        .expect("start");
    sim.add_channel("whatsapp", PNID, Some(WABA), WA_TOKEN);
    sim.add_channel("instagram", IG_ID, None, IG_TOKEN);
    sim.add_channel("messenger", PAGE_ID, None, PAGE_TOKEN);
    sim
}

async fn sim() -> GraphSim {
    sim_with(GraphSimOptions::default()).await
}

fn client() -> reqwest::Client {
    crate::crypto::install_tls_provider();
    reqwest::Client::builder()
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

async fn post(sim: &GraphSim, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = client().post(format!("{}{path}", sim.url())).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    answer(r.send().await.expect("send")).await
}

async fn get(sim: &GraphSim, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client().get(format!("{}{path}", sim.url()));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    answer(r.send().await.expect("send")).await
}

fn wa_text(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
               "type": "text", "text": {"body": "Ol\u{e1}, a/b"}})
}

fn wa_template(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
               "template": {"name": "order_update", "language": {"code": "pt_BR"}}})
}

fn ig_text(to: &str) -> Value {
    json!({"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": "Oi!"}})
}

fn code_of(v: &Value) -> (u64, Option<u64>) {
    (
        v["error"]["code"].as_u64().unwrap_or_default(),
        v["error"]["error_subcode"].as_u64(),
    )
}

async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// (signature header, raw body, status answered)
type Post = (Option<String>, Vec<u8>, u16);

/// (field name, (file name, content type) for a file, data)
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

/// A tiny stand-in for the bridge's `/webhooks/meta`: records signature and raw bytes,
/// answers 503 to the first `fail_first` posts.
#[derive(Default)]
struct Hooks {
    got: Mutex<Vec<Post>>,
    fail_first: AtomicU32,
}

impl Hooks {
    /// Every post's single status item, with the answer given; signatures checked.
    fn statuses(&self) -> Vec<(Value, u16)> {
        lock(&self.got)
            .iter()
            .map(|(sig, bytes, answered)| {
                assert_eq!(
                    signature::verify(&[Secret::new(SECRET)], sig.as_deref(), bytes),
                    Ok(()),
                    "status webhook signed with the app secret"
                );
                assert!(bytes.is_ascii(), "Meta-style escaping");
                let v: Value = serde_json::from_slice(bytes).expect("json");
                (v, *answered)
            })
            .collect()
    }

    fn accepted_for(&self, wamid: &str) -> Vec<Value> {
        self.statuses()
            .into_iter()
            .filter(|(v, a)| {
                *a == 200 && v["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] == wamid
            })
            .map(|(v, _)| v)
            .collect()
    }
}

fn item(v: &Value) -> &Value {
    &v["entry"][0]["changes"][0]["value"]["statuses"][0]
}

#[poem::handler]
async fn hook(hooks: poem::web::Data<&Arc<Hooks>>, req: &Request, body: poem::Body) -> StatusCode {
    let sig = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = body
        .into_bytes_limit(1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let fail = hooks
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    lock(&hooks.got).push((sig, bytes, status.as_u16()));
    status
}

async fn hooks(fail_first: u32) -> (String, Arc<Hooks>) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .expect("addr");
    let hooks = Arc::new(Hooks {
        fail_first: AtomicU32::new(fail_first),
        ..Default::default()
    });
    let app = poem::Route::new()
        .at("/webhooks/meta", poem::post(hook))
        .data(Arc::clone(&hooks));
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    (format!("http://{addr}/webhooks/meta"), hooks)
}

fn fast(url: String) -> GraphSimOptions {
    GraphSimOptions {
        webhook_url: Some(url),
        app_secret: SECRET.into(),
        status_delays: [
            Some(Duration::from_millis(10)),
            Some(Duration::from_millis(20)),
            Some(Duration::from_millis(30)),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn whatsapp_send_is_accepted_with_the_send_response_shape() {
    let sim = sim().await;
    let resp = client()
        .post(format!("{}{WA_PATH}", sim.url()))
        .bearer_auth(WA_TOKEN)
        .json(&wa_text("+1 555 000 1234"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers()
            .get("facebook-api-version")
            .and_then(|v| v.to_str().ok()),
        Some("v25.0")
    );
    let (status, body) = answer(resp).await;
    assert_eq!(status, 200);
    let wamid = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wamid.starts_with("wamid."));
    assert_eq!(
        body,
        json!({"messaging_product": "whatsapp",
                   "contacts": [{"input": "+1 555 000 1234", "wa_id": "15550001234"}],
                   "messages": [{"id": wamid}]})
    );
    let sends = sim.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].sender_id.as_deref(), Some(PNID));
    assert!(sends[0].authorization_ok);
    assert_eq!(sends[0].answered, 200);
    assert_eq!(sends[0].message_id.as_deref(), Some(wamid.as_str()));
    assert_eq!(sends[0].body["text"]["body"], "Ol\u{e1}, a/b");
    // A second send gets another wamid.
    let (_, again) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    assert_ne!(again["messages"][0]["id"], json!(wamid));
}

#[tokio::test]
async fn templates_are_accepted_and_bsuid_sends_answer_user_id() {
    let sim = sim().await;
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_template("15550001234")).await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    let bsuid = "US.13491208655302741918";
    let send = json!({"messaging_product": "whatsapp", "recipient": bsuid, "type": "text",
                          "text": {"body": "oi"}});
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), send).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["contacts"],
        json!([{"input": bsuid, "user_id": bsuid}])
    );
    assert!(body["messages"][0].get("message_status").is_none());
    assert_eq!(sim.sends().len(), 2);
}

#[tokio::test]
async fn read_receipts_answer_success_and_are_not_sends() {
    let sim = sim().await;
    let receipt = json!({"messaging_product": "whatsapp", "status": "read",
                             "message_id": "wamid.IN001"});
    assert_eq!(
        post(&sim, WA_PATH, Some(WA_TOKEN), receipt).await,
        (200, json!({"success": true}))
    );
    let typing = json!({"messaging_product": "whatsapp", "status": "read",
                            "message_id": "wamid.IN001", "typing_indicator": {"type": "text"}});
    assert_eq!(
        post(&sim, WA_PATH, Some(WA_TOKEN), typing).await,
        (200, json!({"success": true}))
    );
    let (status, body) = post(
        &sim,
        WA_PATH,
        Some(WA_TOKEN),
        json!({"messaging_product": "whatsapp", "status": "read"}),
    )
    .await;
    assert_eq!((status, code_of(&body)), (400, (100, None)));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("message_id"))
    );
    assert!(sim.sends().is_empty());
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn invalid_whatsapp_bodies_get_100_naming_the_parameter() {
    let sim = sim().await;
    let long = "x".repeat(4097);
    let cases = [
        (json!("not an object"), "messaging_product"),
        (
            json!({"to": "15550001234", "type": "text", "text": {"body": "x"}}),
            "messaging_product",
        ),
        (
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            "parameter to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "text": {"body": "x"}}),
            "parameter type",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "text"}),
            "parameter text",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "text", "text": {"body": ""}}),
            "text['body']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "text", "text": {"body": long}}),
            "4096",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "image", "image": {"caption": "c"}}),
            "image['id']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "poll", "poll": {}}),
            "Param type",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "template", "template": {"name": "t"}}),
            "language",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "reaction", "reaction": {"emoji": "x"}}),
            "reaction['message_id']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "abc", "type": "text", "text": {"body": "x"}}),
            "Param to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "template",
                       "template": {"name": "t", "language": {"code": "en"}, "components": [
                           {"type": "button", "sub_type": "flow", "index": "0", "parameters": [
                               {"type": "payload", "payload": "x"}]}]}}),
            "template['components'][0]['parameters'][0]['action']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "template",
                       "template": {"name": "t", "language": {"code": "en"}, "components": [
                           {"type": "body", "parameters": []},
                           {"type": "button", "sub_type": "mpm", "index": "0", "parameters": [
                               {"type": "action", "action": {"thumbnail_product_retailer_id": "S"}}]}]}}),
            "template['components'][1]['parameters'][0]['action']['sections']",
        ),
        // Contacts messages page: formatted_name plus one more name part.
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "contacts",
                       "contacts": [{"name": {"formatted_name": "Ana Pereira"}}]}),
            "contacts[0]['name'] must contain at least one of first_name",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15550001234", "type": "contacts",
                       "contacts": [{"name": {"formatted_name": "A", "last_name": "B"}},
                                    {"name": {"formatted_name": "C", "first_name": ""}}]}),
            "contacts[1]['name']",
        ),
    ];
    for (body, needle) in cases {
        let (status, answer) = post(&sim, WA_PATH, Some(WA_TOKEN), body.clone()).await;
        assert_eq!((status, code_of(&answer)), (400, (100, None)), "{body}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message} should name {needle}");
        assert!(message.starts_with("(#100)"));
        assert_eq!(
            answer["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
    }
    assert!(sim.sends().is_empty());
}

#[tokio::test]
async fn instagram_and_messenger_sends_and_sender_actions() {
    let sim = sim().await;
    let (status, body) = post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await;
    assert_eq!(status, 200);
    assert_eq!(body["recipient_id"], IGSID);
    assert!(
        body["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("m_"))
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2));
    let typing = json!({"recipient": {"id": IGSID}, "sender_action": "typing_on"});
    assert_eq!(
        post(&sim, IG_PATH, Some(IG_TOKEN), typing).await,
        (200, json!({"recipient_id": IGSID}))
    );
    // Messenger through /me/messages with the Page token; an attachment by URL.
    let attachment = json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"attachment":
            {"type": "image", "payload": {"url": "https://cdn.example.com/a.jpg", "is_reusable": true}}}});
    let (status, body) = post(&sim, "/v25.0/me/messages", Some(PAGE_TOKEN), attachment).await;
    assert_eq!(status, 200);
    assert_eq!(body["recipient_id"], PSID);
    let sends = sim.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[1].sender_id.as_deref(), Some(PAGE_ID));
    // Invalid bodies.
    let cases = [
        (json!({"message": {"text": "x"}}), "recipient"),
        (json!({"recipient": {"id": IGSID}}), "message"),
        (
            json!({"recipient": {"id": IGSID}, "message": {"attachment": {"type": "image", "payload": {}}}}),
            "attachment",
        ),
        (
            json!({"recipient": {"id": IGSID}, "message": {"text": "\u{e9}".repeat(501)}}),
            "1000",
        ),
        (
            json!({"recipient": {"id": IGSID}, "sender_action": "dance"}),
            "sender_action",
        ),
        (
            json!({"recipient": {"id": IGSID}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}}),
            "tag",
        ),
        // Instagram documents one reaction type, `love`.
        (
            json!({"recipient": {"id": IGSID}, "sender_action": "react",
                       "payload": {"message_id": "m_1", "reaction": "\u{1F44D}"}}),
            "payload[reaction] must be one of {love}",
        ),
        (
            json!({"recipient": {"id": IGSID}, "sender_action": "react",
                       "payload": {"message_id": "m_1", "reaction": "like"}}),
            "payload[reaction]",
        ),
    ];
    for (body, needle) in cases {
        let (status, answer) = post(&sim, IG_PATH, Some(IG_TOKEN), body.clone()).await;
        assert_eq!((status, code_of(&answer)), (400, (100, None)), "{body}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message} should name {needle}");
    }
    assert_eq!(sim.sends().len(), 2);
    // `love` is what Instagram takes; Messenger takes any emoji.
    let love = json!({"recipient": {"id": IGSID}, "sender_action": "react",
            "payload": {"message_id": "m_1", "reaction": "love"}});
    assert_eq!(post(&sim, IG_PATH, Some(IG_TOKEN), love).await.0, 200);
    let thumbs = json!({"recipient": {"id": PSID}, "sender_action": "react",
            "payload": {"message_id": "m_1", "reaction": "\u{1F44D}"}});
    assert_eq!(
        post(&sim, "/v25.0/me/messages", Some(PAGE_TOKEN), thumbs)
            .await
            .0,
        200
    );
}

/// An Instagram User token works only on graph.instagram.com (`/ig-graph`), a Page token
/// only on graph.facebook.com; the other host answers 400 code 190 (corpus:
/// instagram.*.json, `*_on_*_host` cases).
#[tokio::test]
async fn tokens_are_refused_on_the_other_host() {
    let sim = sim().await;
    const IGL: &str = "178410000000501";
    const IGL_TOKEN: &str = "IGAAsim-hand-instagram-user-token";
    const FBL: &str = "178410000000502";
    const FBL_TOKEN: &str = "EAAG-sim-page-token-of-fbl";
    sim.add_channel("instagram", IGL, None, IGL_TOKEN);
    sim.add_channel("instagram", FBL, None, FBL_TOKEN);
    let wrong_host = |(status, body): (u16, Value)| {
        assert_eq!((status, code_of(&body)), (400, (190, None)), "{body}");
        assert_eq!(body["error"]["type"], "OAuthException");
    };
    // Instagram Login: graph.instagram.com accepts, graph.facebook.com refuses.
    let ig_path = format!("/ig-graph/v25.0/{IGL}/messages");
    let (status, body) = post(&sim, &ig_path, Some(IGL_TOKEN), ig_text(IGSID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipient_id"], IGSID);
    let (status, body) = post(
        &sim,
        "/ig-graph/v25.0/me/messages",
        Some(IGL_TOKEN),
        ig_text(IGSID),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wrong_host(
        post(
            &sim,
            &format!("/v25.0/{IGL}/messages"),
            Some(IGL_TOKEN),
            ig_text(IGSID),
        )
        .await,
    );
    wrong_host(post(&sim, "/v25.0/me/messages", Some(IGL_TOKEN), ig_text(IGSID)).await);
    wrong_host(get(&sim, "/v25.0/me", Some(IGL_TOKEN)).await);
    let (status, me) = get(&sim, "/ig-graph/v25.0/me?fields=user_id", Some(IGL_TOKEN)).await;
    assert_eq!((status, me["user_id"].as_str()), (200, Some(IGL)), "{me}");
    // A Page token (Facebook Login): the other way round.
    let (status, body) = post(&sim, "/v25.0/me/messages", Some(FBL_TOKEN), ig_text(IGSID)).await;
    assert_eq!(status, 200, "{body}");
    wrong_host(
        post(
            &sim,
            &format!("/ig-graph/v25.0/{FBL}/messages"),
            Some(FBL_TOKEN),
            ig_text(IGSID),
        )
        .await,
    );
    wrong_host(
        post(
            &sim,
            "/ig-graph/v25.0/me/messages",
            Some(FBL_TOKEN),
            ig_text(IGSID),
        )
        .await,
    );
    wrong_host(get(&sim, "/ig-graph/v25.0/me?fields=user_id", Some(FBL_TOKEN)).await);
    wrong_host(
            get(
                &sim,
                &format!("/ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token={FBL_TOKEN}"),
                None,
            )
            .await,
        );
    let accepted: Vec<String> = sim
        .sends()
        .iter()
        .filter_map(|r| r.sender_id.clone())
        .collect();
    assert_eq!(accepted, [IGL, IGL, FBL]);
}

/// A Page token reaches the Page and its linked Instagram account: `/me/messages` goes to
/// Instagram when the recipient is an Instagram user, else to the Page (Messenger).
#[tokio::test]
async fn page_sends_reach_instagram_users_through_the_linked_account() {
    let sim = sim().await;
    const LINKED_IG: &str = "178410000000601";
    const PAGE_X: &str = "105000000000601";
    const SHARED: &str = "EAAG-shared-page-token";
    sim.add_channel("messenger", PAGE_X, None, SHARED);
    sim.add_channel("instagram", LINKED_IG, None, SHARED);
    sim.add_instagram_user(IGSID);
    let (status, body) = post(&sim, "/v25.0/me/messages", Some(SHARED), ig_text(IGSID)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&sim, "/v25.0/me/messages", Some(SHARED), ig_text(PSID)).await;
    assert_eq!(status, 200, "{body}");
    let senders: Vec<String> = sim
        .sends()
        .iter()
        .filter_map(|r| r.sender_id.clone())
        .collect();
    assert_eq!(senders, [LINKED_IG, PAGE_X]);
}

#[tokio::test]
async fn bad_missing_foreign_and_revoked_tokens_get_190() {
    let sim = sim().await;
    for token in [Some("nope"), None, Some(IG_TOKEN)] {
        let (status, body) = post(&sim, WA_PATH, token, wa_text("15550001234")).await;
        assert_eq!((status, code_of(&body)), (401, (190, None)), "{token:?}");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert!(body["error"]["fbtrace_id"].is_string());
    }
    // The access_token query parameter works too.
    let (status, _) = post(
        &sim,
        &format!("{WA_PATH}?access_token={WA_TOKEN}"),
        None,
        wa_text("15550001234"),
    )
    .await;
    assert_eq!(status, 200);
    sim.revoke_token(WA_TOKEN);
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    assert_eq!((status, code_of(&body)), (401, (190, Some(463))));
    let requests = sim.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(
        requests.iter().filter(|r| r.authorization_ok).count(),
        1,
        "only the query-token send was authorised"
    );
    assert_eq!(sim.sends().len(), 1);
}

#[tokio::test]
async fn unknown_sender_gets_100_subcode_33() {
    let sim = sim().await;
    let (status, body) = post(
        &sim,
        "/v25.0/999000000000009/messages",
        Some(WA_TOKEN),
        wa_text("15550001234"),
    )
    .await;
    assert_eq!((status, code_of(&body)), (400, (100, Some(33))));
    assert_eq!(body["error"]["type"], "GraphMethodException");
    assert!(body["error"]["message"].as_str().is_some_and(|m| {
        m.starts_with("Unsupported post request. Object with ID '999000000000009' does not exist")
    }));
    // An unknown token stays a token problem.
    let (status, body) = post(
        &sim,
        "/v25.0/999000000000009/messages",
        Some("nope"),
        wa_text("15550001234"),
    )
    .await;
    assert_eq!((status, code_of(&body)), (401, (190, None)));
    assert!(sim.sends().is_empty());
}

#[tokio::test]
async fn faults_answer_meta_envelopes_in_fifo_order() {
    let sim = sim().await;
    sim.push_fault(Fault::Throttle { times: 2 });
    sim.push_fault(Fault::PairRate { times: 1 });
    sim.push_fault(Fault::ServerError { times: 1 });
    sim.push_fault(Fault::BareServerError { times: 1 });
    sim.push_fault(Fault::TokenInvalid { times: 1 });
    sim.push_fault(Fault::Window { times: 1 });
    sim.push_fault(Fault::Permanent {
        times: 1,
        code: 132001,
    });
    let send = || post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234"));
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (400, (130429, None)));
    assert_eq!(body["error"]["message"], "(#130429) Rate limit hit");
    assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
    // A read receipt neither triggers nor consumes a fault.
    let receipt =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"});
    assert_eq!(post(&sim, WA_PATH, Some(WA_TOKEN), receipt).await.0, 200);
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (400, (130429, None)));
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (400, (131056, None)));
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (500, (2, None)));
    let resp = client()
        .post(format!("{}{WA_PATH}", sim.url()))
        .bearer_auth(WA_TOKEN)
        .json(&wa_text("15550001234"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 502);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let text = resp.text().await.expect("text");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (401, (190, Some(463))));
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (400, (131047, None)));
    let (status, body) = send().await;
    assert_eq!((status, code_of(&body)), (400, (132001, None)));
    let (status, _) = send().await;
    assert_eq!(status, 200, "queue drained");
    let faults: Vec<Option<&str>> = sim.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some("throttle"),
            None,
            Some("throttle"),
            Some("pair_rate"),
            Some("server_error"),
            Some("bare_server_error"),
            Some("token_invalid"),
            Some("window"),
            Some("permanent"),
            None
        ]
    );
    assert_eq!(sim.sends().len(), 1);

    // Instagram and Messenger get their own codes.
    sim.push_fault(Fault::Throttle { times: 1 });
    sim.push_fault(Fault::Window { times: 2 });
    let (status, body) = post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await;
    assert_eq!((status, code_of(&body)), (400, (4, None)));
    let (status, body) = post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await;
    assert_eq!((status, code_of(&body)), (400, (10, Some(2534022))));
    let path = format!("/v25.0/{PAGE_ID}/messages");
    let (status, body) = post(&sim, &path, Some(PAGE_TOKEN), ig_text(PSID)).await;
    assert_eq!((status, code_of(&body)), (400, (10, Some(2018278))));
    assert!(body["error"].get("error_data").is_none());
}

#[tokio::test]
async fn timeout_fault_accepts_the_send_and_emits_its_statuses() {
    let (url, hooks) = hooks(0).await;
    let sim = sim_with(fast(url)).await;
    sim.push_fault(Fault::Timeout {
        times: 1,
        delay: Duration::from_millis(1500),
    });
    crate::crypto::install_tls_provider();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = impatient
        .post(format!("{}{WA_PATH}", sim.url()))
        .bearer_auth(WA_TOKEN)
        .json(&wa_text("15550001234"))
        .send()
        .await
        .expect_err("the client gives up first");
    assert!(err.is_timeout());
    let sends = sim.sends();
    assert_eq!(sends.len(), 1, "Meta got it");
    assert_eq!(sends[0].fault, Some("timeout"));
    let wamid = sends[0].message_id.clone().expect("wamid");
    assert!(wait_for(|| hooks.accepted_for(&wamid).len() == 3).await);
    // A patient client gets the normal answer, late.
    sim.push_fault(Fault::Timeout {
        times: 1,
        delay: Duration::from_millis(200),
    });
    let started = Instant::now();
    let (status, _) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn drop_connection_fault_resets_without_an_answer() {
    let (url, hooks) = hooks(0).await;
    let sim = sim_with(fast(url)).await;
    sim.push_fault(Fault::DropConnection { times: 1 });
    let started = Instant::now();
    let err = client()
        .post(format!("{}{WA_PATH}", sim.url()))
        .bearer_auth(WA_TOKEN)
        .json(&wa_text("15550001234"))
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_request() && !err.is_timeout(), "{err:?}");
    let mut source = std::error::Error::source(&err);
    let mut reset = false;
    while let Some(e) = source {
        reset |= e
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::ConnectionReset);
        source = e.source();
    }
    assert!(reset, "a TCP reset: {err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].answered, 0);
    assert_eq!(requests[0].fault, Some("drop_connection"));
    assert!(sim.sends().is_empty());
    // The server keeps serving.
    let (status, _) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    assert_eq!(status, 200);
    let wamid = sim.sends()[0].message_id.clone().expect("wamid");
    assert!(wait_for(|| hooks.accepted_for(&wamid).len() == 3).await);
    assert_eq!(
        lock(&hooks.got).len(),
        3,
        "nothing emitted for the dropped send"
    );
}

#[tokio::test]
async fn closed_window_fails_whatsapp_by_status_and_refuses_instagram_and_messenger() {
    let (url, hooks) = hooks(0).await;
    let sim = sim_with(fast(url)).await;
    sim.close_window("+1 (555) 000-1234");
    let mut send = wa_text("15550001234");
    send["biz_opaque_callback_data"] = json!("bridge-msg-0007f3b");
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), send).await;
    assert_eq!(status, 200, "accepted, fails later");
    let wamid = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wait_for(|| !hooks.accepted_for(&wamid).is_empty()).await);
    // A template to the same user goes through the whole lifecycle.
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_template("15550001234")).await;
    assert_eq!(status, 200);
    let template = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wait_for(|| hooks.accepted_for(&template).len() == 3).await);
    let failed = hooks.accepted_for(&wamid);
    assert_eq!(failed.len(), 1, "failed instead of sent/delivered/read");
    let it = item(&failed[0]);
    assert_eq!(it["status"], "failed");
    assert_eq!(it["errors"][0]["code"], 131047);
    assert_eq!(it["biz_opaque_callback_data"], "bridge-msg-0007f3b");
    assert_eq!(it["recipient_id"], "15550001234");
    assert!(
        failed[0]["entry"][0]["changes"][0]["value"]
            .get("contacts")
            .is_none()
    );
    let template_statuses = hooks.accepted_for(&template);
    assert_eq!(
        item(&template_statuses[0])["pricing"]["category"],
        "utility"
    );

    sim.close_window(IGSID);
    sim.close_window(PSID);
    let (status, body) = post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await;
    assert_eq!((status, code_of(&body)), (400, (10, Some(2534022))));
    let typing = json!({"recipient": {"id": IGSID}, "sender_action": "typing_on"});
    assert_eq!(post(&sim, IG_PATH, Some(IG_TOKEN), typing).await.0, 200);
    let path = format!("/v25.0/{PAGE_ID}/messages");
    let (status, body) = post(&sim, &path, Some(PAGE_TOKEN), ig_text(PSID)).await;
    assert_eq!((status, code_of(&body)), (400, (10, Some(2018278))));
    sim.open_window(IGSID);
    assert_eq!(
        post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await.0,
        200
    );
    assert_eq!(sim.sends().len(), 3, "two WhatsApp sends, one Instagram");
}

#[tokio::test]
async fn status_webhooks_are_signed_shaped_and_echo_callback_data() {
    let (url, hooks) = hooks(0).await;
    let sim = sim_with(fast(url)).await;
    let mut send = wa_text("+1 555 000 1234");
    send["biz_opaque_callback_data"] = json!("bridge-msg-7f3a/\u{e7}");
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), send).await;
    assert_eq!(status, 200);
    let wamid = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wait_for(|| hooks.accepted_for(&wamid).len() == 3).await);
    let got = hooks.accepted_for(&wamid);
    let order: Vec<&str> = got
        .iter()
        .map(|v| item(v)["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    for v in &got {
        assert_eq!(v["object"], "whatsapp_business_account");
        assert_eq!(v["entry"][0]["id"], WABA);
        let change = &v["entry"][0]["changes"][0];
        assert_eq!(change["field"], "messages");
        assert_eq!(change["value"]["messaging_product"], "whatsapp");
        assert_eq!(change["value"]["metadata"]["phone_number_id"], PNID);
        assert!(change["value"]["metadata"]["display_phone_number"].is_string());
        assert_eq!(change["value"]["contacts"][0]["wa_id"], "15550001234");
        let it = item(v);
        assert_eq!(it["recipient_id"], "15550001234");
        assert_eq!(it["biz_opaque_callback_data"], "bridge-msg-7f3a/\u{e7}");
        assert!(
            it["timestamp"]
                .as_str()
                .is_some_and(|t| t.parse::<i64>().is_ok())
        );
        assert_eq!(it["pricing"]["pricing_model"], "PMP");
        assert_eq!(it["pricing"]["category"], "service");
        assert_eq!(it["conversation"]["origin"]["type"], "service");
    }
    assert!(item(&got[0])["conversation"]["expiration_timestamp"].is_string());
    let log = sim.webhooks();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|w| w.attempts == 1 && w.answered == Some(200))
    );
    // No callback data sent: none echoed.
    let (_, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    let plain = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wait_for(|| hooks.accepted_for(&plain).len() == 3).await);
    assert!(
        hooks
            .accepted_for(&plain)
            .iter()
            .all(|v| item(v).get("biz_opaque_callback_data").is_none())
    );
}

#[tokio::test]
async fn reordered_statuses_come_read_first_and_failed_posts_are_retried() {
    let (url, hooks) = hooks(2).await;
    let sim = sim_with(GraphSimOptions {
        reorder_statuses: true,
        ..fast(url)
    })
    .await;
    let (_, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    let wamid = body["messages"][0]["id"].as_str().expect("id").to_string();
    assert!(wait_for(|| hooks.accepted_for(&wamid).len() == 3).await);
    let posts: Vec<(String, u16)> = hooks
        .statuses()
        .iter()
        .map(|(v, a)| {
            (
                item(v)["status"].as_str().unwrap_or_default().to_string(),
                *a,
            )
        })
        .collect();
    let expected: Vec<(String, u16)> = [
        ("read", 503),
        ("read", 503),
        ("read", 200),
        ("delivered", 200),
        ("sent", 200),
    ]
    .iter()
    .map(|(s, a)| (s.to_string(), *a))
    .collect();
    assert_eq!(posts, expected);
    let log = sim.webhooks();
    assert_eq!(log[0].status, "read");
    assert_eq!((log[0].attempts, log[0].answered), (3, Some(200)));
}

#[test]
fn status_plan_disables_and_reverses() {
    let ms = Duration::from_millis;
    let mut opts = GraphSimOptions {
        status_delays: [Some(ms(10)), None, Some(ms(30))],
        ..Default::default()
    };
    assert_eq!(
        status_plan(&opts, false),
        [(ms(10), "sent"), (ms(30), "read")]
    );
    assert_eq!(status_plan(&opts, true), [(ms(10), "failed")]);
    opts.reorder_statuses = true;
    assert_eq!(
        status_plan(&opts, false),
        [(ms(10), "read"), (ms(30), "sent")]
    );
    opts.status_delays = [Some(ms(5)); 3];
    let order: Vec<&str> = status_plan(&opts, false).iter().map(|p| p.1).collect();
    assert_eq!(order, ["read", "delivered", "sent"]);
    opts.status_delays = [None, Some(ms(7)), Some(ms(3))];
    assert_eq!(status_plan(&opts, true), [(ms(3), "failed")]);
    opts.status_delays = [None; 3];
    assert!(status_plan(&opts, true).is_empty());
    assert!(status_plan(&opts, false).is_empty());
}

#[tokio::test]
async fn media_metadata_points_at_a_download_that_needs_the_token() {
    let sim = sim().await;
    let bytes = b"\xff\xd8\xff\xe0 fake jpeg".to_vec();
    sim.add_media("1480000000000001", "image/jpeg", bytes.clone());
    let (status, meta) = get(&sim, "/v25.0/1480000000000001", Some(WA_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(meta["messaging_product"], "whatsapp");
    assert_eq!(meta["id"], "1480000000000001");
    assert_eq!(meta["mime_type"], "image/jpeg");
    assert_eq!(meta["file_size"], bytes.len());
    assert_eq!(meta["sha256"], hex::encode(Sha256::digest(&bytes)));
    let url = meta["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&format!("{}/_media/1480000000000001?", sim.url())));
    assert!(url.contains("hash="));
    let resp = client()
        .get(&url)
        .bearer_auth(WA_TOKEN)
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    assert_eq!(resp.content_length(), Some(bytes.len() as u64));
    assert_eq!(resp.bytes().await.expect("bytes").to_vec(), bytes);
    for token in [None, Some("nope")] {
        let mut r = client().get(&url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.expect("download");
        assert_eq!(resp.status().as_u16(), 401);
        assert!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("text/html"))
        );
    }
    let (status, _) = get(
        &sim,
        &format!("/v25.0/1480000000000001?phone_number_id={PNID}"),
        Some(WA_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = get(&sim, "/v25.0/1480000000000009", Some(WA_TOKEN)).await;
    assert_eq!((status, code_of(&body)), (400, (100, Some(33))));
    let (status, body) = get(&sim, "/v25.0/1480000000000001", Some("nope")).await;
    assert_eq!((status, code_of(&body)), (401, (190, None)));
}

fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "simboundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
                Some((filename, mime)) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_parts(sim: &GraphSim, parts: &[Part<'_>]) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let resp = client()
        .post(format!("{}/v25.0/{PNID}/media", sim.url()))
        .bearer_auth(WA_TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    answer(resp).await
}

#[tokio::test]
async fn uploads_are_recorded_and_served_back() {
    let sim = sim().await;
    let png = b"\x89PNG\r\n\x1a\n fake png".to_vec();
    let (status, body) = upload_parts(
        &sim,
        &[
            ("messaging_product", None, b"whatsapp"),
            ("type", None, b"image/png"),
            ("file", Some(("a.png", "image/png")), &png),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body, json!({ "id": id }));
    assert_eq!(
        sim.uploaded(),
        [(id.clone(), "image/png".to_string(), png.len())]
    );
    let (status, meta) = get(&sim, &format!("/v25.0/{id}"), Some(WA_TOKEN)).await;
    assert_eq!(
        (status, meta["file_size"].as_u64()),
        (200, Some(png.len() as u64))
    );
    let requests = sim.requests();
    assert_eq!(requests[0].body, Value::Null);
    assert_eq!(requests[0].message_id.as_deref(), Some(id.as_str()));
    assert!(sim.sends().is_empty());

    let (status, body) = upload_parts(
        &sim,
        &[
            ("messaging_product", None, b"whatsapp"),
            ("type", None, b"image/png"),
        ],
    )
    .await;
    assert_eq!((status, code_of(&body)), (400, (100, None)));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("file"))
    );
    let (status, body) = post(
        &sim,
        &format!("/v25.0/{PNID}/media"),
        Some(WA_TOKEN),
        json!({"messaging_product": "whatsapp"}),
    )
    .await;
    assert_eq!((status, code_of(&body)), (400, (100, None)));
    assert_eq!(sim.uploaded().len(), 1);
}

/// An upload over `KEEP_UPLOAD_BYTES` is counted and hashed as it arrives, not kept: its
/// metadata (size, SHA-256) is served, its download is a 404.
#[tokio::test]
async fn large_uploads_are_counted_and_hashed_not_kept() {
    let sim = sim().await;
    let file: Vec<u8> = (0..KEEP_UPLOAD_BYTES + 1)
        .map(|i| (i % 253) as u8)
        .collect();
    let (status, body) = upload_parts(
        &sim,
        &[
            ("messaging_product", None, b"whatsapp"),
            ("type", None, b"application/pdf"),
            ("file", Some(("big.pdf", "application/pdf")), &file),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(
        sim.uploaded(),
        [(id.clone(), "application/pdf".to_string(), file.len())]
    );
    let sha = hex::encode(Sha256::digest(&file));
    assert_eq!(sim.media_sha256(&id).as_deref(), Some(sha.as_str()));
    let (status, meta) = get(&sim, &format!("/v25.0/{id}"), Some(WA_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(meta["file_size"].as_u64(), Some(file.len() as u64));
    assert_eq!(meta["sha256"].as_str(), Some(sha.as_str()));
    let url = meta["url"].as_str().expect("url");
    let r = client()
        .get(url)
        .bearer_auth(WA_TOKEN)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status().as_u16(), 404, "not kept");
}

#[tokio::test]
async fn debug_token_reports_validity_and_scopes() {
    let sim = sim().await;
    let path = |t: &str| format!("/v25.0/debug_token?input_token={t}");
    let app_token = "236400000000001|appsecret";
    let (status, body) = get(&sim, &path(WA_TOKEN), Some(app_token)).await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["is_valid"], true);
    assert_eq!(data["type"], "SYSTEM_USER");
    assert!(
        data["scopes"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("whatsapp_business_messaging")))
    );
    assert_eq!(
        data["granular_scopes"],
        json!([
            {"scope": "whatsapp_business_management", "target_ids": [WABA]},
            {"scope": "whatsapp_business_messaging", "target_ids": [WABA]}
        ])
    );
    let (_, body) = get(&sim, &path("nope"), Some(app_token)).await;
    assert_eq!(body["data"]["is_valid"], false);
    assert_eq!(body["data"]["error"]["code"], 190);
    sim.revoke_token(IG_TOKEN);
    let (_, body) = get(&sim, &path(IG_TOKEN), Some(app_token)).await;
    assert_eq!(body["data"]["is_valid"], false);
    assert_eq!(body["data"]["error"]["subcode"], 463);
    let (status, body) = get(&sim, "/v25.0/debug_token", Some(app_token)).await;
    assert_eq!((status, code_of(&body)), (400, (100, None)));
}

#[tokio::test]
async fn control_api_drives_the_simulator_over_http() {
    let sim = sim().await;
    let ctl = |path: &'static str, body: Value| post(&sim, path, None, body);
    assert_eq!(
        ctl("/_sim/faults", json!({"fault": "throttle", "times": 1}))
            .await
            .0,
        200
    );
    assert_eq!(ctl("/_sim/faults", json!({"fault": "bogus"})).await.0, 400);
    assert_eq!(
        ctl("/_sim/faults", json!({"fault": "timeout"})).await.0,
        400
    );
    let (status, body) = post(&sim, WA_PATH, Some(WA_TOKEN), wa_text("15550001234")).await;
    assert_eq!((status, code_of(&body)), (400, (130429, None)));
    assert_eq!(
        ctl("/_sim/window/close", json!({"recipient": IGSID}))
            .await
            .0,
        200
    );
    let (status, body) = post(&sim, IG_PATH, Some(IG_TOKEN), ig_text(IGSID)).await;
    assert_eq!((status, code_of(&body)), (400, (10, Some(2534022))));
    assert_eq!(
        ctl(
            "/_sim/channels",
            json!({"kind": "whatsapp", "external_id": "106000000000002", "token": "t2"})
        )
        .await
        .0,
        200
    );
    let (status, _) = post(
        &sim,
        "/v25.0/106000000000002/messages",
        Some("t2"),
        wa_text("15550005678"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ctl("/_sim/tokens/revoke", json!({"token": "t2"})).await.0,
        200
    );
    let (status, list) = get(&sim, "/_sim/requests", None).await;
    assert_eq!(status, 200);
    let list = list.as_array().expect("list");
    assert_eq!(list.len(), 3, "control requests are not recorded");
    assert_eq!(list[0]["path"], WA_PATH);
    assert_eq!(list[0]["answered"], 400);
    assert_eq!(list[0]["fault"], "throttle");
    assert_eq!(list[2]["accepted_send"], true);
    assert_eq!(list[2]["sender_id"], "106000000000002");
    assert_eq!(list[2]["body"]["to"], "15550005678");
    let (status, body) = get(&sim, "/v25.0/a/b/c", Some(WA_TOKEN)).await;
    assert_eq!((status, code_of(&body)), (400, (2500, None)));
    // Unversioned paths are served like Meta's oldest version.
    let (status, _) = post(
        &sim,
        &format!("/{PNID}/messages"),
        Some(WA_TOKEN),
        wa_text("15550001234"),
    )
    .await;
    assert_eq!(status, 200);
}

#[test]
fn faults_parse_from_json_and_versions_are_recognised() {
    assert_eq!(
        Fault::from_json(&json!({"fault": "timeout", "times": 2, "delay_ms": 5000})),
        Ok(Fault::Timeout {
            times: 2,
            delay: Duration::from_secs(5)
        })
    );
    assert_eq!(
        Fault::from_json(&json!({"fault": "permanent", "code": 132001})),
        Ok(Fault::Permanent {
            times: 1,
            code: 132001
        })
    );
    assert!(Fault::from_json(&json!({"fault": "permanent"})).is_err());
    assert!(Fault::from_json(&json!({"times": 1})).is_err());
    assert!(is_version("v25.0") && is_version("v9"));
    assert!(!is_version("25.0") && !is_version("v25.") && !is_version("me"));
    assert_eq!(recipient_key("+55 (11) 98888-7777"), "5511988887777");
    assert_eq!(recipient_key("US.1349"), "US.1349");
}
