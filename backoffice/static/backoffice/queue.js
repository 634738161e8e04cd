// Keyboard shortcuts for the review queue and the item page (shown on both pages).
// List: j/k move, x select, Enter open, n claim next. Item: t take down, d dismiss,
// e escalate, c claim, n claim next. Keys are ignored while typing in a field.
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

  function updateCount() {
    var count = document.getElementById("selected-count");
    if (count && table) count.textContent = table.querySelectorAll("tbody input[name=items]:checked").length;
  }

  if (table) {
    table.addEventListener("click", function (event) {
      var row = event.target.closest("tr[data-href]");
      if (!row || event.target.closest("input, a, button, label")) return;
      window.location = row.dataset.href;
    });
    table.addEventListener("change", updateCount);
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        table.querySelectorAll("tbody input[name=items]").forEach(function (box) { box.checked = all.checked; });
        updateCount();
      });
    }
  }

  document.addEventListener("keydown", function (event) {
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    switch (event.key) {
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
