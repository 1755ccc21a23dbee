/**
 * Fault runs against the compiled binary: `dist/coursepay serve` talking to Redis through the
 * fault proxy, a steady load published straight to Redis (never through the proxy), readiness
 * and metrics read over HTTP, and the exact end state asserted: every unique payment enrolled
 * and recorded once, nothing pending, one dead letter per bad event and no more.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { BUILT_BINARY } from "./binary.ts";
import { type FaultProxy, type RedisCommand, startFaultProxy } from "./fault-proxy.ts";
import { freePort, tempDir, uniqueName } from "./fixtures.ts";
import { paymentEnvelope } from "./worker-harness.ts";

/** The worker's timing in every fault run: small, so the bounds are tight and the tests fast. */
export const BLOCK_MS = 500;
export const REDIS_TIMEOUT_MS = 1_000;
export const RETRY_MAX_MS = 1_000;
/** The longest wait between two reconnect attempts (MAX_RECONNECT_DELAY_MS in redis-connection.ts). */
export const RECONNECT_MS = 1_000;
/** Headroom in every bound for the work itself, a busy CI machine and the polling. */
export const SLACK_MS = 2_000;

export const CONSUMER_STARTED = "✅ Event consumer started";

/** Every process a fault run started, killed by killFaultRunProcesses() (afterAll). */
const processes = new Set<Bun.Subprocess>();

export function killFaultRunProcesses(): void {
  for (const child of processes) if (child.exitCode === null) child.kill("SIGKILL");
  processes.clear();
}

export interface WorkerProcess {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** Everything it wrote so far, stdout then stderr. */
  output(): string;
  /** Its JSON log lines so far (LOG_FORMAT=json). */
  logs(): Record<string, unknown>[];
  /** True once the test stopped or killed it (its exit is then expected). */
  readonly stopped: boolean;
  /** SIGTERM, then waits (at most timeoutMs) for it to exit: its code and how long it took. */
  stop(timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
  kill(): void;
}

/** Runs dist/coursepay serve with exactly `env` (nothing inherited), output collected. */
export function spawnBinary(env: Record<string, string>, cwd: string): WorkerProcess {
  const proc = Bun.spawn([BUILT_BINARY, "serve"], {
    cwd,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  processes.add(proc);
  const out = { stdout: "", stderr: "" };
  const drain = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out[key] += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout, "stdout");
  void drain(proc.stderr, "stderr");
  let stopped = false;
  return {
    proc,
    pid: proc.pid,
    get stopped() {
      return stopped;
    },
    output: () => out.stdout + out.stderr,
    logs: () =>
      out.stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    async stop(timeoutMs = 15_000) {
      const started = performance.now();
      stopped = true;
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
      return { code, ms: performance.now() - started };
    },
    kill() {
      stopped = true;
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

/** A read (the Lua read script) in `mode`: EVALSHA/EVAL <script> 1 <stream> <mode> … */
export function isRead(mode: "new" | "pending" | "claim") {
  return (command: RedisCommand) =>
    (command.name === "EVALSHA" || command.name === "EVAL") &&
    command.args[1] === "1" &&
    command.args[3] === mode;
}

/** The settle script: EVALSHA/EVAL <script> 2 <dlq> <stream> <group> <n> <n ids> <letters…> */
export function isSettle(command: RedisCommand): boolean {
  return (command.name === "EVALSHA" || command.name === "EVAL") && command.args[1] === "2";
}

/** The ids a settle script ACKs as they are (their outcome committed). */
export function settleAckIds(command: RedisCommand): string[] {
  const n = Number(command.args[5]);
  return command.args.slice(6, 6 + n);
}

/** The entry ids of the dead letters a settle script writes. */
export function settleLetterIds(command: RedisCommand): string[] {
  const ids: string[] = [];
  let i = 6 + Number(command.args[5]);
  while (i < command.args.length) {
    ids.push(command.args[i] as string);
    i += 2 + Number(command.args[i + 1]);
  }
  return ids;
}

/**
 * Arms a proxy rule for the first command matching `match` that the proxy forwards from now on
 * (not one already on its way): e.g. the first read sent after a burst was published, whose
 * reply therefore carries entries.
 */
export function failNextReply(
  proxy: FaultProxy,
  match: (command: RedisCommand) => boolean,
  action: "cut-after-start" | "cut-before" | "swallow",
) {
  const eligible = new WeakSet<RedisCommand>();
  const off = proxy.onCommand((command) => {
    if (match(command)) eligible.add(command);
  });
  const rule = proxy.failReply({ match: (command) => eligible.has(command), action });
  const fired = rule.fired.then((command) => {
    off();
    return { command, at: performance.now() };
  });
  return { rule, fired };
}

export interface LoadOptions {
  total: number;
  perSecond: number;
  /** Every n-th event is a replay of an earlier payment (same trace_id, same payload). */
  duplicateEvery?: number;
  /** Every n-th event is not JSON (`data` = `{broken`): one invalid_json dead letter each. */
  badEvery?: number;
}

/**
 * Payments published straight to Redis at a steady rate, in small pipelines: mostly new ones
 * (each its own user, so one enrollment each), some replays and some that are not JSON. Knows
 * what the end state must be.
 */
export class SteadyLoad {
  /** Every unique payment's trace_id, in publishing order. */
  readonly traceIds: string[] = [];
  /** Entry ids of the bad events (and whatever else was meant to be dead-lettered). */
  readonly badIds: string[] = [];
  duplicates = 0;
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly redis: Redis,
    readonly stream: string,
    readonly prefix = uniqueName("pay").replaceAll("-", "_"),
  ) {}

  get unique(): number {
    return this.traceIds.length;
  }

  /** Dead letters the run must end with. */
  get bad(): number {
    return this.badIds.length;
  }

  /** Resolves when the steady load has been published entirely. */
  get done(): Promise<void> {
    return this.#done;
  }

  start(options: LoadOptions): this {
    this.#done = this.#run(options);
    this.#done.catch(() => {});
    return this;
  }

  /** `count` new payments at once, in one pipeline: their trace_ids. */
  async burst(count: number): Promise<string[]> {
    const pipeline = this.redis.pipeline();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(this.#queuePayment(pipeline));
    await exec(pipeline);
    return ids;
  }

  /** One new payment now: its trace_id and how many unique payments were published before it. */
  async marker(): Promise<{ traceId: string; uniqueBefore: number }> {
    const uniqueBefore = this.unique;
    const [traceId] = await this.burst(1);
    return { traceId: traceId as string, uniqueBefore };
  }

  /** Publishes fields that must end as one dead letter; returns the entry id. */
  async publishBad(fields: string[] = ["data", "{broken"]): Promise<string> {
    const id = (await this.redis.xadd(this.stream, "*", ...fields)) as string;
    this.badIds.push(id);
    return id;
  }

  #queuePayment(pipeline: ReturnType<Redis["pipeline"]>): string {
    const n = this.traceIds.length;
    const traceId = `${this.prefix}_${n}`;
    this.traceIds.push(traceId);
    pipeline.xadd(this.stream, "*", ...this.#fields(n));
    return traceId;
  }

  #fields(n: number): string[] {
    return encodeDataForm(
      paymentEnvelope({
        trace_id: `${this.prefix}_${n}`,
        user_id: `${this.prefix}_u${n}`,
        course_id: `course_${n % 7}`,
      }),
    );
  }

  async #run(options: LoadOptions): Promise<void> {
    const { total, perSecond, duplicateEvery = 50, badEvery = 500 } = options;
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) * perSecond) / 1000));
      if (due > sent) {
        const pipeline = this.redis.pipeline();
        const badAt: number[] = [];
        for (let queued = 0; sent < due && queued < 200; sent++, queued++) {
          const k = sent + 1;
          if (k % badEvery === 0) {
            badAt.push(queued);
            pipeline.xadd(this.stream, "*", "data", "{broken");
          } else if (k % duplicateEvery === 0 && this.unique > 0) {
            this.duplicates++;
            pipeline.xadd(this.stream, "*", ...this.#fields(Math.floor(this.unique / 2)));
          } else {
            this.#queuePayment(pipeline);
          }
        }
        const replies = await exec(pipeline);
        for (const i of badAt) this.badIds.push(String(replies[i]));
      }
      await Bun.sleep(5);
    }
  }
}

