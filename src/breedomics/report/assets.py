"""The page's CSS and JavaScript, inlined into it (hand-written, no library).

The script does three things: sorts a table when a header is clicked (numbers by their
value, text alphabetically, missing values last), filters its rows by the text in the
box above it, and makes the Manhattan plots interactive (a click on a point selects its
locus's lead in the lead and gene tables; a click on a chromosome name zooms onto it).
"""

from __future__ import annotations

__all__ = ["CSS", "JS"]

CSS = """
:root{--ink:#1d2430;--muted:#5b6575;--line:#d8dee8;--accent:#1f5fa8;--warn:#8a4b00;
--warnbg:#fff6e5;--okbg:#eef8ee;--sel:#ffe58a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:#f6f8fb}
header{background:#fff;border-bottom:1px solid var(--line);padding:18px 28px}
h1{margin:0 0 4px;font-size:24px}
.subtitle{margin:0;color:var(--muted)}
nav ol{display:flex;flex-wrap:wrap;gap:4px 34px;margin:10px 0 0;padding-left:18px}
nav a{color:var(--accent);text-decoration:none}
.did-not-run{color:var(--muted)}
main{max-width:1240px;margin:0 auto;padding:8px 24px 60px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;margin:22px 0;
padding:6px 22px 18px}
section.not-run{background:#fafbfc}
h2{font-size:20px;margin:14px 0 2px}
h3{font-size:16px;margin:22px 0 6px;border-top:1px solid var(--line);padding-top:14px}
h4{font-size:14px;margin:14px 0 4px}
.question{color:var(--muted);font-style:italic;margin:0 0 10px}
.note{color:var(--muted)}
.stages{margin:8px 0 0}
.stages span{display:inline-block;margin:2px 8px 2px 0;padding:1px 8px;border-radius:10px;
font-size:12px}
.stages .ran{background:var(--okbg);color:#1c6b1c}
.stages .skipped{background:#eceff3;color:var(--muted)}
dl.facts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 12px}
dl.facts div{border:1px solid var(--line);border-radius:6px;padding:4px 10px;background:#fbfcfe}
dl.facts dt{font-size:11px;color:var(--muted)}
dl.facts dd{margin:0;font-weight:600;font-size:15px}
.warnings{border:1px solid #f0c36d;background:var(--warnbg);border-radius:6px;padding:8px 14px;
margin:10px 0}
.warnings h4{margin:2px 0 4px;color:var(--warn)}
.warnings ul{margin:4px 0;padding-left:20px}
.warnings.none{border-color:#9fd09f;background:var(--okbg)}
.warnings.none h4{color:#1c6b1c}
figure{margin:10px 0}
svg.plot{width:100%;height:auto;max-width:960px;display:block;font-size:11px;
font-family:inherit}
svg.plot.scatter,svg.plot.heatmap,svg.plot.strip,svg.plot.bars,svg.plot.lines{max-width:640px}
svg.plot.qq{max-width:420px}
svg .axis{stroke:#444;fill:none}
svg .grid{stroke:#eceff3;fill:none}
svg .tick{fill:#444}
svg .label{fill:#222;font-size:12px}
svg .legend{fill:#222}
svg .err{stroke:#222;fill:none}
svg .line{fill:none;stroke-width:1.8}
svg .mean{stroke:#111;stroke-width:2.5}
svg .diag{stroke:#d62728;stroke-dasharray:4 3;fill:none}
svg .threshold{stroke:#d62728;stroke-dasharray:5 4;fill:none}
svg .cell{fill:#111;font-size:10px}
svg .cell.dark{fill:#fff}
svg .empty{fill:#f0f0f0}
svg.qq circle{fill:#1f5fa8}
svg.manhattan .band{fill:#fff}
svg.manhattan .band.odd{fill:#f3f5f9}
svg.manhattan .c0{fill:#1f5fa8}
svg.manhattan .c1{fill:#7aa6d6}
svg.manhattan circle{cursor:pointer}
svg.manhattan circle.lead{fill:#d62728;stroke:#fff;stroke-width:1}
svg.manhattan circle.lead.selected{fill:#ffb000;stroke:#111;stroke-width:2}
svg.manhattan text.chrom{cursor:zoom-in}
svg.manhattan[data-zoom=zoomed] text.chrom{cursor:zoom-out}
.mh-tools{display:flex;gap:10px;align-items:center;margin:4px 0}
.mh-info{color:var(--muted)}
button{font:inherit;white-space:nowrap;padding:2px 10px;border:1px solid var(--line);
border-radius:4px;background:#fff;
cursor:pointer}
img.png{max-width:100%;height:auto;display:block;border:1px solid var(--line);margin:6px 0}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.row>*{flex:1 1 420px;min-width:0}
.table-block{margin:8px 0 14px}
.caption{font-weight:600;margin:6px 0 2px}
.table-tools{display:flex;gap:10px;align-items:center;margin:4px 0}
.table-tools input{padding:3px 6px;border:1px solid var(--line);border-radius:4px;width:220px}
.count{color:var(--muted)}
a.source{color:var(--accent)}
.table-scroll{position:relative;max-height:340px;overflow:auto;border:1px solid var(--line);
border-radius:4px}
table.data{border-collapse:collapse;width:100%;font-size:12.5px}
table.data th{position:sticky;top:0;background:#eef2f7;text-align:left;padding:4px 8px;
cursor:pointer;white-space:nowrap;border-bottom:1px solid var(--line);user-select:none}
table.data th.num{text-align:right}
table.data th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
table.data th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
table.data td{padding:3px 8px;border-bottom:1px solid #eef0f4;white-space:nowrap}
table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data tr.selected td{background:var(--sel)}
table.data tr.removed td{background:#fdecec}
table.data tr.chosen td{background:#eef8ee}
pre.config{background:#f6f8fb;border:1px solid var(--line);padding:10px;max-height:360px;
overflow:auto;
font-size:12px}
code{background:#f1f3f7;padding:0 3px;border-radius:3px}
"""

