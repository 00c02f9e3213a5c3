// The calls list: "select every call on this page", and the Download selected button says how
// many are ticked (and is off while none is), as does Export selected. Without script the form still works.
"use strict";
(function () {
  const form = document.getElementById("zip-form");
  if (!form) return;
  const all = document.getElementById("pick-all");
  const button = document.getElementById("download-selected");
  const exporting = document.getElementById("export-selected");   // managers: onto the USB stick
  const boxes = () => Array.from(form.querySelectorAll('input[type=checkbox][name="id"]'));

  function update() {
    const ticked = boxes().filter((b) => b.checked).length;
    button.textContent = ticked ? `Download selected (${ticked})` : "Download selected";
    button.disabled = ticked === 0;
    if (exporting) {
      exporting.textContent = ticked ? `Export selected (${ticked}) to the USB stick` : "Export selected to the USB stick";
      exporting.disabled = ticked === 0;
    }
    if (all) {
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    }
  }

  if (all && boxes().length) {
    all.hidden = false;
    all.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      update();
    });
  }
  form.addEventListener("change", (e) => {
    if (e.target !== all) update();
  });
  update();
})();
