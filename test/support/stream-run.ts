/**
 * One test's world around the compiled binary: a stream and group of its own, a client for
 * publishing and assertions (plain, Sentinel or cluster), the database file, the workers it
 * spawned, and the exact end state asserted: every unique payment enrolled and recorded once,
 * nothing pending, one dead letter per bad event and no more. FaultRun (a fault proxy in front
 * of one Redis) and FailoverRun (a Sentinel or cluster topology) say where Redis is.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import { freePort, tempDir, uniqueName } from "./fixtures.ts";
import { SteadyLoad } from "./steady-load.ts";
import { CONSUMER_STARTED, spawnBinary, type WorkerProcess } from "./worker-process.ts";

/** The worker's timing in every such run: small, so the bounds are tight and the tests fast. */
export const BLOCK_MS = 500;
export const REDIS_TIMEOUT_MS = 1_000;
export const RETRY_MAX_MS = 1_000;

export interface Readiness {
  status: number;
  body: string;
}

export interface StreamRunOptions {
  /** The stream name's prefix (a unique suffix follows). */
  streamPrefix: string;
  /** The dead-letter stream of `stream`; default `<stream>.dlq`. */
  deadLetterStream?: (stream: string) => string;
  /** The database file; default a fresh one in a temporary directory. */
  databasePath?: string;
}

export abstract class StreamRun {
  readonly stream: string;
  readonly group = uniqueName("group");
  readonly dlq: string;
  readonly dir = tempDir("stream-run");
  readonly databasePath: string;
  readonly workers: WorkerProcess[] = [];
  readonly load: SteadyLoad;
  httpPort = 0;

  protected constructor(
    readonly redis: Redis | Cluster,
    options: StreamRunOptions,
  ) {
    this.stream = uniqueName(options.streamPrefix);
    this.dlq = options.deadLetterStream?.(this.stream) ?? `${this.stream}.dlq`;
    this.databasePath = options.databasePath ?? join(this.dir, "coursepay.db");
    this.load = new SteadyLoad(redis, this.stream);
  }

  /** Where the binary finds Redis: REDIS_URL, or the topology's settings. */
  protected abstract redisEnv(): Record<string, string>;

  /** Closes what the run opened besides the workers (proxy, clients). */
  protected abstract closeConnections(): Promise<void>;

  /** The binary's environment: Redis as redisEnv() says, and the small timings above. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: "/usr/bin:/bin",
      HOME: this.dir,
      TMPDIR: "/tmp",
      ...this.redisEnv(),
      DATABASE_URL: `file:${this.databasePath}`,
      EVENT_STREAM: this.stream,
      CONSUMER_GROUP: this.group,
      CONSUMER_NAME: "fault-worker",
      BLOCK_MS: String(BLOCK_MS),
      REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
      CLAIM_IDLE_MS: "60000",
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: String(RETRY_MAX_MS),
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(this.httpPort),
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      ...extra,
    };
  }

  /** Spawns the binary and waits for `✅ Event consumer started`. */
  async startWorker(extra: Record<string, string> = {}): Promise<WorkerProcess> {
    this.httpPort = await freePort();
    const worker = spawnBinary(this.env(extra), this.dir);
    this.workers.push(worker);
    await this.waitFor("the consumer to start", () => worker.output().includes(CONSUMER_STARTED), {
      timeoutMs: 20_000,
    });
    return worker;
  }

