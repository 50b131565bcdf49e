/**
 * Static assets of the explorer: the style sheet and the small vanilla script (run selector,
 * search box, sortable and filterable concept table with the dead-concept toggle, the canvas map).
 * No framework, no network: data files are scripts (`data/search.js`, `data/map.js`) so that
 * the static report works over file://.
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
details.prov summary{cursor:pointer} details.prov p{margin:.2em 0}
nav .search{position:relative;display:inline-block;margin-left:1em}
nav .search input{width:22em}
#search-results{position:absolute;left:0;top:1.9em;background:#fff;color:#222;border:1px solid #aaa;min-width:26em;max-height:70vh;overflow:auto;z-index:5;padding:.3em;font-size:13px}
#search-results a{color:#035} .search-hit small{color:#777} .search-head{font-weight:bold;margin-top:.4em}
.map-wrap{position:relative;display:inline-block}
#map-canvas{background:#fff;max-width:100%;touch-action:none}
#map-tip{position:absolute;background:#222;color:#fff;font-size:12px;padding:2px 6px;border-radius:3px;pointer-events:none;white-space:nowrap}
td.label{min-width:12em;max-width:28em;overflow-wrap:break-word}
.thumb{display:block}
`;

/** `assets/app.js`: run selector, search box, table sorting, filtering and the dead toggle, map. */
export const APP_JS = `"use strict";
(function () {
  var sel = document.getElementById("run-select");
  if (sel) sel.addEventListener("change", function () {
    if (!sel.value) return;
    location.href = sel.dataset.root + "runs/" + encodeURIComponent(sel.value) + "/" + sel.dataset.view;
  });
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function loadScript(src, global, key, cb) {
    if (window[global] && window[global][key]) return cb(window[global][key]);
    var s = el("script", { src: src });
    s.onload = function () { cb(window[global] && window[global][key]); };
    s.onerror = function () { cb(null); };
    document.head.appendChild(s);
  }
  // ---- search box ---------------------------------------------------------------------------
  var box = document.getElementById("search-box");
  var out = document.getElementById("search-results");
  if (box && out) {
    var root = box.dataset.root, slug = box.dataset.run, timer = null, seq = 0;
    var href = function (j) { return root + "runs/" + encodeURIComponent(slug) + "/concepts/" + j + ".html"; };
    var hit = function (j, name, kind, page) {
      var row = el("div", { "class": "search-hit", "data-concept": String(j), "data-match": kind });
      row.appendChild(page ? el("a", { href: href(j) }, name) : el("span", {}, name));
      row.appendChild(el("small", {}, " " + kind));
      return row;
    };
    var run = function () {
      var q = box.value.trim().toLowerCase(), my = ++seq;
      if (q === "") { out.hidden = true; out.textContent = ""; return; }
      loadScript(root + "runs/" + encodeURIComponent(slug) + "/data/search.js", "ATLAS_SEARCH", slug, function (idx) {
        if (my !== seq) return;
        out.textContent = "";
        out.hidden = false;
        // Words match at word starts ("dog" finds "dog" and "dogs", not "hotdog"); exact words rank first.
        var norm = function (s) { return " " + s.toLowerCase().replace(/[^\\p{L}\\p{N}]+/gu, " ") + " "; };
        var tokens = norm(q).trim().split(" ").filter(Boolean), num = /^#?(\\d+)$/.exec(q), hits = [];
        var match = function (s) {
          s = norm(s);
          if (!tokens.every(function (t) { return s.indexOf(" " + t) >= 0; })) return 0;
          return tokens.every(function (t) { return s.indexOf(" " + t + " ") >= 0; }) ? 2 : 1;
        };
        (idx ? idx.entries : []).forEach(function (e) {
          var score = 0, kind = "", m;
          if (num && Number(num[1]) === e[0]) { score = 100; kind = "number"; }
          else if (e[1] && (m = match(e[1]))) { score = 10 + 3 * m; kind = "label"; }
          else if (e[2] && (m = match(e[2]))) { score = 6 + m; kind = "label (text tower / truth)"; }
          else if (e[3] && (m = match(e[3]))) { score = 3 + m; kind = "caption"; }
          if (score === 0) return;
          if (e[5] & 2) score -= 1;
          hits.push({ e: e, score: score, kind: kind });
        });
        hits.sort(function (a, b) { return b.score - a.score || b.e[4] - a.e[4] || a.e[0] - b.e[0]; });
        hits.slice(0, 15).forEach(function (h) {
          out.appendChild(hit(h.e[0], "#" + h.e[0] + (h.e[1] ? " " + h.e[1] : ""), h.kind, h.e[5] & 1));
        });
        if (!hits.length) out.appendChild(el("div", { "class": "search-none" }, "no concept label or caption matches"));
        if (box.dataset.query === "1" && location.protocol.indexOf("http") === 0) {
          fetch(root + "api/query?run=" + encodeURIComponent(slug) + "&q=" + encodeURIComponent(box.value.trim()))
            .then(function (r) { return r.json(); })
            .then(function (res) {
              if (my !== seq || !res || !res.results || !res.results.length) return;
              out.appendChild(el("div", { "class": "search-head" }, "by meaning (text tower)"));
              res.results.forEach(function (r) { out.appendChild(hit(r.concept, r.label, "query", true)); });
            })
            .catch(function () {});
        }
      });
    };
    box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 120); });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { var a = out.querySelector("a"); if (a) location.href = a.getAttribute("href"); }
      if (ev.key === "Escape") { out.hidden = true; }
    });
  }
  // ---- concept table ------------------------------------------------------------------------
  var table = document.getElementById("concept-table");
  if (table) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var count = document.getElementById("shown-count");
    var showDead = document.getElementById("show-dead");
    var num = function (row, col) {
      var v = row.getAttribute("data-" + col);
      return v === null || v === "" ? NaN : Number(v);
    };
    var applyFilters = function () {
      var inputs = document.querySelectorAll(".filters input[data-col]");
      var shown = 0, dead = showDead && showDead.checked;
      rows.forEach(function (row) {
        var ok = dead || row.getAttribute("data-dead") !== "1";
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
    };
    document.querySelectorAll(".filters input[data-col]").forEach(function (inp) {
      inp.addEventListener("input", applyFilters);
    });
    if (showDead) showDead.addEventListener("change", applyFilters);
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
  }
  // ---- concept map (canvas) -----------------------------------------------------------------
  var canvas = document.getElementById("map-canvas");
  if (canvas) {
    var mroot = canvas.dataset.root, mslug = canvas.dataset.run;
    loadScript(mroot + "runs/" + encodeURIComponent(mslug) + "/data/map.js", "ATLAS_MAP", mslug, function (m) {
      if (!m) return;
      var ctx2 = canvas.getContext("2d"), tip = document.getElementById("map-tip");
      var layoutSel = document.getElementById("map-layout"), deadBox = document.getElementById("map-show-dead");
      var W = canvas.width, H = canvas.height, pad = 16, view = { s: 1, tx: 0, ty: 0 }, px = [], py = [];
      var layout = function () { return layoutSel && layoutSel.value === "umap" && m.umap ? m.umap : m.pca; };
      var visible = function (j) { return !(m.dead[j] && !(deadBox && deadBox.checked)); };
      var project = function () {
        var xy = layout(), lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
        for (var j = 0; j < m.n; j++) {
          for (var a = 0; a < 2; a++) {
            var v = xy[2 * j + a];
            if (isFinite(v)) { if (v < lo[a]) lo[a] = v; if (v > hi[a]) hi[a] = v; }
          }
        }
        var sx = (W - 2 * pad - 12) / ((hi[0] - lo[0]) || 1), sy = (H - 2 * pad - 12) / ((hi[1] - lo[1]) || 1);
        for (var q = 0; q < m.n; q++) {
          px[q] = pad + 6 + (xy[2 * q] - lo[0]) * sx;
          py[q] = H - pad - 6 - (xy[2 * q + 1] - lo[1]) * sy;
        }
      };
      var draw = function () {
        ctx2.setTransform(1, 0, 0, 1, 0, 0);
        ctx2.clearRect(0, 0, W, H);
        ctx2.strokeStyle = "#888";
        ctx2.strokeRect(0.5, 0.5, W - 1, H - 1);
        ctx2.setTransform(view.s, 0, 0, view.s, view.tx, view.ty);
        ctx2.globalAlpha = 0.75;
        for (var j = 0; j < m.n; j++) {
          if (!visible(j) || !isFinite(px[j]) || !isFinite(py[j])) continue;
          ctx2.fillStyle = m.color[j];
          ctx2.beginPath();
          ctx2.arc(px[j], py[j], m.size[j] / view.s, 0, 6.2832);
          ctx2.fill();
        }
        ctx2.globalAlpha = 1;
      };
      var nearest = function (ev) {
        var r = canvas.getBoundingClientRect();
        var x = ((ev.clientX - r.left) * (W / r.width) - view.tx) / view.s;
        var y = ((ev.clientY - r.top) * (H / r.height) - view.ty) / view.s;
        var best = -1, bd = Infinity;
        for (var j = 0; j < m.n; j++) {
          if (!visible(j)) continue;
          var d = (px[j] - x) * (px[j] - x) + (py[j] - y) * (py[j] - y);
          if (d < bd) { bd = d; best = j; }
        }
        var lim = (m.size[best] + 4) / view.s;
        return best >= 0 && bd <= lim * lim ? best : -1;
      };
      var drag = null;
      canvas.addEventListener("mousemove", function (ev) {
        if (drag) {
          view.tx = drag.tx + (ev.clientX - drag.x) * (W / canvas.getBoundingClientRect().width);
          view.ty = drag.ty + (ev.clientY - drag.y) * (H / canvas.getBoundingClientRect().height);
          drag.moved = true;
          draw();
          return;
        }
        var j = nearest(ev);
        canvas.style.cursor = j >= 0 && m.page[j] ? "pointer" : "default";
        if (!tip) return;
        if (j < 0) { tip.hidden = true; return; }
        tip.hidden = false;
        tip.textContent = m.name[j] + " · m=" + m.mod[j] + " · energy " + m.energy[j];
        tip.dataset.concept = String(j);
        var wrap = canvas.parentNode.getBoundingClientRect();
        tip.style.left = (ev.clientX - wrap.left + 12) + "px";
        tip.style.top = (ev.clientY - wrap.top + 12) + "px";
      });
      canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false }; });
      window.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
      canvas.addEventListener("mouseleave", function () { if (tip) tip.hidden = true; });
      canvas.addEventListener("click", function (ev) {
        if (drag && drag.moved) return;
        var j = nearest(ev);
        if (j >= 0 && m.page[j]) location.href = mroot + "runs/" + encodeURIComponent(mslug) + "/concepts/" + j + ".html";
      });
      canvas.addEventListener("wheel", function (ev) {
        ev.preventDefault();
        var r = canvas.getBoundingClientRect(), f = ev.deltaY < 0 ? 1.25 : 0.8;
        var cx = (ev.clientX - r.left) * (W / r.width), cy = (ev.clientY - r.top) * (H / r.height);
        view.tx = cx - (cx - view.tx) * f;
        view.ty = cy - (cy - view.ty) * f;
        view.s *= f;
        draw();
      }, { passive: false });
      if (layoutSel) layoutSel.addEventListener("change", function () { project(); draw(); });
      if (deadBox) deadBox.addEventListener("change", draw);
      canvas.atlasPoint = function (j) { return [px[j] * view.s + view.tx, py[j] * view.s + view.ty]; };
      project();
      draw();
      canvas.setAttribute("data-ready", "1");
    });
  }
})();
`;

/** `assets/favicon.svg` (also answers `/favicon.ico` requests of the server). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#0072b2"/><circle cx="8" cy="8" r="3" fill="#e69f00"/></svg>';
