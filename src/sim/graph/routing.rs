//! Request handling: the poem endpoint that records every request, version and token
//! parsing, the Graph route table, authorization of a send and the replies of faults.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request, RequestBody, Response};
use serde_json::Value;

use crate::sim::onboarding::{self};

use super::control::control;
use super::debug_token::debug_token;
use super::media::{download, media_metadata, upload};
use super::replies::{
    Host, Reply, coded_error, err_token, err_unknown_object, graph_error, host_refuses,
};
use super::send::messages;
use super::{Channel, Fault, GraphRequest, Kind, State, TokenState, lock};

/// What handling one Graph request produced, recorded before answering.
pub(in crate::sim) struct Handled {
    pub(in crate::sim) reply: Reply,
    pub(in crate::sim) sender_id: Option<String>,
    pub(in crate::sim) authorization_ok: bool,
    pub(in crate::sim) body: Value,
    pub(in crate::sim) message_id: Option<String>,
    pub(in crate::sim) accepted_send: bool,
    pub(in crate::sim) fault: Option<&'static str>,
    pub(in crate::sim) delay: Option<Duration>,
    pub(in crate::sim) drop_connection: bool,
}

impl Handled {
    pub(in crate::sim) fn new(reply: Reply) -> Self {
        Self {
            reply,
            sender_id: None,
            authorization_ok: false,
            body: Value::Null,
            message_id: None,
            accepted_send: false,
            fault: None,
            delay: None,
            drop_connection: false,
        }
    }
}

pub(super) struct GraphEndpoint {
    pub(super) state: Arc<State>,
}

impl Endpoint for GraphEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let at = Instant::now();
        let path = req.uri().path().to_string();
        if path.starts_with("/_sim/") {
            return Ok(control(&self.state, req).await.into_response(None));
        }
        let method = req.method().to_string();
        let peer = req.remote_addr().as_socket_addr().copied();
        let version = path
            .split('/')
            .find(|s| !s.is_empty())
            .filter(|s| is_version(s))
            .map(str::to_string);
        let (req, body) = req.split();
        let h = route(&self.state, &req, body, at).await;
        let answered = if h.drop_connection { 0 } else { h.reply.status };
        if self.state.opts.print {
            println!(
                "graph: {method} {path} -> {}{}{}",
                if answered == 0 {
                    "connection dropped".to_string()
                } else {
                    answered.to_string()
                },
                h.fault.map(|f| format!(" (fault {f})")).unwrap_or_default(),
                h.message_id
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default(),
            );
        }
        lock(&self.state.inner).requests.push(GraphRequest {
            method,
            path,
            sender_id: h.sender_id,
            authorization_ok: h.authorization_ok,
            body: h.body,
            answered,
            at,
            message_id: h.message_id,
            accepted_send: h.accepted_send,
            fault: h.fault,
        });
        if h.drop_connection {
            if let Some(flag) = peer.and_then(|p| lock(&self.state.connections).get(&p).cloned()) {
                flag.store(true, Ordering::SeqCst);
            }
            // The connection is reset as soon as hyper tries to write this.
            return Ok(Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .finish());
        }
        if let Some(delay) = h.delay {
            tokio::time::sleep(delay).await;
        }
        Ok(h.reply.into_response(version.as_deref()))
    }
}

pub(in crate::sim) fn is_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|rest| {
        let mut parts = rest.split('.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next();
        !major.is_empty()
            && major.chars().all(|c| c.is_ascii_digit())
            && minor.is_none_or(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
            && parts.next().is_none()
    })
}

