/**
 * The worker's HTTP endpoints for probes and Prometheus: GET /healthz, /readyz and /metrics.
 * Read-only by construction: no route takes a body or changes anything; other methods get 405,
 * other paths 404.
 */
import type { Worker } from "../worker.ts";
import type { Logger } from "./logger.ts";
import type { WorkerMetrics } from "./metrics.ts";
import { checkDatabase, checkRedis, connectionState } from "./stream-status.ts";

/** What readiness looks at: the worker (src/worker.ts). */
export type ReadinessSource = Pick<
  Worker,
  "isConsuming" | "redis" | "readConnection" | "database" | "progress" | "phase"
>;

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

/**
 * Why the worker is not ready; empty when it is. Beyond "does Redis answer PING and the database
 * SELECT 1", whether payments actually move: reads coming back, batches committing.
 */
export async function readinessProblems(
  worker: ReadinessSource | undefined,
  timeoutMs: number,
): Promise<string[]> {
  if (worker === undefined) return ["starting"];
  const { phase, redis, readConnection, database } = worker;
  if (phase === "opening the database") return ["starting: opening the database"];
  if (phase === "waiting for Redis") {
    const state = redis === undefined ? "not created" : connectionState(redis.status);
    return [`starting: waiting for Redis (connection is ${state})`];
  }
  if (phase === "stopped") return ["stopped"];
  const problems: string[] = [];
  if (readConnection !== undefined && readConnection.status !== "ready") {
    problems.push(`Redis read connection is ${connectionState(readConnection.status)}`);
  }
  const checks = await Promise.all([
    redis === undefined ? undefined : checkRedis(redis, timeoutMs),
    database === undefined
      ? "database: not open"
      : database.closed
        ? "the database client is closed"
        : checkDatabase(database.client, timeoutMs),
  ]);
  for (const problem of checks) if (problem !== undefined) problems.push(problem);
  problems.push(...worker.progress.problems());
  if (!worker.isConsuming()) {
    problems.push(
      phase === "consumer disabled"
        ? "the consumer loop is not running (ENABLE_EVENT_CONSUMER=false)"
        : "the consumer loop is not running",
    );
  }
  return problems;
}

const NO_STORE = { "cache-control": "no-store" };

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": TEXT, ...NO_STORE, ...headers },
  });
}
