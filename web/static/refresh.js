// Reload the call list every few seconds (data-refresh-s on <body>) so new calls and the lines'
// live state appear by themselves — but never while someone is listening to a recording, and
// not while the tab is hidden.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh-s")) || 10;

  function listening() {
    var players = document.getElementsByTagName("audio");
    for (var i = 0; i < players.length; i++) {
      var p = players[i];
      // Playing, seeking, or paused part-way through: reloading would lose their place.
      if (!p.paused || p.seeking || (p.currentTime > 0 && !p.ended)) {
        return true;
      }
    }
    return false;
  }

  window.setInterval(function () {
    if (!document.hidden && !listening()) {
      window.location.reload();
    }
  }, seconds * 1000);
})();
