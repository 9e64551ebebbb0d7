//! The Instagram Login hosts: api.instagram.com token exchange and graph.instagram.com
//! (long-lived tokens, refresh, `me`, `me/subscribed_apps`).

use std::sync::Arc;

use poem::Request;
use poem::http::Method;
use serde_json::{Value, json};

use crate::sim::graph::{
    APP_ID, Inner, Kind, State, TokenState, lock,
    replies::{Host, err_token, host_refuses},
    routing::{Handled, query_param, unknown_path},
};

use super::assets::{app_entry, subscribed_fields};
use super::helpers::{
    fail, fields_param, first, ig_api_err, oauth_err, ok_json, only_fields, param_err, secret_ok,
};
use super::oauth::take_code;
use super::tokens::{CodeFlow, IgTokenShape, Mint, TokenKind, mint};
use super::{DAY, LONG_LIVED_SECS, SHORT_IG_SECS, now_secs};

/// `POST /ig-api/oauth/access_token` (form-encoded).
pub(super) fn ig_exchange(state: &Arc<State>, p: &[(String, String)]) -> Handled {
    if first(p, "client_id") != Some(APP_ID) {
        return ig_api_err("Invalid platform app");
    }
    if !secret_ok(state, first(p, "client_secret")) {
        return ig_api_err("Error validating client secret.");
    }
    if first(p, "grant_type") != Some("authorization_code") {
        return ig_api_err("Invalid grant_type: only authorization_code is supported");
    }
    let Some(code) = first(p, "code").filter(|c| !c.is_empty()) else {
        return ig_api_err("Missing required field code");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let c = match take_code(inner, code, APP_ID, first(p, "redirect_uri")) {
        Ok(c) => c,
        Err(message) => return ig_api_err(message),
    };
    let CodeFlow::IgLogin { ig_user_id, .. } = c.flow else {
        return ig_api_err("Invalid verification code format.");
    };
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgShort,
            user_id: &ig_user_id,
            assets: vec![ig_user_id.clone()],
            scopes: c.scopes.clone(),
            expires_in: Some(SHORT_IG_SECS),
            long_lived: false,
        },
    );
    let shape = inner
        .onboard
        .ig_token_shape
        .unwrap_or(state.opts.ig_token_shape);
    let n = inner.onboard.ig_exchanges;
    inner.onboard.ig_exchanges += 1;
    let data = match shape {
        IgTokenShape::Flat => false,
        IgTokenShape::Data => true,
        IgTokenShape::Alternate => n % 2 == 1,
    };
    let body = if data {
        json!({"data": [{"access_token": token, "user_id": ig_user_id, "permissions": c.scopes.join(",")}]})
    } else {
        let uid = ig_user_id
            .parse::<u64>()
            .map_or_else(|_| json!(ig_user_id), |n| json!(n));
        json!({"access_token": token, "user_id": uid, "permissions": c.scopes})
    };
    ok_json(&body)
}

/// `GET /ig-graph/access_token?grant_type=ig_exchange_token&client_secret&access_token`.
pub(super) fn ig_long_lived(state: &Arc<State>, req: &Request) -> Handled {
    if query_param(req, "grant_type").as_deref() != Some("ig_exchange_token") {
        return param_err("(#100) grant_type must be ig_exchange_token");
    }
    if !secret_ok(state, query_param(req, "client_secret").as_deref()) {
        return oauth_err(400, 1, None, "Error validating client secret.");
    }
    let Some(short) = query_param(req, "access_token").filter(|t| !t.is_empty()) else {
        return param_err("(#100) The parameter access_token is required");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if let Some(reply) = host_refuses(inner, &short, Host::Instagram) {
        return fail(reply);
    }
    let token_state = inner.token_state(&short);
    let Some(m) = inner.onboard.tokens.get(&short).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    if m.kind != TokenKind::IgShort {
        return param_err("(#100) Only short-lived Instagram User access tokens can be exchanged");
    }
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgLong,
            user_id: &m.user_id,
            assets: m.assets,
            scopes: m.scopes,
            expires_in: Some(LONG_LIVED_SECS),
            long_lived: true,
        },
    );
    ok_json(&json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}))
}

