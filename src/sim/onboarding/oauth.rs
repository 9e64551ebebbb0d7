//! Graph token endpoints: `oauth/access_token` (code exchange, `fb_exchange_token`) and `me`.

use std::sync::Arc;
use std::time::Instant;

use poem::Request;
use serde_json::json;

use crate::sim::graph::{
    APP_ID, Inner, State, TokenState, lock,
    replies::{Host, err_token, host_refuses},
    routing::{Handled, query_param},
};

use super::helpers::{fail, fields_param, oauth_err, ok_json, only_fields, param_err, secret_ok};
use super::tokens::{AuthCode, CodeFlow, Mint, TokenKind, mint};
use super::{LONG_LIVED_SECS, SHORT_USER_SECS};

/// Looks a code up for an exchange, marking it used (a failed exchange kills the code too).
pub(super) fn take_code(
    inner: &mut Inner,
    code: &str,
    client_id: &str,
    redirect_uri: Option<&str>,
) -> Result<AuthCode, &'static str> {
    let Some(c) = inner.onboard.codes.get_mut(code) else {
        return Err("Invalid verification code format.");
    };
    if c.used {
        return Err("This authorization code has been used.");
    }
    c.used = true;
    if Instant::now() >= c.expires {
        return Err("This authorization code has expired.");
    }
    if c.client_id != client_id {
        return Err("Invalid verification code format.");
    }
    let redirect_needed = match &c.flow {
        CodeFlow::FbLogin { redirect_uri, .. } | CodeFlow::IgLogin { redirect_uri, .. } => {
            Some(redirect_uri.as_str())
        }
        CodeFlow::EmbeddedSignup { .. } => None,
    };
    if let Some(expected) = redirect_needed
        && redirect_uri != Some(expected)
    {
        return Err(
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        );
    }
    Ok(c.clone())
}

fn code_subcode(message: &str) -> u32 {
    if message.contains("has been used") {
        36009
    } else if message.contains("expired") {
        36007
    } else {
        36008
    }
}

/// `GET /oauth/access_token`: code exchange (Facebook Login, Embedded Signup) and
/// `grant_type=fb_exchange_token`.
pub(in crate::sim) fn oauth_access_token(state: &Arc<State>, req: &Request) -> Handled {
    let q = |k: &str| query_param(req, k);
    let client_id = q("client_id");
    if client_id.as_deref() != Some(APP_ID) {
        return oauth_err(
            400,
            101,
            None,
            "Error validating application. Invalid application ID.",
        );
    }
    if !secret_ok(state, q("client_secret").as_deref()) {
        return oauth_err(400, 1, None, "Error validating client secret.");
    }
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if q("grant_type").as_deref() == Some("fb_exchange_token") {
        let Some(short) = q("fb_exchange_token").filter(|t| !t.is_empty()) else {
            return param_err("(#100) The parameter fb_exchange_token is required");
        };
        let token_state = inner.token_state(&short);
        let Some(m) = inner
            .onboard
            .tokens
            .get(&short)
            .filter(|m| m.kind == TokenKind::User)
            .cloned()
        else {
            return fail(err_token(TokenState::Unknown));
        };
        if token_state != TokenState::Valid {
            return fail(err_token(token_state));
        }
        let token = mint(
            inner,
            Mint {
                kind: TokenKind::User,
                user_id: &m.user_id,
                assets: m.assets,
                scopes: m.scopes,
                expires_in: Some(LONG_LIVED_SECS),
                long_lived: true,
            },
        );
        return ok_json(
            &json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}),
        );
    }
    let Some(code) = q("code").filter(|c| !c.is_empty()) else {
        return param_err("(#100) The parameter code is required");
    };
    let c = match take_code(inner, &code, APP_ID, q("redirect_uri").as_deref()) {
        Ok(c) => c,
        Err(message) => return oauth_err(400, 100, Some(code_subcode(message)), message),
    };
    let user_id = inner.onboard.accounts.user.id.clone();
    match c.flow {
        CodeFlow::FbLogin { pages, .. } => {
            let mut assets = Vec::new();
            for id in pages {
                if let Some(ig) = inner
                    .onboard
                    .accounts
                    .page(&id)
                    .and_then(|p| p.instagram.as_ref())
                {
                    assets.push(ig.id.clone());
                }
                assets.push(id);
            }
            let token = mint(
                inner,
                Mint {
                    kind: TokenKind::User,
                    user_id: &user_id,
                    assets,
                    scopes: c.scopes,
                    expires_in: Some(SHORT_USER_SECS),
                    long_lived: false,
                },
            );
            ok_json(
                &json!({"access_token": token, "token_type": "bearer", "expires_in": SHORT_USER_SECS}),
            )
        }
        CodeFlow::EmbeddedSignup {
            business_id,
            waba_id,
        } => {
            let mut assets = vec![business_id, waba_id.clone()];
            if let Some((_, w)) = inner.onboard.accounts.waba(&waba_id) {
                assets.extend(w.phone_numbers.iter().map(|p| p.id.clone()));
            }
            let token = mint(
                inner,
                Mint {
                    kind: TokenKind::Business,
                    user_id: &user_id,
                    assets,
                    scopes: c.scopes,
                    expires_in: None,
                    long_lived: true,
                },
            );
            ok_json(&json!({"access_token": token, "token_type": "bearer"}))
        }
        CodeFlow::IgLogin { .. } => {
            oauth_err(400, 100, Some(36008), "Invalid verification code format.")
        }
    }
}

/// `GET /me`: the app-scoped user (user and business tokens) or the Page (Page tokens).
pub(in crate::sim) fn me(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(&inner, t, Host::Facebook) {
        return fail(reply);
    }
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let fields = fields_param(req);
    let v = match inner.onboard.tokens.get(t) {
        Some(m) if m.kind == TokenKind::Page => {
            let page = m.assets.first().cloned().unwrap_or_default();
            let name = inner
                .onboard
                .accounts
                .page(&page)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            json!({"id": page, "name": name})
        }
        Some(m) => json!({"id": m.user_id, "name": inner.onboard.accounts.user.name}),
        None => match inner.channels.values().find(|c| c.token == t) {
            Some(c) => json!({"id": c.external_id}),
            None => return fail(err_token(TokenState::Unknown)),
        },
    };
    ok_json(&only_fields(v, fields.as_deref()))
}
