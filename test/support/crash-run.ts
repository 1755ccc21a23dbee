/**
 * The crash the fault tests share: a worker killed with SIGKILL while it holds a batch it cannot
 * commit, then a second worker (the same consumer name, or another that reclaims) drains what
 * the first left. The callers publish the stream first and count the outcome after.
 */
import { expect } from "bun:test";
import type Redis from "ioredis";
import type { Config } from "../../src/config/config.ts";
import type { Database } from "../../src/db/database.ts";
import {
  countRows,
  openTestDatabase,
  spawnWorker,
  streamState,
  waitFor,
} from "./worker-harness.ts";
import { startWriteLocker } from "./write-lock.ts";

/** At most this long (under REDIS_TIMEOUT_MS, so the worker keeps its connection). */
const LOCK_PAUSE_MS = 2_000;

export interface CrashRun {
  redis: Redis;
  /** The first worker's; its consumer name is the victim's. */
  config: Config;
  /** processed_events rows to wait for before the kill, so it comes mid-stream. */
  appliedBeforeKill: number;
  secondConsumer: string;
  /** Settings for both workers. */
  env: Record<string, string>;
  /** Settings for the second worker only. */
  secondEnv?: Record<string, string>;
}

/** Runs the crash and the recovery; returns a handle on the database for the counts (close it). */
export async function crashAndRecover(run: CrashRun): Promise<Database> {
  const { redis, config } = run;
  const lock = await startWriteLocker(config.databaseFilePath as string);
  const first = spawnWorker(config, run.env);
  const database = await openTestDatabase(config);
  try {
    await waitFor(
      "part of the stream to be applied",
      async () => {
        try {
          const applied = await countRows(database, "SELECT count(*) FROM processed_events");
          return applied >= run.appliedBeforeKill;
        } catch {
          return false; // tables not migrated yet
        }
      },
      20_000,
    );
    // Catch it with a batch in hand: the next commit waits on a lock held elsewhere. A worker
    // that commits back to back leaves the locker only short gaps, and on a busy machine it may
    // drain the stream before the locker gets one; so its Redis writes (XREADGROUP, XACK) are
    // paused meanwhile, which stops it between batches and lets the locker in at once.
    await redis.call("CLIENT", "PAUSE", String(LOCK_PAUSE_MS), "WRITE");
    try {
      await lock.lock();
    } finally {
      await redis.call("CLIENT", "UNPAUSE");
    }
    // The batch seen pending must be one that cannot commit: the same pending range twice,
    // 300 ms apart, since the batch committed just before the lock may still have its ACK in
    // flight.
    let seen = "";
    await waitFor("a batch to be in hand", async () => {
      const [count, firstId, lastId] = (await redis.xpending(
        config.eventStream,
        config.consumerGroup,
      )) as [number, string | null, string | null];
      const range = count > 0 ? `${firstId}..${lastId}` : "";
      const stable = range !== "" && range === seen;
      seen = range;
      if (!stable) await Bun.sleep(300);
      return stable;
    });
    first.child.kill("SIGKILL");
    expect(await first.child.exited).not.toBe(0);
    await lock.release();
    const left = await streamState(redis, config);
    expect(left.pending).toBeGreaterThan(0);
    expect(left.lag).toBeGreaterThan(0);

    const second = spawnWorker(
      { ...config, consumerName: run.secondConsumer },
      { ...run.env, ...run.secondEnv },
    );
    try {
      await waitFor(
        "the stream to be drained",
        async () => {
          const state = await streamState(redis, config);
          return state.pending === 0 && state.lag === 0;
        },
        30_000,
      );
    } finally {
      second.child.kill("SIGTERM");
      expect(await second.child.exited).toBe(0);
    }
    return database;
  } catch (error) {
    database.close();
    throw error;
  }
}
