//! The login dialogs: Facebook Login, Instagram Login, the Embedded Signup popup and the
//! `/sdk.js` stand-in for Meta's JS SDK.

use std::sync::Arc;

use poem::Request;
use serde_json::{Value, json};

use crate::sim::graph::{APP_ID, State, lock, replies::Reply, routing::Handled};

use super::helpers::{
    all, error_page, esc, first, hidden, html_page, ok, origin_of, parse_redirect, redirect,
    script_json, with_params,
};
use super::tokens::{
    CodeFlow, ES_SCOPES, FB_DEFAULT_SCOPES, IG_DEFAULT_SCOPES, new_code, split_scopes,
};
use super::{APP_NAME, FB_CODE_TTL, IG_CODE_TTL, now_secs};

pub(super) fn fb_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated Facebook Login";
    let client_id = first(p, "client_id");
    if client_id != Some(APP_ID) {
        return error_page(
            TITLE,
            "Invalid App ID: The provided app ID does not look like a valid app ID.",
        );
    }
    let redirect_uri = match parse_redirect(first(p, "redirect_uri")) {
        Ok(u) => u,
        Err(e) => return error_page(TITLE, e),
    };
    if first(p, "response_type").is_some_and(|r| r != "code") {
        return error_page(TITLE, "The simulator only supports response_type=code.");
    }
    let state_param = first(p, "state");
    let scopes = split_scopes(first(p, "scope"), FB_DEFAULT_SCOPES);
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let pages: String = accounts
            .pages
            .iter()
            .map(|pg| {
                let ig = pg.instagram.as_ref().map_or_else(String::new, |i| {
                    format!(" — Instagram @{} ({})", esc(&i.username), esc(&i.id))
                });
                format!(
                    "<label><input type=\"checkbox\" name=\"page\" value=\"{}\" checked> {} ({}){ig}</label>",
                    esc(&pg.id),
                    esc(&pg.name),
                    esc(&pg.id)
                )
            })
            .collect();
        let perms: String = scopes
            .iter()
            .map(|s| format!("<li>{}</li>", esc(s)))
            .collect();
        let body = format!(
            "<p>Logged in as <b>{}</b> ({}).</p><p>App <b>{}</b> ({}) asks for:</p><ul>{perms}</ul>\
<form method=\"post\"><fieldset><legend>Pages to share</legend>{pages}</fieldset>{}{}{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            esc(&accounts.user.name),
            esc(&accounts.user.id),
            APP_NAME,
            APP_ID,
            hidden("client_id", client_id),
            hidden("redirect_uri", first(p, "redirect_uri")),
            hidden("state", state_param),
            hidden("scope", first(p, "scope")),
            hidden("config_id", first(p, "config_id")),
            hidden("response_type", first(p, "response_type")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    if first(p, "action") != Some("allow") {
        let url = with_params(
            redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_code", Some("200")),
                ("error_description", Some("Permissions error")),
                ("error_reason", Some("user_denied")),
                ("state", state_param),
            ],
        );
        return ok(redirect(url.to_string()));
    }
    // A person may decline single permissions in Meta's dialog ("Edit access"): they are
    // then missing from the token (`debug_token` scopes) and from what it may do.
    let declined = all(p, "decline");
    let scopes: Vec<String> = scopes
        .into_iter()
        .filter(|s| !declined.contains(&s.as_str()))
        .collect();
    let mut inner = lock(&state.inner);
    let pages: Vec<String> = all(p, "page")
        .into_iter()
        .filter(|id| inner.onboard.accounts.page(id).is_some())
        .map(str::to_owned)
        .collect();
    let code = new_code(
        &mut inner,
        CodeFlow::FbLogin {
            redirect_uri: first(p, "redirect_uri").unwrap_or_default().to_owned(),
            pages,
        },
        scopes,
        FB_CODE_TTL,
    );
    let url = with_params(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    );
    ok(redirect(url.to_string()))
}

