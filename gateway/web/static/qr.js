// qr.js keeps a QR page current without the candidate touching it: it asks
// the gateway for the session's status every 1.5 seconds, shows the calm
// status sentence, reloads the page when a fresh code replaced the one
// shown (the page then explains why in one sentence), and submits the
// page's form once the phone finished, which takes the candidate on.
(function () {
  "use strict";
  var panel = document.querySelector("[data-status-url]");
  if (!panel || !window.fetch) {
    return;
  }
  var url = panel.getAttribute("data-status-url");
  var version = panel.getAttribute("data-qr-version");
  var statusLine = panel.querySelector(".qr-status");
  var form = document.getElementById("qr-form");
  var stopped = false;

  function apply(s) {
    if (typeof s.message === "string" && statusLine) {
      statusLine.textContent = s.message;
    }
    panel.setAttribute("data-phase", s.state || "");
    panel.setAttribute("data-error-kind", s.error_kind || "");
    if (String(s.qr_version) !== version) {
      stopped = true;
      window.location.reload();
      return;
    }
    if (s.state === "done" || s.state === "passed") {
      stopped = true;
      if (form) {
        form.submit();
      } else if (s.next) {
        window.location.assign(s.next);
      }
      return;
    }
    if (s.state === "failed" || s.state === "unavailable") {
      stopped = true;
      window.location.reload();
    }
  }

  function tick() {
    if (stopped) {
      return;
    }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { apply(s); } })
      .catch(function () {})
      .then(function () { if (!stopped) { window.setTimeout(tick, 1500); } });
  }

  window.setTimeout(tick, 1500);
})();
