//! The read-only edges `metabridge doctor` asks, as the conformance corpus documents them
//! (`graph.app.subscriptions.get`, `whatsapp.phone.status`, `page.instagram_business_account`):
//! the app's webhook subscriptions, a WhatsApp number's state and messaging health, and the
//! Instagram account a Page is linked to. Each can be put in a faulty state from tests
//! ([`GraphSim::set_app_subscriptions`], the [`SimPhone`] fields, [`SimAccounts`] pages).
//!
//! Pages (read 2026-12-04): "App Subscriptions",
//! <https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/> (app token
//! only); "WhatsApp Business Account To Number Current Status",
//! <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/>;
//! "Messaging Limits", <https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits>
//! (`whatsapp_business_manager_messaging_limit`); "Messaging and Calling Health Status",
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/health-status>; "Page",
//! <https://developers.facebook.com/docs/graph-api/reference/page/>.

use std::sync::Arc;

use poem::Request;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::graph::{
    APP_ID, GraphSim, Inner, Kind, State, TokenState, lock,
    replies::{err_token, err_unknown_object},
    routing::{Handled, query_param},
};

use super::accounts::SimPhone;
use super::assets::may_read;
use super::helpers::{fail, fields_param, ok_json, only_fields, secret_ok};

/// One object of the app's webhook configuration (`GET /{app-id}/subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAppSubscription {
    pub object: String,
    pub callback_url: String,
    pub active: bool,
    pub fields: Vec<String>,
}

/// The app's webhook configuration until a test sets another: the three messaging objects,
/// active, pointing at the simulator's webhook target, with the fields the bridge uses.
fn default_subscriptions(state: &State) -> Vec<SimAppSubscription> {
    let url = lock(&state.webhook_override)
        .clone()
        .or_else(|| state.opts.webhook_url.clone())
        .unwrap_or_default();
    let sub = |object: &str, fields: &[&str]| SimAppSubscription {
        object: object.into(),
        callback_url: url.clone(),
        active: true,
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    };
    vec![
        sub(
            "whatsapp_business_account",
            &["messages", "message_template_status_update"],
        ),
        sub(
            "page",
            &[
                "messages",
                "messaging_postbacks",
                "message_echoes",
                "message_reactions",
                "messaging_referrals",
                "message_reads",
                "message_deliveries",
                "messaging_handovers",
                "standby",
                "leadgen",
            ],
        ),
        sub(
            "instagram",
            &[
                "messages",
                "messaging_postbacks",
                "messaging_seen",
                "message_reactions",
                "messaging_referral",
            ],
        ),
    ]
}

