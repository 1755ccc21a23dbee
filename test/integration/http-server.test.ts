import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import { type HttpServer, startHttpServer } from "../../src/observe/http-server.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { WorkerMetrics } from "../../src/observe/metrics.ts";
import { startWorker, type StartedWorker as Worker } from "../../src/worker.ts";
import {
  type RestartableRedis,
  restartableRedis,
  startRedisOnFreePort,
  tempDir,
} from "../support/fixtures.ts";
import { testConfig, waitFor } from "../support/worker-harness.ts";

const REPO = join(import.meta.dir, "../..");

function serveEndpoints(config: Config, worker: () => Worker | undefined): HttpServer {
  const metrics = new WorkerMetrics({
    stream: config.eventStream,
    group: config.consumerGroup,
    redis: () => worker()?.redis,
    database: () => worker()?.database,
  });
  return startHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics,
    worker,
    logger: silentLogger(),
  });
}

async function get(server: HttpServer, path: string, method = "GET") {
  const response = await fetch(new URL(path, server.url), { method });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

describe("HTTP endpoints of a running worker", () => {
  let redis: RestartableRedis;
  let worker: Worker | undefined;
  let server: HttpServer;

  beforeAll(async () => {
    redis = await restartableRedis();
    const config = testConfig({ REDIS_URL: redis.url });
    worker = await startWorker(config, silentLogger());
    server = serveEndpoints(config, () => worker);
  });

  afterAll(async () => {
    await server?.stop();
    await worker?.stop();
    await redis?.stop();
  });

  test("/healthz and /readyz answer 200 while Redis and the database answer", async () => {
    expect(await get(server, "/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await get(server, "/readyz")).toMatchObject({ status: 200, body: "ready\n" });
  });

  test("/metrics serves the Prometheus text format", async () => {
    const response = await get(server, "/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    expect(response.body).toContain("# TYPE coursepay_event_outcomes_total counter");
    expect(response.body.split("\n")).toContain("coursepay_redis_up 1");
  });

  test("nothing can be written: other methods get 405, other paths 404", async () => {
    for (const path of [
      "/healthz",
      "/readyz",
      "/metrics",
      "/",
      "/status.json",
      "/status.js",
      "/status.css",
    ]) {
      for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
        const response = await get(server, path, method);
        expect(response.status).toBe(405);
        expect(response.headers.get("allow")).toBe("GET, HEAD");
      }
      expect((await get(server, path, "HEAD")).status).toBe(200);
    }
    for (const path of ["/index.html", "/metrics/x", "/dlq", "/healthz/", "/status.json/"]) {
      expect((await get(server, path)).status).toBe(404);
      expect((await get(server, path, "POST")).status).toBe(404);
    }
  });

  test("the status page and its assets carry a CSP that allows only this origin", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/status.js", "text/javascript"],
      ["/status.css", "text/css"],
      ["/status.json", "application/json"],
    ] as const) {
      const response = await get(server, path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith(type);
      expect(response.headers.get("content-security-policy")).toStartWith("default-src 'none';");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
    const page = (await get(server, "/")).body;
    // No inline script or style (the CSP would block them) and nothing from elsewhere.
    expect(page).not.toMatch(/<script>|<style>| style=|src="http|href="http/);
    const status = JSON.parse((await get(server, "/status.json")).body);
    expect(status).toMatchObject({ ready: true, redisUp: true, databaseUp: true, pending: 0 });
    expect(status.throughput.slots).toHaveLength(90);
  });

  test("/readyz goes 503 naming Redis while it is down, and 200 again once it is back", async () => {
    await redis.stop();
    let down = { status: 0, body: "" };
    await waitFor("readyz to report Redis down", async () => {
      down = await get(server, "/readyz");
      return down.status === 503;
    });
    expect(down.body).toStartWith("not ready: Redis");
    // Liveness is not readiness: the process is still up.
    expect((await get(server, "/healthz")).status).toBe(200);
    // A scrape does not wait for Redis, and makes up no stream figures.
    const metrics = (await get(server, "/metrics")).body.split("\n");
    expect(metrics).toContain("coursepay_redis_up 0");
    expect(metrics).toContain("coursepay_database_up 1");
    expect(metrics.filter((line) => line.startsWith("coursepay_group_lag"))).toEqual([]);

    await redis.start();
    await waitFor(
      "readyz to report ready again",
      async () => {
        return (await get(server, "/readyz")).status === 200;
      },
      20_000,
    );
  });

  test("/readyz is 503 once the worker stops consuming", async () => {
    await worker?.stop();
    const response = await get(server, "/readyz");
    expect(response.status).toBe(503);
    expect(response.body).toBe("not ready: stopped\n");
    // The status page says the same.
    const status = JSON.parse((await get(server, "/status.json")).body);
    expect(status).toMatchObject({ ready: false, problems: ["stopped"] });
  });
});

test("a Redis that stops answering (SIGSTOP) makes /readyz 503 and /metrics report it down, without hanging", async () => {
  const redis = await startRedisOnFreePort(tempDir("redis"));
  const config = testConfig({ REDIS_URL: redis.url });
  const worker = await startWorker(config, silentLogger());
  const server = serveEndpoints(config, () => worker);
  try {
    process.kill(redis.pid, "SIGSTOP");
    const ready = await get(server, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body).toContain("Redis PING took longer than 1000 ms");
    const metrics = (await get(server, "/metrics")).body.split("\n");
    expect(metrics).toContain("coursepay_redis_up 0");
    expect(metrics.filter((line) => line.startsWith("coursepay_stream_length"))).toEqual([]);
  } finally {
    process.kill(redis.pid, "SIGCONT");
    await server.stop();
    await worker.stop();
    await redis.stop();
  }
});

test("/readyz is 503 'starting' before the worker is up", async () => {
  const server = serveEndpoints(testConfig(), () => undefined);
  try {
    expect(await get(server, "/readyz")).toMatchObject({
      status: 503,
      body: "not ready: starting\n",
    });
    expect((await get(server, "/healthz")).status).toBe(200);
  } finally {
    await server.stop();
  }
});

test("coursepay serve with HTTP_PORT logs the address, serves the endpoints and closes them on SIGTERM", async () => {
  const config = testConfig();
  const child = Bun.spawn([process.execPath, "src/main.ts", "serve"], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      REDIS_URL: config.redisUrl,
      DATABASE_URL: config.databaseUrl,
      EVENT_STREAM: config.eventStream,
      CONSUMER_GROUP: config.consumerGroup,
      LOG_FORMAT: "json",
      HTTP_PORT: "0",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const lines: Record<string, unknown>[] = [];
    void (async () => {
      let rest = "";
      for await (const chunk of child.stdout) {
        const parts = (rest + new TextDecoder().decode(chunk)).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) if (part.trim() !== "") lines.push(JSON.parse(part));
      }
    })();
    const logged = (msg: string) => lines.find((line) => line.msg === msg);
    await waitFor("the worker to start", () => logged("✅ Event consumer started") !== undefined);
    const address = String(logged("HTTP server listening")?.address);
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    expect((await fetch(`${address}/healthz`)).status).toBe(200);
    await waitFor(
      "readyz to be 200",
      async () => (await fetch(`${address}/readyz`)).status === 200,
    );
    expect(await (await fetch(`${address}/metrics`)).text()).toContain("coursepay_group_lag 0");

    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    await expect(fetch(`${address}/healthz`)).rejects.toThrow();
  } finally {
    child.kill("SIGKILL");
  }
});
