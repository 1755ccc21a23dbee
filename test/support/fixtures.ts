/**
 * Helpers for tests: the run's Redis, unique names, temporary files, and redis-servers of their
 * own for tests that stop Redis. test/support/redis-server.ts (the bun test preload) uses the
 * same functions to start the run's Redis and to clean up at the end.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NOT_INSTALLED = "redis-server not found on PATH: install it (apt-get install redis-server)";
const READY_TIMEOUT_MS = 10_000;

/** The Redis every test shares: REDIS_URL as given, or as set by the preload. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new Error(
      "REDIS_URL is not set: test/support/redis-server.ts should set it (bunfig.toml [test] preload)",
    );
  }
  return url;
}

let counter = 0;

/** A name no other test (in this or a parallel run) uses: for streams, groups, consumers. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Every temporary directory of this process lives under one root, removed at the end. */
const tempRoot = join(tmpdir(), `coursepay-test-${process.pid}`);

/** A fresh empty directory under os.tmpdir(), removed when the run ends. */
export function tempDir(prefix: string): string {
  mkdirSync(tempRoot, { recursive: true });
  return mkdtempSync(join(tempRoot, `${prefix.replace(/[^\w.-]/g, "_")}-`));
}

/** Removes the temporary roots of earlier runs whose process is gone (killed, or `--bail`). */
export function removeStaleTempRoots(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^coursepay-test-(\d+)$/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !isAlive(pid)) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A `file:` URL of a database file that does not exist yet, in a fresh temporary directory. */
export function tempDatabaseUrl(): { url: string; path: string } {
  const path = join(tempDir("db"), "coursepay.db");
  return { url: `file:${path}`, path };
}

/** A loopback TCP port that was free a moment ago (bind to port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True when something on host:port answers PING with +PONG within timeoutMs. */
export function answersPing(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (reply) => done(reply.toString().startsWith("+PONG")));
  });
}

export interface RedisServer {
  url: string;
  port: number;
  pid: number;
  /** SIGTERM, then wait until it has exited. */
  stop(): Promise<void>;
  /** SIGKILL, without waiting: a crash. */
  kill(): void;
}

/** Servers started by this module and still running, for the end-of-run cleanup. */
const running = new Set<RedisServer>();

/**
 * Starts `redis-server` on 127.0.0.1:port (no persistence, files in dir, then `extraArgs` such
 * as `["--proto-max-bulk-len", "1mb"]`) and resolves once it answers PING.
 */
export async function startRedisServer(
  port: number,
  dir: string,
  extraArgs: readonly string[] = [],
): Promise<RedisServer> {
  const logFile = join(dir, `redis-${port}.log`);
  return startRedisProcess(
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].concat(
      ["--daemonize", "no", "--dir", dir, "--logfile", logFile],
      extraArgs,
    ),
    port,
    logFile,
  );
}

/**
 * Runs `redis-server <args>` (a server, a replica, a sentinel, a cluster node) that listens on
 * 127.0.0.1:port and logs to logFile, and resolves once it answers PING. A watchdog kills it if
 * this process dies without stopping it (bun test does not emit "exit", and `--bail` skips
 * afterAll); the end of the run stops it anyway.
 */
export async function startRedisProcess(
  args: readonly string[],
  port: number,
  logFile: string,
): Promise<RedisServer> {
  if (!Bun.which("redis-server")) throw new Error(NOT_INSTALLED);
  const proc = Bun.spawn(["redis-server", ...args], { stdio: ["ignore", "ignore", "ignore"] });
  proc.unref();
  const watchdog = Bun.spawn(
    ["sh", "-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${proc.pid}`],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  watchdog.unref();

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    async stop() {
      running.delete(server);
      watchdog.kill("SIGKILL");
      proc.kill("SIGTERM");
      await proc.exited;
    },
    kill() {
      running.delete(server);
      watchdog.kill("SIGKILL");
      proc.kill("SIGKILL");
    },
  };
  running.add(server);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await answersPing(port))) {
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
      server.kill();
      const log = readLog(logFile);
      const why = proc.exitCode !== null ? `exited with code ${proc.exitCode}` : "did not answer";
      throw new Error(
        `redis-server on 127.0.0.1:${port} ${why} within ${READY_TIMEOUT_MS} ms. Its log:\n${log}`,
      );
    }
    await Bun.sleep(25);
  }
  return server;
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log written)";
  }
}

/** Starts redis-server on a free port, trying another port if one was taken in the meantime. */
export async function startRedisOnFreePort(
  dir: string,
  extraArgs: readonly string[] = [],
): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisServer(await freePort(), dir, extraArgs);
    } catch (error) {
      if (attempt >= 3 || (error as Error).message === NOT_INSTALLED) throw error;
    }
  }
}

export interface RestartableRedis {
  url: string;
  port: number;
  /** Shuts the server down (SIGTERM) and waits; a no-op when it is not running. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits for PING; a no-op when it is running. */
  start(): Promise<void>;
  /** Kills it (SIGKILL) at once, as a crash would. */
  kill(): void;
}

/**
 * A redis-server of the test's own, on its own free port, for tests that take Redis away
 * (readiness, outages). Call stop() or kill() in afterAll; the end of the run kills it anyway.
 */
export async function restartableRedis(): Promise<RestartableRedis> {
  const dir = tempDir("redis");
  let server: RedisServer | undefined = await startRedisOnFreePort(dir);
  const port = server.port;
  return {
    url: server.url,
    port,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      server ??= await startRedisServer(port, dir);
    },
    kill() {
      server?.kill();
      server = undefined;
    },
  };
}

/** Stops every redis-server this module started and removes the temporary directories. */
export async function cleanUpTestResources(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
  rmSync(tempRoot, { recursive: true, force: true });
}

// "exit" does fire on process.exit() (the preload's signal handlers call it) and outside bun test.
process.once("exit", () => {
  for (const server of running) server.kill();
  rmSync(tempRoot, { recursive: true, force: true });
});
