// The operator console's only script (served from this origin; the pages work without it):
// shows times in the viewer's time zone, sends the zone with filter forms, and refreshes the
// live parts of a page ([data-live]) while their checkbox is on.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      t.title = t.getAttribute("datetime");
      t.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    });
  }
  localTimes(document);
  // Filter times are typed in the viewer's zone: the server is told which.
  document.querySelectorAll("input[type=hidden][name=tz]").forEach(function (i) {
    i.value = String(new Date().getTimezoneOffset());
  });
  var live = document.querySelector("[data-live]");
  if (!live || !live.id) return;
  var toggle = document.getElementById("live-toggle");
  if (toggle && toggle.closest(".live-control")) toggle.closest(".live-control").hidden = false;
  var every = Math.max(2, parseInt(live.getAttribute("data-live"), 10) || 10) * 1000;
  var busy = false;
  setInterval(function () {
    if (busy || document.hidden || (toggle && !toggle.checked)) return;
    // Never pull the page from under someone using it.
    if (live.contains(document.activeElement) && document.activeElement !== live) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(live.id);
        if (!fresh) return;
        live.replaceChildren.apply(live, Array.from(fresh.childNodes).map(function (n) {
          return document.importNode(n, true);
        }));
        localTimes(live);
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }, every);
})();
