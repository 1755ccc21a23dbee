/**
 * Redis away for 10 s, three ways, while 3,000 events are published straight to it: every
 * connection of the compiled worker goes silent (no FIN, no RST, as a NAT that forgot them),
 * Redis is paused (CLIENT PAUSE), or connections are refused. Readiness says so meanwhile;
 * once a working path is back, payments are applied within BLOCK_MS + REDIS_TIMEOUT_MS + the
 * longest reconnect delay + 2 s, and the run ends with the exact counts. And a SIGTERM while
 * Redis is away, with nothing in hand, exits 0 promptly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { ensureBinaryBuilt } from "../support/binary.ts";
import {
  BLOCK_MS,
  FaultRun,
  killFaultRunProcesses,
  RECONNECT_MS,
  REDIS_TIMEOUT_MS,
  SLACK_MS,
} from "../support/fault-run.ts";
import { type RedisServer, startRedisOnFreePort, tempDir } from "../support/fixtures.ts";

let server: RedisServer;
let target: { host: string; port: number };

beforeAll(async () => {
  ensureBinaryBuilt();
  // Its own Redis: CLIENT PAUSE must not stall the other test files' Redis.
  server = await startRedisOnFreePort(tempDir("redis"));
  target = { host: "127.0.0.1", port: server.port };
}, 180_000);

afterAll(async () => {
  killFaultRunProcesses();
  await server?.stop();
});

const OUTAGE_MS = 10_000;
/** From the moment a working path is back to a payment published then being applied. */
const BACK_BOUND_MS = BLOCK_MS + REDIS_TIMEOUT_MS + RECONNECT_MS + SLACK_MS;
const BACK_BOUND = "BLOCK_MS + REDIS_TIMEOUT_MS + the reconnect delay (1 s) + 2 s";
/** How soon readiness must notice: the read in flight times out, or PING does. */
const NOTICE_BOUND_MS = BLOCK_MS + REDIS_TIMEOUT_MS + SLACK_MS;

/**
 * Readiness and metrics through the outage, as a probe would see them: 503 with a reason and
 * redis_up 0 once noticed, and still 503 every 3 s after. Sparse on purpose: a probe's PING
 * must not be what finds the worker's idle connections dead.
 */
async function observeOutage(run: FaultRun, until: number): Promise<string[]> {
  const reasons = new Set<string>();
  const add = (body: string) => {
    for (const reason of body.replace(/^not ready: /, "").split("; ")) {
      reasons.add(reason.replace(/\d+\.\d s/, "N s"));
    }
  };
  add(await run.waitUnready(/Redis|read/, NOTICE_BOUND_MS));
  expect(await run.metric("coursepay_redis_up")).toBe(0);
  while (performance.now() < until - 3_500) {
    await Bun.sleep(3_000);
    const readiness = await run.readyz();
    expect(readiness.status).toBe(503);
    add(readiness.body);
  }
  return [...reasons];
}

async function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  if (ms > 0) await Bun.sleep(ms);
}

