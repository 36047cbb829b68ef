// The HTML report's charts: inline SVG drawn from the page's embedded JSON (id report-data).
// Inlined into each page by warehouse/html_report.py; no library, no network. Every mark
// carries the values it plots in data-* attributes, so a test can check them against the
// warehouse.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var WIDTH = 1100;
  var COLORS = {
    high: "#c53030", low: "#2b6cb0", neutral: "#1f2933", band: "#c6f6d5", bandEdge: "#68d391",
    open: "#dd6b20", explained: "#a0aec0", resolved: "#2f855a",
    reconciled: "#90cdf4", jisheng: "#d69e2e", weisheng: "#2f855a", gongan: "#6b46c1",
    good: "#2f855a", bad: "#c53030", none: "#cbd2d9", target: "#1f2933"
  };
  // Interval bounds above this are drawn to the edge with an arrow and given in full as text:
  // a township with a handful of births has an honest but enormous interval.
  var RATIO_AXIS_CAP = 300;

  function svgNode(tag, attrs, parent, text) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (attrs[key] !== undefined) { node.setAttribute(key, attrs[key]); }
    });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function htmlNode(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  // Labels longer than the label column are cut with an ellipsis; the full text is kept in a
  // tooltip and in data-label.
  function labelText(parent, attrs, text, maxChars) {
    var shown = text.length > maxChars ? text.slice(0, maxChars - 1) + "…" : text;
    var node = svgNode("text", attrs, parent, shown);
    if (shown !== text) { svgNode("title", {}, node, text); }
    return node;
  }

  function dataValue(value) { return value === null || value === undefined ? "" : String(value); }
  function fixed(value, digits) { return value === null || value === undefined ? "—" : value.toFixed(digits); }
  function percent(value) { return value === null || value === undefined ? "—" : (100 * value).toFixed(1) + "%"; }

  function newChart(container, height, label) {
    container.textContent = "";
    var root = svgNode("svg", {
      viewBox: "0 0 " + WIDTH + " " + height, role: "img", "aria-label": label,
      preserveAspectRatio: "xMinYMin meet"
    }, container);
    svgNode("title", {}, root, label);
    return root;
  }

  function niceStep(span, target) {
    var raw = span / target;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * power; })
      .find(function (s) { return s >= raw; });
    return step || 10 * power;
  }

  // Ratio axis: always shows the normal range and 100, widens to the intervals up to the cap.
  function ratioDomain(rows) {
    var lows = rows.map(function (r) { return r.ci_low; }).filter(function (v) { return v !== null; });
    var highs = rows.map(function (r) { return r.ci_high === null ? RATIO_AXIS_CAP : r.ci_high; });
    var low = Math.min.apply(null, [90].concat(lows));
    var high = Math.min(RATIO_AXIS_CAP, Math.max.apply(null, [120].concat(highs)));
    var step = niceStep(high - low, 8);
    return { low: Math.max(0, Math.floor(low / step) * step), high: Math.ceil(high / step) * step, step: step };
  }

  function ticks(domain) {
    var out = [];
    for (var v = domain.low; v <= domain.high + 1e-9; v += domain.step) { out.push(+v.toFixed(6)); }
    return out;
  }

  function arrowHead(parent, x, y, direction, color) {
    var d = direction > 0
      ? "M" + x + "," + y + " l-7,-5 l0,10 z"
      : "M" + x + "," + y + " l7,-5 l0,10 z";
    svgNode("path", { d: d, fill: color, class: "clip-arrow" }, parent);
  }

  function ratioColor(row, normal) {
    if (row.ci_low !== null && row.ci_low > normal[1]) { return COLORS.high; }
    if (row.ci_high !== null && row.ci_high < normal[0]) { return COLORS.low; }
    return COLORS.neutral;
  }

  function ratioLegend(root, normal, y) {
    var g = svgNode("g", { class: "legend", transform: "translate(170," + y + ")" }, root);
    svgNode("rect", { x: 0, y: -9, width: 22, height: 12, fill: COLORS.band, stroke: COLORS.bandEdge }, g);
    svgNode("text", { x: 28, y: 1 }, g, "正常范围 " + normal[0] + "–" + normal[1]);
    var items = [[COLORS.high, "区间整体高于正常范围"], [COLORS.low, "区间整体低于正常范围"],
      [COLORS.neutral, "与正常范围无显著差异"]];
    var x = 150;
    items.forEach(function (item) {
      svgNode("circle", { cx: x + 5, cy: -3, r: 5, fill: item[0] }, g);
      svgNode("text", { x: x + 15, y: 1 }, g, item[1]);
      x += 170;
    });
    svgNode("line", { x1: x, x2: x + 24, y1: -3, y2: -3, stroke: COLORS.neutral, "stroke-width": 2 }, g);
    svgNode("text", { x: x + 30, y: 1 }, g, "横线为 95% 置信区间（Wilson）");
  }

  // A forest plot: one row per source or township, the ratio as a dot, its 95% interval as a
  // line, the normal range as a band, and the numbers in a column at the right.
  function drawRatioChart(container, rows, options) {
    var normal = DATA.normal_range;
    var left = 170, right = 280, top = 56, rowHeight = 26, bottom = 48;
    var plotWidth = WIDTH - left - right;
    var height = top + rows.length * rowHeight + bottom;
    var root = newChart(container, height, options.title);
    root.setAttribute("data-chart", options.chart);
    root.setAttribute("data-source", options.source || "");
    if (!rows.length) {
      svgNode("text", { x: WIDTH / 2, y: 40, "text-anchor": "middle", class: "empty" }, root, "无出生数据");
      return;
    }
    var domain = ratioDomain(rows);
    var x = function (v) {
      return left + (Math.min(Math.max(v, domain.low), domain.high) - domain.low) / (domain.high - domain.low) * plotWidth;
    };
    var bottomY = top + rows.length * rowHeight;
    ratioLegend(root, normal, 16);
    var stripes = svgNode("g", { class: "stripes" }, root);
    var grid = svgNode("g", { class: "grid" }, root);
    var axis = svgNode("g", { class: "axis tick" }, root);
    ticks(domain).forEach(function (t) {
      svgNode("line", { x1: x(t), x2: x(t), y1: top - 6, y2: bottomY }, grid);
      svgNode("text", { x: x(t), y: bottomY + 16, "text-anchor": "middle" }, axis, String(t));
    });
    svgNode("rect", {
      x: x(normal[0]), y: top - 6, width: x(normal[1]) - x(normal[0]), height: bottomY - top + 6,
      fill: COLORS.band, stroke: COLORS.bandEdge, "stroke-dasharray": "3,2", class: "normal-band",
      "data-low": normal[0], "data-high": normal[1]
    }, root);
    svgNode("line", { x1: left, x2: left + plotWidth, y1: bottomY, y2: bottomY, class: "axis" }, root);
    svgNode("text", { x: left + plotWidth / 2, y: bottomY + 36, "text-anchor": "middle", class: "axis-title" },
      root, "出生性别比（每 100 名女婴对应的男婴数）");
    svgNode("text", { x: left + plotWidth + 16, y: top - 12, class: "small" }, root, "比值  [95% 区间]");
    svgNode("text", { x: WIDTH - 8, y: top - 12, "text-anchor": "end", class: "small" }, root, "出生数");

    rows.forEach(function (row, i) {
      var cy = top + i * rowHeight + rowHeight / 2;
      var isTotal = options.totalKey !== undefined && row[options.key] === options.totalKey;
      var g = svgNode("g", {
        class: "ratio-row", "data-chart": options.chart, "data-key": row[options.key],
        "data-label": row.label, "data-births": row.births, "data-males": row.males,
        "data-females": row.females, "data-ratio": dataValue(row.ratio),
        "data-ci-low": dataValue(row.ci_low), "data-ci-high": dataValue(row.ci_high)
      }, root);
      if (i % 2 === 1) {
        svgNode("rect", { x: 0, y: cy - rowHeight / 2, width: WIDTH, height: rowHeight, fill: "#f4f7fa" }, stripes);
      }
      labelText(g, { x: left - 12, y: cy + 4, "text-anchor": "end", class: "row-label" + (isTotal ? " total" : "") },
        row.label, 11);
      var color = ratioColor(row, normal);
      var high = row.ci_high === null ? Infinity : row.ci_high;
      svgNode("line", {
        x1: x(row.ci_low), x2: x(high), y1: cy, y2: cy, stroke: color, "stroke-width": 2, class: "interval"
      }, g);
      if (row.ci_low >= domain.low) {
        svgNode("line", { x1: x(row.ci_low), x2: x(row.ci_low), y1: cy - 5, y2: cy + 5, stroke: color, "stroke-width": 2 }, g);
      } else {
        arrowHead(g, x(domain.low), cy, -1, color);
      }
      if (high <= domain.high) {
        svgNode("line", { x1: x(high), x2: x(high), y1: cy - 5, y2: cy + 5, stroke: color, "stroke-width": 2 }, g);
      } else {
        arrowHead(g, x(domain.high), cy, 1, color);
      }
      if (row.ratio !== null) {
        // A ratio beyond the axis is shown hollow at the edge; its value is in the text column.
        var clipped = row.ratio > domain.high || row.ratio < domain.low;
        svgNode("circle", {
          cx: x(row.ratio), cy: cy, r: isTotal ? 6 : 5, fill: clipped ? "#fff" : color,
          stroke: clipped ? color : "#fff", "stroke-width": clipped ? 2 : 1.5,
          class: "point" + (clipped ? " clipped" : ""), "data-ratio": row.ratio
        }, g);
      }
      var text = row.ratio === null
        ? "无女婴  [" + fixed(row.ci_low, 1) + ", —]"
        : fixed(row.ratio, 1) + "  [" + fixed(row.ci_low, 1) + ", " + fixed(row.ci_high, 1) + "]";
      svgNode("text", { x: left + plotWidth + 16, y: cy + 4, class: "value-text" }, g, text);
      svgNode("text", { x: WIDTH - 8, y: cy + 4, "text-anchor": "end", class: "value-text" }, g,
        String(row.births));
    });
  }

  function drawSourceRatios() {
    drawRatioChart(document.getElementById("chart-ratio-by-source"), DATA.ratio_by_source, {
      chart: "ratio-by-source", key: "source", totalKey: "reconciled",
      title: "各部门全县出生性别比及 95% 置信区间"
    });
  }

  function drawTownshipRatios() {
    var container = document.getElementById("chart-ratio-by-township");
    var toggle = document.getElementById("toggle-ratio-by-township");
    var buttons = [];
    function show(source) {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.getAttribute("data-source") === source)); });
      var label = DATA.sources.find(function (s) { return s.code === source; }).label;
      drawRatioChart(container, DATA.ratio_by_township[source] || [], {
        chart: "ratio-by-township", key: "township_code", totalKey: "county", source: source,
        title: "分乡镇出生性别比（" + label + "）及 95% 置信区间"
      });
    }
    DATA.sources.forEach(function (source) {
      var button = htmlNode("button", { type: "button", "data-source": source.code }, toggle, source.label);
      button.addEventListener("click", function () { show(source.code); });
      buttons.push(button);
    });
    show("reconciled");
  }

  function monthAxis(root, periods, left, plotWidth, bottomY) {
    var band = plotWidth / Math.max(periods.length, 1);
    var rotate = periods.length > 18;
    var axis = svgNode("g", { class: "axis tick" }, root);
    svgNode("line", { x1: left, x2: left + plotWidth, y1: bottomY, y2: bottomY }, axis);
    periods.forEach(function (period, i) {
      var cx = left + band * (i + 0.5);
      var attrs = { x: cx, y: bottomY + 16, "text-anchor": rotate ? "end" : "middle" };
      if (rotate) { attrs.transform = "rotate(-45 " + cx + " " + (bottomY + 16) + ")"; }
      svgNode("text", attrs, axis, period);
    });
    return band;
  }

  function valueAxis(root, domain, y, left, plotWidth, title, format) {
    var grid = svgNode("g", { class: "grid" }, root);
    var axis = svgNode("g", { class: "axis tick" }, root);
    ticks(domain).forEach(function (t) {
      svgNode("line", { x1: left, x2: left + plotWidth, y1: y(t), y2: y(t) }, grid);
      svgNode("text", { x: left - 8, y: y(t) + 4, "text-anchor": "end" }, axis, format ? format(t) : String(t));
    });
    var mid = (y(domain.low) + y(domain.high)) / 2;
    svgNode("text", {
      x: 16, y: mid, "text-anchor": "middle", class: "axis-title", transform: "rotate(-90 16 " + mid + ")"
    }, root, title);
  }

  function drawMonthlyBirths() {
    var monthly = DATA.monthly;
    var left = 70, right = 20, top = 44, plotHeight = 240, bottom = monthly.periods.length > 18 ? 70 : 40;
    var plotWidth = WIDTH - left - right;
    var root = newChart(document.getElementById("chart-monthly-births"), top + plotHeight + bottom,
      "各月出生数：核对后儿童与各部门登记数");
    root.setAttribute("data-chart", "monthly-births");
    if (!monthly.periods.length) {
      svgNode("text", { x: WIDTH / 2, y: 40, "text-anchor": "middle", class: "empty" }, root, "无按月数据");
      return;
    }
    var all = [];
    Object.keys(monthly.births).forEach(function (k) { all = all.concat(monthly.births[k]); });
    var max = Math.max.apply(null, [1].concat(all));
    var step = Math.max(1, niceStep(max, 5));
    var domain = { low: 0, high: Math.ceil(max / step) * step, step: step };
    var y = function (v) { return top + plotHeight - v / domain.high * plotHeight; };
    valueAxis(root, domain, y, left, plotWidth, "出生数（人）");
    var band = monthAxis(root, monthly.periods, left, plotWidth, top + plotHeight);
    var legend = svgNode("g", { class: "legend", transform: "translate(" + left + ",16)" }, root);
    var lx = 0;
    DATA.sources.forEach(function (source) {
      var color = COLORS[source.code];
      if (source.code === "reconciled") {
        svgNode("rect", { x: lx, y: -9, width: 16, height: 12, fill: color }, legend);
      } else {
        svgNode("line", { x1: lx - 2, x2: lx + 18, y1: -3, y2: -3, stroke: color, "stroke-width": 2 }, legend);
        svgNode("circle", { cx: lx + 8, cy: -3, r: 3.5, fill: color }, legend);
      }
      var text = source.code === "reconciled" ? "核对后儿童（柱）" : source.label + "登记";
      svgNode("text", { x: lx + 24, y: 1 }, legend, text);
      lx += 44 + 13 * text.length;
    });
    var bars = svgNode("g", { class: "bars" }, root);
    monthly.periods.forEach(function (period, i) {
      var births = monthly.births.reconciled[i];
      var barWidth = Math.min(band * 0.7, 56);
      svgNode("rect", {
        x: left + band * (i + 0.5) - barWidth / 2, y: y(births), width: barWidth, height: y(0) - y(births),
        fill: COLORS.reconciled, class: "bar", "data-series": "reconciled", "data-period": period,
        "data-births": births
      }, bars);
    });
    DATA.sources.forEach(function (source) {
      if (source.code === "reconciled") { return; }
      var values = monthly.births[source.code];
      var g = svgNode("g", { class: "series", "data-series": source.code }, root);
      var path = values.map(function (v, i) {
        return (i ? "L" : "M") + (left + band * (i + 0.5)).toFixed(1) + "," + y(v).toFixed(1);
      }).join(" ");
      svgNode("path", { d: path, fill: "none", stroke: COLORS[source.code], "stroke-width": 2 }, g);
      values.forEach(function (v, i) {
        svgNode("circle", {
          cx: left + band * (i + 0.5), cy: y(v), r: 3.5, fill: COLORS[source.code], class: "point",
          "data-series": source.code, "data-period": monthly.periods[i], "data-births": v
        }, g);
      });
    });
  }

  function drawMonthlyRatio() {
    var rows = DATA.monthly.ratio;
    var normal = DATA.normal_range;
    var left = 70, right = 20, top = 44, plotHeight = 260, bottom = DATA.monthly.periods.length > 18 ? 70 : 40;
    var plotWidth = WIDTH - left - right;
    var root = newChart(document.getElementById("chart-monthly-ratio"), top + plotHeight + bottom,
      "核对后儿童各月出生性别比及 95% 置信区间");
    root.setAttribute("data-chart", "monthly-ratio");
    if (!rows.length) {
      svgNode("text", { x: WIDTH / 2, y: 40, "text-anchor": "middle", class: "empty" }, root, "无按月数据");
      return;
    }
    var domain = ratioDomain(rows);
    var y = function (v) {
      return top + plotHeight - (Math.min(Math.max(v, domain.low), domain.high) - domain.low) / (domain.high - domain.low) * plotHeight;
    };
    valueAxis(root, domain, y, left, plotWidth, "出生性别比");
    svgNode("rect", {
      x: left, y: y(normal[1]), width: plotWidth, height: y(normal[0]) - y(normal[1]),
      fill: COLORS.band, stroke: COLORS.bandEdge, "stroke-dasharray": "3,2", class: "normal-band",
      "data-low": normal[0], "data-high": normal[1]
    }, root);
    var band = monthAxis(root, DATA.monthly.periods, left, plotWidth, top + plotHeight);
    var legend = svgNode("g", { class: "legend", transform: "translate(" + (left - 150) + ",16)" }, root);
    ratioLegend(legend, normal, 0);
    var path = [];
    rows.forEach(function (row) {
      var i = DATA.monthly.periods.indexOf(row.period);
      var cx = left + band * (i + 0.5);
      var color = ratioColor(row, normal);
      var high = row.ci_high === null ? Infinity : row.ci_high;
      var g = svgNode("g", {
        class: "ratio-row", "data-chart": "monthly-ratio", "data-key": row.period, "data-births": row.births,
        "data-males": row.males, "data-females": row.females, "data-ratio": dataValue(row.ratio),
        "data-ci-low": dataValue(row.ci_low), "data-ci-high": dataValue(row.ci_high)
      }, root);
      svgNode("line", { x1: cx, x2: cx, y1: y(row.ci_low), y2: y(high), stroke: color, "stroke-width": 2, class: "interval" }, g);
      svgNode("line", { x1: cx - 5, x2: cx + 5, y1: y(row.ci_low), y2: y(row.ci_low), stroke: color, "stroke-width": 2 }, g);
      if (high <= domain.high) {
        svgNode("line", { x1: cx - 5, x2: cx + 5, y1: y(high), y2: y(high), stroke: color, "stroke-width": 2 }, g);
      } else {
        svgNode("path", { d: "M" + cx + "," + (top - 2) + " l-5,7 l10,0 z", fill: color, class: "clip-arrow" }, g);
      }
      if (row.ratio !== null) {
        path.push((path.length ? "L" : "M") + cx.toFixed(1) + "," + y(row.ratio).toFixed(1));
        var clipped = row.ratio > domain.high || row.ratio < domain.low;
        svgNode("circle", {
          cx: cx, cy: y(row.ratio), r: 4.5, fill: clipped ? "#fff" : color, stroke: clipped ? color : "#fff",
          "stroke-width": clipped ? 2 : 1.5, class: "point" + (clipped ? " clipped" : ""), "data-ratio": row.ratio
        }, g);
      }
      svgNode("title", {}, g, row.period + "：" + fixed(row.ratio, 1) + " [" + fixed(row.ci_low, 1) + ", " +
        fixed(row.ci_high, 1) + "]，出生 " + row.births);
    });
    var line = svgNode("path", { d: path.join(" "), fill: "none", stroke: "#829ab1", "stroke-width": 1, "stroke-dasharray": "4,3" });
    root.insertBefore(line, root.querySelector(".ratio-row"));
  }

  function drawDiscrepancyKinds() {
    var rows = DATA.discrepancy_by_kind;
    var statuses = ["open", "explained", "resolved"];
    var left = 220, right = 70, top = 40, rowHeight = 24, bottom = 44;
    var plotWidth = WIDTH - left - right;
    var root = newChart(document.getElementById("chart-discrepancy-by-kind"), top + rows.length * rowHeight + bottom,
      "各类差异数量（按处理状态）");
    root.setAttribute("data-chart", "discrepancy-by-kind");
    if (!rows.length) {
      svgNode("text", { x: WIDTH / 2, y: 40, "text-anchor": "middle", class: "empty" }, root, "未发现差异");
      return;
    }
    var max = Math.max.apply(null, rows.map(function (r) { return r.total; }));
    var step = Math.max(1, niceStep(max, 8));
    var domain = { low: 0, high: Math.ceil(max / step) * step, step: step };
    var x = function (v) { return left + v / domain.high * plotWidth; };
    var bottomY = top + rows.length * rowHeight;
    var grid = svgNode("g", { class: "grid" }, root);
    var axis = svgNode("g", { class: "axis tick" }, root);
    ticks(domain).forEach(function (t) {
      svgNode("line", { x1: x(t), x2: x(t), y1: top - 4, y2: bottomY }, grid);
      svgNode("text", { x: x(t), y: bottomY + 16, "text-anchor": "middle" }, axis, String(t));
    });
    svgNode("text", { x: left + plotWidth / 2, y: bottomY + 36, "text-anchor": "middle", class: "axis-title" },
      root, "差异条数");
    var legend = svgNode("g", { class: "legend", transform: "translate(" + left + ",16)" }, root);
    statuses.forEach(function (status, i) {
      svgNode("rect", { x: i * 140, y: -9, width: 14, height: 12, fill: COLORS[status] }, legend);
      svgNode("text", { x: i * 140 + 20, y: 1 }, legend, DATA.status_labels[status]);
    });
    rows.forEach(function (row, i) {
      var cy = top + i * rowHeight;
      var g = svgNode("g", { class: "kind-row", "data-kind": row.kind, "data-label": row.label, "data-total": row.total }, root);
      labelText(g, { x: left - 10, y: cy + rowHeight / 2 + 4, "text-anchor": "end", class: "row-label" }, row.label, 15);
      var start = 0;
      statuses.forEach(function (status) {
        var count = row[status];
        var rect = svgNode("rect", {
          x: x(start), y: cy + 4, width: x(start + count) - x(start), height: rowHeight - 8, fill: COLORS[status],
          class: "bar", "data-kind": row.kind, "data-status": status, "data-count": count
        }, g);
        svgNode("title", {}, rect, row.label + " · " + DATA.status_labels[status] + "：" + count);
        start += count;
      });
      svgNode("text", { x: x(row.total) + 6, y: cy + rowHeight / 2 + 4, class: "value-text" }, g, String(row.total));
    });
  }

  function drawDiscrepancyTownships() {
    var matrix = DATA.discrepancy_by_township;
    var container = document.getElementById("chart-discrepancy-by-township");
    container.textContent = "";
    if (!matrix.rows.length) {
      htmlNode("p", { class: "caption-note" }, container, "没有待核查的差异。");
      return;
    }
    var max = Math.max.apply(null, matrix.rows.map(function (r) { return Math.max.apply(null, r.counts); }));
    var table = htmlNode("table", { class: "heat", "data-chart": "discrepancy-by-township" }, container);
    var head = htmlNode("tr", {}, htmlNode("thead", {}, table));
    htmlNode("th", { class: "place", scope: "col" }, head, "乡镇");
    matrix.kinds.forEach(function (kind) { htmlNode("th", { scope: "col", "data-kind": kind.kind }, head, kind.label); });
    htmlNode("th", { scope: "col", class: "total" }, head, "合计");
    var body = htmlNode("tbody", {}, table);
    var columnTotals = matrix.kinds.map(function () { return 0; });
    matrix.rows.forEach(function (row) {
      var tr = htmlNode("tr", { "data-township": row.township_code, "data-total": row.total }, body);
      htmlNode("th", { class: "place", scope: "row" }, tr, row.label);
      row.counts.forEach(function (count, j) {
        columnTotals[j] += count;
        var td = htmlNode("td", {
          class: "cell" + (count ? "" : " zero"), "data-township": row.township_code,
          "data-kind": matrix.kinds[j].kind, "data-count": count
        }, tr, String(count));
        if (count) {
          var share = count / max;
          td.style.backgroundColor = "rgba(221, 107, 32, " + (0.12 + 0.75 * share).toFixed(3) + ")";
          if (share > 0.6) { td.style.color = "#fff"; }
        }
      });
      htmlNode("td", { class: "total" }, tr, String(row.total));
    });
    var foot = htmlNode("tr", {}, htmlNode("tfoot", {}, table));
    htmlNode("th", { class: "place total", scope: "row" }, foot, "合计");
    columnTotals.forEach(function (total) { htmlNode("td", { class: "total" }, foot, String(total)); });
    htmlNode("td", { class: "total" }, foot, String(columnTotals.reduce(function (a, b) { return a + b; }, 0)));
  }

  function drawIndicators() {
    var rows = DATA.kpi;
    var names = Object.keys(DATA.targets);
    var left = 170, top = 58, rowHeight = 22, bottom = 40, gap = 24, valueWidth = 54;
    var panelWidth = (WIDTH - left - gap * names.length) / names.length - valueWidth;
    var root = newChart(document.getElementById("chart-indicators"), top + rows.length * rowHeight + bottom,
      "各乡镇登记指标与目标值");
    root.setAttribute("data-chart", "indicators");
    var legend = svgNode("g", { class: "legend", transform: "translate(" + left + ",14)" }, root);
    [[COLORS.good, "达到目标"], [COLORS.bad, "未达目标"], [COLORS.none, "无可计算数据"]].forEach(function (item, i) {
      svgNode("rect", { x: i * 120, y: -9, width: 14, height: 12, fill: item[0] }, legend);
      svgNode("text", { x: i * 120 + 20, y: 1 }, legend, item[1]);
    });
    svgNode("line", { x1: 360, x2: 360, y1: -11, y2: 5, stroke: COLORS.target, "stroke-width": 2, "stroke-dasharray": "4,3" }, legend);
    svgNode("text", { x: 368, y: 1 }, legend, "目标值");
    var bottomY = top + rows.length * rowHeight;
    rows.forEach(function (row, i) {
      var cy = top + i * rowHeight;
      if (i % 2 === 1) {
        svgNode("rect", { x: 0, y: cy, width: WIDTH, height: rowHeight, fill: "#f7f9fb", class: "stripe" }, root);
      }
      labelText(root, { x: left - 12, y: cy + rowHeight / 2 + 4, "text-anchor": "end",
        class: "row-label" + (row.township_code === "county" ? " total" : "") },
        row.label + "（" + row.children + "）", 12);
    });
    names.forEach(function (name, p) {
      var x0 = left + p * (panelWidth + valueWidth + gap);
      var x = function (v) { return x0 + v * panelWidth; };
      var target = DATA.targets[name];
      var panel = svgNode("g", { class: "panel", "data-indicator": name, "data-target": target }, root);
      svgNode("text", { x: x0, y: top - 12, class: "row-label total" }, panel,
        DATA.kpi_labels[name] + "（目标 " + Math.round(target * 100) + "%）");
      var axis = svgNode("g", { class: "axis tick" }, panel);
      [0, 0.25, 0.5, 0.75, 1].forEach(function (t) {
        svgNode("line", { x1: x(t), x2: x(t), y1: top, y2: bottomY, stroke: "#e4e7eb" }, axis);
        svgNode("text", { x: x(t), y: bottomY + 16, "text-anchor": "middle" }, axis, Math.round(t * 100) + "%");
      });
      rows.forEach(function (row, i) {
        var value = row[name];
        var meets = row["meets_" + name + "_target"];
        var color = value === null ? COLORS.none : (meets ? COLORS.good : COLORS.bad);
        var cy = top + i * rowHeight;
        var bar = svgNode("rect", {
          x: x0, y: cy + 4, width: value === null ? 0 : value * panelWidth, height: rowHeight - 8, fill: color,
          class: "bar", "data-township": row.township_code, "data-indicator": name,
          "data-value": dataValue(value), "data-meets": dataValue(meets)
        }, panel);
        svgNode("title", {}, bar, row.label + " · " + DATA.kpi_labels[name] + "：" + percent(value));
        svgNode("text", {
          x: x(1) + valueWidth - 4, y: cy + rowHeight / 2 + 4, "text-anchor": "end",
          class: "value-text" + (value !== null && !meets ? " missed" : "")
        }, panel, value === null ? "无数据" : percent(value));
      });
      svgNode("line", {
        x1: x(target), x2: x(target), y1: top - 4, y2: bottomY + 2, stroke: COLORS.target, "stroke-width": 1.5,
        "stroke-dasharray": "4,3", class: "target-line", "data-target": target
      }, panel);
    });
  }

  function fillCards() {
    var cards = document.getElementById("cards");
    var county = DATA.ratio_by_source.find(function (r) { return r.source === "reconciled"; });
    var countyKpi = DATA.kpi.find(function (r) { return r.township_code === "county"; });
    var open = DATA.discrepancy_by_kind.reduce(function (sum, r) { return sum + r.open; }, 0);
    var normal = DATA.normal_range;
    function card(name, value, note, state, key) {
      var div = htmlNode("div", { class: "card" + (state ? " " + state : ""), "data-card": key }, cards);
      htmlNode("div", { class: "name" }, div, name);
      htmlNode("div", { class: "value" }, div, value);
      htmlNode("div", { class: "note" }, div, note);
    }
    card("核对后出生儿童", String(DATA.run.persons === undefined ? "—" : DATA.run.persons),
      "来自 " + DATA.run.rows_in_use + " 条在用登记记录", "", "persons");
    if (county) {
      var ok = county.ratio !== null && county.ratio >= normal[0] && county.ratio <= normal[1];
      card("全县出生性别比", fixed(county.ratio, 1),
        "95% 区间 " + fixed(county.ci_low, 1) + "–" + fixed(county.ci_high, 1) + "（正常 " + normal[0] + "–" + normal[1] + "）",
        ok ? "good" : "bad", "sex-ratio");
    }
    card("待核查差异", String(open), "全部差异 " + DATA.discrepancy_by_kind.reduce(function (s, r) { return s + r.total; }, 0) + " 条",
      open ? "bad" : "good", "open-discrepancies");
    if (countyKpi) {
      Object.keys(DATA.targets).forEach(function (name) {
        var value = countyKpi[name];
        var meets = countyKpi["meets_" + name + "_target"];
        card("全县" + DATA.kpi_labels[name], percent(value), "目标 ≥ " + Math.round(DATA.targets[name] * 100) + "%" +
          (value === null ? "" : (meets ? "，已达到" : "，未达到")), value === null ? "" : (meets ? "good" : "bad"), name);
      });
    }
    card("隔离的行", String(DATA.run.rows_quarantined === undefined ? "—" : DATA.run.rows_quarantined),
      "拒收文件 " + (DATA.run.files_rejected === undefined ? "—" : DATA.run.files_rejected) + " 个", "", "quarantined");
  }

  var DATA;
  try {
    DATA = JSON.parse(document.getElementById("report-data").textContent);
    fillCards();
    drawSourceRatios();
    drawTownshipRatios();
    drawMonthlyBirths();
    drawMonthlyRatio();
    drawDiscrepancyKinds();
    drawDiscrepancyTownships();
    drawIndicators();
    document.documentElement.setAttribute("data-rendered", "ok");
  } catch (error) {
    document.documentElement.setAttribute("data-rendered", "error");
    var note = document.createElement("p");
    note.className = "render-error";
    note.textContent = "图表绘制失败：" + error;
    document.body.insertBefore(note, document.body.firstChild);
  }
  // The drawn page's height, so a screenshot can be taken of all of it.
  document.documentElement.setAttribute("data-page-height", String(document.documentElement.scrollHeight));
  // Proof for the browser test that the page fetched nothing: resources loaded by this page.
  document.documentElement.setAttribute(
    "data-resource-count", String(performance.getEntriesByType("resource").length));
}());
