// Call page: a stereo waveform of both legs (peaks computed while recording, fetched as JSON),
// a playhead, click-to-seek, listening to one leg alone through the Web Audio API, playback
// speed, skipping 10 s back or forward, and keys for them (not while typing in a field).
(function () {
  "use strict";
  var section = document.getElementById("player");
  var audio = document.getElementById("audio");
  var canvas = document.getElementById("waveform");
  if (!section || !audio || !canvas) { return; }
  var peaks = null;
  var pauses = [];    // [{start_s, length_s}]: stretches held silent for a card payment
  try { pauses = JSON.parse(section.getAttribute("data-pauses") || "[]"); } catch (e) { pauses = []; }
  var lead = parseFloat(section.getAttribute("data-lead-s")) || 0;   // the decoded file starts this late

  // The pause windows, shaded across both lanes (an open one reaches the end).
  function drawPauses(ctx, w, h) {
    var total = length();
    if (!total) { return; }
    ctx.fillStyle = "rgba(201, 138, 0, 0.28)";
    pauses.forEach(function (p) {
      var from = Math.max(0, (p.start_s + lead) / total * w);
      var to = p.length_s === null ? w : Math.min(w, (p.start_s + lead + p.length_s) / total * w);
      ctx.fillRect(from, 0, Math.max(2, to - from), h);
    });
  }

  function draw() {
    // Draw at the size the canvas is shown, in device pixels, so text and bars stay sharp.
    var ratio = window.devicePixelRatio || 1;
    var cssW = canvas.clientWidth || 960, cssH = canvas.clientHeight || 140;
    if (canvas.width !== Math.round(cssW * ratio) || canvas.height !== Math.round(cssH * ratio)) {
      canvas.width = Math.round(cssW * ratio);
      canvas.height = Math.round(cssH * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    var w = cssW, h = cssH, half = h / 2;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#eef2f5";
    ctx.fillRect(0, 0, w, h);
    if (peaks) {
      [["near", 0, "#1d4e6b"], ["far", half, "#7a4e9a"]].forEach(function (lane) {
        var values = peaks[lane[0]], top = lane[1], mid = top + half / 2;
        ctx.fillStyle = lane[2];
        var n = values.length;
        for (var x = 0; x < w; x++) {
          var from = Math.floor(x * n / w), to = Math.max(from + 1, Math.floor((x + 1) * n / w));
          var peak = 0;
          for (var i = from; i < to && i < n; i++) { if (values[i] > peak) { peak = values[i]; } }
          var bar = Math.max(1, (peak / 255) * (half / 2 - 2));
          ctx.fillRect(x, mid - bar, 1, bar * 2);
        }
      });
      ctx.fillStyle = "#5b6570";
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText("office", 4, 12);
      ctx.fillText("line", 4, half + 12);
    }
    drawPauses(ctx, w, h);
    if (length()) {
      var px = Math.round(audio.currentTime / length() * w);
      ctx.fillStyle = "#b42318";
      ctx.fillRect(px, 0, 2, h);
    }
  }

  fetch(section.getAttribute("data-peaks-url"), { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (doc) { peaks = doc; canvas.setAttribute("data-peaks", doc ? "loaded" : "none"); draw(); })
    .catch(function () { draw(); });

  ["timeupdate", "seeked", "loadedmetadata", "durationchange"].forEach(function (e) {
    audio.addEventListener(e, draw);
  });
  window.addEventListener("resize", draw);

  // The audio is fetched only when someone listens (preload="none": opening the page is not
  // listening, and the audit log says so); until then the length comes from the peaks.
  function length() {
    if (audio.duration && isFinite(audio.duration)) { return audio.duration; }
    return peaks && peaks.per_s ? peaks.near.length / peaks.per_s : 0;
  }
  canvas.addEventListener("click", function (e) {
    var total = length();
    if (!total) { return; }
    var rect = canvas.getBoundingClientRect();
    audio.currentTime = (e.clientX - rect.left) / rect.width * total;
    if (audio.paused) { audio.play(); }
  });

  // One leg alone: split the stereo file, send the chosen leg to both ears.
  var graph = null;
  function buildGraph() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return null; }
    var ctx = new Ctx();
    var source = ctx.createMediaElementSource(audio);
    var split = ctx.createChannelSplitter(2), merge = ctx.createChannelMerger(2);
    var g = {};
    [["nearL", 0, 0], ["nearR", 0, 1], ["farL", 1, 0], ["farR", 1, 1]].forEach(function (r) {
      var gain = ctx.createGain();
      split.connect(gain, r[1]);
      gain.connect(merge, 0, r[2]);
      g[r[0]] = gain;
    });
    source.connect(split);
    merge.connect(ctx.destination);
    // What each ear gets: shown on the output meters (and as data-ear-* attributes, which
    // say which tone dominates each ear).
    var ears = ctx.createChannelSplitter(2);
    merge.connect(ears);
    var analysers = [0, 1].map(function (ch) {
      var a = ctx.createAnalyser();
      a.fftSize = 4096;
      ears.connect(a, ch);
      return a;
    });
    window.setInterval(function () { measure(ctx, analysers); }, 250);
    return { ctx: ctx, gains: g };
  }
  function measure(ctx, analysers) {
    if (audio.paused) { return; }
    ["left", "right"].forEach(function (ear, i) {
      var a = analysers[i];
      var bins = new Float32Array(a.frequencyBinCount);
      a.getFloatFrequencyData(bins);
      var best = 0;
      for (var k = 2; k < bins.length; k++) { if (bins[k] > bins[best]) { best = k; } }
      var samples = new Float32Array(a.fftSize);
      a.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var j = 0; j < samples.length; j++) { sum += samples[j] * samples[j]; }
      var db = 20 * Math.log10(Math.sqrt(sum / samples.length) + 1e-9);
      var meter = document.getElementById("ear-" + ear);
      if (meter) { meter.value = Math.max(-70, Math.min(0, db)); }
      section.setAttribute("data-ear-" + ear + "-hz", db > -60 ? String(Math.round(best * ctx.sampleRate / a.fftSize)) : "0");
    });
  }
  function setLeg(leg) {
    if (!graph) { graph = buildGraph(); }
    if (!graph) { return; }
    if (graph.ctx.state === "suspended") { graph.ctx.resume(); }
    var on = { both: ["nearL", "farR"], near: ["nearL", "nearR"], far: ["farL", "farR"] }[leg];
    Object.keys(graph.gains).forEach(function (k) {
      graph.gains[k].gain.value = on.indexOf(k) >= 0 ? 1 : 0;
    });
    section.setAttribute("data-leg", leg);
  }
  Array.prototype.forEach.call(document.querySelectorAll("input[name=leg]"), function (input) {
    input.addEventListener("change", function () { if (input.checked) { setLeg(input.value); } });
  });
  audio.addEventListener("play", function () {
    var checked = document.querySelector("input[name=leg]:checked");
    if (checked && checked.value !== "both") { setLeg(checked.value); }
    else if (graph && graph.ctx.state === "suspended") { graph.ctx.resume(); }
  });

  // -- speed, skip, keys -------------------------------------------------------------------------
  // The speeds are the page's buttons; the chosen one is kept for the next call's page (someone
  // going through a day's calls at 1.5x wants them all at 1.5x). Pitch stays (the browser's
  // preservesPitch), and the one-leg graph above is fed at whatever rate the element plays.
  var SKIP_S = 10, SPEED_KEY = "hookline-speed";
  var speedButtons = Array.prototype.slice.call(section.querySelectorAll("button[data-speed]"));
  var speeds = speedButtons.map(function (b) { return Number(b.getAttribute("data-speed")); });
  var playButton = document.getElementById("play-pause");

  function showSpeed() {
    speedButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(Number(b.getAttribute("data-speed")) === audio.playbackRate));
    });
  }
  function setSpeed(rate) {
    if (speeds.indexOf(rate) < 0) { return; }
    audio.defaultPlaybackRate = rate;     // what a reload of the element goes back to
    audio.playbackRate = rate;
    showSpeed();
    try { window.localStorage.setItem(SPEED_KEY, String(rate)); } catch (e) { /* storage off: fine */ }
  }
  function stepSpeed(by) {
    var i = speeds.indexOf(audio.playbackRate);
    if (i < 0) { i = speeds.indexOf(1); }
    setSpeed(speeds[Math.max(0, Math.min(speeds.length - 1, i + by))]);
  }
  function skip(by) {
    var total = length(), t = Math.max(0, audio.currentTime + by);
    audio.currentTime = total ? Math.min(t, total) : t;
    draw();
  }
  function playPause() {
    if (!audio.paused) {
      audio.pause();
    } else {
      var playing = audio.play();
      if (playing && playing.catch) { playing.catch(function () { showPlaying(); }); }   // e.g. the file is gone
    }
    showPlaying();      // now: "paused" changes at once, its event comes later
  }
  function showPlaying() {
    if (playButton) { playButton.textContent = audio.paused ? "Play" : "Pause"; }
  }

  speedButtons.forEach(function (b) {
    b.addEventListener("click", function () { setSpeed(Number(b.getAttribute("data-speed"))); });
  });
  [["skip-back", -SKIP_S], ["skip-forward", SKIP_S]].forEach(function (s) {
    var button = document.getElementById(s[0]);
    if (button) { button.addEventListener("click", function () { skip(s[1]); }); }
  });
  if (playButton) { playButton.addEventListener("click", playPause); }
  ["play", "pause", "ended"].forEach(function (e) { audio.addEventListener(e, showPlaying); });
  audio.addEventListener("ratechange", showSpeed);   // also when set from the browser's own menu

  // Keys act anywhere on the page except in a field (a note, the leg choice), and leave the
  // browser's own shortcuts (Ctrl, Alt, Cmd) alone. Space on a focused button or link presses it,
  // and on the audio element's own controls it is theirs (they act on its key-up: both would
  // play and pause at once).
  function typing(el) {
    return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].indexOf(el.tagName) >= 0);
  }
  var KEYS = {
    " ": playPause, "ArrowLeft": function () { skip(-SKIP_S); }, "ArrowRight": function () { skip(SKIP_S); },
    "[": function () { stepSpeed(-1); }, "<": function () { stepSpeed(-1); },
    "]": function () { stepSpeed(1); }, ">": function () { stepSpeed(1); }
  };
  document.addEventListener("keydown", function (e) {
    var act = KEYS[e.key];
    if (!act || e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey || typing(e.target)) { return; }
    if (e.key === " " && e.target && ["BUTTON", "A", "SUMMARY", "AUDIO"].indexOf(e.target.tagName) >= 0) { return; }
    e.preventDefault();         // no page scroll, and the audio element's own controls do not act twice
    act();
  });

  var saved = null;
  try { saved = Number(window.localStorage.getItem(SPEED_KEY)); } catch (e) { /* storage off */ }
  if (saved && speeds.indexOf(saved) >= 0) { setSpeed(saved); } else { showSpeed(); }
})();
