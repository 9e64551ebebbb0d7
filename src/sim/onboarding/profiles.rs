//! The User Profile API of Instagram and Messenger: `GET /{IGSID|PSID}?fields=…` on
//! graph.facebook.com (Page token: Messenger, and Instagram through Facebook Login) and on
//! graph.instagram.com under `/ig-graph` (Instagram User token, Instagram Login).
//!
//! Meta's pages (read 2026-12-03): "User Profile API — Messenger Platform"
//! (<https://developers.facebook.com/docs/messenger-platform/identity/user-profile>), "User
//! Profile API — Instagram Messaging"
//! (<https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile>)
//! and "Instagram User Profile API — Instagram API with Instagram Login"
//! (<https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/user-profile>).
//! Corpus: `instagram.user_profile.json`, `instagram.facebook_login.user_profile.json`,
//! `messenger.user_profile.json`.
//!
//! A profile is readable only after the person wrote to the business (Meta's consent rule):
//! the simulator answers the people registered with [`crate::sim::graph::GraphSim::add_contact_profile`].
//! Anyone else gets Meta's answer for an id it will not load (`100`/`33`; Meta's page quotes
//! only the message "User consent is required to access user profile", not its code).
//! Only the requested `fields` are answered, with `id`; a field the person has not set is left
//! out.

use std::sync::Arc;

use poem::Request;

use super::helpers::{fail, fields_param, ok_json, only_fields};
use crate::sim::graph::replies::{Host, err_token, err_unknown_object, host_refuses};
use crate::sim::graph::routing::Handled;
use crate::sim::graph::{Kind, State, TokenState, lock};

/// Whether `id` is a person with a profile (the route table sends their `GET` here).
pub(in crate::sim) fn is_contact(state: &State, id: &str) -> bool {
    lock(&state.inner).profiles.contains_key(id)
}

/// `GET /{user_id}?fields=…` on `host`.
pub(in crate::sim) fn contact_profile(
    state: &Arc<State>,
    req: &Request,
    host: Host,
    user_id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(&inner, t, host) {
        return fail(reply);
    }
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    // The token must be one of an Instagram account or a Page the person could write to.
    let messaging = inner.channels.values().any(|c| {
        c.kind != Kind::WhatsApp && (c.token == t || inner.onboard.covers(t, &c.external_id))
    }) || (host == Host::Instagram
        && inner.onboard.tokens.get(t).is_some_and(|m| m.kind.is_ig()));
    if !messaging {
        return fail(err_unknown_object("GET", user_id));
    }
    let Some(profile) = inner.profiles.get(user_id) else {
        return fail(err_unknown_object("GET", user_id));
    };
    let mut v = profile.clone();
    v["id"] = serde_json::Value::String(user_id.to_owned());
    let fields = fields_param(req).unwrap_or_else(|| vec!["id".into()]);
    ok_json(&only_fields(v, Some(fields.as_slice())))
}
