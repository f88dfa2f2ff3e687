// The overview's charts: uPlot (vendored, static/web/uplot.min.js) draws the series the page
// hands over as JSON (json_script, since the CSP allows no inline script). The same figures
// are in a table beside each chart, so the canvas is only a picture of them.
(function () {
  "use strict";

  function readData() {
    var node = document.getElementById("dashboard-charts");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function widthOf(host) {
    return Math.max(240, Math.floor(host.getBoundingClientRect().width));
  }

  function draw(host, data, series) {
    var labels = data.day_labels;
    var ticks = data.day_ticks || labels;
    var xs = labels.map(function (_, i) { return i; });
    var options = {
      width: widthOf(host),
      height: 220,
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(4, max)]; } } },
      axes: [
        {
          space: 56,
          values: function (u, splits) {
            return splits.map(function (i) { return Number.isInteger(i) ? ticks[i] || "" : ""; });
          },
        },
        { values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ""; }); } },
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      series: [{ label: host.getAttribute("data-day-label") || "", value: function (u, i) { return i == null ? "" : labels[i]; } }].concat(
        series.map(function (s) {
          return { label: s.label, stroke: s.color, width: 2, points: { show: true, size: 5 }, value: function (u, v) { return v == null ? "" : String(v); } };
        })
      ),
    };
    var plot = new window.uPlot(options, [xs].concat(series.map(function (s) { return s.values; })), host);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: widthOf(host), height: 220 }); }).observe(host.parentElement);
    }
    host.setAttribute("data-drawn", "true");
    return plot;
  }

  function start() {
    var data = readData();
    if (!data || !window.uPlot) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (host) {
      var series = data.charts[host.getAttribute("data-chart")];
      if (series) { draw(host, data, series); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
