// Dashboard: refresh each line's state, call time and level meters, and the warnings, from
// /api/v1/status once a second while the tab is visible; and today's calls from /today when
// their count changes, while one of them is still recording, and every few seconds anyway (a
// call kept or deleted elsewhere, midnight). Only text and attributes change, and cards and
// rows are copies of the page's own templates: no HTML from the server is ever inserted.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-status-url");
  var todayUrl = document.body.getAttribute("data-today-url");
  if (!url || !window.fetch) { return; }
  var TODAY_EVERY = 5;        // polls between refreshes of today's list when nothing hints at a change

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
    meter.textContent = (dbfs === null || dbfs === undefined) ? "—" : Math.round(v) + " dBFS";
  }

  function fromTemplate(id) {
    var template = document.getElementById(id);
    return template ? template.content.firstElementChild.cloneNode(true) : null;
  }

  // A line that began reporting after the page was drawn (the recorder started later): its
  // card is a copy of the page's own template, filled in with text only.
  function newCard(s) {
    var list = document.getElementById("line-cards");
    var card = fromTemplate("line-card-template");
    if (!list || !card || typeof s.line !== "number") { return null; }
    card.id = "line-" + s.line;
    card.setAttribute("data-line", String(s.line));
    var empty = list.querySelector(".empty");
    if (empty) { list.removeChild(empty); }
    list.appendChild(card);
    return card;
  }

  // A stopped recorder's cards say so, grey, with no call time and no meters (the API sends
  // them as state "stopped"); they come back to life by themselves when it reports again.
  function updateLines(lines) {
    lines.forEach(function (s) {
      var card = document.getElementById("line-" + s.line) || newCard(s);
      if (!card) { return; }
      card.className = "line-card state-" + s.state;
      card.querySelector(".line-name").textContent = s.name;
      card.querySelector(".state-text").textContent = s.state_text;
      card.querySelector(".call-time").textContent = s.call_s === null ? "" : duration(s.call_s);
      card.querySelector(".levels").hidden = s.state === "stopped";
      setMeter(card.querySelector(".level-near"), s.level_near_dbfs);
      setMeter(card.querySelector(".level-far"), s.level_far_dbfs);
      var form = card.querySelector(".pause-form");
      if (form) {   // only for those who may pause: a call being recorded, paused or not
        form.hidden = s.state !== "recording";
        form.action = form.getAttribute("data-base") + s.line + "/" + (s.paused ? "resume" : "pause");
        form.querySelector(".pause-button").textContent = s.paused ? "Resume recording" : "Pause recording";
      }
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

  // -- today's calls ---------------------------------------------------------------------------
  var todayShown = null, todayCount = null, todayTicks = 0, todayBusy = false;

  function todayRow(c) {
    var li = fromTemplate("today-row-template");
    li.setAttribute("data-call", c.id);
    li.querySelector("a").setAttribute("href", c.url);
    var time = li.querySelector("time");
    time.setAttribute("datetime", c.started_at);
    time.textContent = c.time;
    li.querySelector(".what").textContent = c.what;
    var badge = li.querySelector(".badge");
    badge.className = "badge status-" + c.status;
    badge.textContent = c.status_text;
    badge.hidden = c.status === "complete";
    if (c.reason) { badge.setAttribute("title", c.reason); } else { badge.removeAttribute("title"); }
    return li;
  }

  function showToday(doc) {
    var text = JSON.stringify(doc);
    if (text === todayShown) { return; }      // redraw only what changed: a link keeps its focus
    todayShown = text;
    var list = document.getElementById("today-list");
    if (!list) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    doc.calls.forEach(function (c) { list.appendChild(todayRow(c)); });
    list.hidden = doc.calls.length === 0;
    document.getElementById("today-empty").hidden = doc.calls.length > 0;
    setTodayCount(doc.count);
  }

  function setTodayCount(n) {
    document.getElementById("today-count").textContent = String(n);
    document.getElementById("today-noun").textContent = n === 1 ? "call" : "calls";
  }

  function recordingShown() {
    return document.querySelector("#today-list .status-recording") !== null;
  }

  function refreshToday(count) {
    todayTicks += 1;
    var due = count !== todayCount || recordingShown() || todayTicks >= TODAY_EVERY;
    if (!todayUrl || todayBusy || !due) { return; }
    todayBusy = true;
    todayTicks = 0;
    fetch(todayUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var json = r.ok && (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        return json ? r.json() : null;
      })
      .then(function (doc) {
        if (doc) { todayCount = count; showToday(doc); }
      })
      .catch(function () { /* try again at the next poll */ })
      .then(function () { todayBusy = false; });
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); }   // logged out: go to the login page
        return r.ok ? r.json() : null;
      })
      .then(function (doc) {
        if (!doc) { return; }
        updateLines(doc.lines);
        updateWarnings(doc.warnings);
        setTodayCount(doc.today_calls);
        refreshToday(doc.today_calls);
        document.body.setAttribute("data-status-at", doc.recorder.updated_at || "");
      })
      .catch(function () { /* the box is restarting: try again next second */ });
  }
  todayCount = Number(document.getElementById("today-count").textContent);
  window.setInterval(poll, 1000);
})();
