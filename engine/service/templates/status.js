(function () {
  "use strict";
  var UNITS = [[86400, " d"], [3600, " h"], [60, " min"], [1, "s"]];
  function rel(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var d = Math.round((t - Date.now()) / 1000), a = Math.abs(d);
    if (a < 1) return "now";
    for (var i = 0; i < UNITS.length; i++) {
      if (a >= UNITS[i][0]) {
        var n = Math.floor(a / UNITS[i][0]) + UNITS[i][1];
        return d > 0 ? "in " + n : n + " ago";
      }
    }
    return "";
  }
  function tick() {
    document.querySelectorAll("[data-at]").forEach(function (el) {
      el.textContent = rel(el.getAttribute("data-at"));
    });
  }
  var down = null;
  function refresh() {
    fetch(window.location.href, {cache: "no-store", headers: {Accept: "text/html"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("content");
        if (!fresh) throw new Error("not a status page");
        // pipelines a person opened stay open across refreshes
        document.querySelectorAll("details.pipeline[open]").forEach(function (el) {
          var same = fresh.querySelector("#" + CSS.escape(el.id));
          if (same) same.open = true;
        });
        document.getElementById("content").replaceWith(document.adoptNode(fresh));
        document.title = doc.title;
        down = null;
        document.getElementById("conn").hidden = true;
        tick();
      })
      .catch(function (err) {
        var conn = document.getElementById("conn");
        down = down || new Date();
        conn.textContent = "No fresh status since " + down.toISOString().slice(11, 19) + " UTC (" +
          (err && err.message || "no answer") + "); showing the last state, retrying every {{ refresh }} s.";
        conn.hidden = false;
      });
  }
  function openTarget() {
    var id = window.location.hash.slice(1);
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") el.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.documentElement.setAttribute("data-live", "1");  // the page's script runs
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, {{ refresh }} * 1000);
})();
