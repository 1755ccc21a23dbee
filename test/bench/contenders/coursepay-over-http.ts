/**
 * Contender (a-http): the compiled binary as in (a), but its database is remote: the Hrana test
 * server (test/support/hrana-server.ts) on loopback serves the run's database file over HTTP,
 * in this process, and the binary gets DATABASE_URL=http://127.0.0.1:<port> with a token. The
 * network costs nothing here, so what the figure shows is the price of the round trips: the
 * libSQL client sends each statement of an interactive transaction as its own HTTP request.
 * They are counted (HTTP requests, statements) and written to STATS_FILE at the end.
 *
 * Run by the bench: `bun test/bench/contenders/coursepay-over-http.ts` with the binary's
 * environment plus COURSEPAY_BINARY, BENCH_DATABASE_FILE and STATS_FILE. SIGTERM is passed on
 * to the binary; this process exits with its code once the server has stopped.
 */
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import type { PipelineRequest } from "../../support/hrana/protocol.ts";
import { startHranaServer } from "../../support/hrana-server.ts";

const { COURSEPAY_BINARY, BENCH_DATABASE_FILE, STATS_FILE, ...binaryEnv } = process.env;
if (COURSEPAY_BINARY === undefined || BENCH_DATABASE_FILE === undefined) {
  throw new Error("COURSEPAY_BINARY and BENCH_DATABASE_FILE must be set");
}

let statements = 0;
const requestTypes: Record<string, number> = {};
const countStatements = (pipeline: PipelineRequest) => {
  for (const request of pipeline.requests) {
    requestTypes[request.type] = (requestTypes[request.type] ?? 0) + 1;
    if (request.type === "execute") statements += 1;
    else if (request.type === "batch") statements += request.batch.steps.length;
  }
};

const authToken = crypto.randomUUID();
const server = await startHranaServer({
  dbPath: BENCH_DATABASE_FILE,
  authToken,
  onPipeline: countStatements,
});
// What a new connection of the server gets, as its streams do (nothing sets it otherwise).
const probe = new Database(BENCH_DATABASE_FILE);
const synchronous = ["OFF", "NORMAL", "FULL", "EXTRA"][
  Number((probe.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous)
];
probe.close();

const child = Bun.spawn([COURSEPAY_BINARY, "serve"], {
  env: { ...binaryEnv, DATABASE_URL: server.url, DATABASE_AUTH_TOKEN: authToken },
  stdin: "ignore",
  stdout: "inherit",
  stderr: "inherit",
});
process.on("SIGTERM", () => child.kill("SIGTERM"));
process.on("SIGINT", () => child.kill("SIGINT"));
const code = await child.exited;
const httpRequests = server.pipelineRequests;
await server.stop();
if (STATS_FILE !== undefined) {
  writeFileSync(
    STATS_FILE,
    JSON.stringify({ httpRequests, statements, requestTypes, serverSynchronous: synchronous }),
  );
}
process.exit(code);
