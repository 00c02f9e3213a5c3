// Dashboard: refresh each line's state, call time and level meters, and the warnings, from
// /api/v1/status once a second while the tab is visible. Only text and attributes change, and
// cards are copied from the page's own template: no HTML from the server is ever inserted.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-status-url");
  if (!url || !window.fetch) { return; }

  function duration(s) {
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }

  function setMeter(meter, dbfs) {
    if (!meter) { return; }
    var v = (dbfs === null || dbfs === undefined) ? -70 : Math.max(-70, Math.min(0, dbfs));
    meter.value = v;
    meter.textContent = Math.round(v) + " dBFS";
  }

  // A line that began reporting after the page was drawn (the recorder started later): its
  // card is a copy of the page's own template, filled in with text only.
  function newCard(s) {
    var list = document.getElementById("line-cards");
    var template = document.getElementById("line-card-template");
    if (!list || !template || typeof s.line !== "number") { return null; }
    var card = template.content.firstElementChild.cloneNode(true);
    card.id = "line-" + s.line;
    card.setAttribute("data-line", String(s.line));
    card.querySelector(".line-name").textContent = s.name || ("Line " + s.line);
    var empty = list.querySelector(".empty");
    if (empty) { list.removeChild(empty); }
    list.appendChild(card);
    return card;
  }

  function updateLines(lines) {
    lines.forEach(function (s) {
      var card = document.getElementById("line-" + s.line) || newCard(s);
      if (!card) { return; }
      card.className = "line-card state-" + s.state;
      card.querySelector(".state-text").textContent = s.state;
      card.querySelector(".call-time").textContent = s.call_s === null ? "" : duration(s.call_s);
      setMeter(card.querySelector(".level-near"), s.level_near_dbfs);
      setMeter(card.querySelector(".level-far"), s.level_far_dbfs);
    });
  }

  function updateWarnings(warnings) {
    var list = document.getElementById("warnings");
    var section = document.getElementById("warnings-section");
    if (!list || !section) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    warnings.forEach(function (w) {
      var li = document.createElement("li");
      li.className = "warning warning-" + w.kind;
      li.textContent = w.message;
      list.appendChild(li);
    });
    section.hidden = warnings.length === 0;
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); }   // logged out: go to the login page
        return r.ok ? r.json() : null;
      })
      .then(function (doc) {
        if (!doc) { return; }
        updateLines(doc.lines);
        updateWarnings(doc.warnings);
        var count = document.getElementById("today-count");
        if (count) { count.textContent = String(doc.today_calls); }
        document.body.setAttribute("data-status-at", doc.recorder.updated_at || "");
      })
      .catch(function () { /* the box is restarting: try again next second */ });
  }
  window.setInterval(poll, 1000);
})();
