/**
 * `simulate load --wait-replicas N` against a real master and replica: every round trip is
 * confirmed by WAIT on the master's connection, and the summary says how many events N replicas
 * hold. Asking for more replicas than there are confirms nothing, in bounded time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import {
  type RedisServer,
  startRedisOnFreePort,
  tempDir,
  uniqueName,
} from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

let master: RedisServer;
let replica: RedisServer;
let masterClient: Redis;
let replicaClient: Redis;

beforeAll(async () => {
  // The replica's first full sync starts at once, not after the default 5 s.
  master = await startRedisOnFreePort(tempDir("redis-master"), ["--repl-diskless-sync-delay", "0"]);
  replica = await startRedisOnFreePort(tempDir("redis-replica"), [
    "--replicaof",
    "127.0.0.1",
    String(master.port),
  ]);
  masterClient = new Redis(master.url, { lazyConnect: true });
  replicaClient = new Redis(replica.url, { lazyConnect: true });
  // In sync: the replica's link is up and the master counts it.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await replicaClient.info("replication");
    const counted = /connected_slaves:1/.test(await masterClient.info("replication"));
    if (/master_link_status:up/.test(info) && counted) break;
    if (Date.now() > deadline) throw new Error(`the replica did not sync:\n${info}`);
    await Bun.sleep(50);
  }
}, 15_000);

afterAll(async () => {
  masterClient?.disconnect();
  replicaClient?.disconnect();
  await Promise.all([replica?.stop(), master?.stop()]);
});

function simulateLoad(stream: string, args: string[]) {
  return runCoursepay(["simulate", "load", "--seed", "3", ...args], {
    REDIS_URL: master.url,
    EVENT_STREAM: stream,
    REDIS_TIMEOUT_MS: "1000",
  });
}

describe("coursepay simulate load --wait-replicas", () => {
  test("WAIT 1 after each round trip: every event confirmed, and on the replica", async () => {
    const stream = uniqueName("wait");
    const run = await simulateLoad(stream, ["--count", "1200", "--wait-replicas", "1"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Confirmed by 1 replica (WAIT): 1200 of 1200 events.\n");
    expect(run.stdout).not.toContain("Sent again");
    expect(await masterClient.xlen(stream)).toBe(1200);
    // WAIT answered 1 only once the replica held the writes: they are there now.
    expect(await replicaClient.xlen(stream)).toBe(1200);
  });

  test("more replicas than there are: nothing confirmed, each WAIT bounded by its timeout", async () => {
    const stream = uniqueName("wait");
    const started = performance.now();
    // 3 round trips of 500, 500 and 200; WAIT's timeout is REDIS_TIMEOUT_MS / 2 = 500 ms.
    const run = await simulateLoad(stream, ["--count", "1200", "--wait-replicas", "2"]);
    const elapsedMs = performance.now() - started;
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      "Confirmed by 2 replicas (WAIT): 0 of 1200 events; 1200 not confirmed in time (a failover may lose them).\n",
    );
    // Not confirmed is not resent: the master has them once.
    expect(await masterClient.xlen(stream)).toBe(1200);
    expect(elapsedMs).toBeGreaterThan(1_400);
    expect(elapsedMs).toBeLessThan(15_000);
  });

  test("one event: confirmed, it prints the trace_id; not confirmed, the trace_id, then exit 1", async () => {
    const stream = uniqueName("wait");
    const publish = (replicas: string) =>
      runCoursepay(
        ["simulate", "payment-succeeded", "--tenant", "t", "--user", "u", "--course", "c"].concat([
          "--wait-replicas",
          replicas,
        ]),
        { REDIS_URL: master.url, EVENT_STREAM: stream, REDIS_TIMEOUT_MS: "1000" },
      );
    const confirmed = await publish("1");
    expect(confirmed.stderr).toBe("");
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toMatch(/^evt_\S+\n$/);
    const unconfirmed = await publish("2");
    expect(unconfirmed.code).toBe(1);
    const traceId = unconfirmed.stdout.trim();
    expect(traceId).toMatch(/^evt_\S+$/);
    expect(unconfirmed.stderr).toBe(
      `coursepay: ${traceId} was published, but 1 of 2 replicas confirmed it within 500 ms (WAIT): a failover now could lose it\n`,
    );
    expect(await replicaClient.xlen(stream)).toBe(2);
  });

  test("--wait-replicas takes a whole number from 1 to 100", async () => {
    for (const value of ["0", "101", "one", "-1"]) {
      const run = await simulateLoad(uniqueName("wait"), [
        "--count",
        "10",
        "--wait-replicas",
        value,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("--wait-replicas expects a whole number from 1 to 100");
    }
  });
});