  /** Polls `check` every 25 ms; on timeout or a worker's exit, fails with the workers' logs. */
  async waitFor(
    what: string,
    check: () => boolean | Promise<boolean>,
    { timeoutMs = 20_000 }: { timeoutMs?: number } = {},
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (await check()) return;
      const exited = this.workers.find((w) => w.proc.exitCode !== null && !w.stopped);
      if (exited || performance.now() > deadline) {
        const why = exited ? `a worker exited (${exited.proc.exitCode})` : `${timeoutMs} ms passed`;
        throw new Error(`${why} waiting for ${what}\n${this.tail()}`);
      }
      await Bun.sleep(25);
    }
  }

  /**
   * Waits for `check`, then prints and asserts the time since `sinceMs` (performance.now()):
   * `recovery: <what> → 2.3 s (bound 4.5 s)`. Waits past the bound (so a slow recovery is
   * measured, not just reported as missing), then fails.
   */
  async recovery(
    what: string,
    sinceMs: number,
    boundMs: number,
    check: () => boolean | Promise<boolean>,
  ): Promise<number> {
    await this.waitFor(`recovery: ${what}`, check, { timeoutMs: boundMs + 15_000 });
    const ms = performance.now() - sinceMs;
    console.log(
      `recovery: ${what} → ${(ms / 1000).toFixed(1)} s (bound ${(boundMs / 1000).toFixed(1)} s)`,
    );
    expect(ms).toBeLessThanOrEqual(boundMs);
    return ms;
  }

  /** The last log lines of every worker, for failure messages. */
  tail(lines = 30): string {
    return this.workers
      .map(
        (worker, i) =>
          `--- worker ${i} (pid ${worker.pid}, exit ${worker.proc.exitCode})\n` +
          worker.output().split("\n").slice(-lines).join("\n"),
      )
      .join("\n");
  }

  async readyz(): Promise<Readiness> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`, {
        signal: AbortSignal.timeout(5_000),
      });
      return { status: response.status, body: (await response.text()).trim() };
    } catch (error) {
      return { status: 0, body: String(error) };
    }
  }

  /** The value of one sample of /metrics (no labels), or undefined when absent. */
  async metric(name: string): Promise<number | undefined> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  }

  /** Waits until /readyz answers 503 and its reasons match `reason`; returns the body. */
  async waitUnready(reason: RegExp, timeoutMs: number): Promise<string> {
    let last: Readiness = { status: 0, body: "" };
    try {
      await this.waitFor(
        `/readyz to answer 503 matching ${reason}`,
        async () => {
          last = await this.readyz();
          return last.status === 503 && reason.test(last.body);
        },
        { timeoutMs },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nlast /readyz: ${last.status} ${last.body}`);
    }
    return last.body;
  }

  async waitReady(timeoutMs = 10_000): Promise<void> {
    await this.waitFor("/readyz to answer 200", async () => (await this.readyz()).status === 200, {
      timeoutMs,
    });
  }

  /** A read-only query on the database file (a connection of its own, closed at once). */
  query<T>(sql: string, args: (string | number)[] = []): T[] | undefined {
    if (!existsSync(this.databasePath)) return undefined;
    let db: Database | undefined;
    try {
      db = new Database(this.databasePath, { readonly: true });
      return db.query(sql).all(...args) as T[];
    } catch {
      return undefined; // not migrated yet
    } finally {
      db?.close();
    }
  }

  count(sql: string, args: (string | number)[] = []): number {
    const row = this.query<Record<string, number>>(sql, args)?.[0];
    return row === undefined ? 0 : Number(Object.values(row)[0]);
  }

  processedCount(): number {
    return this.count("SELECT count(*) FROM processed_events");
  }

  /** How many of these trace_ids are recorded in processed_events. */
  processedOf(traceIds: readonly string[]): number {
    let found = 0;
    for (let i = 0; i < traceIds.length; i += 500) {
      const chunk = traceIds.slice(i, i + 500);
      found += this.count(
        `SELECT count(*) FROM processed_events WHERE trace_id IN (${chunk.map(() => "?").join(",")})`,
        chunk,
      );
    }
    return found;
  }

  /** Has the payment `traceId` been applied, and everything published before it counted? */
  caughtUpTo(marker: { traceId: string; uniqueBefore: number }): boolean {
    return this.processedOf([marker.traceId]) === 1 && this.processedCount() > marker.uniqueBefore;
  }

  /** Entry ids pending in the group now (any consumer). */
  async pendingIds(): Promise<Set<string>> {
    const rows = (await this.redis.xpending(this.stream, this.group, "-", "+", 100_000)) as [
      string,
    ][];
    return new Set(rows.map(([id]) => id));
  }

  async noneOfPending(ids: readonly string[]): Promise<boolean> {
    const pending = await this.pendingIds();
    return ids.every((id) => !pending.has(id));
  }

  async groupInfo(): Promise<{ pending: number; lag: number | null; entriesRead: number }> {
    const groups = (await this.redis.xinfo("GROUPS", this.stream)) as unknown[][];
    for (const fields of groups) {
      const record: Record<string, unknown> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = fields[i + 1];
      if (record.name !== this.group) continue;
      return {
        pending: Number(record.pending),
        lag: record.lag === null ? null : Number(record.lag),
        entriesRead: Number(record["entries-read"]),
      };
    }
    throw new Error(`group ${this.group} not found on ${this.stream}`);
  }

  /** Entries the group has ACKed so far (read and no longer pending). */
  async acked(): Promise<number> {
    const info = await this.groupInfo();
    return info.entriesRead - info.pending;
  }

  async deadLetters(): Promise<Record<string, string>[]> {
    const entries = (await this.redis.xrange(this.dlq, "-", "+")) as [string, string[]][];
    return entries.map(([id, fields]) => {
      const record: Record<string, string> = { id };
      for (let i = 0; i + 1 < fields.length; i += 2) {
        record[fields[i] as string] = fields[i + 1] as string;
      }
      return record;
    });
  }

  /** Waits until the load is published and everything in the stream is settled. */
  async waitDrained(timeoutMs = 20_000): Promise<void> {
    await this.load.done;
    await this.waitFor(
      "every payment applied and nothing pending",
      async () => {
        if (this.processedCount() < this.load.unique) return false;
        const info = await this.groupInfo();
        return info.pending === 0 && info.lag === 0;
      },
      { timeoutMs },
    );
  }

  /**
   * The end state, exactly: enrollments = unique payments = processed rows (the same trace_ids),
   * nothing pending or unread, one dead letter per bad event, none twice.
   */
  async expectExactCounts(): Promise<void> {
    await this.waitDrained();
    const unique = this.load.unique;
    expect(this.count("SELECT count(*) FROM course_enrollments")).toBe(unique);
    expect(this.count("SELECT count(DISTINCT trace_id) FROM course_enrollments")).toBe(unique);
    expect(this.processedCount()).toBe(unique);
    const recorded = new Set(
      (this.query<{ trace_id: string }>("SELECT trace_id FROM processed_events") ?? []).map(
        (row) => row.trace_id,
      ),
    );
    expect(recorded.size).toBe(unique);
    expect(this.load.traceIds.filter((id) => !recorded.has(id))).toEqual([]);
    const [pendingCount] = (await this.redis.xpending(this.stream, this.group)) as [number];
    expect(pendingCount).toBe(0);
    expect((await this.groupInfo()).lag).toBe(0);
    const letters = await this.deadLetters();
    expect(letters.length).toBe(this.load.bad);
    expect(new Set(letters.map((letter) => letter.original_id)).size).toBe(letters.length);
    expect(new Set(letters.map((letter) => letter.original_id))).toEqual(new Set(this.load.badIds));
  }

  /** SIGTERM every worker still running; each must exit 0. Then the connections. */
  async close(): Promise<void> {
    try {
      for (const worker of this.workers) {
        // Killed by a signal, a process has a signal code and no exit code.
        if (worker.proc.exitCode !== null || worker.proc.signalCode !== null) continue;
        const { code } = await worker.stop();
        if (code === null) worker.kill();
        expect(code).toBe(0);
      }
    } finally {
      for (const worker of this.workers) worker.kill();
      await this.closeConnections();
    }
  }
}
