/* The draft editor: asks before a lead leaves the page with changes that are not saved
 * (typed since the page loaded, or shown after the Preview button, which saves nothing).
 * Saving, previewing and publishing send the form, which is not leaving. The live preview
 * itself is htmx's (the textarea's hx-post); the page works without this script. */
(function () {
  "use strict";

  const form = document.getElementById("draft-form");
  if (!form) return;
  let unsaved = document.getElementById("unsaved-note") !== null;

  function changed() {
    unsaved = true;
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function () {
    unsaved = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (!unsaved) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
