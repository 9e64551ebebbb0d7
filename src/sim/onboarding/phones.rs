//! WhatsApp phone number onboarding: two-step PIN, `register`, verification codes and the
//! coexistence `smb_app_data` sync.

use std::sync::Arc;

use poem::{Request, RequestBody};
use rand::Rng;
use serde_json::{Value, json};

use crate::sim::graph::{
    Inner, Kind, State, TokenState, lock,
    replies::{err_token, err_unknown_object, graph_error},
    routing::{Handled, query_param},
};

use super::accounts::SimPhone;
use super::assets::may_read;
use super::helpers::{fail, ok, ok_json};
use super::tokens::random_alnum;

pub(in crate::sim) fn is_phone(state: &Arc<State>, id: &str) -> bool {
    let inner = lock(&state.inner);
    inner.onboard.accounts.phone(id).is_some()
        || inner
            .channels
            .get(id)
            .is_some_and(|c| c.kind == Kind::WhatsApp)
}

/// The simulated number `id`: one of the accounts, or a WhatsApp channel registered by hand.
fn sim_phone(inner: &Inner, id: &str) -> Option<SimPhone> {
    if let Some((_, _, p)) = inner.onboard.accounts.phone(id) {
        return Some(p.clone());
    }
    let c = inner
        .channels
        .get(id)
        .filter(|c| c.kind == Kind::WhatsApp)?;
    Some(
        inner
            .onboard
            .channel_phones
            .get(id)
            .cloned()
            .unwrap_or_else(|| hand_phone(&c.external_id)),
    )
}

fn hand_phone(id: &str) -> SimPhone {
    SimPhone {
        id: id.to_owned(),
        name_status: "APPROVED".into(),
        ..SimPhone::default()
    }
}

pub(super) fn sim_phone_mut<'a>(inner: &'a mut Inner, id: &str) -> Option<&'a mut SimPhone> {
    if inner.onboard.accounts.phone(id).is_some() {
        return inner.onboard.accounts.phone_mut(id);
    }
    if !inner
        .channels
        .get(id)
        .is_some_and(|c| c.kind == Kind::WhatsApp)
    {
        return None;
    }
    Some(
        inner
            .onboard
            .channel_phones
            .entry(id.to_owned())
            .or_insert_with(|| hand_phone(id)),
    )
}

/// `POST /{phone}` `{"pin":"123456"}`: sets the two-step verification PIN (no old PIN
/// needed). "Two-Step Verification", WhatsApp Cloud API, read 2026-12-02.
pub(in crate::sim) async fn set_pin(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = crate::sim::graph::send::read_json(body).await;
    let mut recorded = json.clone();
    if recorded.get("pin").is_some() {
        recorded["pin"] = json!("[redacted]");
    }
    let mut h = set_pin_inner(state, phone, token, &json);
    h.body = recorded;
    h.sender_id = Some(phone.to_owned());
    h
}

fn set_pin_inner(state: &Arc<State>, phone: &str, token: Option<&str>, json: &Value) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(ph) = sim_phone(&inner, phone) else {
        return fail(err_unknown_object("post", phone));
    };
    let refuse = ph.refuse_pin_change;
    if !may_read(&inner, t, phone) {
        return fail(err_unknown_object("post", phone));
    }
    let Some(pin) = json
        .get("pin")
        .and_then(Value::as_str)
        .filter(|p| p.len() == 6 && p.chars().all(|c| c.is_ascii_digit()))
    else {
        return ok(graph_error(
            400,
            100,
            None,
            "(#100) Param pin must be a 6-digit string.",
            Some("Param pin must be a 6-digit string."),
            Some(Kind::WhatsApp),
        ));
    };
    if refuse {
        return ok(graph_error(
            403,
            200,
            None,
            "(#200) Permissions error",
            None,
            None,
        ));
    }
    if let Some(p) = sim_phone_mut(&mut inner, phone) {
        p.two_step_pin = Some(pin.to_owned());
    }
    ok_json(&json!({"success": true}))
}

