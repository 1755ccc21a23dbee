/**
 * The worker's HTTP endpoints for probes and Prometheus: GET /healthz, /readyz and /metrics,
 * and the status page at / (src/observe/status-page.ts). Read-only by construction: no route takes a body or changes anything; other methods get 405,
 * other paths 404.
 */
import type { Logger } from "./logger.ts";
import type { WorkerMetrics } from "./metrics.ts";
import { type ReadinessSource, readinessProblems } from "./readiness.ts";
import { statusPageRoutes } from "./status-page.ts";

export type { ReadinessSource } from "./readiness.ts";

export interface HttpServerOptions {
  hostname: string;
  /** 0 picks a free port; `HttpServer.url` tells which. */
  port: number;
  metrics: WorkerMetrics;
  /** The running worker; undefined while it is starting (readyz then answers 503). */
  worker: () => ReadinessSource | undefined;
  logger: Logger;
  /** How long readyz waits for Redis and the database; default 1000 ms. */
  checkTimeoutMs?: number;
}

export interface HttpServer {
  readonly url: URL;
  /** Stops listening and closes open connections. Idempotent. */
  stop(): Promise<void>;
}

const READ_METHODS = new Set(["GET", "HEAD"]);
const TEXT = "text/plain; charset=utf-8";

export function startHttpServer(options: HttpServerOptions): HttpServer {
  const timeoutMs = options.checkTimeoutMs ?? 1_000;
  const routes: Record<string, () => Promise<Response> | Response> = {
    "/healthz": () => text(200, "ok"),
    "/readyz": async () => {
      const problems = await readinessProblems(options.worker(), timeoutMs);
      return problems.length === 0
        ? text(200, "ready")
        : text(503, `not ready: ${problems.join("; ")}`);
    },
    "/metrics": async () => {
      const { contentType, body } = await options.metrics.render();
      return new Response(body, { headers: { "content-type": contentType, ...NO_STORE } });
    },
    ...statusPageRoutes({ metrics: options.metrics, worker: options.worker, timeoutMs }),
  };
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch(request) {
      const path = new URL(request.url).pathname;
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      if (route === undefined) return text(404, "not found");
      if (!READ_METHODS.has(request.method)) {
        return text(405, "method not allowed", { allow: "GET, HEAD" });
      }
      return route();
    },
    error(error) {
      options.logger.error({ err: error }, "HTTP request failed");
      return text(500, "internal error");
    },
  });
  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    stop: () => {
      stopped ??= server.stop(true);
      return stopped;
    },
  };
}

const NO_STORE = { "cache-control": "no-store" };

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": TEXT, ...NO_STORE, ...headers },
  });
}
