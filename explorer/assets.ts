/**
 * Static assets of the explorer: the style sheet and the small vanilla script (run selector,
 * sortable and filterable concept table). No framework, no network.
 */

/** `assets/style.css`. */
export const STYLE_CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#1f2937;color:#eee;padding:.5em 1em;position:sticky;top:0;z-index:2}
nav a{color:#cde;margin-right:.2em} nav .run-select{float:right}
main{padding:1em 2em;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#eef;cursor:default;position:sticky;top:2.2em}
th.sortable{cursor:pointer} th.sorted-asc::after{content:" ▲"} th.sorted-desc::after{content:" ▼"}
td.text,th.text{text-align:left}
.prov{font-size:11px;color:#555;margin:.2em 0 1em}
figure{margin:.5em 0 1.5em;background:#fff;display:inline-block;padding:.5em;border:1px solid #eee}
.filters{display:flex;flex-wrap:wrap;gap:.4em 1.2em;margin:.5em 0;font-size:13px}
.filters input{width:6em}
.examples{display:flex;flex-wrap:wrap;gap:.6em}
.example{background:#fff;border:1px solid #ddd;padding:.4em;width:220px;font-size:12px;overflow-wrap:anywhere}
.example img{max-width:210px;max-height:160px;display:block}
.act{font-weight:bold;color:#0a5}
.holds-true{color:#070} .holds-false{color:#a00}
.grid{display:flex;flex-wrap:wrap;gap:2em}
`;

/** `assets/app.js`: run selector, table sorting and filtering. */
export const APP_JS = `"use strict";
(function () {
  var sel = document.getElementById("run-select");
  if (sel) sel.addEventListener("change", function () {
    if (!sel.value) return;
    location.href = sel.dataset.root + "runs/" + encodeURIComponent(sel.value) + "/" + sel.dataset.view;
  });
  var table = document.getElementById("concept-table");
  if (!table) return;
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var count = document.getElementById("shown-count");
  function num(row, col) {
    var v = row.getAttribute("data-" + col);
    return v === null || v === "" ? NaN : Number(v);
  }
  function applyFilters() {
    var inputs = document.querySelectorAll(".filters input[data-col]");
    var shown = 0;
    rows.forEach(function (row) {
      var ok = true;
      inputs.forEach(function (inp) {
        if (inp.value === "") return;
        var v = num(row, inp.dataset.col), lim = Number(inp.value);
        if (isNaN(v)) { ok = false; return; }
        if (inp.dataset.bound === "min" && v < lim) ok = false;
        if (inp.dataset.bound === "max" && v > lim) ok = false;
      });
      row.hidden = !ok;
      if (ok) shown++;
    });
    if (count) count.textContent = String(shown);
  }
  document.querySelectorAll(".filters input[data-col]").forEach(function (inp) {
    inp.addEventListener("input", applyFilters);
  });
  heads.forEach(function (th) {
    var col = th.dataset.col;
    if (!col) return;
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var desc = !th.classList.contains("sorted-desc");
      heads.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(desc ? "sorted-desc" : "sorted-asc");
      rows.sort(function (a, b) {
        var x = num(a, col), y = num(b, col);
        if (isNaN(x) && isNaN(y)) return num(a, "concept") - num(b, "concept");
        if (isNaN(x)) return 1;
        if (isNaN(y)) return -1;
        return (desc ? y - x : x - y) || num(a, "concept") - num(b, "concept");
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  });
  applyFilters();
})();
`;

/** `assets/favicon.svg` (also answers `/favicon.ico` requests of the server). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#0072b2"/><circle cx="8" cy="8" r="3" fill="#e69f00"/></svg>';
