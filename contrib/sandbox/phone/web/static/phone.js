// Reload the phone page every few seconds so new QR codes and messages
// appear, unless the tester is typing or has just acted.
(function () {
  var ms = parseInt(document.body.getAttribute("data-autorefresh"), 10);
  if (!ms || document.querySelector(".outcome, .problem[role=alert]")) {
    return;
  }
  setInterval(function () {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "SELECT")) {
      return;
    }
    var typed = Array.prototype.some.call(document.querySelectorAll("input[name]:not([type=hidden])"), function (i) {
      return i.value !== "" && i.name !== "qr";
    });
    if (!typed) {
      window.location.reload();
    }
  }, ms);
})();
