// The console's only script of its own: draws the usage charts from the JSON their page
// carries (no inline scripts: the Content-Security-Policy allows none), on first load and
// whenever htmx swaps new content in.
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563", "#9ca3af"];

  function draw(holder) {
    if (holder.dataset.drawn || typeof uPlot === "undefined") { return; }
    var source = document.getElementById(holder.dataset.chart);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var money = data.measure === "cost_usd";
    var series = [{}];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2,
        value: function (u, v) { return v == null ? "—" : (money ? "$" + v.toFixed(6) : String(v)); }
      });
      columns.push(s.values);
    });
    var opts = {
      width: Math.max(320, holder.clientWidth || 800), height: 240, series: series,
      axes: [{}, { size: 80, values: function (u, vals) {
        return vals.map(function (v) { return money ? "$" + (+v.toPrecision(3)) : +v.toPrecision(3); });
      } }],
      scales: { x: { time: true } }
    };
    holder.dataset.drawn = "1";
    new uPlot(opts, columns, holder);
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (evt) { drawAll(evt.target); });
})();