pub(super) fn ig_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated Instagram Login";
    let client_id = first(p, "client_id");
    if client_id != Some(APP_ID) {
        return error_page(TITLE, "Invalid platform app");
    }
    let redirect_uri = match parse_redirect(first(p, "redirect_uri")) {
        Ok(u) => u,
        Err(e) => return error_page(TITLE, e),
    };
    let state_param = first(p, "state");
    let scopes = split_scopes(first(p, "scope"), IG_DEFAULT_SCOPES);
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let choices: String = accounts
            .instagram_logins
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "<label><input type=\"radio\" name=\"account\" value=\"{}\"{}> @{} — {} ({})</label>",
                    esc(&a.user_id),
                    if i == 0 { " checked" } else { "" },
                    esc(&a.username),
                    esc(&a.name),
                    esc(&a.user_id)
                )
            })
            .collect();
        let perms: String = scopes
            .iter()
            .map(|s| format!("<li>{}</li>", esc(s)))
            .collect();
        let body = format!(
            "<p>App <b>{APP_NAME}</b> ({APP_ID}) asks for:</p><ul>{perms}</ul>\
<form method=\"post\"><fieldset><legend>Professional account</legend>{choices}</fieldset>{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            hidden("client_id", client_id),
            hidden("redirect_uri", first(p, "redirect_uri")),
            hidden("state", state_param),
            hidden("scope", first(p, "scope")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    if first(p, "action") != Some("allow") {
        let url = with_params(
            redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_reason", Some("user_denied")),
                ("error_description", Some("The user denied your request.")),
                ("state", state_param),
            ],
        );
        return ok(redirect(url.to_string()));
    }
    let mut inner = lock(&state.inner);
    let chosen = first(p, "account")
        .filter(|id| inner.onboard.accounts.ig_login(id).is_some())
        .map(str::to_owned)
        .or_else(|| {
            inner
                .onboard
                .accounts
                .instagram_logins
                .first()
                .map(|a| a.user_id.clone())
        });
    let Some(ig_user_id) = chosen else {
        drop(inner);
        return error_page(TITLE, "No Instagram professional account to log in with.");
    };
    let code = new_code(
        &mut inner,
        CodeFlow::IgLogin {
            redirect_uri: first(p, "redirect_uri").unwrap_or_default().to_owned(),
            ig_user_id,
        },
        scopes,
        IG_CODE_TTL,
    );
    let mut url = with_params(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    );
    url.set_fragment(Some("_"));
    ok(redirect(url.to_string()))
}