/// `GET /{app-id}/subscriptions`: only the app's own token (`{app-id}|{app-secret}`) reads it.
pub(in crate::sim) fn app_subscriptions(
    state: &Arc<State>,
    app: &str,
    token: Option<&str>,
) -> Handled {
    let app_token_ok = token
        .and_then(|t| t.split_once('|'))
        .is_some_and(|(id, secret)| id == APP_ID && secret_ok(state, Some(secret)));
    if !app_token_ok {
        return fail(err_token(TokenState::Unknown));
    }
    if app != APP_ID {
        return fail(err_unknown_object("get", app));
    }
    let subs = lock(&state.app_subscriptions)
        .clone()
        .unwrap_or_else(|| default_subscriptions(state));
    let data: Vec<Value> = subs
        .iter()
        .map(|s| {
            json!({
                "object": s.object,
                "callback_url": s.callback_url,
                "active": s.active,
                "fields": s.fields.iter().map(|f| json!({"name": f, "version": "v25.0"})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut h = ok_json(&json!({ "data": data }));
    h.authorization_ok = true;
    h
}

/// The number's `health_status` when a test set none: every node available.
fn default_health(inner: &Inner, phone: &str) -> Value {
    let waba = inner
        .onboard
        .accounts
        .phone(phone)
        .map(|(b, w, _)| (b.id.clone(), w.id.clone()));
    let mut entities =
        vec![json!({"entity_type": "PHONE_NUMBER", "id": phone, "can_send_message": "AVAILABLE"})];
    if let Some((business, waba)) = waba {
        entities.push(json!({"entity_type": "WABA", "id": waba, "can_send_message": "AVAILABLE"}));
        entities.push(
            json!({"entity_type": "BUSINESS", "id": business, "can_send_message": "AVAILABLE"}),
        );
    }
    entities.push(json!({"entity_type": "APP", "id": APP_ID, "can_send_message": "AVAILABLE"}));
    json!({"can_send_message": "AVAILABLE", "entities": entities})
}

/// `GET /{phone-number-id}?fields=...`: the number's state, the fields asked for (and `id`).
pub(in crate::sim) fn phone_node(
    state: &Arc<State>,
    req: &Request,
    phone: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let hand = inner
        .channels
        .get(phone)
        .filter(|c| c.kind == Kind::WhatsApp);
    let p: SimPhone = match (inner.onboard.accounts.phone(phone), hand) {
        (Some((_, _, p)), _) if may_read(&inner, t, phone) => p.clone(),
        (None, Some(c)) if c.token == t => inner
            .onboard
            .channel_phones
            .get(phone)
            .cloned()
            .unwrap_or_else(|| SimPhone {
                id: phone.to_owned(),
                name_status: "APPROVED".into(),
                quality_rating: "GREEN".into(),
                cloud_api_registered: true,
                ..SimPhone::default()
            }),
        _ => return fail(err_unknown_object("get", phone)),
    };
    let registered =
        p.cloud_api_registered || hand.is_some() || inner.onboard.registered.contains(phone);
    let status = p.status.clone().unwrap_or_else(|| {
        if registered {
            "CONNECTED".into()
        } else {
            "PENDING".into()
        }
    });
    let node = json!({
        "id": phone,
        "display_phone_number": p.display_phone_number,
        "verified_name": p.verified_name,
        "status": status,
        "quality_rating": if p.quality_rating.is_empty() { "NA".to_string() } else { p.quality_rating.clone() },
        "name_status": p.name_status,
        "code_verification_status": p.code_verification_status.clone().unwrap_or_else(|| "VERIFIED".into()),
        "whatsapp_business_manager_messaging_limit": p.messaging_limit.clone().unwrap_or_else(|| "TIER_2K".into()),
        "health_status": p.health_status.clone().unwrap_or_else(|| default_health(&inner, phone)),
    });
    let fields = fields_param(req);
    let mut h = ok_json(&only_fields(node, fields.as_deref()));
    h.authorization_ok = true;
    h
}

/// A Page of the simulated accounts (a hand-registered Messenger channel's token may read it).
pub(in crate::sim) fn is_page(state: &Arc<State>, id: &str) -> bool {
    let inner = lock(&state.inner);
    inner.onboard.accounts.page(id).is_some()
}

/// `GET /{page-id}?fields=instagram_business_account{id,username}` with the Page token.
pub(in crate::sim) fn page_node(
    state: &Arc<State>,
    req: &Request,
    page: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(p) = inner.onboard.accounts.page(page) else {
        return fail(err_unknown_object("get", page));
    };
    let may = inner.onboard.grants(t, page)
        || inner
            .channels
            .get(page)
            .is_some_and(|c| c.kind == Kind::Messenger && c.token == t);
    if !may {
        return fail(err_unknown_object("get", page));
    }
    // Only the field the corpus documents (`page.instagram_business_account`).
    let mut node = json!({"id": page});
    let fields = query_param(req, "fields").unwrap_or_default();
    if fields.contains("instagram_business_account")
        && let Some(ig) = &p.instagram
    {
        node["instagram_business_account"] = json!({"id": ig.id, "username": ig.username});
    }
    let mut h = ok_json(&node);
    h.authorization_ok = true;
    h
}

impl GraphSim {
    /// Replaces the app's webhook configuration (`None`: back to the default, which points at
    /// the webhook target).
    pub fn set_app_subscriptions(&self, subs: Option<Vec<SimAppSubscription>>) {
        *lock(&self.state.app_subscriptions) = subs;
    }

    /// The app's webhook configuration as `GET /{app-id}/subscriptions` answers it.
    pub fn app_subscriptions(&self) -> Vec<SimAppSubscription> {
        lock(&self.state.app_subscriptions)
            .clone()
            .unwrap_or_else(|| default_subscriptions(&self.state))
    }

    /// Changes a simulated WhatsApp number (of the accounts); false when unknown.
    pub fn update_phone(&self, phone_number_id: &str, f: impl FnOnce(&mut SimPhone)) -> bool {
        match lock(&self.state.inner)
            .onboard
            .accounts
            .phone_mut(phone_number_id)
        {
            Some(p) => {
                f(p);
                true
            }
            None => false,
        }
    }
}
