/**
 * The remote database fails under the compiled worker while a steady load is published: the
 * worker talks to the Hrana test server (its own process) over HTTP, through the fault proxy.
 * The server is killed mid-batch and back 3 s later; it stops answering (requests left hanging,
 * bounded by DATABASE_TIMEOUT_MS); its answers come so late that the transaction's baton
 * expires; and three workers share it while one of them is killed. Each time: nothing ACKed
 * while no commit can succeed, no payment dead-lettered, every payment applied exactly once,
 * and the recovery time asserted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ensureBinaryBuilt } from "../support/binary.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import {
  BLOCK_MS,
  FaultRun,
  killFaultRunProcesses,
  RETRY_MAX_MS,
  SLACK_MS,
} from "../support/fault-run.ts";
import { tempDir, testRedisUrl } from "../support/fixtures.ts";
import { HranaProcess } from "../support/hrana-process.ts";

/** DATABASE_TIMEOUT_MS of the workers here: a request unanswered this long has failed. */
const DATABASE_TIMEOUT_MS = 1_500;
/** The server's baton timeout (sqld: 10 s): an abandoned transaction holds the lock this long. */
const BATON_TIMEOUT_MS = 2_000;
const OUTAGE_MS = 3_000;
const LOAD_PER_SECOND = 400;
/**
 * The backlog an outage leaves (OUTAGE_MS of the load), drained at a conservative 1,000 events/s
 * before a payment published after it can be applied.
 */
const BACKLOG_MS = (OUTAGE_MS * LOAD_PER_SECOND) / 1_000;

let redisTarget: { host: string; port: number };
const servers: HranaProcess[] = [];

beforeAll(() => {
  ensureBinaryBuilt();
  const url = new URL(testRedisUrl());
  redisTarget = { host: url.hostname, port: Number(url.port) };
}, 180_000);

afterAll(async () => {
  killFaultRunProcesses();
  await Promise.all(servers.map((server) => server.kill()));
});

