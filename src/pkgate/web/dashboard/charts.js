// Thin helpers over Chart.js (loaded from npm's node_modules by the server): one place for colours and
// options, and charts are updated in place so pickers do not leak canvases.
"use strict";

(function () {
  const PALETTE = ["#2f6fde", "#e8833a", "#3aa676", "#c2410c", "#8b5cf6", "#d9467b", "#0ea5a4",
    "#a16207", "#64748b", "#16a34a", "#9333ea", "#dc2626"];

  function color(i) { return PALETTE[i % PALETTE.length]; }

  function upsert(id, config) {
    const canvas = document.getElementById(id);
    const existing = Chart.getChart(canvas);
    if (existing && existing.config.type === config.type) {
      existing.data = config.data;
      existing.options = config.options;
      existing.update("none");
      return existing;
    }
    if (existing) existing.destroy();
    return new Chart(canvas, config);
  }

  const common = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
  };

  // series: [{label, data: [numbers], kind: "bar" | "line"}]
  function timeSeries(id, labels, series) {
    return upsert(id, {
      type: "bar",
      data: {
        labels,
        datasets: series.map((s, i) => ({
          type: s.kind || "bar", label: s.label, data: s.data,
          backgroundColor: color(i), borderColor: color(i), borderWidth: s.kind === "line" ? 2 : 0,
          pointRadius: 2, tension: 0, stack: s.kind === "line" ? undefined : "attempts",
          order: s.kind === "line" ? 0 : 1,
        })),
      },
      options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  }

  function bars(id, labels, series, horizontal) {
    return upsert(id, {
      type: "bar",
      data: {
        labels,
        datasets: series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: color(i), stack: "s" })),
      },
      options: {
        ...common, indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: series.length > 1, position: "bottom" } },
        scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true, beginAtZero: true } },
      },
    });
  }

  function doughnut(id, labels, values) {
    return upsert(id, {
      type: "doughnut",
      data: { labels, datasets: [{ data: values, backgroundColor: labels.map((_, i) => color(i)) }] },
      options: { ...common, interaction: {}, plugins: { legend: { position: "right" } } },
    });
  }

  function lines(id, labels, series, percent) {
    return upsert(id, {
      type: "line",
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label, data: s.data, borderColor: color(i), backgroundColor: color(i), pointRadius: 2, tension: 0,
        })),
      },
      options: {
        ...common,
        scales: { y: { beginAtZero: true, max: percent ? 100 : undefined,
          ticks: percent ? { callback: (v) => `${v}%` } : {} } },
      },
    });
  }

  // No rows: no chart at all (an empty canvas would read as a broken one); the page shows a note.
  function clear(id) {
    const existing = Chart.getChart(document.getElementById(id));
    if (existing) existing.destroy();
  }

  window.pkgateCharts = { timeSeries, bars, doughnut, lines, clear };
})();
