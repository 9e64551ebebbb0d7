//! The simulator's control API for the connect flows and the matching [`GraphSim`] handle
//! methods (accounts, leads, token expiry and revocation, signed requests, minting).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::sim::graph::{GraphSim, Inner, State, TokenState, lock, replies::Reply};

use super::accounts::{SimAccounts, SimLead, SimLeadForm};
use super::helpers::app_secret;
use super::phones::sim_phone_mut;
use super::tokens::{CodeFlow, IgTokenShape, Mint, MintedToken, TokenKind, mint, new_code};
use super::{IG_CODE_TTL, SHORT_USER_SECS, now_secs};

fn ctl_ok() -> Reply {
    Reply::json(200, &json!({"ok": true}))
}

fn ctl_bad(msg: &str) -> Reply {
    Reply::json(400, &json!({"error": msg}))
}

pub(in crate::sim) fn control_get(state: &Arc<State>, path: &str) -> Option<Reply> {
    let inner = lock(&state.inner);
    Some(match path {
        "/_sim/subscriptions" => Reply::json(200, &json!(inner.onboard.subscriptions)),
        "/_sim/accounts" => Reply::json(200, &json!(inner.onboard.accounts)),
        "/_sim/tokens" => {
            let list: Vec<&MintedToken> = inner
                .onboard
                .order
                .iter()
                .filter_map(|t| inner.onboard.tokens.get(t))
                .collect();
            Reply::json(200, &json!(list))
        }
        "/_sim/leads" => {
            let mut list: Vec<&SimLead> = inner.onboard.leads.values().collect();
            list.sort_by(|a, b| a.leadgen_id.cmp(&b.leadgen_id));
            Reply::json(200, &json!(list))
        }
        "/_sim/registered" => Reply::json(200, &json!(inner.onboard.registered)),
        // What `request_code` sent to each phone (the SMS the person reads).
        "/_sim/verification_codes" => Reply::json(200, &json!(inner.onboard.verification_codes)),
        _ => return None,
    })
}

pub(in crate::sim) fn control_post(state: &Arc<State>, path: &str, json: &Value) -> Option<Reply> {
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut inner = lock(&state.inner);
    Some(match path {
        "/_sim/accounts" => match serde_json::from_value::<SimAccounts>(json.clone()) {
            Ok(a) => {
                inner.onboard.accounts = a;
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("accounts document: {e}")),
        },
        "/_sim/subscriptions/drop" => {
            let Some(id) = field("object_id") else {
                return Some(ctl_bad("object_id is required"));
            };
            inner.onboard.subscriptions.remove(&id);
            ctl_ok()
        }
        "/_sim/tokens/expire" => {
            let (Some(t), Some(secs)) = (
                field("token"),
                json.get("expires_in_secs").and_then(Value::as_i64),
            ) else {
                return Some(ctl_bad("token and expires_in_secs are required"));
            };
            if !set_expiry(&mut inner, &t, secs) {
                return Some(ctl_bad("unknown token"));
            }
            ctl_ok()
        }
        "/_sim/tokens/age" => {
            let (Some(t), Some(secs)) =
                (field("token"), json.get("age_secs").and_then(Value::as_i64))
            else {
                return Some(ctl_bad("token and age_secs are required"));
            };
            match inner.onboard.tokens.get_mut(&t) {
                Some(m) => {
                    m.issued_at = now_secs().saturating_sub(secs);
                    ctl_ok()
                }
                None => ctl_bad("unknown token"),
            }
        }
        "/_sim/leads" => match serde_json::from_value::<SimLead>(json.clone()) {
            Ok(lead) => {
                inner.onboard.leads.insert(lead.leadgen_id.clone(), lead);
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("lead: {e}")),
        },
        "/_sim/tokens/grant" => {
            let (Some(t), Some(scopes)) =
                (field("token"), json.get("scopes").and_then(Value::as_array))
            else {
                return Some(ctl_bad("token and scopes are required"));
            };
            let scopes: Vec<String> = scopes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            inner
                .onboard
                .extra_scopes
                .entry(t)
                .or_default()
                .extend(scopes);
            ctl_ok()
        }
        "/_sim/forms" => match serde_json::from_value::<SimLeadForm>(json.clone()) {
            Ok(form) => {
                inner.onboard.forms.insert(form.form_id.clone(), form);
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("form: {e}")),
        },
        "/_sim/leads/fail" => {
            let Some(n) = json.get("times").and_then(Value::as_u64) else {
                return Some(ctl_bad("times is required"));
            };
            inner.onboard.lead_failures = u32::try_from(n).unwrap_or(u32::MAX);
            ctl_ok()
        }
        "/_sim/phones/name_status" => {
            let (Some(id), Some(status)) = (field("phone_number_id"), field("name_status")) else {
                return Some(ctl_bad("phone_number_id and name_status are required"));
            };
            match inner.onboard.accounts.phone_mut(&id) {
                Some(p) => {
                    p.name_status = status;
                    ctl_ok()
                }
                None => ctl_bad("unknown phone number"),
            }
        }
        "/_sim/signed_request" => {
            let payload = json.get("payload").cloned().unwrap_or_else(|| json!({}));
            drop(inner);
            Reply::json(
                200,
                &json!({"signed_request": signed_request(state, payload)}),
            )
        }
        "/_sim/deauthorize" => {
            let revoked = deauthorize(&mut inner);
            let user_id = inner.onboard.accounts.user.id.clone();
            drop(inner);
            let payload = json!({"user_id": user_id});
            Reply::json(
                200,
                &json!({"signed_request": signed_request(state, payload), "revoked_tokens": revoked}),
            )
        }
        "/_sim/onboarding/options" => {
            if let Some(ms) = json.get("es_code_ttl_ms").and_then(Value::as_u64) {
                inner.onboard.es_code_ttl = Some(Duration::from_millis(ms));
            }
            if let Some(shape) = json.get("ig_token_shape") {
                match serde_json::from_value::<IgTokenShape>(shape.clone()) {
                    Ok(s) => inner.onboard.ig_token_shape = Some(s),
                    Err(_) => return Some(ctl_bad("ig_token_shape: flat, data or alternate")),
                }
            }
            if let Some(b) = json.get("allow_young_ig_refresh").and_then(Value::as_bool) {
                inner.onboard.allow_young_refresh = Some(b);
            }
            ctl_ok()
        }
        _ => return None,
    })
}

