//! Graph asset edges of the connect flows: `me/accounts` (Page tokens), `{waba}/phone_numbers`
//! and `{id}/subscribed_apps` with its permission checks.

use std::sync::Arc;

use poem::Request;
use poem::http::Method;
use serde_json::{Value, json};

use crate::sim::graph::{
    APP_ID, Inner, Kind, State, TokenState, lock,
    replies::{err_token, err_unknown_object, graph_error},
    routing::{Handled, query_param, unknown_path},
};

use super::accounts::SimPage;
use super::helpers::{fail, is_field_name, ok, ok_json, origin_of, param_err};
use super::tokens::{Mint, MintedToken, TokenKind, mint};
use super::{APP_NAME, now_secs};

/// The Page token of `page` derived from `user_token` (minted once per pair).
pub(super) fn page_token(inner: &mut Inner, user: &MintedToken, page: &SimPage) -> String {
    let key = (user.token.clone(), page.id.clone());
    if let Some(t) = inner.onboard.page_tokens.get(&key) {
        return t.clone();
    }
    let mut assets = vec![page.id.clone()];
    if let Some(ig) = &page.instagram {
        assets.push(ig.id.clone());
    }
    // From a long-lived user token a Page token never expires; otherwise it dies with the user
    // token.
    let expires_in = if user.long_lived {
        None
    } else {
        user.expires_at.map(|e| e.saturating_sub(now_secs()))
    };
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::Page,
            user_id: &user.user_id,
            assets,
            scopes: user.scopes.clone(),
            expires_in,
            long_lived: user.long_lived,
        },
    );
    inner.onboard.page_tokens.insert(key, token.clone());
    token
}

/// `GET /me/accounts` (`limit`, `after` cursor).
pub(in crate::sim) fn me_accounts(
    state: &Arc<State>,
    req: &Request,
    token: Option<&str>,
) -> Handled {
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(user) = inner.onboard.tokens.get(t).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if user.kind != TokenKind::User {
        return param_err(
            "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
        );
    }
    let pages: Vec<SimPage> = inner
        .onboard
        .accounts
        .pages
        .iter()
        .filter(|p| user.assets.contains(&p.id))
        .cloned()
        .collect();
    let limit = query_param(req, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let start = query_param(req, "after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0)
        .min(pages.len());
    let end = (start + limit).min(pages.len());
    let mut data = Vec::new();
    for page in &pages[start..end] {
        let page_tok = page_token(inner, &user, page);
        let mut item = json!({
            "id": page.id,
            "name": page.name,
            "access_token": page_tok,
            "category": "Shopping & retail",
            "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
        });
        if let Some(ig) = &page.instagram {
            item["instagram_business_account"] = json!({"id": ig.id, "username": ig.username});
        }
        data.push(item);
    }
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < pages.len()
        && let Ok(mut next) =
            url::Url::parse(&format!("{}{}", origin_of(state, req), req.uri().path()))
    {
        {
            let mut q = next.query_pairs_mut();
            if let Some(f) = query_param(req, "fields") {
                q.append_pair("fields", &f);
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("after", &end.to_string());
        }
        paging["next"] = json!(next.to_string());
    }
    ok_json(&json!({"data": data, "paging": paging}))
}

/// The token may read `asset`: minted for it, or a registered channel token of that asset /
/// of a phone number of that WABA.
pub(super) fn may_read(inner: &Inner, token: &str, asset: &str) -> bool {
    inner.onboard.grants(token, asset)
        || inner.channels.values().any(|c| {
            c.token == token && (c.external_id == asset || c.waba_id.as_deref() == Some(asset))
        })
}

/// `GET /{waba}/phone_numbers`.
pub(in crate::sim) fn phone_numbers(
    state: &Arc<State>,
    waba: &str,
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
    let Some((_, w)) = inner.onboard.accounts.waba(waba) else {
        return fail(err_unknown_object("get", waba));
    };
    if !may_read(&inner, t, waba) {
        return fail(err_unknown_object("get", waba));
    }
    let data: Vec<Value> = w
        .phone_numbers
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "display_phone_number": p.display_phone_number,
                "verified_name": p.verified_name,
                "name_status": p.name_status,
                "code_verification_status": p.code_verification_status.as_deref().unwrap_or("VERIFIED"),
                "quality_rating": p.quality_rating,
                "platform_type": if p.cloud_api_registered || inner.onboard.registered.contains(&p.id) { "CLOUD_API" } else { "NOT_APPLICABLE" },
                "throughput": {"level": "STANDARD"},
                "is_on_biz_app": p.on_biz_app,
            })
        })
        .collect();
    let n = data.len();
    ok_json(&json!({"data": data, "paging": {"cursors": {"before": "0", "after": n.to_string()}}}))
}

pub(super) fn app_entry(fields: &[String]) -> Value {
    json!({
        "category": "Business",
        "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
        "name": APP_NAME,
        "id": APP_ID,
        "subscribed_fields": fields,
    })
}