pub(in crate::sim) fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `Authorization: Bearer …` (or `OAuth …`), else the `access_token` query parameter.
fn bearer(req: &Request) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let (scheme, token) = v.split_once(' ')?;
        return (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
            .then(|| token.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    query_param(req, "access_token").filter(|t| !t.is_empty())
}

async fn route(state: &Arc<State>, req: &Request, body: RequestBody, at: Instant) -> Handled {
    let path = req.uri().path().to_string();
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let token = bearer(req);
    let method = req.method();
    if segs.first() == Some(&"_cdn") {
        return super::media::cdn_file(state, req);
    }
    if segs.first() == Some(&"_media") {
        return match segs.as_slice() {
            [_, id] if method == Method::GET => download(state, id, token.as_deref()),
            _ => unknown_path(&path),
        };
    }
    if segs
        .first()
        .is_some_and(|s| onboarding::HOST_PREFIXES.contains(s))
    {
        return onboarding::route_hosts(state, req, &segs, token.as_deref(), body, at).await;
    }
    // Like Meta, an unversioned path is served too (the bridge may be configured without one).
    if segs.first().is_some_and(|s| is_version(s)) {
        segs.remove(0);
    }
    match segs.as_slice() {
        ["debug_token"] if method == Method::GET => debug_token(state, req, token.as_deref()),
        [object, "messages"] if method == Method::POST => {
            messages(state, Host::Facebook, object, token.as_deref(), body, at).await
        }
        [object, "media"] if method == Method::POST => {
            upload(state, req, object, token.as_deref(), body).await
        }
        ["oauth", "access_token"] if method == Method::GET => {
            onboarding::oauth::oauth_access_token(state, req)
        }
        ["me"] if method == Method::GET => onboarding::oauth::me(state, req, token.as_deref()),
        ["me", "accounts"] if method == Method::GET => {
            onboarding::assets::me_accounts(state, req, token.as_deref())
        }
        [waba, "phone_numbers"] if method == Method::GET => {
            onboarding::assets::phone_numbers(state, waba, token.as_deref())
        }
        [waba, "message_templates"] => {
            onboarding::templates::message_templates(state, req, waba, token.as_deref(), body).await
        }
        [
            object,
            edge @ ("pass_thread_control" | "take_thread_control" | "request_thread_control"),
        ] if method == Method::POST => {
            onboarding::handover::thread_control(state, edge, object, token.as_deref(), body).await
        }
        [object, "subscribed_apps"] => {
            onboarding::assets::subscribed_apps(state, req, object, token.as_deref())
        }
        [phone] if method == Method::POST && onboarding::phones::is_phone(state, phone) => {
            onboarding::phones::set_pin(state, phone, token.as_deref(), body).await
        }
        [phone, "register"] if method == Method::POST => {
            onboarding::phones::register(state, phone, token.as_deref(), body).await
        }
        [phone, "request_code"] if method == Method::POST => {
            onboarding::phones::request_code(state, req, phone, token.as_deref())
        }
        [phone, "verify_code"] if method == Method::POST => {
            onboarding::phones::verify_code(state, req, phone, token.as_deref())
        }
        [phone, "smb_app_data"] if method == Method::POST => {
            onboarding::phones::smb_app_data(state, phone, token.as_deref(), body).await
        }
        [page, "leadgen_forms"] if method == Method::GET => {
            onboarding::leads::page_lead_forms(state, req, page, token.as_deref())
        }
        [form, "leads"]
            if method == Method::GET && onboarding::leads::is_lead_form(state, form) =>
        {
            onboarding::leads::form_leads(state, req, form, token.as_deref())
        }
        [id] if method == Method::GET && onboarding::leads::is_lead(state, id) => {
            onboarding::leads::lead(state, req, id, token.as_deref())
        }
        [id] if method == Method::GET && onboarding::leads::is_lead_form(state, id) => {
            onboarding::leads::lead_form(state, req, id, token.as_deref())
        }
        [id] if method == Method::GET && onboarding::profiles::is_contact(state, id) => {
            onboarding::profiles::contact_profile(state, req, Host::Facebook, id, token.as_deref())
        }
        [app, "subscriptions"] if method == Method::GET => {
            onboarding::diagnostics::app_subscriptions(state, app, token.as_deref())
        }
        [phone] if method == Method::GET && onboarding::phones::is_phone(state, phone) => {
            onboarding::diagnostics::phone_node(state, req, phone, token.as_deref())
        }
        [page] if method == Method::GET && onboarding::diagnostics::is_page(state, page) => {
            onboarding::diagnostics::page_node(state, req, page, token.as_deref())
        }
        [id] if method == Method::GET => media_metadata(state, req, id, token.as_deref()),
        _ => unknown_path(&path),
    }
}

pub(in crate::sim) fn unknown_path(path: &str) -> Handled {
    Handled::new(graph_error(
        400,
        2500,
        None,
        &format!("Unknown path components: {path}"),
        None,
        None,
    ))
}

/// Finds the sender named by the path and checks the token against it.
pub(super) fn authorize(
    state: &State,
    host: Host,
    object: &str,
    token: Option<&str>,
    recipient: Option<&str>,
    method: &str,
) -> Result<Channel, Box<Handled>> {
    let inner = lock(&state.inner);
    // A token of the other host is not even parsed there: refused before the object.
    if let Some(reply) = token.and_then(|t| host_refuses(&inner, t, host)) {
        let mut h = Handled::new(reply);
        h.sender_id = Some(object.to_string());
        return Err(Box::new(h));
    }
    // graph.instagram.com serves only Instagram accounts.
    let on_host = |c: &Channel| match host {
        Host::Instagram => c.kind == Kind::Instagram,
        Host::Facebook => true,
    };
    let channel = if object == "me" {
        token.and_then(|t| {
            // `me` is the account the token belongs to. A Page token also reaches the Page's
            // linked Instagram account (Messenger API support for Instagram): Meta tells the
            // two apart by the recipient, an Instagram-scoped id or a Page-scoped one.
            let mut owned: Vec<&Channel> = inner
                .channels
                .values()
                .filter(|c| {
                    c.kind != Kind::WhatsApp
                        && on_host(c)
                        && (c.token == t || inner.onboard.covers(t, &c.external_id))
                })
                .collect();
            owned.sort_by(|a, b| a.external_id.cmp(&b.external_id));
            let to_instagram = recipient.is_some_and(|r| inner.ig_users.contains(r));
            let pick = |kind: Kind| owned.iter().find(|c| c.kind == kind).copied();
            let chosen = if owned.len() > 1 {
                if to_instagram {
                    pick(Kind::Instagram)
                } else {
                    pick(Kind::Messenger)
                }
                .or_else(|| owned.first().copied())
            } else {
                owned.first().copied()
            };
            chosen
                .cloned()
                .or_else(|| inner.onboard.me_channel(t, &inner.channels))
        })
    } else {
        inner.channels.get(object).filter(|c| on_host(c)).cloned()
    };
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    let Some(channel) = channel else {
        let reply = if token_state == TokenState::Valid {
            err_unknown_object(method, object)
        } else {
            err_token(token_state)
        };
        let mut h = Handled::new(reply);
        h.sender_id = Some(object.to_string());
        return Err(Box::new(h));
    };
    // The channel's own token, or a token the connect flows minted for this asset.
    let token_fits =
        token.is_some_and(|t| t == channel.token || inner.onboard.covers(t, &channel.external_id));
    if !token_fits || token_state != TokenState::Valid {
        let reply = err_token(if token_fits {
            token_state
        } else {
            TokenState::Unknown
        });
        let mut h = Handled::new(reply);
        h.sender_id = Some(channel.external_id.clone());
        return Err(Box::new(h));
    }
    Ok(channel)
}

pub(super) fn fault_reply(fault: &Fault, kind: Kind) -> Reply {
    match fault {
        Fault::Throttle { .. } if kind == Kind::WhatsApp => coded_error(400, 130429, kind),
        Fault::Throttle { .. } => coded_error(400, 4, kind),
        Fault::PairRate { .. } => coded_error(400, 131056, kind),
        Fault::ServerError { .. } => coded_error(500, 2, kind),
        Fault::BareServerError { .. } => Reply::html(
            502,
            "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>502 Bad Gateway</h1><p>Sorry, something went wrong.</p></body></html>",
        ),
        Fault::TokenInvalid { .. } => err_token(TokenState::Revoked),
        Fault::Window { .. } if kind == Kind::WhatsApp => coded_error(400, 131047, kind),
        Fault::Window { .. } => coded_error(400, 10, kind),
        Fault::Permanent { code, .. } => coded_error(400, *code, kind),
        // Not answered here.
        Fault::Timeout { .. } | Fault::DropConnection { .. } => coded_error(500, 2, kind),
    }
}
