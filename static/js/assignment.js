// The images page: a box that selects every image of the page, and the count of the
// selected ones on the button that assigns them.
(function () {
  "use strict";
  const form = document.getElementById("select-images");
  if (!form) {
    return;
  }
  const all = document.getElementById("select-all");
  const button = document.getElementById("assign-selected");
  const said = document.getElementById("selected-count");
  const boxes = Array.from(form.querySelectorAll("input.pick-image"));

  function update() {
    const picked = boxes.filter((box) => box.checked).length;
    button.disabled = picked === 0;
    button.textContent = picked ? `Assign ${picked} selected` : "Assign selected";
    said.textContent = picked
      ? `${picked} of ${boxes.length} on this page selected.`
      : "Tick images below, then assign them.";
    all.checked = picked === boxes.length;
    all.indeterminate = picked > 0 && picked < boxes.length;
  }

  all.hidden = false;
  all.addEventListener("change", () => {
    boxes.forEach((box) => {
      box.checked = all.checked;
    });
    update();
  });
  boxes.forEach((box) => box.addEventListener("change", update));
  update();
})();
