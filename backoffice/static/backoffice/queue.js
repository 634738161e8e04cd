// Keyboard shortcuts for the review queue and the item page (shown on both pages).
// List: j/k move, x select, Enter open, n claim next. Item: t take down, d dismiss,
// e escalate, c claim, n claim next. Keys are ignored while typing in a field, except
// Ctrl+Enter (Cmd+Enter on a Mac), which submits the decision or note form being typed in.
// "?" opens the overlay listing them all (a <dialog>: Escape closes it, focus goes back).
(function () {
  "use strict";

  function typing(event) {
    var tag = (event.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
  }

  function submit(id) {
    var form = document.getElementById(id);
    if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  function focusField(formId) {
    var form = document.getElementById(formId);
    var field = form && form.querySelector("textarea, input[type=text]");
    if (field) field.focus();
  }

  // The list: row selection and the bulk form.
  var table = document.getElementById("queue-table");
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-href]")) : [];
  var current = -1;

  function select(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === current); });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  // "Select all N matching items" (Gmail's): offered once every box of the page is ticked; while it is
  // ticked the count says N, and unticking any row of the page takes it back.
  var matching = document.getElementById("select-matching");
  var matchingBox = document.getElementById("select-all-matching");
  var pageBox = document.getElementById("select-all");

  function updateCount() {
    if (!table) return;
    var boxes = table.querySelectorAll("tbody input[name=items]");
    var ticked = table.querySelectorAll("tbody input[name=items]:checked").length;
    var allTicked = boxes.length > 0 && ticked === boxes.length;
    if (matchingBox && !allTicked) matchingBox.checked = false;
    if (matching) matching.hidden = !allTicked;
    if (pageBox) pageBox.checked = allTicked;
    var count = document.getElementById("selected-count");
    if (count) count.textContent = matchingBox && matchingBox.checked ? matching.dataset.matching : ticked;
  }

  function tickPage(on) {
    table.querySelectorAll("tbody input[name=items]").forEach(function (box) { box.checked = on; });
  }

  if (table) {
    table.addEventListener("click", function (event) {
      var row = event.target.closest("tr[data-href]");
      if (!row || event.target.closest("input, a, button, label")) return;
      window.location = row.dataset.href;
    });
    table.addEventListener("change", updateCount);
    if (pageBox) {
      pageBox.addEventListener("change", function () {
        tickPage(pageBox.checked);
        updateCount();
      });
    }
    if (matchingBox) {
      matchingBox.addEventListener("change", function () {
        if (matchingBox.checked) tickPage(true);
        updateCount();
      });
      // A refused "select all matching" comes back ticked: so are the page's boxes it stands for.
      if (matchingBox.checked) tickPage(true);
    }
    updateCount();
  }

  // The shortcuts overlay: a modal <dialog> moves focus into itself and closes on Escape;
  // focus is put back where it was, as a keyboard user expects.
  var overlay = document.getElementById("shortcuts-overlay");
  var opener = null;

  function toggleOverlay() {
    if (!overlay || !overlay.showModal) return;
    if (overlay.open) { overlay.close(); return; }
    opener = document.activeElement;
    overlay.showModal();
    var close = document.getElementById("shortcuts-close");
    if (close) close.focus();
  }

  if (overlay) {
    overlay.addEventListener("close", function () {
      if (opener && opener.focus) opener.focus();
      opener = null;
    });
    var closeButton = document.getElementById("shortcuts-close");
    if (closeButton) closeButton.addEventListener("click", function () { overlay.close(); });
    var openButton = document.getElementById("shortcuts-open");
    if (openButton) openButton.addEventListener("click", toggleOverlay);
  }

  // Forms Ctrl+Enter may submit: the decisions and the note, never the bulk form (it has a confirm step
  // of its own) nor the filters.
  var SUBMITTABLE = ["take-down-form", "dismiss-form", "escalate-form", "note-form"];

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
      var form = event.target.closest ? event.target.closest("form") : null;
      if (form && SUBMITTABLE.indexOf(form.id) !== -1) {
        event.preventDefault();
        submit(form.id);
      }
      return;
    }
    if (overlay && overlay.open) {
      if (event.key === "?") { event.preventDefault(); overlay.close(); }
      return; // the list is open: no shortcut acts on the page behind it
    }
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    switch (event.key) {
      case "?": event.preventDefault(); toggleOverlay(); break;
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "x":
        if (current >= 0) {
          var box = rows[current].querySelector("input[name=items]");
          box.checked = !box.checked;
          updateCount();
        }
        break;
      case "Enter":
        if (current >= 0) window.location = rows[current].dataset.href;
        break;
      case "n": submit("claim-next-form"); break;
      case "t": submit("take-down-form"); break;
      case "d": event.preventDefault(); focusField("dismiss-form"); break;
      case "e": event.preventDefault(); focusField("escalate-form"); break;
      case "c":
        var claim = document.querySelector("form[action$='/claim/']");
        if (claim) claim.submit();
        break;
      default: return;
    }
  });
})();
