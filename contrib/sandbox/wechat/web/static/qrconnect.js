// The sandbox login page polls the long-poll host like WeChat's page does
// and, once the phone confirms, sends the browser to
// redirect_uri?code=CODE&state=STATE. A cancelled login does not redirect.
(function () {
  var box = document.getElementById("wx_login");
  if (!box) {
    return;
  }
  var uuid = box.getAttribute("data-uuid");
  var poll = box.getAttribute("data-poll");
  var redirect = box.getAttribute("data-redirect");
  var state = box.getAttribute("data-state");
  var last = "";

  function show(id) {
    Array.prototype.forEach.call(document.querySelectorAll(".js_status"), function (el) {
      el.classList.toggle("hidden", el.id !== id);
    });
  }

  function tick() {
    var url = poll + "?uuid=" + encodeURIComponent(uuid) + (last ? "&last=" + last : "") + "&_=" + Date.now();
    fetch(url, { cache: "no-store" }).then(function (r) {
      return r.text();
    }).then(function (body) {
      var m = /wx_errcode=(\d+)/.exec(body);
      var c = /wx_code='([^']*)'/.exec(body);
      var code = m ? m[1] : "";
      if (code === "405" && c) {
        window.location.href = redirect + (redirect.indexOf("?") >= 0 ? "&" : "?") +
          "code=" + encodeURIComponent(c[1]) + "&state=" + encodeURIComponent(state);
        return;
      }
      if (code === "404") {
        show("wx_after_scan");
      } else if (code === "403") {
        show("wx_after_cancel");
        return;
      } else if (code === "402" || code === "400") {
        show("wx_expired");
        return;
      }
      last = code;
      setTimeout(tick, 200);
    }).catch(function () {
      setTimeout(tick, 2000);
    });
  }
  tick();
})();
