// Dashboard: the USB sticks, from /sticks every few seconds while the tab is visible, so a stick
// plugged in, ejected or filling up shows without a reload. Items are copies of the page's own
// template filled with text only: a stick's label (chosen by whoever formatted it) is never HTML.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-sticks-url");
  if (!url || !window.fetch) { return; }
  var EVERY_MS = 3000;
  var busy = false;

  function item(s) {
    var template = document.getElementById("stick-template");
    var li = template.content.firstElementChild.cloneNode(true);
    li.className = "stick" + (s.problem ? " stick-problem" : "");
    li.querySelector(".stick-label").textContent = s.label;
    li.querySelector(".stick-fs").textContent = s.filesystem;
    li.querySelector(".stick-space").textContent = s.space;
    var problem = li.querySelector(".stick-problem-text");
    problem.textContent = s.problem || "";
    problem.hidden = !s.problem;
    return li;
  }

  function show(sticks) {
    var list = document.getElementById("sticks");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    sticks.forEach(function (s) { list.appendChild(item(s)); });
    list.hidden = sticks.length === 0;
    document.getElementById("sticks-empty").hidden = sticks.length > 0;
    var exporting = document.getElementById("export-link");    // managers: the export page
    if (exporting) { exporting.hidden = sticks.length === 0; }
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) { if (doc && Array.isArray(doc.sticks)) { show(doc.sticks); } })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, EVERY_MS);
}());
