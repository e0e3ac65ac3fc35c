// The upload and export forms show only the options of the chosen format (without this
// script every option shows, headed by its format). A form may arrive later, swapped in by
// htmx when a followed job fails, so the listeners sit on the document.
(function () {
  "use strict";

  function show(form) {
    var chosen = form.querySelector("input[name=format]:checked");
    var format = chosen ? chosen.value : "";
    form.querySelectorAll("[data-format]").forEach(function (part) {
      part.hidden = part.getAttribute("data-format") !== format;
    });
  }

  function showAll() {
    document.querySelectorAll("#import-form, #export-form").forEach(show);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("#import-form, #export-form");
    if (form && event.target.name === "format") {
      show(form);
    }
  });
  document.addEventListener("htmx:afterSettle", showAll);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showAll);
  } else {
    showAll();
  }
})();