/// `GET /ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token`.
pub(super) fn ig_refresh(state: &Arc<State>, req: &Request) -> Handled {
    if query_param(req, "grant_type").as_deref() != Some("ig_refresh_token") {
        return param_err("(#100) grant_type must be ig_refresh_token");
    }
    let Some(long) = query_param(req, "access_token").filter(|t| !t.is_empty()) else {
        return param_err("(#100) The parameter access_token is required");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if let Some(reply) = host_refuses(inner, &long, Host::Instagram) {
        return fail(reply);
    }
    let token_state = inner.token_state(&long);
    let Some(m) = inner.onboard.tokens.get(&long).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    if m.kind != TokenKind::IgLong {
        return param_err("(#100) Only long-lived Instagram User access tokens can be refreshed");
    }
    let young_ok = inner
        .onboard
        .allow_young_refresh
        .unwrap_or(state.opts.allow_young_ig_refresh);
    if !young_ok && now_secs().saturating_sub(m.issued_at) < DAY {
        return param_err(
            "(#100) The access token can only be refreshed 24 hours after it was issued",
        );
    }
    // The old token keeps working until its own expiry, like Meta.
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgLong,
            user_id: &m.user_id,
            assets: m.assets,
            scopes: m.scopes,
            expires_in: Some(LONG_LIVED_SECS),
            long_lived: true,
        },
    );
    ok_json(&json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}))
}

/// Whether `token` is an Instagram User token (Instagram Login): one minted by the Instagram
/// Login flow here, or a registered channel token of that shape (Meta's Instagram User tokens
/// start with `IG`; Facebook user, Page and system-user tokens with `EAA`).
pub(in crate::sim) fn is_instagram_user_token(inner: &Inner, token: &str) -> bool {
    match inner.onboard.tokens.get(token) {
        Some(m) => m.kind.is_ig(),
        None => token.starts_with("IG"),
    }
}

/// The Instagram Login account of a valid Instagram token (minted by the Instagram Login flow,
/// or the token of a registered Instagram channel). Any other token is refused as Meta's
/// graph.instagram.com refuses it ([`crate::sim::graph::replies::err_wrong_host`]).
fn ig_account(inner: &Inner, token: Option<&str>) -> Result<String, Box<Handled>> {
    let dead = |s: TokenState| Box::new(fail(err_token(s)));
    let Some(t) = token else {
        return Err(dead(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(inner, t, Host::Instagram) {
        return Err(Box::new(fail(reply)));
    }
    let token_state = inner.token_state(t);
    let account = match inner.onboard.tokens.get(t) {
        Some(m) => m.assets.first().cloned(),
        None => inner
            .channels
            .values()
            .find(|c| c.kind == Kind::Instagram && c.token == t)
            .map(|c| c.external_id.clone()),
    };
    let Some(account) = account else {
        return Err(dead(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return Err(dead(token_state));
    }
    Ok(account)
}

/// `GET /ig-graph/{v}/me?fields=user_id,username,name`.
pub(super) fn ig_me(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let ig = match ig_account(&inner, token) {
        Ok(ig) => ig,
        Err(h) => return *h,
    };
    let acct = inner
        .onboard
        .accounts
        .ig_login(&ig)
        .cloned()
        .unwrap_or_default();
    // `id` is an app-scoped id, different from `user_id` (route on `user_id`).
    let v = json!({
        "id": format!("2{}", ig.chars().rev().collect::<String>()),
        "user_id": ig,
        "username": acct.username,
        "name": acct.name,
        "account_type": "BUSINESS",
        "profile_picture_url": "https://scontent.cdninstagram.com/sim.jpg",
    });
    let fields = fields_param(req).unwrap_or_else(|| vec!["id".into()]);
    ok_json(&only_fields(v, Some(fields.as_slice())))
}

/// `POST|GET|DELETE /ig-graph/{v}/me/subscribed_apps`.
pub(super) fn ig_subscribed_apps(
    state: &Arc<State>,
    req: &Request,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    let ig = match ig_account(&inner, token) {
        Ok(ig) => ig,
        Err(h) => return *h,
    };
    let method = req.method().clone();
    if method == Method::POST {
        let fields = match subscribed_fields(req) {
            Ok(f) => f,
            Err(mut h) => {
                h.authorization_ok = true;
                return *h;
            }
        };
        inner.onboard.subscriptions.insert(ig, fields);
        ok_json(&json!({"success": true}))
    } else if method == Method::DELETE {
        inner.onboard.subscriptions.remove(&ig);
        ok_json(&json!({"success": true}))
    } else if method == Method::GET {
        let data: Vec<Value> = inner
            .onboard
            .subscriptions
            .get(&ig)
            .map(|f| vec![app_entry(f)])
            .unwrap_or_default();
        ok_json(&json!({"data": data}))
    } else {
        unknown_path(req.uri().path())
    }
}
