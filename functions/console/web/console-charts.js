/* A small chart helper: horizontal bar charts and line charts drawn as inline SVG.
 *
 * Each chart is a <figure> with a caption, an <svg role="img"> described by a text summary, and the
 * same numbers as a table under a disclosure (screen readers and keyboard users read the table;
 * the chart is for the eye). Bars and points can link somewhere (drill-down): they are SVG <a>
 * elements, so Tab reaches them and Enter follows them, and the table carries the same links.
 * Only attributes and classes are set (no style attributes): the console's CSP forbids inline styles.
 */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  let counter = 0;

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function html(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, v);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least max. */
  function niceMax(max) {
    if (!(max > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(max));
    for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
    return 10 * power;
  }

  function fmt(options, value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return options.format ? options.format(value) : String(value);
  }

  /** The figure around a chart: caption, the SVG, a text summary, the table under a disclosure. */
  function figure(options, chart, summary, table) {
    const id = `chart-${++counter}`;
    chart.setAttribute("role", "img");
    chart.setAttribute("aria-labelledby", `${id}-title ${id}-desc`);
    chart.prepend(svg("title", { id: `${id}-title` }, options.title), svg("desc", { id: `${id}-desc` }, summary));
    chart.classList.add("chart-svg");
    const details = html("details", { className: "chart-table" },
      html("summary", {}, options.tableLabel || "Table"), table);
    return html("figure", { className: `chart ${options.className || ""}`.trim(), attrs: { "data-chart": options.key || id } },
      html("figcaption", { className: "chart-title" }, options.title), chart, details);
  }

  function dataTable(options, rowLabels, firstHeader) {
    const head = html("tr", {}, html("th", { scope: "col" }, firstHeader),
      ...options.series.map((s) => html("th", { scope: "col" }, s.name)));
    const rows = rowLabels.map((label, i) => {
      const href = options.href ? options.href(i) : null;
      const cells = options.series.map((s) => html("td", {}, fmt(options, s.values[i])));
      const name = href ? html("a", { href }, label) : label;
      return html("tr", {}, html("th", { scope: "row" }, name), ...cells);
    });
    return html("div", { className: "table-scroll" },
      html("table", { className: "data" }, html("thead", {}, head), html("tbody", {}, ...rows)));
  }

  function linked(options, i, label, value, child) {
    const href = options.href ? options.href(i) : null;
    const name = `${label}: ${fmt(options, value)}`;
    if (!href) return svg("g", { "aria-hidden": "true" }, child);
    return svg("a", { href, "aria-label": options.linkLabel ? options.linkLabel(label, fmt(options, value)) : name,
      class: "chart-link", "data-index": i }, svg("title", {}, name), child);
  }

  /**
   * Horizontal bars, one row per label, one bar per series in a row:
   * bar({title, labels, series: [{name, values}], href(i), format(v), max, tableLabel, emptyText, key})
   */
  function bar(options) {
    const { labels } = options;
    const rowsWithData = labels.length;
    const series = options.series;
    const band = 14 * series.length + 12;
    const left = 150;
    const right = 70;
    const width = 600;
    const top = 8;
    const height = top + band * Math.max(rowsWithData, 1) + 8;
    const values = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
    const max = options.max || niceMax(Math.max(0, ...values));
    const scale = (v) => ((width - left - right) * Math.max(0, v)) / max;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMinYMin meet" });
    if (!rowsWithData) {
      chart.append(svg("text", { x: 8, y: 24, class: "chart-empty" }, options.emptyText || ""));
    }
    labels.forEach((label, i) => {
      const y0 = top + i * band;
      const shown = label.length > 22 ? `${label.slice(0, 21)}…` : label;
      chart.append(svg("text", { x: left - 8, y: y0 + band / 2 + 4, class: "chart-label", "text-anchor": "end",
        "aria-hidden": "true" }, shown));
      series.forEach((s, k) => {
        const value = s.values[i];
        const y = y0 + 6 + k * 14;
        const w = Number.isFinite(value) ? scale(value) : 0;
        const rect = svg("rect", { x: left, y, width: Math.max(w, value > 0 ? 2 : 0), height: 12,
          class: `chart-bar series-${k}`, rx: 2 });
        const text = svg("text", { x: left + w + 6, y: y + 10, class: "chart-value", "aria-hidden": "true" },
          fmt(options, value));
        chart.append(linked(options, i, series.length > 1 ? `${label} · ${s.name}` : label, value,
          svg("g", {}, svg("rect", { x: 0, y: y - 1, width, height: 14, class: "chart-hit" }), rect, text)));
      });
    });
    if (rowsWithData) chart.append(svg("line", { x1: left, x2: left, y1: top - 2, y2: height - 6, class: "chart-axis" }));
    const summary = labels.map((label, i) => `${label}: ${series.map((s) => fmt(options, s.values[i])).join(" / ")}`)
      .join("; ") || options.emptyText || "";
    return figure(options, chart, summary, dataTable(options, labels, options.labelHeader || ""));
  }

  /**
   * Lines over days (or any ordered labels), a marker per point:
   * line({title, labels, series: [{name, values}], href(i), format(v), tableLabel, emptyText, key})
   */
  function line(options) {
    const { labels, series } = options;
    const width = 600;
    const height = 240;
    const pad = { left: 44, right: 12, top: 12, bottom: 36 };
    const values = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
    const max = niceMax(Math.max(0, ...values));
    const n = labels.length;
    const x = (i) => pad.left + (n <= 1 ? (width - pad.left - pad.right) / 2 : (i * (width - pad.left - pad.right)) / (n - 1));
    const y = (v) => height - pad.bottom - ((height - pad.top - pad.bottom) * Math.max(0, v)) / max;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMinYMin meet" });
    for (const tick of [0, max / 2, max]) {
      chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "chart-grid" }),
        svg("text", { x: pad.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "chart-label", "aria-hidden": "true" },
          fmt(options, Math.round(tick * 10) / 10)));
    }
    const shownTicks = n <= 1 ? [0] : [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
    for (const i of shownTicks) {
      const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      if (i < n) chart.append(svg("text", { x: x(i), y: height - pad.bottom + 18, "text-anchor": anchor,
        class: "chart-label", "aria-hidden": "true" }, labels[i]));
    }
    if (!n) chart.append(svg("text", { x: pad.left + 8, y: height / 2, class: "chart-empty" }, options.emptyText || ""));
    series.forEach((s, k) => {
      const points = s.values.map((v, i) => (Number.isFinite(v) ? `${x(i)},${y(v)}` : null)).filter(Boolean);
      if (points.length > 1) chart.append(svg("polyline", { points: points.join(" "), class: `chart-line series-${k}`, fill: "none" }));
    });
    series.forEach((s, k) => {
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v)) return;
        const marker = svg("g", {},
          svg("circle", { cx: x(i), cy: y(v), r: 9, class: "chart-hit" }),
          svg("circle", { cx: x(i), cy: y(v), r: 3.5, class: `chart-point series-${k}` }));
        chart.append(linked(options, i, `${labels[i]} · ${s.name}`, v, marker));
      });
    });
    const legend = html("ul", { className: "chart-legend" },
      ...series.map((s, k) => html("li", {}, html("span", { className: `swatch series-${k}`, attrs: { "aria-hidden": "true" } }), s.name)));
    const totals = series.map((s) => `${s.name}: ${fmt(options, s.values.reduce((a, v) => a + (Number.isFinite(v) ? v : 0), 0))}`);
    const summary = n ? `${labels[0]} – ${labels[n - 1]}; ${totals.join("; ")}` : options.emptyText || "";
    const fig = figure(options, chart, summary, dataTable(options, labels, options.labelHeader || ""));
    fig.insertBefore(legend, fig.querySelector("details"));
    return fig;
  }

  window.ConsoleCharts = { bar, line, niceMax };
})();