async function exec(pipeline: ReturnType<Redis["pipeline"]>): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failure = replies.find(([error]) => error !== null)?.[0];
  if (failure) throw failure;
  return replies.map(([, reply]) => reply);
}

export interface FaultRunOptions {
  /** The redis-server behind the proxy. */
  redis: { host: string; port: number };
  /** The database file; default a fresh one in a temporary directory. */
  databasePath?: string;
}

export interface Readiness {
  status: number;
  body: string;
}

/**
 * One test's world: a stream and group of its own, the proxy in front of the Redis, a direct
 * client for publishing and assertions, the database file, and the workers it spawned.
 */
export class FaultRun {
  readonly stream = uniqueName("faults");
  readonly group = uniqueName("group");
  readonly dlq = `${this.stream}.dlq`;
  readonly dir = tempDir("fault-run");
  readonly databasePath: string;
  readonly workers: WorkerProcess[] = [];
  readonly load: SteadyLoad;
  httpPort = 0;

  private constructor(
    readonly proxy: FaultProxy,
    readonly redis: Redis,
    options: FaultRunOptions,
  ) {
    this.databasePath = options.databasePath ?? join(this.dir, "coursepay.db");
    this.load = new SteadyLoad(redis, this.stream);
  }

  static async start(options: FaultRunOptions): Promise<FaultRun> {
    const proxy = await startFaultProxy(options.redis);
    const redis = new Redis({
      host: options.redis.host,
      port: options.redis.port,
      maxRetriesPerRequest: null,
    });
    return new FaultRun(proxy, redis, options);
  }

  /** The binary's environment: the proxy as REDIS_URL and the small timings above. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: "/usr/bin:/bin",
      HOME: this.dir,
      TMPDIR: "/tmp",
      REDIS_URL: this.proxy.url,
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

  /** SIGTERM every worker still running; each must exit 0. Then the proxy and the client. */
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
      await this.proxy.close();
      this.redis.disconnect();
    }
  }
}

/** SHA-256 of fields as the dead letter records it: each, as UTF-8, followed by a NUL byte. */
export function sha256OfFieldsWithNul(fields: readonly string[]): string {
  const hash = createHash("sha256");
  for (const field of fields) hash.update(field, "utf8").update("\0");
  return hash.digest("hex");
}