/// A `signed_request` over `payload` (an object; `algorithm` and `issued_at` are added when
/// missing) with the simulator's app secret, as Meta sends to the deauthorize and data deletion
/// callbacks.
pub(super) fn signed_request(state: &State, payload: Value) -> String {
    let mut payload = if payload.is_object() {
        payload
    } else {
        json!({})
    };
    if payload.get("algorithm").is_none() {
        payload["algorithm"] = json!("HMAC-SHA256");
    }
    if payload.get("issued_at").is_none() {
        payload["issued_at"] = json!(now_secs());
    }
    crate::meta::oauth::sign_request(&payload, &app_secret(state))
}

/// The user removed the app: every Facebook token minted for them (user, Page, business)
/// is revoked. Instagram Login tokens are not affected. Returns how many were revoked.
pub(super) fn deauthorize(inner: &mut Inner) -> usize {
    let user = inner.onboard.accounts.user.id.clone();
    let dead: Vec<String> = inner
        .onboard
        .tokens
        .values()
        .filter(|m| !m.kind.is_ig() && m.user_id == user)
        .map(|m| m.token.clone())
        .collect();
    let n = dead.len();
    inner.revoked.extend(dead);
    n
}

/// Sets the remaining lifetime of a minted token (or of a channel token); `false` when the
/// token is unknown.
fn set_expiry(inner: &mut Inner, token: &str, secs: i64) -> bool {
    let at = now_secs().saturating_add(secs);
    if let Some(m) = inner.onboard.tokens.get_mut(token) {
        m.expires_at = Some(at);
        true
    } else if inner.channels.values().any(|c| c.token == token) {
        inner.onboard.channel_expiry.insert(token.to_owned(), at);
        true
    } else {
        false
    }
}

/// Onboarding controls of the simulator handle.
impl GraphSim {
    /// The simulated accounts (user, businesses/WABAs/phones, Pages, Instagram Login accounts).
    pub fn accounts(&self) -> SimAccounts {
        lock(&self.state.inner).onboard.accounts.clone()
    }

    /// Replaces the simulated accounts.
    pub fn set_accounts(&self, accounts: SimAccounts) {
        lock(&self.state.inner).onboard.accounts = accounts;
    }

    /// Adds (or replaces) a lead served by `GET /{leadgen_id}`.
    pub fn add_lead(&self, lead: SimLead) {
        lock(&self.state.inner)
            .onboard
            .leads
            .insert(lead.leadgen_id.clone(), lead);
    }

    /// Adds (or replaces) a Lead Ads form served by `GET /{form_id}`.
    pub fn add_lead_form(&self, form: SimLeadForm) {
        lock(&self.state.inner)
            .onboard
            .forms
            .insert(form.form_id.clone(), form);
    }

