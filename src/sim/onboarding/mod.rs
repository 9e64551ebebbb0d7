//! The connect flows of the Graph simulator ([`super::graph`]): every Meta host the onboarding
//! of a channel touches, served by the one simulator under path prefixes, so the whole flow runs
//! locally (meta-platform.md §5, §11):
//!
//! * `/dialog-fb/{v}/dialog/oauth` — the Facebook Login dialog (HTML: the simulated user's
//!   Pages as checkboxes, Allow / Cancel → redirect with `code` + `state` or `error=...`);
//! * `/dialog-fb/{v}/dialog/embedded_signup` — the Embedded Signup popup opened by `/sdk.js`
//!   (a stand-in for Meta's JS SDK: `FB.init`, `FB.login`, `fbAsyncInit`), which posts the
//!   `WA_EMBEDDED_SIGNUP` session message and hands the code to the SDK callback;
//! * `/dialog-ig/oauth/authorize` — the Instagram Login dialog (`code=...#_`);
//! * Graph (at `/`, versioned or not): `oauth/access_token` (code exchange, `fb_exchange_token`),
//!   `me`, `me/accounts`, `{waba}/phone_numbers`, `{id}/subscribed_apps`, `{phone}/register`,
//!   `{leadgen_id}` and `{form_id}` (Lead Ads: the lead, its ad-level fields only with an ads
//!   permission, the form's questions), and `debug_token` of every token minted here;
//! * `/ig-api/oauth/access_token` (api.instagram.com) and `/ig-graph/...` (graph.instagram.com):
//!   Instagram Login tokens, refresh, `me`, `me/subscribed_apps`, `me/messages`.
//!
//! Every token minted here is registered for its assets, so sends, media and `debug_token`
//! accept it; tokens expire (user and Instagram long-lived: 60 days, short-lived: 1–2 h, Page
//! and business tokens: never) and can be expired or revoked from the control API. Codes are
//! single-use (Facebook Login: 10 min, Embedded Signup: 30 s by default, Instagram: 1 h).
//!
//! Nothing here records a token, secret, code or PIN in the request log.

pub mod accounts;
pub(super) mod assets;
pub(super) mod control;
pub mod diagnostics;
mod dialogs;
pub(in crate::sim) mod handover;
pub(super) mod helpers;
pub(super) mod instagram;
pub(super) mod leads;
pub(super) mod oauth;
pub(super) mod phones;
pub(in crate::sim) mod profiles;
pub mod templates;
pub mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::Method;
use poem::{Request, RequestBody};

use super::graph::{
    State,
    replies::Host,
    routing::{Handled, is_version, unknown_path},
    send::messages,
};

use dialogs::{es_dialog, fb_dialog, ig_dialog, sdk_js};
use helpers::{query_pairs, read_form};
use instagram::{ig_exchange, ig_long_lived, ig_me, ig_refresh, ig_subscribed_apps};

/// Path prefixes (first segment) served by [`route_hosts`].
pub(super) const HOST_PREFIXES: &[&str] =
    &["dialog-fb", "dialog-ig", "ig-api", "ig-graph", "sdk.js"];

const APP_NAME: &str = "Metabridge Graph Simulator";
/// Long-lived user and Instagram tokens (what Meta answers as `expires_in`).
pub const LONG_LIVED_SECS: i64 = 5_183_944;
/// Short-lived Facebook user token.
pub const SHORT_USER_SECS: i64 = 7_200;
/// Short-lived Instagram Login token.
pub const SHORT_IG_SECS: i64 = 3_600;
const FB_CODE_TTL: Duration = Duration::from_secs(600);
const IG_CODE_TTL: Duration = Duration::from_secs(3600);
const FORM_LIMIT: usize = 64 * 1024;
const DAY: i64 = 86_400;

/// Unix seconds now.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------
// Hosts under path prefixes

pub(super) async fn route_hosts(
    state: &Arc<State>,
    req: &Request,
    segs: &[&str],
    token: Option<&str>,
    body: RequestBody,
    at: Instant,
) -> Handled {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let (prefix, rest) = match segs.split_first() {
        Some((p, rest)) => (*p, rest),
        None => return unknown_path(&path),
    };
    // A version segment after the host prefix is optional everywhere.
    let rest = match rest.split_first() {
        Some((v, tail)) if is_version(v) => tail,
        _ => rest,
    };
    match (prefix, rest) {
        ("sdk.js", []) if method == Method::GET => sdk_js(state, req),
        ("dialog-fb", ["dialog", "oauth"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            fb_dialog(state, &pairs, method == Method::POST)
        }
        ("dialog-fb", ["dialog", "embedded_signup"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            es_dialog(state, &pairs, method == Method::POST)
        }
        ("dialog-ig", ["oauth", "authorize"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            ig_dialog(state, &pairs, method == Method::POST)
        }
        ("ig-api", ["oauth", "access_token"]) if method == Method::POST => {
            let pairs = read_form(body).await;
            ig_exchange(state, &pairs)
        }
        ("ig-graph", ["access_token"]) if method == Method::GET => ig_long_lived(state, req),
        ("ig-graph", ["refresh_access_token"]) if method == Method::GET => ig_refresh(state, req),
        ("ig-graph", ["me"]) if method == Method::GET => ig_me(state, req, token),
        ("ig-graph", ["me", "subscribed_apps"]) => ig_subscribed_apps(state, req, token),
        ("ig-graph", [object, "messages"]) if method == Method::POST => {
            messages(state, Host::Instagram, object, token, body, at).await
        }
        ("ig-graph", [id]) if method == Method::GET && profiles::is_contact(state, id) => {
            profiles::contact_profile(state, req, Host::Instagram, id, token)
        }
        _ => unknown_path(&path),
    }
}

#[cfg(test)]
mod tests;