/// The Embedded Signup popup (v4). What it posts to the opener is the session-info message of
/// "Implementation" (Embedded Signup v4),
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/implementation
/// (read 2026-12-02), as a JSON string: `{data, type: "WA_EMBEDDED_SIGNUP", event}` with
/// `event` one of `FINISH` (`data`: `phone_number_id`, `waba_id`, `business_id`),
/// `FINISH_ONLY_WABA` (no phone number), `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING` (`data`:
/// `waba_id` only, `version: 3` — "Onboard WhatsApp Business app users",
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users),
/// `CANCEL` with `current_step` (abandoned) or with `error_message`, `error_code`,
/// `session_id`, `timestamp` (an error the person reported), and `ERROR`. Every finish hands
/// the SDK a code; a cancel hands none.
///
/// `extras` (JSON, as `FB.login` got it): `featureType` may only be absent, empty or
/// `whatsapp_business_app_onboarding` (v3+ removed the others, "Version 3",
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/version-3);
/// only with it are WhatsApp Business app numbers offered (and only that way).
pub(super) fn es_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated WhatsApp Embedded Signup";
    if first(p, "app_id").or_else(|| first(p, "client_id")) != Some(APP_ID) {
        return error_page(
            TITLE,
            "Invalid App ID: The provided app ID does not look like a valid app ID.",
        );
    }
    if first(p, "config_id").is_none_or(str::is_empty) {
        return error_page(TITLE, "The config_id parameter is missing.");
    }
    let extras: Value = first(p, "extras")
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| json!({}));
    if !extras.is_object() {
        return error_page(TITLE, "The extras parameter must be an object.");
    }
    let feature_type = extras
        .get("featureType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(feature_type, "" | "whatsapp_business_app_onboarding") {
        return error_page(
            TITLE,
            "Invalid featureType: the only feature type of Embedded Signup v3 and later is whatsapp_business_app_onboarding.",
        );
    }
    let business_app = feature_type == "whatsapp_business_app_onboarding";
    // Where the SDK shim listens; '*' when the opener's origin is not a plain origin.
    let target = first(p, "origin")
        .and_then(|o| url::Url::parse(o).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map_or_else(|| "*".to_owned(), |u| u.origin().ascii_serialization());
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let mut first_choice = true;
        let mut choices = String::new();
        for b in &accounts.businesses {
            for w in &b.wabas {
                for ph in &w.phone_numbers {
                    if ph.on_biz_app && !business_app {
                        continue;
                    }
                    choices.push_str(&format!(
                        "<label><input type=\"radio\" name=\"phone\" value=\"{}\"{}> {} {} <small>({} / WABA {} / phone {}{})</small></label>",
                        esc(&ph.id),
                        if first_choice { " checked" } else { "" },
                        esc(&ph.verified_name),
                        esc(&ph.display_phone_number),
                        esc(&b.name),
                        esc(&w.id),
                        esc(&ph.id),
                        if ph.on_biz_app { ", WhatsApp Business app" } else { "" },
                    ));
                    first_choice = false;
                }
            }
        }
        let app_button = if business_app {
            "<button type=\"submit\" name=\"action\" value=\"finish_business_app\" id=\"finish_business_app\">Connect your existing WhatsApp Business app</button>"
        } else {
            ""
        };
        let body = format!(
            "<p>Connect a WhatsApp Business account to <b>{APP_NAME}</b> ({APP_ID}) as <b>{}</b>.</p>\
<form method=\"post\"><fieldset><legend>Phone number</legend>{choices}</fieldset>{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"finish\" id=\"finish\">Finish</button>{app_button}\
<button type=\"submit\" name=\"action\" value=\"finish_only_waba\" id=\"finish_only_waba\">Finish without a phone number</button>\
<button type=\"submit\" name=\"action\" value=\"report_error\" id=\"report_error\">Report a problem</button>\
<button type=\"submit\" name=\"action\" value=\"error\" id=\"error\">Fail with an error</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            esc(&accounts.user.name),
            hidden("app_id", Some(APP_ID)),
            hidden("config_id", first(p, "config_id")),
            hidden("origin", first(p, "origin")),
            hidden("extras", first(p, "extras")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    let action = first(p, "action").unwrap_or("cancel");
    let (session, login) = if action.starts_with("finish") {
        let mut inner = lock(&state.inner);
        let Some((business_id, waba_id, phone_id, on_app)) = first(p, "phone").and_then(|id| {
            inner
                .onboard
                .accounts
                .phone(id)
                .map(|(b, w, ph)| (b.id.clone(), w.id.clone(), ph.id.clone(), ph.on_biz_app))
        }) else {
            drop(inner);
            return error_page(TITLE, "Choose a phone number.");
        };
        let session = match action {
            "finish_only_waba" => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH_ONLY_WABA",
                   "data": {"waba_id": waba_id, "business_id": business_id}}),
            "finish_business_app" => {
                if !business_app || !on_app {
                    drop(inner);
                    return error_page(
                        TITLE,
                        "This phone number is not in use with the WhatsApp Business app.",
                    );
                }
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
                       "version": 3, "data": {"waba_id": waba_id}})
            }
            _ => {
                if on_app {
                    drop(inner);
                    return error_page(
                        TITLE,
                        "This phone number is in use with the WhatsApp Business app: connect it as your existing WhatsApp Business app.",
                    );
                }
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH",
                       "data": {"phone_number_id": phone_id, "waba_id": waba_id, "business_id": business_id}})
            }
        };
        let ttl = inner.onboard.es_code_ttl.unwrap_or(state.opts.es_code_ttl);
        let code = new_code(
            &mut inner,
            CodeFlow::EmbeddedSignup {
                business_id: business_id.clone(),
                waba_id: waba_id.clone(),
            },
            ES_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ttl,
        );
        (session, json!({"type": "SIM_FB_LOGIN", "code": code}))
    } else {
        let reported = json!({
            "error_message": first(p, "error_message").unwrap_or("Your verified name violates WhatsApp guidelines. Please edit your verified name and try again."),
            "error_code": first(p, "error_code").unwrap_or("524126"),
            "session_id": "f34b51dab5e0498",
            "timestamp": now_secs().to_string(),
        });
        let session = match action {
            "report_error" => {
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": reported})
            }
            "error" => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "ERROR", "data": reported}),
            _ => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL",
                        "data": {"current_step": first(p, "step").unwrap_or("PHONE_NUMBER_SETUP")}}),
        };
        (session, json!({"type": "SIM_FB_LOGIN", "code": null}))
    };
    let script = format!(
        "<script>(function(){{var s={},l={},t={};var o=window.opener;\
if(o){{o.postMessage(JSON.stringify(s),'*');o.postMessage(JSON.stringify(l),t);}}\
setTimeout(function(){{window.close();}},300);}})();</script>",
        script_json(&session),
        script_json(&login),
        script_json(&json!(target)),
    );
    let done = if login["code"].is_null() {
        "Cancelled."
    } else {
        "Done."
    };
    let mut h = ok(Reply::html(
        200,
        &html_page(
            TITLE,
            &format!("<p id=\"result\">{done} This window closes itself.</p>{script}"),
        ),
    ));
    h.body = Value::Null;
    h
}

