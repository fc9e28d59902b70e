// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt;
    if (!target || !target.getAttribute) return;
    // A background job finished: say so for screen-reader users.
    var state = target.getAttribute("data-job-state");
    if (state === "succeeded" || state === "failed" || state === "canceled") {
      announce("Background job " + state + ".");
    }
  });

  // Requests that could not reach the server at all get a visible message.
  document.addEventListener("htmx:sendError", function () {
    var messages = document.getElementById("messages");
    if (!messages) return;
    var note = document.createElement("p");
    note.className = "flash flash-error";
    note.setAttribute("role", "alert");
    note.textContent = "Tessera could not be reached. Check your connection and try again.";
    messages.replaceChildren(note);
  });

  // The header balance follows every points movement (HX-Trigger from the
  // server: {"balance-changed": {"vested": N}}) without a reload.
  document.body.addEventListener("balance-changed", function (event) {
    var detail = event.detail || {};
    if (typeof detail.vested !== "number") return;
    var link = document.getElementById("header-balance");
    if (!link) return;
    var shown = link.querySelector("[data-balance]");
    if (shown) shown.textContent = detail.vested.toLocaleString("en-US");
    link.setAttribute("aria-label", "Balance: " + detail.vested);
  });

  // "Select all on this page": ticks or clears every result's box.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var name = box.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(
      function (other) { other.checked = box.checked; }
    );
  });
})();