describe("Redis away for 10 s under a steady load, compiled binary behind the fault proxy", () => {
  test(`every connection goes silent for 10 s: /readyz 503 and redis_up 0 meanwhile; once a working path is back, a payment is applied within ${BACK_BOUND}`, async () => {
    const run = await FaultRun.start({ redis: target });
    try {
      await run.startWorker();
      run.load.start({ total: 3_000, perSecond: 250 });
      await run.waitFor("the load to flow", () => run.processedCount() >= 100);
      run.proxy.goSilent();
      const silentAt = performance.now();
      const reasons = await observeOutage(run, silentAt + OUTAGE_MS);
      console.log(`readyz while silent: ${reasons.join(" | ")}`);
      await sleepUntil(silentAt + OUTAGE_MS);
      run.proxy.restore();
      const restoredAt = performance.now();
      const marker = await run.load.marker();
      await run.recovery(
        "silent 10 s: a payment sent after restore applied",
        restoredAt,
        BACK_BOUND_MS,
        () => run.caughtUpTo(marker),
      );
      await run.waitReady();
      expect(await run.metric("coursepay_redis_up")).toBe(1);
      await run.expectExactCounts();
    } finally {
      await run.close();
    }
  }, 40_000);

  test(`CLIENT PAUSE 10000 ALL: /readyz 503 and redis_up 0 meanwhile; once it is over, a payment is applied within ${BACK_BOUND}`, async () => {
    const run = await FaultRun.start({ redis: target });
    const admin = new Redis({ ...target, maxRetriesPerRequest: null });
    try {
      await run.startWorker();
      run.load.start({ total: 3_000, perSecond: 250 });
      await run.waitFor("the load to flow", () => run.processedCount() >= 100);
      await admin.call("CLIENT", "PAUSE", String(OUTAGE_MS), "ALL");
      const pausedAt = performance.now();
      // Answered only when the pause is over: when Redis serves clients again.
      const over = admin.ping().then(() => performance.now());
      const reasons = await observeOutage(run, pausedAt + OUTAGE_MS);
      console.log(`readyz while paused: ${reasons.join(" | ")}`);
      const resumedAt = await over;
      expect(resumedAt - pausedAt).toBeGreaterThanOrEqual(OUTAGE_MS - 100);
      const marker = await run.load.marker();
      await run.recovery(
        "CLIENT PAUSE 10 s: a payment sent after it applied",
        resumedAt,
        BACK_BOUND_MS,
        () => run.caughtUpTo(marker),
      );
      await run.waitReady();
      await run.expectExactCounts();
    } finally {
      admin.disconnect();
      await run.close();
    }
  }, 40_000);

  test(`connections are refused for 10 s: /readyz 503 and redis_up 0 meanwhile; once accepted again, a payment is applied within ${BACK_BOUND}`, async () => {
    const run = await FaultRun.start({ redis: target });
    try {
      await run.startWorker();
      run.load.start({ total: 3_000, perSecond: 250 });
      await run.waitFor("the load to flow", () => run.processedCount() >= 100);
      await run.proxy.refuseConnections();
      const refusedAt = performance.now();
      const reasons = await observeOutage(run, refusedAt + OUTAGE_MS);
      console.log(`readyz while refused: ${reasons.join(" | ")}`);
      await sleepUntil(refusedAt + OUTAGE_MS);
      await run.proxy.acceptConnections();
      const acceptedAt = performance.now();
      const marker = await run.load.marker();
      await run.recovery(
        "refused 10 s: a payment sent after it applied",
        acceptedAt,
        BACK_BOUND_MS,
        () => run.caughtUpTo(marker),
      );
      await run.waitReady();
      await run.expectExactCounts();
    } finally {
      await run.close();
    }
  }, 40_000);
});

describe("SIGTERM while Redis is away and nothing is in hand", () => {
  /** Past the first attempts of what was in flight: one REDIS_TIMEOUT_MS each for two calls. */
  const EXIT_BOUND_MS = 2 * REDIS_TIMEOUT_MS + 1_000;

  test.each([
    ["connections refused", (run: FaultRun) => run.proxy.refuseConnections()],
    ["every connection silent", async (run: FaultRun) => run.proxy.goSilent()],
  ] as const)(
    "%s: exits 0 within 2 × REDIS_TIMEOUT_MS + 1 s",
    async (name, fault) => {
      const run = await FaultRun.start({ redis: target });
      try {
        const worker = await run.startWorker();
        run.load.start({ total: 3_000, perSecond: 1_000 });
        await run.expectExactCounts(); // drained: nothing in hand
        // At once, before the worker has noticed: what is in flight has to time out first.
        await fault(run);
        const { code, ms } = await worker.stop(10_000);
        console.log(
          `SIGTERM with Redis away (${name}): exit ${code} in ${(ms / 1000).toFixed(1)} s (bound ${(EXIT_BOUND_MS / 1000).toFixed(1)} s)`,
        );
        expect(code).toBe(0);
        expect(ms).toBeLessThanOrEqual(EXIT_BOUND_MS);
        // Nothing was lost or done twice on the way out.
        await run.expectExactCounts();
      } finally {
        await run.close();
      }
    },
    30_000,
  );
});
