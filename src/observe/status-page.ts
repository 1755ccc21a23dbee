/**
 * The status page at `/` for deployments that run no Prometheus: one HTML page, its stylesheet
 * and script from the same origin (`/status.css`, `/status.js`), and the JSON it polls
 * (`/status.json`). Read-only, no external asset, a CSP that allows nothing else; it shows
 * aggregates only (src/observe/status-report.ts).
 */

import type { WorkerMetrics } from "./metrics.ts";
import type { ReadinessSource } from "./readiness.ts";
import { STATUS_SCRIPT } from "./status-page-script.ts";
import { type StatusReport, statusReport } from "./status-report.ts";

/** Only this origin's script, stylesheet and JSON; no inline code, frames, forms or plugins. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": STATUS_PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const FIGURES: [id: string, label: string][] = [
  ["lag", "Lag (entries not yet delivered)"],
  ["pending", "Pending (delivered, not yet acknowledged)"],
  ["oldest-pending-age", "Oldest pending entry"],
  ["consumers", "Consumers in the group"],
  ["dead-letters", "Dead letters in the stream"],
  ["last-commit", "Last commit"],
  ["last-read", "Last read"],
  ["stream-length", "Stream length"],
];

const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>coursepay status</title>
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="status.css">
<script src="status.js" defer></script>
</head>
<body>
<header>
<h1>coursepay</h1>
<span id="ready" class="badge" data-value="">loading…</span>
<span id="version" class="muted"></span>
<span id="updated" class="muted"></span>
</header>
<p id="problems" class="problems" hidden></p>
<main>
<section class="figures">
${FIGURES.map(([id, label]) => `<div class="figure"><span class="label">${label}</span><span class="value" id="${id}" data-value="">–</span></div>`).join("\n")}
</section>
<section>
<h2>Throughput by outcome, last 15 minutes <span class="muted">(per 10 s)</span></h2>
<svg id="throughput" viewBox="0 0 900 200" preserveAspectRatio="none" role="img" aria-label="Outcomes per 10 seconds"></svg>
<div class="axis muted"><span>15 min ago</span><span>now</span></div>
<ul id="legend" class="legend"></ul>
</section>
<section>
<h2>Dead letters written by this worker, by reason</h2>
<table id="dead-letters-by-reason"><thead><tr><th>reason</th><th>written</th></tr></thead><tbody></tbody></table>
</section>
</main>
<footer class="muted">Read-only; refreshes every 2 s. Aggregates only: no event or personal data.</footer>
</body>
</html>
`;

const STATUS_CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --muted: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; max-width: 960px; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1rem; margin: 1.5rem 0 0.5rem; }
.muted { color: var(--muted); }
.badge { padding: 0.1rem 0.6rem; border-radius: 1rem; color: #fff; background: var(--muted); }
.badge.ready { background: var(--ok); }
.badge.unready { background: var(--bad); }
.problems { color: var(--bad); white-space: pre-line; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 0.75rem; }
.figure { border: 1px solid var(--muted); border-radius: 6px; padding: 0.5rem 0.75rem; }
.figure .label { display: block; color: var(--muted); font-size: 0.85rem; }
.figure .value { font-size: 1.4rem; font-variant-numeric: tabular-nums; }
svg { width: 100%; height: 200px; border-bottom: 1px solid var(--muted); }
.axis { display: flex; justify-content: space-between; font-size: 0.8rem; }
.legend { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
.legend svg { width: 10px; height: 10px; border: 0; }
table { border-collapse: collapse; }
td, th { padding: 0.2rem 1rem 0.2rem 0; text-align: left; font-variant-numeric: tabular-nums; }
`;

/** A green square, so the browser asks for no /favicon.ico. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1a7f37"/></svg>`;

export interface StatusPageOptions {
  metrics: WorkerMetrics;
  worker: () => ReadinessSource | undefined;
  timeoutMs: number;
}

/** The page's routes, for the HTTP server's table. */
export function statusPageRoutes(
  options: StatusPageOptions,
): Record<string, () => Promise<Response> | Response> {
  return {
    "/": () => asset(STATUS_HTML, "text/html; charset=utf-8"),
    "/status.css": () => asset(STATUS_CSS, "text/css; charset=utf-8"),
    "/status.js": () => asset(STATUS_SCRIPT, "text/javascript; charset=utf-8"),
    "/favicon.svg": () => asset(FAVICON, "image/svg+xml"),
    "/status.json": async () => {
      const report: StatusReport = await statusReport(
        options.metrics,
        options.worker(),
        options.timeoutMs,
      );
      return asset(JSON.stringify(report), "application/json");
    },
  };
}

function asset(body: string, contentType: string): Response {
  return new Response(body, { headers: { "content-type": contentType, ...SECURITY_HEADERS } });
}
