// Polls the sandbox for the login's state and follows the redirect once the
// person confirmed or cancelled on the phone, as the real desktop page does.
(function () {
  "use strict";
  var box = document.getElementById("login");
  var label = document.getElementById("state");
  if (!box || !label) { return; }
  var url = box.getAttribute("data-status-url");
  var text = { waiting: "等待扫码…", scanned: "已扫码，请在手机上确认", confirmed: "已授权，正在跳转…", cancelled: "已取消授权，正在跳转…", expired: "二维码已过期，请刷新页面" };
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (st) {
      if (text[st.state]) { label.textContent = text[st.state]; }
      if (st.redirect) { window.location.assign(st.redirect); return; }
      if (st.state !== "expired") { window.setTimeout(poll, 2000); }
    }).catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
