/**
 * The status page's script (served as /status.js): polls status.json every 2 s and fills in
 * the figures and the chart. Text goes in through textContent only, never as HTML.
 */
export const STATUS_SCRIPT = `"use strict";
(() => {
  const REFRESH_MS = 2000;
  const COLOURS = {
    applied: "#1a7f37", duplicate: "#8c959f", conflict: "#bf8700", invalid: "#cf222e",
    unauthenticated: "#8250df", ignored: "#0969da", failed: "#a40e26",
  };
  const SVG = "http://www.w3.org/2000/svg";
  const byId = (id) => document.getElementById(id);

  function seconds(value) {
    if (value === null) return "–";
    if (value < 60) return value.toFixed(1) + " s ago";
    if (value < 3600) return (value / 60).toFixed(1) + " min ago";
    return (value / 3600).toFixed(1) + " h ago";
  }

  function setFigure(id, value, text) {
    const element = byId(id);
    element.dataset.value = value === null ? "" : String(value);
    element.textContent = value === null ? "–" : text;
  }

  function rect(x, y, width, height, colour) {
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", String(x));
    bar.setAttribute("y", String(y));
    bar.setAttribute("width", String(width));
    bar.setAttribute("height", String(height));
    bar.setAttribute("fill", colour);
    return bar;
  }

  function drawChart(throughput) {
    const svg = byId("throughput");
    const { outcomes, slots } = throughput;
    const highest = Math.max(1, ...slots.map(([, counts]) => counts.reduce((a, b) => a + b, 0)));
    const width = 900 / slots.length;
    const bars = [];
    slots.forEach(([start, counts], i) => {
      let top = 200;
      counts.forEach((count, o) => {
        if (count === 0) return;
        const height = (count / highest) * 190;
        top -= height;
        const bar = rect(i * width, top, Math.max(1, width - 1), height, COLOURS[outcomes[o]] || "#888");
        const title = document.createElementNS(SVG, "title");
        title.textContent = new Date(start).toLocaleTimeString() + ": " + count + " " + outcomes[o];
        bar.append(title);
        bars.push(bar);
      });
    });
    const scale = document.createElementNS(SVG, "text");
    scale.setAttribute("x", "4");
    scale.setAttribute("y", "14");
    scale.setAttribute("font-size", "12");
    scale.setAttribute("fill", "currentColor");
    scale.textContent = highest + " per 10 s";
    svg.replaceChildren(...bars, scale);
    svg.dataset.total = String(slots.reduce((sum, [, counts]) => sum + counts.reduce((a, b) => a + b, 0), 0));

    const legend = byId("legend");
    legend.replaceChildren(...outcomes.map((outcome, o) => {
      const item = document.createElement("li");
      item.dataset.outcome = outcome;
      const total = slots.reduce((sum, [, counts]) => sum + counts[o], 0);
      item.dataset.value = String(total);
      const swatch = document.createElementNS(SVG, "svg");
      swatch.setAttribute("viewBox", "0 0 10 10");
      swatch.append(rect(0, 0, 10, 10, COLOURS[outcome] || "#888"));
      item.append(swatch, " " + outcome + ": " + total);
      return item;
    }));
  }

  function drawDeadLetters(byReason) {
    const body = byId("dead-letters-by-reason").tBodies[0];
    const rows = Object.entries(byReason).sort(([a], [b]) => a.localeCompare(b)).map(([reason, count]) => {
      const row = document.createElement("tr");
      row.dataset.reason = reason;
      row.dataset.value = String(count);
      const name = document.createElement("td");
      name.textContent = reason;
      const value = document.createElement("td");
      value.textContent = String(count);
      row.append(name, value);
      return row;
    });
    if (rows.length === 0) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = 2;
      cell.textContent = "none";
      row.append(cell);
      rows.push(row);
    }
    body.replaceChildren(...rows);
  }

  function render(report) {
    const ready = byId("ready");
    ready.dataset.value = String(report.ready);
    ready.textContent = report.ready ? "ready" : "not ready";
    ready.className = "badge " + (report.ready ? "ready" : "unready");
    const problems = byId("problems");
    problems.hidden = report.problems.length === 0;
    problems.textContent = report.problems.join("\\n");
    byId("version").textContent = "version " + report.version;
    byId("updated").textContent = "updated " + new Date(report.generatedAt).toLocaleTimeString();
    setFigure("lag", report.lag, String(report.lag));
    setFigure("pending", report.pending, String(report.pending));
    setFigure("oldest-pending-age", report.oldestPendingAgeSeconds,
      report.pending === 0 ? "none pending" : seconds(report.oldestPendingAgeSeconds));
    setFigure("consumers", report.consumers, String(report.consumers));
    setFigure("dead-letters", report.deadLetters, String(report.deadLetters));
    setFigure("stream-length", report.streamLength, String(report.streamLength));
    setFigure("last-commit", report.secondsSinceLastCommit, seconds(report.secondsSinceLastCommit));
    setFigure("last-read", report.secondsSinceLastRead, seconds(report.secondsSinceLastRead));
    drawChart(report.throughput);
    drawDeadLetters(report.deadLettersWritten);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }

  async function refresh() {
    try {
      const response = await fetch("status.json", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
    } catch (error) {
      const ready = byId("ready");
      ready.dataset.value = "";
      ready.textContent = "unreachable";
      ready.className = "badge unready";
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
`;