/// `POST /{phone}/register` `{"messaging_product":"whatsapp","pin":"123456"}`.
pub(in crate::sim) async fn register(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = crate::sim::graph::send::read_json(body).await;
    let mut recorded = json.clone();
    if recorded.get("pin").is_some() {
        recorded["pin"] = json!("[redacted]");
    }
    let mut h = register_inner(state, phone, token, &json);
    h.body = recorded;
    h.sender_id = Some(phone.to_owned());
    h
}

fn register_inner(state: &Arc<State>, phone: &str, token: Option<&str>, json: &Value) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(ph) = sim_phone(&inner, phone) else {
        return fail(err_unknown_object("post", phone));
    };
    if !may_read(&inner, t, phone) {
        return fail(err_unknown_object("post", phone));
    }
    let wa_err = |code: u32, message: &str, details: &str| {
        ok(graph_error(
            400,
            code,
            None,
            message,
            Some(details),
            Some(Kind::WhatsApp),
        ))
    };
    if json.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return wa_err(
            100,
            "(#100) The parameter messaging_product is required.",
            "The parameter messaging_product is required.",
        );
    }
    let Some(pin) = json
        .get("pin")
        .and_then(Value::as_str)
        .filter(|p| p.len() == 6 && p.chars().all(|c| c.is_ascii_digit()))
    else {
        return wa_err(
            100,
            "(#100) Param pin must be a 6-digit string.",
            "Param pin must be a 6-digit string.",
        );
    };
    if !matches!(
        ph.name_status.as_str(),
        "APPROVED" | "AVAILABLE_WITHOUT_REVIEW"
    ) {
        return wa_err(
            133015,
            "(#133015) Please wait a few minutes before attempting to register this phone number",
            "The display name of this phone number is not approved yet (name_status PENDING_REVIEW); register again once it is approved.",
        );
    }
    if ph.two_step_pin.as_deref().is_some_and(|p| p != pin) {
        return wa_err(
            133005,
            "(#133005) Two step verification PIN Mismatch",
            "The PIN does not match the two-step verification PIN of this phone number.",
        );
    }
    if let Some(p) = sim_phone_mut(&mut inner, phone) {
        p.two_step_pin = Some(pin.to_owned());
    }
    inner.onboard.registered.insert(phone.to_owned());
    ok_json(&json!({"success": true}))
}

/// The checks every phone-number edge shares: a valid token that may act for `phone`.
fn phone_edge(
    inner: &Inner,
    phone: &str,
    token: Option<&str>,
    method: &str,
) -> Result<(), Box<Handled>> {
    let Some(t) = token else {
        return Err(Box::new(fail(err_token(TokenState::Unknown))));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return Err(Box::new(fail(err_token(token_state))));
    }
    if inner.onboard.accounts.phone(phone).is_none() || !may_read(inner, t, phone) {
        return Err(Box::new(fail(err_unknown_object(method, phone))));
    }
    Ok(())
}

fn wa_error(code: u32, message: &str, details: &str) -> Handled {
    ok(graph_error(
        400,
        code,
        None,
        message,
        Some(details),
        Some(Kind::WhatsApp),
    ))
}

