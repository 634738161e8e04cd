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

// On narrow screens a wide table scrolls inside itself (app.css). A keyboard user can scroll it
// only once it takes focus, so a table that overflows gets a tab stop (and the focus outline),
// and loses it again when the window grows and it fits: no useless stops on a desktop.
(function () {
  "use strict";
  function updateScrollableTables() {
    document.querySelectorAll("table.grid").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth) table.setAttribute("tabindex", "0");
      else if (table.getAttribute("tabindex") === "0") table.removeAttribute("tabindex");
    });
  }
  updateScrollableTables();
  window.addEventListener("resize", updateScrollableTables);
})();