    /// Grants `scopes` to a token (minted or channel token), e.g. `ads_read`.
    pub fn grant_scopes(&self, token: &str, scopes: &[&str]) {
        lock(&self.state.inner)
            .onboard
            .extra_scopes
            .entry(token.to_owned())
            .or_default()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
    }

    /// The next `n` lead fetches answer 500 with Meta's transient envelope (code 2).
    pub fn fail_lead_fetches(&self, n: u32) {
        lock(&self.state.inner).onboard.lead_failures = n;
    }

    /// Sets a token's remaining lifetime; `0` or negative = expired (190/463 everywhere,
    /// `debug_token` invalid). Works for minted and channel tokens; `false` if unknown.
    pub fn expire_token(&self, token: &str, expires_in_secs: i64) -> bool {
        set_expiry(&mut lock(&self.state.inner), token, expires_in_secs)
    }

    /// Backdates a minted token's `issued_at` by `age_secs` (e.g. to refresh an Instagram
    /// token, which Meta allows only after 24 h); `false` if unknown.
    pub fn age_token(&self, token: &str, age_secs: i64) -> bool {
        match lock(&self.state.inner).onboard.tokens.get_mut(token) {
            Some(m) => {
                m.issued_at = now_secs().saturating_sub(age_secs);
                true
            }
            None => false,
        }
    }

    /// Meta dropping an app subscription (after delivery failures).
    pub fn drop_subscription(&self, object_id: &str) {
        lock(&self.state.inner)
            .onboard
            .subscriptions
            .remove(object_id);
    }

    /// Object id → subscribed fields (empty for WABAs).
    pub fn subscriptions(&self) -> BTreeMap<String, Vec<String>> {
        lock(&self.state.inner).onboard.subscriptions.clone()
    }

