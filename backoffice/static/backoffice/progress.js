// Progress bars: widths from data-percent (no inline styles), and on a removal's page a
// poll of its progress endpoint every second until the removal ends.
(function () {
  "use strict";

  function setWidths() {
    document.querySelectorAll(".progress > .bar[data-percent]").forEach(function (bar) {
      bar.style.width = Math.min(100, parseFloat(bar.dataset.percent) || 0) + "%";
    });
  }

  // The page's words, translated by the template into data attributes on the progress card
  // (no JavaScript catalogue); the English here is only the fallback.
  function words(card) {
    var data = card ? card.dataset : {};
    return {
      s: data.unitSeconds || "s",
      min: data.unitMinutes || "min",
      h: data.unitHours || "h",
      waiting: data.waiting || "Waiting for its time.",
      running: data.running,
      completed: data.completed,
      failed: data.failed || "Failed: see the error below. Resume runs the remaining chunks; done chunks stay done.",
      cancelled: data.cancelled || "Cancelled before it started: nothing was changed."
    };
  }

  // "Completed: {done} listings delisted" with each {name} replaced by its value.
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
    });
  }

  function formatSeconds(seconds, w) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return Math.round(seconds) + " " + w.s;
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " " + w.min + " " + Math.round(seconds % 60) + " " + w.s;
    return Math.floor(minutes / 60) + " " + w.h + " " + (minutes % 60) + " " + w.min;
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
    var card = document.getElementById("progress-card");
    var w = words(card);
    text("eta", p.status === "running" ? formatSeconds(p.eta_seconds, w) : "–");
    text("chunks-done", p.chunks_done);
    text("chunks-total", p.chunks_total);
    text("notified", p.merchants_notified.toLocaleString());
    if (p.listings_read !== undefined) {  // a scan: what it looked at is read + skipped
      text("read", p.listings_read.toLocaleString());
      text("skipped", p.listings_skipped.toLocaleString());
    }
    var badge = document.getElementById("status-badge");
    badge.textContent = p.status_label;
    badge.className = "badge " + p.status;
    var scan = p.items_opened !== undefined;
    var outcome = {
      scheduled: w.waiting,
      running: w.running || (scan ? "Running: listings are being matched in chunks."
        : "Running: listings are being delisted in chunks."),
      completed: fill(
        w.completed || (scan ? "Completed: {done} listings scanned, {opened} queued for review."
          : "Completed: {done} listings delisted, {notified} merchants notified."),
        {
          done: p.listings_done.toLocaleString(),
          notified: p.merchants_notified.toLocaleString(),
          opened: scan ? p.items_opened.toLocaleString() : "",
          read: scan ? p.listings_read.toLocaleString() : "",
          skipped: scan ? p.listings_skipped.toLocaleString() : ""
        }
      ),
      failed: w.failed,
      cancelled: w.cancelled
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