/// Validates `subscribed_fields` (required for Pages and Instagram).
pub(super) fn subscribed_fields(req: &Request) -> Result<Vec<String>, Box<Handled>> {
    let Some(raw) = query_param(req, "subscribed_fields") else {
        return Err(Box::new(param_err(
            "(#100) The parameter subscribed_fields is required.",
        )));
    };
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if fields.is_empty() {
        return Err(Box::new(param_err(
            "(#100) The parameter subscribed_fields is required.",
        )));
    }
    if let Some((i, _)) = fields.iter().enumerate().find(|(_, f)| !is_field_name(f)) {
        return Err(Box::new(param_err(&format!(
            "(#100) Param subscribed_fields[{i}] must be a valid webhook field name"
        ))));
    }
    Ok(fields)
}

/// Page webhook fields that need a permission besides `pages_manage_metadata`, and the
/// permissions Meta accepts for each ("Webhooks for Pages": "pages_messaging is also required
/// for the messages related fields"; "Webhooks for Leads": `leadgen` needs `leads_retrieval`;
/// "Instagram webhook fields and permissions": Instagram messaging through a Page needs
/// `instagram_manage_messages`; read 2026-12-02). Meta's refusal names the field and the
/// permission: `(#200) To subscribe to the leadgen field, one of these permissions is needed:
/// leads_retrieval`.
fn page_field_permissions(field: &str, has_instagram: bool) -> Option<&'static [&'static str]> {
    const MESSAGING: &[&str] = &["pages_messaging"];
    const MESSAGING_OR_IG: &[&str] = &["pages_messaging", "instagram_manage_messages"];
    match field {
        "messages"
        | "messaging_postbacks"
        | "message_echoes"
        | "message_reactions"
        | "messaging_referrals"
        | "message_reads"
        | "message_deliveries"
        | "message_edits"
        | "messaging_optins"
        | "messaging_handovers"
        | "messaging_policy_enforcement"
        | "messaging_account_linking"
        | "standby" => Some(if has_instagram {
            MESSAGING_OR_IG
        } else {
            MESSAGING
        }),
        "leadgen" => Some(&["leads_retrieval"]),
        _ => None,
    }
}

/// The Page-level permission checks of `/{page}/subscribed_apps` for a token minted by the
/// connect flows (tokens registered by hand carry no scopes and are not checked).
fn page_permission_error(
    inner: &Inner,
    token: &str,
    page: &str,
    fields: Option<&[String]>,
) -> Option<Handled> {
    let m = inner.onboard.tokens.get(token)?;
    let has = |p: &str| m.scopes.iter().any(|s| s == p);
    if !has("pages_manage_metadata") {
        return Some(ok(graph_error(
            403,
            200,
            None,
            "(#200) Requires pages_manage_metadata permission to manage the object",
            None,
            None,
        )));
    }
    let has_instagram = inner
        .onboard
        .accounts
        .page(page)
        .is_some_and(|p| p.instagram.is_some());
    let refused: Vec<String> = fields
        .unwrap_or_default()
        .iter()
        .filter_map(|f| {
            let needs = page_field_permissions(f, has_instagram)?;
            (!needs.iter().any(|p| has(p))).then(|| {
                format!(
                    "To subscribe to the {f} field, one of these permissions is needed: {}",
                    needs.join(",")
                )
            })
        })
        .collect();
    if refused.is_empty() {
        return None;
    }
    Some(ok(graph_error(
        403,
        200,
        None,
        &format!("(#200) {}", refused.join(". ")),
        None,
        None,
    )))
}

/// `POST|GET|DELETE /{waba-or-page}/subscribed_apps`.
pub(in crate::sim) fn subscribed_apps(
    state: &Arc<State>,
    req: &Request,
    object: &str,
    token: Option<&str>,
) -> Handled {
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let is_waba = inner.onboard.accounts.waba(object).is_some()
        || inner
            .channels
            .values()
            .any(|c| c.waba_id.as_deref() == Some(object));
    let is_page = inner.onboard.accounts.page(object).is_some()
        || inner
            .channels
            .get(object)
            .is_some_and(|c| c.kind == Kind::Messenger);
    let allowed = if is_waba {
        may_read(inner, t, object)
    } else if is_page {
        inner.onboard.covers(t, object) || inner.channels.get(object).is_some_and(|c| c.token == t)
    } else {
        false
    };
    if !allowed {
        let method = req.method().as_str().to_ascii_lowercase();
        return fail(err_unknown_object(&method, object));
    }
    let method = req.method().clone();
    if !is_waba && let Some(h) = page_permission_error(inner, t, object, None) {
        return h;
    }
    if method == Method::POST {
        let fields = if is_waba {
            Vec::new()
        } else {
            match subscribed_fields(req) {
                Ok(f) => f,
                Err(mut h) => {
                    h.authorization_ok = true;
                    return *h;
                }
            }
        };
        if !is_waba && let Some(h) = page_permission_error(inner, t, object, Some(&fields)) {
            return h;
        }
        inner
            .onboard
            .subscriptions
            .insert(object.to_owned(), fields);
        ok_json(&json!({"success": true}))
    } else if method == Method::DELETE {
        inner.onboard.subscriptions.remove(object);
        ok_json(&json!({"success": true}))
    } else if method == Method::GET {
        let data = match inner.onboard.subscriptions.get(object) {
            None => Vec::new(),
            Some(_) if is_waba => vec![json!({"whatsapp_business_api_data": {
                "id": APP_ID,
                "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
                "name": APP_NAME,
            }})],
            Some(fields) => vec![app_entry(fields)],
        };
        ok_json(&json!({"data": data}))
    } else {
        unknown_path(req.uri().path())
    }
}
