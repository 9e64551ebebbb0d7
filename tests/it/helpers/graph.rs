//! The Graph API side of a test: the Meta simulator ([`start_sim`]) and the service pointed at
//! it with one tenant owning a WhatsApp number, an Instagram account and a Page
//! ([`outbound`] → [`Outbound`], with typed helpers to send, read messages and play customers).

use std::time::Duration;

use metabridge::sim::graph::{self, GraphSim, GraphSimOptions, SimTemplate};
use serde_json::{Value, json};

use super::{APP_SECRET, Db, Tenant, TestApp, spawn_app_with};

pub const TOKEN: &str = "EAAG-test-token-secret";
/// The Instagram account is linked to a Page of its own: it sends as that Page
/// (`/me/messages` with the Page's token on graph.facebook.com).
pub const IG_PAGE_TOKEN: &str = "EAAG-ig-page-token-secret";
pub const PNID: &str = "106000000000001";
pub const WABA: &str = "102000000000001";
pub const IG: &str = "17841400000000001";
pub const PAGE: &str = "105000000000001";
pub const CUSTOMER: &str = "15550001234";

pub struct Outbound {
    pub app: TestApp,
    pub sim: GraphSim,
    pub tenant: Tenant,
    pub wa: String,
    pub ig: String,
    pub fb: String,
}

pub const FAST_STATUSES: [u64; 3] = [50, 100, 150];

pub async fn start_sim(delays_ms: [u64; 3], reorder: bool) -> GraphSim {
    graph::start(
        "127.0.0.1:0".parse().expect("addr"),
        GraphSimOptions {
            webhook_url: None,
            app_secret: APP_SECRET.to_string(),
            status_delays: delays_ms.map(|d| Some(Duration::from_millis(d))),
            reorder_statuses: reorder,
            print: false,
            ..Default::default()
        },
    )
    .await
    .expect("graph sim")
}

/// The app pointed at a fresh Graph simulator, one tenant with a WhatsApp number, an
/// Instagram account and a page, all known to the simulator with the channel token.
pub async fn outbound(db: Db, tweak: impl FnOnce(&mut metabridge::config::Config)) -> Outbound {
    outbound_with(db, FAST_STATUSES, false, tweak).await
}

pub async fn outbound_with(
    db: Db,
    delays_ms: [u64; 3],
    reorder: bool,
    tweak: impl FnOnce(&mut metabridge::config::Config),
) -> Outbound {
    outbound_full(db, delays_ms, reorder, base_templates(), tweak).await
}

/// [`outbound`] with the WhatsApp account holding `templates` at "Meta" when the channels are
/// connected.
pub async fn outbound_templates(
    db: Db,
    templates: Vec<SimTemplate>,
    tweak: impl FnOnce(&mut metabridge::config::Config),
) -> Outbound {
    outbound_full(db, FAST_STATUSES, false, templates, tweak).await
}

async fn outbound_full(
    db: Db,
    delays_ms: [u64; 3],
    reorder: bool,
    templates: Vec<SimTemplate>,
    tweak: impl FnOnce(&mut metabridge::config::Config),
) -> Outbound {
    let sim = start_sim(delays_ms, reorder).await;
    let graph_url = sim.url();
    let app = spawn_app_with(db, |c| {
        c.graph.base_url = graph_url;
        tweak(c);
    })
    .await;
    sim.set_webhook_url(&format!("{}/webhooks/meta", app.url));
    sim.set_templates(WABA, templates);
    sim.add_channel("whatsapp", PNID, Some(WABA), TOKEN);
    sim.add_channel("instagram", IG, None, IG_PAGE_TOKEN);
    sim.add_channel("messenger", PAGE, None, TOKEN);
    let tenant = app.tenant("Loja", None).await;
    let wa = app.channel(&tenant, "whatsapp", PNID, Some(WABA)).await;
    let ig = app
        .channel_with_token(&tenant, "instagram", IG, None, IG_PAGE_TOKEN)
        .await;
    let fb = app.channel(&tenant, "messenger", PAGE, None).await;
    Outbound {
        app,
        sim,
        tenant,
        wa,
        ig,
        fb,
    }
}

/// The WhatsApp account's approved templates the send tests use (a template send is checked
/// against the account's templates before it is queued).
pub fn base_templates() -> Vec<SimTemplate> {
    vec![
        SimTemplate::new("order_update", "pt_BR", "APPROVED", "UTILITY").components(json!([
            {"type": "BODY", "text": "Olá {{1}}, seu pedido de {{2}} saiu."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Rastrear"}]}
        ])),
        SimTemplate::new("promo", "pt_BR", "APPROVED", "MARKETING").components(json!([
            {"type": "BODY", "text": "Novidades na loja"},
            {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Ver"}]}
        ])),
        SimTemplate::new("hello", "en_US", "APPROVED", "UTILITY")
            .components(json!([{"type": "BODY", "text": "Hello"}])),
    ]
}

impl Outbound {
    pub async fn send(&self, body: Value) -> (u16, Value) {
        self.send_with(body, None, "").await
    }

    pub async fn send_with(&self, body: Value, key: Option<&str>, query: &str) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(format!("{}/v1/messages{query}", self.app.url))
            .bearer_auth(self.app.jwt(&self.tenant))
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn message(&self, id: &str) -> Value {
        let (s, v) = self
            .app
            .v1(
                &self.tenant,
                reqwest::Method::GET,
                &format!("/v1/messages/{id}"),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Waits until the message has reached `want`: its status now, or one its history lists
    /// (with fast statuses, a message can be `read` before a poll sees it `sent`).
    pub async fn wait_status(&self, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            last = self.message(id).await;
            let in_history = last["statuses"]
                .as_array()
                .is_some_and(|h| h.iter().any(|s| s["status"] == want));
            if last["status"] == want || in_history {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("message {id} never reached {want}: {last}");
    }

    /// A customer message (now) from `from`, opening the WhatsApp service window.
    pub async fn customer_writes(&self, from: &str) {
        let now = chrono::Utc::now().timestamp();
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15559990000", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.IN{}{}", from, uuid::Uuid::new_v4().simple()),
                "timestamp": now.to_string(), "type": "text", "text": {"body": "oi"}}]}}]}]});
        let bytes = serde_json::to_vec(&body).expect("json");
        assert_eq!(self.app.post_webhook(&bytes).await, 200);
    }

    /// A customer message on Instagram or Messenger.
    pub async fn customer_writes_ig(&self, object: &str, account: &str, from: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let body = json!({"object": object, "entry": [{"id": account, "time": now, "messaging": [{
            "sender": {"id": from}, "recipient": {"id": account}, "timestamp": now,
            "message": {"mid": format!("m_{}", uuid::Uuid::new_v4().simple()), "text": "oi"}}]}]});
        let bytes = serde_json::to_vec(&body).expect("json");
        assert_eq!(self.app.post_webhook(&bytes).await, 200);
    }

    pub fn events_of(&self, ty: &str) -> Vec<Value> {
        self.app
            .receiver
            .state
            .accepted()
            .into_iter()
            .filter(|e| e.event_type == ty)
            .map(|e| e.body)
            .collect()
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}
