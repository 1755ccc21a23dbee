/**
 * `npm run demo`: the worker on the embedded defaults with the PayCore simulator publishing a
 * payment every second, until Ctrl-C. When REDIS_URL is unset and no Redis answers on
 * 127.0.0.1:6379, a throwaway redis-server runs for the length of the demo.
 *
 * Both children run in their own session (detached), so Ctrl-C reaches them only through this
 * process: the worker gets exactly one SIGINT (a second one means "exit now" to it), and Redis
 * stays up until the worker has finished its shutdown.
 */
import { createConnection, createServer } from "node:net";
import { resolve } from "node:path";

const repoRoot = resolve(import.meta.dir, "..", "..");
/** Prometheus' usual port range; taken only when free. */
const DEMO_HTTP_PORT = 9464;

/** True when something on 127.0.0.1:port answers PING. */
function redisAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const finish = (answered: boolean) => {
      socket.destroy();
      done(answered);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (reply) => finish(reply.toString().startsWith("+PONG")));
  });
}

async function startThrowawayRedis(): Promise<Bun.Subprocess> {
  if (!Bun.which("redis-server")) {
    throw new Error("redis-server not found on PATH: install it (apt-get install redis-server)");
  }
  const redis = Bun.spawn(
    ["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "ignore", "inherit"], detached: true },
  );
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(6379))) {
    if (redis.exitCode !== null || Date.now() > deadline) {
      redis.kill();
      throw new Error("the throwaway redis-server on 127.0.0.1:6379 did not start");
    }
    await Bun.sleep(50);
  }
  console.log(
    `No Redis answered on 127.0.0.1:6379: started a throwaway redis-server (pid ${redis.pid}) for this demo; it stops with the demo.`,
  );
  return redis;
}

let redis: Bun.Subprocess | undefined;
let worker: Bun.Subprocess | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (worker) return worker.kill(signal);
    redis?.kill();
    process.exit(130);
  });
}

if (!process.env.REDIS_URL && !(await redisAnswers(6379))) {
  redis = await startThrowawayRedis().catch((error: Error) => {
    console.error(`demo: ${error.message}`);
    process.exit(1);
  });
}

/** True when nothing listens on 127.0.0.1:port, so the demo's metrics endpoint can take it. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

// The HTTP endpoints, so `curl localhost:9464/metrics` shows the figures move.
const httpPort =
  process.env.HTTP_PORT ??
  ((await portIsFree(DEMO_HTTP_PORT)) ? String(DEMO_HTTP_PORT) : undefined);
console.log(
  `In another terminal: bun src/main.ts status${
    httpPort ? `, curl localhost:${httpPort}/metrics` : ""
  }, sqlite3 data/coursepay.db "SELECT * FROM course_enrollments;"`,
);

worker = Bun.spawn([process.execPath, "src/main.ts", "serve"], {
  cwd: repoRoot,
  env: {
    ...process.env,
    ENABLE_SIMULATOR: "true",
    SIMULATOR_INTERVAL_MS: process.env.SIMULATOR_INTERVAL_MS ?? "1000",
    ...(httpPort ? { HTTP_PORT: httpPort } : {}),
  },
  stdio: ["inherit", "inherit", "inherit"],
  detached: true,
});

const code = await worker.exited;
if (redis) {
  redis.kill("SIGTERM");
  await redis.exited;
}
process.exit(code);
