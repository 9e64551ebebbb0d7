// WhatsApp Embedded Signup on the connect page. Meta's SDK opens the sign-up popup; the popup
// reports the WhatsApp Business Account and phone number ids in a `message` event and the
// login callback carries the authorization code. They arrive separately, in either order;
// the code lives about 30 seconds, so it goes to the server at once (with the ids if they
// have arrived by then; the server checks them against Meta anyway).
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

  function originAllowed(origin) {
    try {
      var host = new URL(origin).host;
      var name = new URL(origin).hostname;
      return allowed.some(function (a) { return host === a || name === a || name.endsWith("." + a); });
    } catch (e) { return false; }
  }

  window.addEventListener("message", function (ev) {
    if (!originAllowed(ev.origin)) return;
    var d = ev.data;
    if (typeof d === "string") { try { d = JSON.parse(d); } catch (e) { return; } }
    if (!d || d.type !== "WA_EMBEDDED_SIGNUP") return;
    sessionInfo = d;
    if (d.event === "CANCEL" || d.event === "ERROR") finish({ cancelled: true, event: d.event, current_step: (d.data && d.data.current_step) || null, error_message: (d.data && d.data.error_message) || null });
  });

  function finish(payload) {
    if (finished) return;
    finished = true;
    button.disabled = true;
    say(payload.cancelled ? "Sign-up was not completed." : "Connecting your number…");
    var info = sessionInfo && sessionInfo.data ? sessionInfo.data : {};
    var body = {
      code: payload.code || null,
      cancelled: !!payload.cancelled,
      event: payload.event || (sessionInfo && sessionInfo.event) || null,
      waba_id: info.waba_id || null,
      phone_number_id: info.phone_number_id || null,
      current_step: payload.current_step || null
    };
    (started || Promise.resolve()).then(function () {
      return fetch(cfg.finishUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      });
    }).then(function (r) { return r.json(); }).then(function (j) {
      if (j && j.redirect) { window.location.assign(j.redirect); } else { say("Something went wrong. Reload the page to try again."); }
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
      if (resp && resp.authResponse && resp.authResponse.code) {
        var code = resp.authResponse.code;
        // The ids usually arrive just before the code; wait a moment for them, not longer.
        var waited = 0;
        (function wait() {
          if (sessionInfo || waited >= 1500) { finish({ code: code }); return; }
          waited += 100; setTimeout(wait, 100);
        })();
      } else {
        setTimeout(function () { finish({ cancelled: true, event: "CANCEL" }); }, 300);
      }
    }, {
      config_id: cfg.configId,
      response_type: "code",
      override_default_response_type: true,
      extras: { setup: {}, sessionInfoVersion: "3" }
    });
  });
})();
