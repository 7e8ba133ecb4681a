// The campaign page's progress panel: refreshed from its JSON feed every 5 s while the
// campaign runs (a static file: the CSP forbids inline scripts).
(function () {
  "use strict";
  function refresh(panel) {
    fetch(panel.dataset.feed, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) return;
        panel.dataset.status = p.status;
        panel.querySelector('[data-field="status_display"]').textContent = p.status_display;
        panel.querySelector('[data-field="status_reason"]').textContent = p.status_reason;
        Object.keys(p.counts).forEach(function (key) {
          var cell = panel.querySelector('[data-count="' + key + '"]');
          if (cell) cell.textContent = p.counts[key];
        });
        var list = panel.querySelector('[data-field="next_attempts"]');
        list.replaceChildren();
        (p.next_attempts.length ? p.next_attempts : [null]).forEach(function (a) {
          var li = document.createElement("li");
          li.textContent = a ? a.contact + " (#" + a.number + ") at " + a.due_at : "none";
          list.appendChild(li);
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".campaign-progress").forEach(function (panel) {
      setInterval(function () {
        if (panel.dataset.status === "running") refresh(panel);
      }, 5000);
    });
  });
})();
