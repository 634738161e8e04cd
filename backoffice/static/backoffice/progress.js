// Progress bars: widths from data-percent (no inline styles), and on a removal's page a
// poll of its progress endpoint every second until the removal ends.
(function () {
  "use strict";

  function setWidths() {
    document.querySelectorAll(".progress > .bar[data-percent]").forEach(function (bar) {
      bar.style.width = Math.min(100, parseFloat(bar.dataset.percent) || 0) + "%";
    });
  }

  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return Math.round(seconds) + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + Math.round(seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function utc(iso) {
    return iso.replace("T", " ").slice(0, 19) + " UTC";
  }

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = value;
  }

  function toggle(id, visible) {
    var node = document.getElementById(id);
    if (node) node.classList.toggle("hidden", !visible);
  }

  function render(p) {
    var bar = document.getElementById("progress-bar");
    bar.dataset.percent = p.percent;
    setWidths();
    text("done", p.listings_done.toLocaleString());
    text("total", p.listings_total.toLocaleString());
    text("percent", p.percent);
    text("rate", p.rate_per_second === null ? "–" : p.rate_per_second.toLocaleString());
    text("eta", p.status === "running" ? formatSeconds(p.eta_seconds) : "–");
    text("chunks-done", p.chunks_done);
    text("chunks-total", p.chunks_total);
    text("notified", p.merchants_notified.toLocaleString());
    var badge = document.getElementById("status-badge");
    badge.textContent = p.status_label;
    badge.className = "badge " + p.status;
    var card = document.getElementById("progress-card");
    var outcome = {
      scheduled: card.dataset.waiting || "Waiting for its time.",
      running: p.items_opened !== undefined ? "Running: listings are being matched in chunks."
        : "Running: listings are being delisted in chunks.",
      completed: p.items_opened !== undefined
        ? "Completed: " + p.listings_done.toLocaleString() + " listings scanned, " +
          p.items_opened.toLocaleString() + " queued for review."
        : "Completed: " + p.listings_done.toLocaleString() + " listings delisted, " +
          p.merchants_notified.toLocaleString() + " merchants notified.",
      failed: "Failed: see the error below. Resume runs the remaining chunks; done chunks stay done.",
      cancelled: "Cancelled before it started: nothing was changed."
    }[p.status];
    text("outcome", outcome || "");
    text("error", p.error || "");
    toggle("error", !!p.error);
    toggle("stalled", p.stalled);
    toggle("resume-form", p.status === "failed" || p.stalled);
    toggle("cancel-form", p.status === "scheduled");
    text("started-at", p.started_at ? utc(p.started_at) : "–");
    text("finished-at", p.finished_at ? utc(p.finished_at) : "–");
  }

  function poll(card) {
    fetch(card.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (progress) {
        if (progress) render(progress);
        if (!progress || !progress.finished || progress.status === "failed") {
          setTimeout(function () { poll(card); }, progress && progress.status === "failed" ? 5000 : 1000);
        }
      })
      .catch(function () { setTimeout(function () { poll(card); }, 3000); });
  }

  setWidths();
  var card = document.getElementById("progress-card");
  if (card) poll(card);
})();