JS = r"""
(function () {
  "use strict";
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // --- tables: click a header to sort, type in the box to filter -------------------
  function key(td, num) {
    if (!td) { return null; }
    var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent;
    if (num) { var x = parseFloat(v); return isNaN(x) ? null : x; }
    v = v.trim().toLowerCase();
    return v === "" || v === "na" ? null : v;
  }
  function sortBy(table, col, th) {
    var num = th.classList.contains("num");
    var asc = th.getAttribute("aria-sort") !== "ascending";
    each(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], num), y = key(b.cells[col], num);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
  }
  each(document.querySelectorAll("table.data"), function (table) {
    each(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });
  each(document.querySelectorAll("input.filter"), function (box) {
    var table = document.getElementById(box.getAttribute("data-table"));
    var count = box.parentNode.querySelector(".count");
    if (!table || !count) { return; }
    box.addEventListener("input", function () {
      var q = box.value.trim().toLowerCase(), n = 0;
      each(table.tBodies[0].rows, function (r) {
        var show = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
        r.hidden = !show;
        if (show) { n += 1; }
      });
      var total = count.getAttribute("data-total");
      count.textContent = q ? n + " of " + total + " rows" : total + " rows";
    });
  });

  // --- Manhattan plots: click a point for its locus, a chromosome name to zoom ------
  each(document.querySelectorAll("svg.manhattan"), function (svg) {
    var info = document.getElementById(svg.id + "-info");
    var x0 = parseFloat(svg.getAttribute("data-x0"));
    var x1 = parseFloat(svg.getAttribute("data-x1"));
    var pts = svg.querySelectorAll(".zoomable circle");
    var leads = svg.querySelectorAll("circle.lead");
    var bands = svg.querySelectorAll("rect.band");
    var names = svg.querySelectorAll("text.chrom");
    var ox = new Map();
    each(pts, function (c) { ox.set(c, parseFloat(c.getAttribute("cx"))); });
    var spans = [];
    each(bands, function (b) {
      var a = parseFloat(b.getAttribute("x"));
      spans.push([a, a + parseFloat(b.getAttribute("width"))]);
    });
    var nameX = [];
    each(names, function (t) { nameX.push(parseFloat(t.getAttribute("x"))); });
    function band(x) {
      for (var i = 0; i < spans.length; i += 1) {
        if (x >= spans[i][0] - 0.6 && x <= spans[i][1] + 0.6) { return i; }
      }
      return -1;
    }
    function zoom(lo, hi) {
      var f = (x1 - x0) / (hi - lo);
      function map(x) { return x0 + (x - lo) * f; }
      each(pts, function (c) {
        var x = ox.get(c);
        c.setAttribute("cx", map(x).toFixed(1));
        c.style.display = x < lo - 0.6 || x > hi + 0.6 ? "none" : "";
      });
      each(bands, function (b, i) {
        var a = Math.max(spans[i][0], lo), e = Math.min(spans[i][1], hi);
        b.style.display = e < a ? "none" : "";
        b.setAttribute("x", map(a).toFixed(1));
        b.setAttribute("width", Math.max(0.5, (e - a) * f).toFixed(1));
      });
      each(names, function (t, i) {
        var x = nameX[i];
        t.setAttribute("x", map(x).toFixed(1));
        t.style.display = x < lo || x > hi ? "none" : "";
      });
      svg.setAttribute("data-zoom", lo <= x0 && hi >= x1 ? "" : "zoomed");
    }
    each(names, function (t, i) {
      t.addEventListener("click", function (ev) {
        ev.stopPropagation();
        if (svg.getAttribute("data-zoom") === "zoomed") { zoom(x0, x1); }
        else { zoom(spans[i][0], spans[i][1]); }
      });
    });
    var reset = document.getElementById(svg.id + "-reset");
    if (reset) { reset.addEventListener("click", function () { zoom(x0, x1); }); }
    function locus(c) {
      if (c.classList.contains("lead")) { return c; }
      var x = ox.get(c), b = band(x), best = null, bestD = Infinity;
      each(leads, function (l) {
        var lx = ox.get(l);
        if (band(lx) !== b) { return; }
        var lo = parseFloat(l.getAttribute("data-lo")), hi = parseFloat(l.getAttribute("data-hi"));
        var d = x >= lo && x <= hi ? 0 : Math.abs(lx - x);
        if (d < bestD) { bestD = d; best = l; }
      });
      return best;
    }
    function select(c) {
      var lead = locus(c);
      var id = lead ? lead.getAttribute("data-lead") : null;
      each(leads, function (l) { l.classList.toggle("selected", l === lead); });
      ["data-leads", "data-genes"].forEach(function (attr) {
        var t = document.getElementById(svg.getAttribute(attr) || "");
        if (!t) { return; }
        var first = null;
        each(t.tBodies[0].rows, function (r) {
          var on = id !== null && r.getAttribute("data-lead") === id;
          r.classList.toggle("selected", on);
          if (on && !first) { first = r; }
        });
        if (first) {
          first.hidden = false;
          var box = first.closest(".table-scroll");
          if (box) { box.scrollTop = Math.max(0, first.offsetTop - box.clientHeight / 3); }
        }
      });
      if (info) {
        var what = "variant " + c.getAttribute("data-v") + ", p = " + c.getAttribute("data-p");
        info.textContent = lead
          ? what + " \u2192 locus of lead " + id + " (highlighted in the tables below)"
          : what + " \u2192 no lead on this chromosome";
      }
      svg.setAttribute("data-selected", id || "");
    }
    svg.addEventListener("click", function (ev) {
      var c = ev.target && ev.target.closest ? ev.target.closest("circle") : null;
      if (c && svg.contains(c)) { select(c); }
    });
  });
})();
"""