pub(super) fn sdk_js(state: &Arc<State>, req: &Request) -> Handled {
    let origin = origin_of(state, req);
    let js = format!(
        r#"/* Simulated Facebook JS SDK (metabridge Graph simulator): FB.init, FB.login (Embedded Signup popup), FB.getLoginStatus. */
(function () {{
  var SIM = {origin};
  var opts = {{ appId: null, version: 'v25.0' }};
  var pending = null;
  function finish(resp) {{
    if (!pending) return;
    var cb = pending.cb;
    clearInterval(pending.timer);
    pending = null;
    try {{ cb(resp); }} catch (e) {{ if (window.console) console.error(e); }}
  }}
  window.addEventListener('message', function (ev) {{
    if (ev.origin !== SIM) return;
    var d;
    try {{ d = typeof ev.data === 'string' ? JSON.parse(ev.data) : ev.data; }} catch (e) {{ return; }}
    if (!d || d.type !== 'SIM_FB_LOGIN') return;
    if (d.code) finish({{ authResponse: {{ code: d.code, userID: '', expiresIn: 0 }}, status: 'connected' }});
    else finish({{ authResponse: null, status: 'unknown' }});
  }});
  window.FB = {{
    init: function (o) {{ o = o || {{}}; opts.appId = o.appId || null; if (o.version) opts.version = o.version; }},
    login: function (cb, o) {{
      o = o || {{}};
      if (typeof cb !== 'function') cb = function () {{}};
      if (pending) finish({{ authResponse: null, status: 'unknown' }});
      var url = SIM + '/dialog-fb/' + encodeURIComponent(opts.version) + '/dialog/embedded_signup'
        + '?app_id=' + encodeURIComponent(opts.appId || '')
        + '&config_id=' + encodeURIComponent(o.config_id || '')
        + '&extras=' + encodeURIComponent(JSON.stringify(o.extras || {{}}))
        + '&origin=' + encodeURIComponent(window.location.origin);
      var w = window.open(url, 'sim_fb_login', 'width=620,height=720');
      if (!w) {{ cb({{ authResponse: null, status: 'unknown' }}); return; }}
      var p = {{ cb: cb, timer: null }};
      p.timer = setInterval(function () {{
        if (w.closed) {{
          clearInterval(p.timer);
          setTimeout(function () {{ if (pending === p) finish({{ authResponse: null, status: 'unknown' }}); }}, 500);
        }}
      }}, 300);
      pending = p;
    }},
    getLoginStatus: function (cb) {{ if (typeof cb === 'function') cb({{ authResponse: null, status: 'unknown' }}); }},
    logout: function (cb) {{ if (typeof cb === 'function') cb({{}}); }}
  }};
  if (typeof window.fbAsyncInit === 'function') setTimeout(function () {{ window.fbAsyncInit(); }}, 0);
}})();
"#,
        origin = script_json(&json!(origin)),
    );
    ok(Reply {
        status: 200,
        content_type: "application/javascript; charset=utf-8".into(),
        body: js.into_bytes(),
        // Like connect.facebook.net: loadable with `crossorigin="anonymous"`.
        headers: vec![
            ("cache-control", "no-store".into()),
            ("access-control-allow-origin", "*".into()),
        ],
    })
}