/// `POST /{phone}/request_code?code_method=SMS|VOICE|IVR&language=en_US` ("Whats App Business
/// Phone Number Request Code", Graph API reference,
/// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/,
/// read 2026-12-02): both parameters required (100 otherwise), `{"success":true}`, and the
/// code goes to the phone (here: [`GraphSim::verification_code`]).
pub(in crate::sim) fn request_code(
    state: &Arc<State>,
    req: &Request,
    phone: &str,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    if let Err(h) = phone_edge(&inner, phone, token, "post") {
        return *h;
    }
    let method = query_param(req, "code_method");
    if !matches!(method.as_deref(), Some("SMS" | "VOICE" | "IVR")) {
        return wa_error(
            100,
            "(#100) Param code_method must be one of {SMS, VOICE, IVR}",
            "The parameter code_method is required and must be SMS, VOICE or IVR.",
        );
    }
    if query_param(req, "language").is_none_or(|l| l.trim().is_empty()) {
        return wa_error(
            100,
            "(#100) The parameter language is required",
            "The parameter language is required.",
        );
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    inner
        .onboard
        .verification_codes
        .insert(phone.to_owned(), code);
    let mut h = ok_json(&json!({"success": true}));
    h.sender_id = Some(phone.to_owned());
    h
}

/// `POST /{phone}/verify_code?code=...` ("Registering business phone numbers", step 3,
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/,
/// read 2026-12-02): the code from `request_code` verifies the number; no code, no pending
/// request or a wrong code answers 136025 ("Verify code error", corpus
/// `whatsapp.verify_code.json`); the code is never logged.
pub(in crate::sim) fn verify_code(
    state: &Arc<State>,
    req: &Request,
    phone: &str,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    let mut h = (|| {
        if let Err(h) = phone_edge(&inner, phone, token, "post") {
            return *h;
        }
        let Some(code) = query_param(req, "code").filter(|c| !c.is_empty()) else {
            return wa_error(
                100,
                "(#100) The parameter code is required",
                "The parameter code is required.",
            );
        };
        let pending = inner.onboard.verification_codes.get(phone).cloned();
        if pending.as_deref() != Some(code.as_str()) {
            return wa_error(
                136025,
                "(#136025) Verify code error",
                "The verification code is wrong or was not requested for this phone number.",
            );
        }
        inner.onboard.verification_codes.remove(phone);
        if let Some(p) = inner.onboard.accounts.phone_mut(phone) {
            p.code_verification_status = Some("VERIFIED".into());
        }
        ok_json(&json!({"success": true}))
    })();
    h.sender_id = Some(phone.to_owned());
    h
}

/// `POST /{phone}/smb_app_data` `{"messaging_product":"whatsapp","sync_type":"smb_app_state_sync"|"history"}`
/// ("Onboard WhatsApp Business app users", Synchronizing WhatsApp Business app data,
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users,
/// read 2026-12-02): only for WhatsApp Business app numbers, each sync type once (again =
/// 2593107, corpus `whatsapp.smb_app_data.json`); answers `{"messaging_product","request_id"}`.
pub(in crate::sim) async fn smb_app_data(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = crate::sim::graph::send::read_json(body).await;
    let mut inner = lock(&state.inner);
    let mut h = (|| {
        if let Err(h) = phone_edge(&inner, phone, token, "post") {
            return *h;
        }
        if json.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
            return wa_error(
                100,
                "(#100) The parameter messaging_product is required.",
                "The parameter messaging_product is required.",
            );
        }
        let Some(sync) = json
            .get("sync_type")
            .and_then(Value::as_str)
            .filter(|t| matches!(*t, "smb_app_state_sync" | "history"))
        else {
            return wa_error(
                100,
                "(#100) Param sync_type must be one of {smb_app_state_sync, history}",
                "The parameter sync_type must be smb_app_state_sync or history.",
            );
        };
        let on_app = inner
            .onboard
            .accounts
            .phone(phone)
            .is_some_and(|(_, _, p)| p.on_biz_app);
        if !on_app {
            return wa_error(
                100,
                "(#100) This phone number was not onboarded with the WhatsApp Business app",
                "smb_app_data is only available for numbers onboarded with the WhatsApp Business app.",
            );
        }
        if !inner
            .onboard
            .smb_syncs
            .insert((phone.to_owned(), sync.to_owned()))
        {
            return wa_error(
                2593107,
                "(#2593107) Synchronization was already requested for this phone number",
                "Each synchronization can be started once; offboard the business and run Embedded Signup again.",
            );
        }
        ok_json(&json!({"messaging_product": "whatsapp", "request_id": random_alnum(16)}))
    })();
    h.body = json;
    h.sender_id = Some(phone.to_owned());
    h
}
