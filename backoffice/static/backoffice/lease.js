// The claim lease countdown on an item page (the CSP allows no inline script, hence this file).
// The server renders the time left; this counts it down each minute, warns under two minutes and
// says when the claim has ended. It counts from the page load with the browser's monotonic clock
// (performance.now), not its wall clock, so a browser clock set wrong cannot shift the deadline.
(function () {
  "use strict";
  var box = document.getElementById("claim-lease");
  var text = document.getElementById("claim-lease-text");
  if (!box || !text) return;
  var secondsLeft = parseInt(box.getAttribute("data-seconds-left"), 10);
  if (isNaN(secondsLeft)) return;
  var deadline = performance.now() + secondsLeft * 1000;
  var WARN_BELOW = 120;

  function render() {
    var left = Math.max(0, Math.floor((deadline - performance.now()) / 1000));
    var message;
    if (left <= 0) {
      message = box.getAttribute("data-over");
    } else if (left < WARN_BELOW) {
      message = box.getAttribute("data-warning");
    } else {
      message = box.getAttribute("data-template").replace("{minutes}", String(Math.floor(left / 60)));
    }
    if (text.textContent !== message) text.textContent = message;
    box.classList.toggle("warning-box", left < WARN_BELOW);
    box.classList.toggle("muted", left >= WARN_BELOW);
    return left;
  }

  function tick() {
    if (render() <= 0) return;
    // Wake just after the time left next crosses a whole minute (the text changes only then),
    // reckoned in milliseconds: whole seconds would wake a fraction of a second too early.
    var untilNextMinute = (deadline - performance.now()) % 60000;
    window.setTimeout(tick, untilNextMinute + 50);
  }

  tick();
  box.setAttribute("data-counting", "");  // the browser tests wait for this before moving the clock
})();
