// Keyboard shortcuts for the moderation queue and item pages. Each shortcut
// is an element with data-shortcut="key"; the pages list them. Without this
// file every action is still a plain form.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tr.queue-row"));
  }

  function currentRow() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("tr.queue-row") : null;
  }

  function focusRow(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(currentRow());
    var next = list[Math.min(Math.max(index + step, 0), list.length - 1)];
    if (index === -1) next = list[0];
    var link = next.querySelector(".item-link");
    if (link) link.focus();
  }

  function queueKey(key) {
    var row = currentRow();
    if (key === "j") { focusRow(1); return true; }
    if (key === "k") { focusRow(-1); return true; }
    if (!row) return false;
    if (key === "x") {
      var box = row.querySelector("input[type=checkbox]");
      if (box) box.checked = !box.checked;
      return true;
    }
    if (key === "c") {
      var claim = row.querySelector(".claim-button");
      if (claim) claim.click();
      return true;
    }
    if (key === "o") {
      row.querySelector(".item-link").click();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.getElementById("queue") && queueKey(event.key)) {
      event.preventDefault();
      return;
    }
    var element = document.querySelector('[data-shortcut="' + event.key + '"]');
    if (!element) return;
    event.preventDefault();
    if (element.tagName === "SUMMARY") {
      var details = element.parentElement;
      details.open = true;
      var field = details.querySelector("input:not([type=hidden]), select, button");
      if (field) field.focus();
      return;
    }
    element.click();
  });
})();
