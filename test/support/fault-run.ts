/**
 * Fault runs against the compiled binary: `dist/coursepay serve` talking to Redis through the
 * fault proxy, a steady load published straight to Redis (never through the proxy), readiness
 * and metrics read over HTTP, and the exact end state asserted (stream-run.ts).
 */
import { createHash } from "node:crypto";
import Redis from "ioredis";
import { type FaultProxy, type RedisCommand, startFaultProxy } from "./fault-proxy.ts";
import { StreamRun } from "./stream-run.ts";

export { type LoadOptions, SteadyLoad } from "./steady-load.ts";
export { BLOCK_MS, REDIS_TIMEOUT_MS, RETRY_MAX_MS, type Readiness } from "./stream-run.ts";
export {
  CONSUMER_STARTED,
  killWorkerProcesses as killFaultRunProcesses,
  spawnBinary,
  type WorkerProcess,
} from "./worker-process.ts";

/** The longest wait between two reconnect attempts (MAX_RECONNECT_DELAY_MS in redis-connection.ts). */
export const RECONNECT_MS = 1_000;
/** Headroom in every bound for the work itself, a busy CI machine and the polling. */
export const SLACK_MS = 2_000;

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

export interface FaultRunOptions {
  /** The redis-server behind the proxy. */
  redis: { host: string; port: number };
  /** The database file; default a fresh one in a temporary directory. */
  databasePath?: string;
}

/** A StreamRun whose worker reaches its one Redis through the fault proxy. */
export class FaultRun extends StreamRun {
  private constructor(
    readonly proxy: FaultProxy,
    override readonly redis: Redis,
    options: FaultRunOptions,
  ) {
    super(redis, { streamPrefix: "faults", databasePath: options.databasePath });
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

  protected redisEnv(): Record<string, string> {
    return { REDIS_URL: this.proxy.url };
  }

  protected async closeConnections(): Promise<void> {
    await this.proxy.close();
    this.redis.disconnect();
  }
}

/** SHA-256 of fields as the dead letter records it: each, as UTF-8, followed by a NUL byte. */
export function sha256OfFieldsWithNul(fields: readonly string[]): string {
  const hash = createHash("sha256");
  for (const field of fields) hash.update(field, "utf8").update("\0");
  return hash.digest("hex");
}