interface RemoteRun {
  run: FaultRun;
  server: HranaProcess;
  /** The fault proxy between the workers and the server. */
  dbProxy: FaultProxy;
  /** The worker environment for the remote database, through the proxy. */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function remoteRun(batonTimeoutMs = BATON_TIMEOUT_MS): Promise<RemoteRun> {
  const databasePath = join(tempDir("remote-faults"), "coursepay.db");
  const authToken = crypto.randomUUID();
  const server = await HranaProcess.start({ dbPath: databasePath, authToken, batonTimeoutMs });
  servers.push(server);
  const dbProxy = await startFaultProxy({ host: "127.0.0.1", port: server.port });
  const run = await FaultRun.start({ redis: redisTarget, databasePath });
  const env = {
    DATABASE_URL: `http://127.0.0.1:${dbProxy.port}`,
    DATABASE_AUTH_TOKEN: authToken,
    DATABASE_TIMEOUT_MS: String(DATABASE_TIMEOUT_MS),
  };
  return {
    run,
    server,
    dbProxy,
    env,
    async close() {
      try {
        await run.close();
      } finally {
        await dbProxy.close();
        await server.stop();
      }
    },
  };
}

/** What must not move while no commit can succeed. */
async function settledSoFar(run: FaultRun) {
  return {
    acked: await run.acked(),
    deadLetters: (await run.deadLetters()).length,
    processed: run.processedCount(),
  };
}

/** The batches that could not be committed, as logged: their code and when (epoch ms). */
function failedCommits(run: FaultRun): { code: string; at: number }[] {
  return run.workers.flatMap((worker) =>
    worker
      .logs()
      .filter((line) => String(line.msg).startsWith("Batch could not be committed"))
      .map((line) => ({ code: String(line.code), at: Date.parse(String(line.time)) })),
  );
}

function failedCommitCodes(run: FaultRun): string[] {
  return failedCommits(run).map((failure) => failure.code);
}

/**
 * A warm-up, then a steady load with replays (bad events only before the fault, so that every
 * batch during it needs the database): the moment to strike is when `strike` is called.
 */
async function underLoad(remote: RemoteRun, total = 3_000) {
  const { run } = remote;
  await run.load.publishBad();
  await run.load.publishBad(["data", '{"event_type":"paycore.payment_succeeded"}']);
  const warmUp = await run.load.burst(200);
  await run.waitFor("the warm-up to be applied", () => run.processedCount() >= warmUp.length);
  run.load.start({ total, perSecond: LOAD_PER_SECOND, badEvery: Number.MAX_SAFE_INTEGER });
  await run.waitFor("the load to be flowing", () => run.processedCount() > warmUp.length + 300);
}

describe("the remote database fails under a steady load, compiled binary over HTTP", () => {
  test(`the server is killed (SIGKILL) mid-batch and back ${OUTAGE_MS / 1000} s later: nothing ACKed meanwhile, everything applied once, a payment applied within RETRY_MAX_MS + the backlog + 2 s of its return`, async () => {
    const remote = await remoteRun();
    const { run, server } = remote;
    try {
      await run.startWorker(remote.env);
      await underLoad(remote);
      await server.kill();
      const killedAt = performance.now();
      await Bun.sleep(300); // the ACK of a batch committed just before the kill may still land
      const before = await settledSoFar(run);
      await Bun.sleep(OUTAGE_MS - 300);
      expect(await settledSoFar(run)).toEqual(before);
      expect((await run.groupInfo()).pending).toBeGreaterThan(0);
      await server.start();
      const backAt = performance.now();
      console.log(`server down for ${((backAt - killedAt) / 1000).toFixed(1)} s`);
      const marker = await run.load.marker();
      await run.recovery(
        "server killed and back: a payment sent after its return applied",
        backAt,
        RETRY_MAX_MS + BACKLOG_MS + SLACK_MS,
        () => run.caughtUpTo(marker),
      );
      await run.expectExactCounts();
      // The first failure names the lost server, not the savepoint's rollback after it.
      expect(failedCommitCodes(run)[0]).toBe("DATABASE_UNREACHABLE");
      console.log(
        `server killed: ${run.load.unique} unique payments, ${run.load.duplicates} replays, ${run.load.bad} dead letters; failed commits logged as ${[...new Set(failedCommitCodes(run))].join(", ")}`,
      );
    } finally {
      await remote.close();
    }
  }, 90_000);

  test(`requests that never answer (the proxy goes dark for ${OUTAGE_MS / 1000} s): each fails after DATABASE_TIMEOUT_MS, nothing ACKed, everything applied once, a payment applied within DATABASE_TIMEOUT_MS + baton timeout + RETRY_MAX_MS + 2 s of the network's return`, async () => {
    const remote = await remoteRun();
    const { run, dbProxy } = remote;
    try {
      await run.startWorker(remote.env);
      await underLoad(remote);
      dbProxy.goSilent();
      const silentAt = Date.now();
      await Bun.sleep(300);
      const before = await settledSoFar(run);
      await Bun.sleep(OUTAGE_MS - 300);
      expect(await settledSoFar(run)).toEqual(before);
      // The request in flight fails once DATABASE_TIMEOUT_MS is up, not later, and the log names
      // the timeout, not the savepoint's rollback that then meets the closed stream.
      const [failure] = failedCommits(run);
      expect(failure?.code).toBe("DATABASE_TIMEOUT");
      expect((failure?.at ?? Infinity) - silentAt).toBeLessThanOrEqual(DATABASE_TIMEOUT_MS + 1_000);
      dbProxy.restore();
      const backAt = performance.now();
      const marker = await run.load.marker();
      await run.recovery(
        "requests unanswered: a payment sent after the network came back applied",
        backAt,
        DATABASE_TIMEOUT_MS + BATON_TIMEOUT_MS + RETRY_MAX_MS + SLACK_MS,
        () => run.caughtUpTo(marker),
      );
      await run.expectExactCounts();
      console.log(
        `no answers: ${run.load.unique} unique payments, ${run.load.duplicates} replays, ${run.load.bad} dead letters; failed commits logged as ${[...new Set(failedCommitCodes(run))].join(", ")}`,
      );
    } finally {
      await remote.close();
    }
  }, 90_000);

  test("answers so slow that the transaction's baton expires between its requests (STREAM_EXPIRED): rolled back, retried, nothing ACKed meanwhile, everything applied once", async () => {
    const batonTimeoutMs = 1_000;
    const remote = await remoteRun(batonTimeoutMs);
    const { run, dbProxy } = remote;
    try {
      // A timeout above the delay: the requests are answered, only too late for the baton.
      await run.startWorker({ ...remote.env, DATABASE_TIMEOUT_MS: "10000" });
      await underLoad(remote);
      dbProxy.delayAll(batonTimeoutMs + 500);
      await run.waitFor(
        "a transaction to expire on the server and its batch to fail",
        () =>
          remote.server.output.includes("a stream expired") && failedCommitCodes(run).length > 0,
        { timeoutMs: 15_000 },
      );
      // The log names the expiry; when the client learns of it from a request on the stream the
      // server had already dropped, it says TRANSACTION_CLOSED (1 run in 9 of the loop).
      expect(["STREAM_EXPIRED", "TRANSACTION_CLOSED"]).toContain(failedCommitCodes(run)[0] ?? "");
      const before = await settledSoFar(run);
      await Bun.sleep(OUTAGE_MS);
      expect(await settledSoFar(run)).toEqual(before);
      dbProxy.delayAll(0);
      const fastAt = performance.now();
      const marker = await run.load.marker();
      await run.recovery(
        "baton expired: a payment sent after the delay went applied",
        fastAt,
        // Answers already queued still arrive late; then one backoff and a batch.
        batonTimeoutMs + 500 + RETRY_MAX_MS + SLACK_MS,
        () => run.caughtUpTo(marker),
      );
      await run.expectExactCounts();
      console.log(
        `baton expired: ${run.load.unique} unique payments, ${run.load.duplicates} replays, ${run.load.bad} dead letters; failed commits logged as ${[...new Set(failedCommitCodes(run))].join(", ")}`,
      );
    } finally {
      await remote.close();
    }
  }, 90_000);

  test("three workers in one group share the remote database and one is killed (SIGKILL): its entries are reclaimed within 1.5 × CLAIM_IDLE_MS + BLOCK_MS + baton timeout + 2 s, every payment applied exactly once", async () => {
    const CLAIM_IDLE_MS = 3_000;
    const remote = await remoteRun();
    const { run } = remote;
    try {
      const shared = {
        ...remote.env,
        // Above the server's lock wait (5 s): a request given up on while it waits for the
        // killed worker's lock would go on waiting there, take the lock and hold it, unseen,
        // until its baton expires, and the others would give up on theirs the same way.
        DATABASE_TIMEOUT_MS: "10000",
        CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
        DATABASE_BUSY_TIMEOUT_MS: "500", // below CLAIM_IDLE_MS/3, or start-up is refused
        BATCH_SIZE: "50",
      };
      for (const name of ["w1", "w2", "w3"]) {
        await run.startWorker({ ...shared, CONSUMER_NAME: name });
      }
      await underLoad(remote, 4_000);
      const victim = run.workers[1];
      if (victim === undefined) throw new Error("no second worker");
      victim.kill();
      const killedAt = performance.now();
      await victim.proc.exited;
      const left = (await run.redis.xpending(run.stream, run.group, "-", "+", 10_000, "w2")) as [
        string,
      ][];
      const orphaned = left.map(([id]) => id);
      console.log(`killed w2 with ${orphaned.length} entries pending`);
      await run.recovery(
        "a worker killed: its pending entries reclaimed and settled by the others",
        killedAt,
        1.5 * CLAIM_IDLE_MS + BLOCK_MS + BATON_TIMEOUT_MS + SLACK_MS,
        () => run.noneOfPending(orphaned),
      );

      await run.expectExactCounts();
      console.log(
        `three workers, one killed: ${run.load.unique} unique payments, ${run.load.duplicates} replays, ${run.load.bad} dead letters`,
      );
    } finally {
      await remote.close();
    }
  }, 90_000);
});
