// WhatsApp Embedded Signup v4 on the connect page, as Meta's "Implementation" page
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/implementation,
// read 2026-12-02) describes it: Meta's SDK opens the sign-up popup with
//   FB.login(callback, {config_id, response_type: 'code', override_default_response_type: true,
//                       extras: {setup: {}}})
// and, when WhatsApp Business app numbers are offered ("Onboard WhatsApp Business app users",
// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users,
// step 2), extras {setup: {}, featureType: 'whatsapp_business_app_onboarding', sessionInfoVersion: '3'}.
// The popup posts a session-info message (a JSON string) to this window:
//   {type: 'WA_EMBEDDED_SIGNUP', event, data}
// event: FINISH (data: phone_number_id, waba_id, business_id), FINISH_ONLY_WABA (no number),
// FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING (data: waba_id), CANCEL (data: current_step, or the
// error the person reported: error_message, error_code, session_id, timestamp) or ERROR.
// The login callback carries the code of a finished flow. Message and code arrive separately, in
// either order; the code lives 30 seconds, so it goes to the server at once (with the session
// info if it has arrived by then; the server checks the ids against Meta anyway).
(function () {
  "use strict";
  var root = document.getElementById("connect");
  if (!root) return;
  var cfg = root.dataset;
  var button = document.getElementById("start");
  var status = document.getElementById("status");
  var allowed = (cfg.origins || "").split(" ").filter(Boolean);
  var sessionInfo = null;
  var started = null;
  var finished = false;

  function say(text) { status.textContent = text; }

  // Meta's listener accepts origins ending in facebook.com; the configured SDK / dialog hosts
  // (a simulator in tests) are accepted too.
  function originAllowed(origin) {
    try {
      var u = new URL(origin);
      if (u.protocol === "https:" && (u.hostname === "facebook.com" || u.hostname.endsWith(".facebook.com"))) return true;
      return allowed.some(function (a) { return u.host === a || u.hostname === a; });
    } catch (e) { return false; }
  }

  function text(v, max) {
    if (v === null || v === undefined) return null;
    var s = String(v);
    return s.length > max ? s.slice(0, max) : s;
  }

  window.addEventListener("message", function (ev) {
    if (!originAllowed(ev.origin)) return;
    var d = ev.data;
    if (typeof d === "string") { try { d = JSON.parse(d); } catch (e) { return; } }
    if (!d || typeof d !== "object" || d.type !== "WA_EMBEDDED_SIGNUP" || typeof d.event !== "string") return;
    sessionInfo = d;
    // An abandoned or failed flow hands the login callback no code: report it now.
    if (d.event === "CANCEL" || d.event === "ERROR") finish(null);
  });

  function finish(code) {
    if (finished) return;
    finished = true;
    button.disabled = true;
    var info = sessionInfo && sessionInfo.data && typeof sessionInfo.data === "object" ? sessionInfo.data : {};
    var event = sessionInfo ? sessionInfo.event : (code ? null : "CANCEL");
    say(code ? "Connecting your number…" : "Sign-up was not completed.");
    var body = {
      code: code || null,
      event: text(event, 64),
      waba_id: text(info.waba_id, 64),
      phone_number_id: text(info.phone_number_id, 64),
      business_id: text(info.business_id, 64),
      current_step: text(info.current_step, 64),
      error_message: text(info.error_message, 500),
      error_code: text(info.error_code, 64),
      session_id: text(info.session_id, 64)
    };
    (started || Promise.resolve()).then(function () {
      return fetch(cfg.finishUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      });
    }).then(function (r) { return r.json(); }).then(function (j) {
      if (j && j.redirect) { window.location.assign(j.redirect); } else { say((j && j.message) || "Something went wrong. Reload the page to try again."); }
    }).catch(function () { say("The connection to the server failed. Reload the page to try again."); });
  }

  window.fbAsyncInit = function () {
    FB.init({ appId: cfg.appId, autoLogAppEvents: true, xfbml: false, version: cfg.version });
    button.disabled = false;
    say("");
  };

  // Meta's SDK calls fbAsyncInit once loaded: define it first, then load the SDK.
  var sdk = document.createElement("script");
  sdk.src = cfg.sdkUrl;
  sdk.async = true;
  sdk.crossOrigin = "anonymous";
  sdk.onerror = function () { say("Meta's sign-up could not be loaded. Check your connection and reload the page."); };
  document.head.appendChild(sdk);

  function extras() {
    var e = { setup: {} };
    if (cfg.businessApp === "true") {
      e.featureType = "whatsapp_business_app_onboarding";
      e.sessionInfoVersion = "3";
    }
    return e;
  }

  button.addEventListener("click", function () {
    if (typeof FB === "undefined") { say("Meta's sign-up could not be loaded. Check your connection and reload the page."); return; }
    button.disabled = true;
    say("Complete the steps in Meta's window…");
    started = fetch(cfg.startUrl, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("start refused"); return r; });
    started.catch(function () {
      finished = true;
      say("This link can no longer be used here. Reload the page for details.");
    });
    FB.login(function (resp) {
      var code = resp && resp.authResponse && resp.authResponse.code;
      var waited = 0;
      // The session info usually arrives just before the code; wait a moment for it, not longer.
      (function wait() {
        if (sessionInfo || waited >= (code ? 1500 : 600)) { finish(code || null); return; }
        waited += 100; setTimeout(wait, 100);
      })();
    }, {
      config_id: cfg.configId,
      response_type: "code",
      override_default_response_type: true,
      extras: extras()
    });
  });
})();
