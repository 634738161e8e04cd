// The top bar's menu on narrow screens. The CSP allows no inline script, hence this file.
// Without it (or before it runs) the navigation simply wraps under the brand: still reachable.
(function () {
  "use strict";
  var topbar = document.getElementById("topbar");
  var toggle = document.getElementById("menu-toggle");
  if (!topbar || !toggle) return;
  topbar.classList.add("has-menu");
  function setOpen(open) {
    topbar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  toggle.addEventListener("click", function () {
    setOpen(!topbar.classList.contains("open"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && topbar.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });
})();
