// The export page: the stick, the progress bar and its words, from /export/progress once a
// second while the tab is visible. When an export starts or ends (here, by the box's button or
// from another browser), or the recorder starts or stops, the page reloads to show the outcome
// and the right buttons. Only text and attributes change. Without script the page reloads itself
// while it copies.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-progress-url");
  if (!url || !window.fetch) { return; }
  var running = document.body.getAttribute("data-running") === "1";
  var recorder = document.body.getAttribute("data-recorder") === "1";

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && typeof text === "string" && el.textContent !== text) { el.textContent = text; }
  }

  function show(said) {
    if (said.running !== running || (said.recorder === null) !== recorder) {
      window.location.reload();
      return false;
    }
    setText("export-stick", said.stick);
    if (said.running) {
      var bar = document.getElementById("export-bar");
      if (bar && typeof said.fraction === "number") {
        bar.value = said.fraction;
        bar.textContent = Math.round(said.fraction * 100) + "%";
      }
      setText("export-progress", said.progress);
    }
    return true;
  }

  function poll() {
    if (document.hidden) { window.setTimeout(poll, 1000); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (said) {
        if (said === null || show(said)) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