    /// Every token minted by the connect flows, oldest first.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        let inner = lock(&self.state.inner);
        inner
            .onboard
            .order
            .iter()
            .filter_map(|t| inner.onboard.tokens.get(t).cloned())
            .collect()
    }

    /// The newest still-valid non-user token minted for `asset_id` (a Page, Instagram account,
    /// phone number, WABA or business).
    pub fn token_for(&self, asset_id: &str) -> Option<String> {
        let inner = lock(&self.state.inner);
        inner
            .onboard
            .order
            .iter()
            .rev()
            .filter(|t| inner.token_state(t) == TokenState::Valid)
            .find(|t| inner.onboard.covers(t, asset_id))
            .cloned()
    }

    /// Lifetime of Embedded Signup codes minted from now on.
    pub fn set_es_code_ttl(&self, ttl: Duration) {
        lock(&self.state.inner).onboard.es_code_ttl = Some(ttl);
    }

    /// Shape of the Instagram Login code-exchange answers from now on.
    pub fn set_ig_token_shape(&self, shape: IgTokenShape) {
        lock(&self.state.inner).onboard.ig_token_shape = Some(shape);
    }

    /// Let Instagram tokens younger than 24 h be refreshed.
    pub fn allow_young_ig_refresh(&self, allow: bool) {
        lock(&self.state.inner).onboard.allow_young_refresh = Some(allow);
    }

    /// Sets (or with `None` clears) a number's two-step verification PIN, as its owner would in
    /// WhatsApp Manager: `/register` then needs that PIN (133005 otherwise). Works for the
    /// accounts' numbers and for WhatsApp channels registered by hand.
    pub fn set_two_step_pin(&self, phone_number_id: &str, pin: Option<&str>) -> bool {
        match sim_phone_mut(&mut lock(&self.state.inner), phone_number_id) {
            Some(p) => {
                p.two_step_pin = pin.map(str::to_owned);
                true
            }
            None => false,
        }
    }

    /// Sets a phone number's display-name status (`APPROVED` lets `/register` succeed).
    pub fn set_name_status(&self, phone_number_id: &str, status: &str) -> bool {
        match lock(&self.state.inner)
            .onboard
            .accounts
            .phone_mut(phone_number_id)
        {
            Some(p) => {
                p.name_status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// A `signed_request` for `payload` signed with the simulator's app secret (`algorithm` and
    /// `issued_at` added when missing).
    pub fn signed_request(&self, payload: Value) -> String {
        signed_request(&self.state, payload)
    }

    /// The simulated user removes the app: their Facebook tokens (user, Page, business) are
    /// revoked (190 from now on) and the `signed_request` Meta would POST to the deauthorize
    /// callback is returned (`user_id` = the app-scoped user id).
    pub fn deauthorize(&self) -> String {
        let user_id = {
            let mut inner = lock(&self.state.inner);
            deauthorize(&mut inner);
            inner.onboard.accounts.user.id.clone()
        };
        signed_request(&self.state, json!({"user_id": user_id}))
    }

    /// POSTs `signed_request=<value>` form-encoded to `url` (a deauthorize or data deletion
    /// callback), like Meta; answers the status and the body.
    pub async fn post_signed_request(
        &self,
        url: &str,
        signed_request: &str,
    ) -> anyhow::Result<(u16, String)> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("signed_request", signed_request)
            .finish();
        let resp = self
            .state
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Phone numbers registered through `/register`.
    /// The verification code `request_code` last sent to `phone_number_id` (what the person
    /// reads in the SMS), if one is pending.
    pub fn verification_code(&self, phone_number_id: &str) -> Option<String> {
        lock(&self.state.inner)
            .onboard
            .verification_codes
            .get(phone_number_id)
            .cloned()
    }

    /// `(phone number id, sync_type)` of every accepted `smb_app_data` request.
    pub fn smb_syncs(&self) -> Vec<(String, String)> {
        lock(&self.state.inner)
            .onboard
            .smb_syncs
            .iter()
            .cloned()
            .collect()
    }

    pub fn registered_phones(&self) -> Vec<String> {
        lock(&self.state.inner)
            .onboard
            .registered
            .iter()
            .cloned()
            .collect()
    }
}

/// Fixtures for tests that need a token or code without driving the dialogs (the conformance
/// harness): they mint exactly what the dialogs and code exchanges would.
impl GraphSim {
    /// A token of `kind` for `assets` with `scopes`, as the connect flows mint it: user tokens
    /// short-lived, the others long-lived (business and Page tokens never expire). Minting a
    /// sending token registers the asset as a channel when it has none yet.
    pub fn mint_token(&self, kind: TokenKind, assets: &[&str], scopes: &[&str]) -> String {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let user_id = match kind {
            TokenKind::IgShort | TokenKind::IgLong => {
                assets.first().map(|a| (*a).to_owned()).unwrap_or_default()
            }
            _ => inner.onboard.accounts.user.id.clone(),
        };
        let (expires_in, long_lived) = match kind {
            TokenKind::User => (Some(SHORT_USER_SECS), false),
            TokenKind::IgShort => (Some(3_600), false),
            TokenKind::IgLong => (Some(60 * 86_400), true),
            TokenKind::Page | TokenKind::Business => (None, true),
        };
        mint(
            inner,
            Mint {
                kind,
                user_id: &user_id,
                assets: assets.iter().map(|a| (*a).to_owned()).collect(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                expires_in,
                long_lived,
            },
        )
    }

    /// An authorization code of the Facebook Login dialog for `redirect_uri` that grants every
    /// Page of the simulated accounts with `scopes` (valid 10 minutes, usable once).
    pub fn mint_login_code(&self, redirect_uri: &str, scopes: &[&str]) -> String {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let pages = inner
            .onboard
            .accounts
            .pages
            .iter()
            .map(|p| p.id.clone())
            .collect();
        new_code(
            inner,
            CodeFlow::FbLogin {
                redirect_uri: redirect_uri.to_owned(),
                pages,
            },
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            Duration::from_secs(600),
        )
    }

    /// An Instagram Login code for `redirect_uri` and the first Instagram Login account, with
    /// `scopes` (valid 1 hour, usable once), as the Instagram dialog hands out.
    pub fn mint_ig_login_code(&self, redirect_uri: &str, scopes: &[&str]) -> Option<String> {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let ig_user_id = inner
            .onboard
            .accounts
            .instagram_logins
            .first()?
            .user_id
            .clone();
        Some(new_code(
            inner,
            CodeFlow::IgLogin {
                redirect_uri: redirect_uri.to_owned(),
                ig_user_id,
            },
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            IG_CODE_TTL,
        ))
    }

    /// An Embedded Signup code (exchanged without `redirect_uri`) for the first WABA of the
    /// simulated accounts, with `scopes` (valid 10 minutes, usable once).
    pub fn mint_embedded_signup_code(&self, scopes: &[&str]) -> Option<String> {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let business = inner.onboard.accounts.businesses.first()?;
        let flow = CodeFlow::EmbeddedSignup {
            business_id: business.id.clone(),
            waba_id: business.wabas.first()?.id.clone(),
        };
        Some(new_code(
            inner,
            flow,
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            Duration::from_secs(600),
        ))
    }
}
