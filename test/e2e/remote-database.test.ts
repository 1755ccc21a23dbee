/**
 * The compiled binary on a remote libSQL database over HTTP: DATABASE_URL=http://127.0.0.1:P
 * with DATABASE_AUTH_TOKEN, served by the Hrana test server (in this process, so it sees every
 * statement the binary sends). migrate (twice), serve, status, enrollments and dlq all work,
 * and no pragma meant for a local file reaches the server.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import Redis from "ioredis";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { BUILT_BINARY, ensureBinaryBuilt } from "../support/binary.ts";
import { tempDir, testRedisUrl, uniqueName } from "../support/fixtures.ts";
import type { PipelineRequest } from "../support/hrana/protocol.ts";
import { type HranaServer, startHranaServer } from "../support/hrana-server.ts";
import { paymentEnvelope } from "../support/worker-harness.ts";

const CONSUMER_STARTED = "✅ Event consumer started";
const TOKEN = `token-${crypto.randomUUID()}`;

let server: HranaServer;
let dbPath: string;
const statements: string[] = [];
const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
const dir = tempDir("remote-e2e");
const stream = uniqueName("remote-stream");
const children: Bun.Subprocess[] = [];

/** Every SQL text a pipeline request carries. */
function sqlOf(request: PipelineRequest): string[] {
  return request.requests.flatMap((r) => {
    if (r.type === "execute") return [r.stmt.sql ?? ""];
    if (r.type === "batch") return r.batch.steps.map((step) => step.stmt.sql ?? "");
    if (r.type === "sequence" || r.type === "store_sql") return [r.sql ?? ""];
    return [];
  });
}

beforeAll(async () => {
  ensureBinaryBuilt();
  dbPath = join(tempDir("remote-db"), "coursepay.db");
  server = await startHranaServer({
    dbPath,
    authToken: TOKEN,
    onPipeline: (request) => statements.push(...sqlOf(request)),
  });
}, 180_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  redis.disconnect();
  await server.stop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: "/usr/bin:/bin",
    HOME: dir,
    REDIS_URL: testRedisUrl(),
    DATABASE_URL: server.url,
    DATABASE_AUTH_TOKEN: TOKEN,
    EVENT_STREAM: stream,
    CONSUMER_GROUP: "remote-group",
    CONSUMER_NAME: "remote-worker",
    BLOCK_MS: "200",
    LOG_FORMAT: "json",
    ...extra,
  };
}

/** Runs the binary to its end, asynchronously: the server answering it lives in this process. */
async function run(args: string[], extra: Record<string, string> = {}) {
  const child = Bun.spawn([BUILT_BINARY, ...args], {
    cwd: dir,
    env: env(extra),
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function count(sql: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return Number(Object.values(db.query(sql).get() as Record<string, number>)[0]);
  } finally {
    db.close();
  }
}

describe("DATABASE_URL=http://… (a remote libSQL database, the Hrana test server)", () => {
  test("migrate applies the embedded migrations over HTTP; a second run is a no-op", async () => {
    const first = await run(["migrate"]);
    expect(first).toMatchObject({ code: 0, stderr: "" });
    const applied = logLines(first.stdout).find((line) => line.msg === "Migrations applied");
    const tags = (applied?.applied ?? []) as string[];
    expect(tags.length).toBeGreaterThan(0);
    expect(count("SELECT count(*) FROM __drizzle_migrations")).toBe(tags.length);
    const second = await run(["migrate"]);
    expect(second.code).toBe(0);
    const lines = logLines(second.stdout).map((line) => line.msg);
    expect(lines).not.toContain("Migrations applied");
    expect(lines).toContain("Database is up to date");
    expect(count("SELECT count(*) FROM __drizzle_migrations")).toBe(tags.length);
  });

  test("serve applies payments exactly once, says the server decides durability, and sends no local-file pragma", async () => {
    statements.length = 0;
    const child = Bun.spawn([BUILT_BINARY, "serve"], {
      cwd: dir,
      env: env(),
      stdout: "pipe",
      stderr: "pipe",
    });
    children.push(child);
    let out = "";
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) out += decoder.decode(chunk, { stream: true });
    })();
    const waitFor = async (what: string, check: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + 20_000;
      while (!(await check())) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`waiting for ${what} (exit ${child.exitCode})\n${out}`);
        }
        await Bun.sleep(50);
      }
    };
    await waitFor("the consumer to start", () => out.includes(CONSUMER_STARTED));
    for (let i = 0; i < 20; i++) {
      const payment = { trace_id: `evt_remote_${i % 10}`, user_id: `u${i % 10}` };
      await redis.xadd(stream, "*", ...encodeDataForm(paymentEnvelope(payment)));
    }
    await redis.xadd(stream, "*", "data", "{broken");
    await waitFor(
      "10 payments applied",
      () => count("SELECT count(*) FROM processed_events") === 10,
    );
    await waitFor("nothing pending, the bad event dead-lettered", async () => {
      const [pending] = (await redis.xpending(stream, "remote-group")) as [number];
      return pending === 0 && (await redis.xlen(`${stream}.dlq`)) === 1;
    });
    const durability = logLines(out).find((line) => line.msg === "Durability");
    expect(durability).toMatchObject({ database: "remote", decided_by: "the server" });
    expect(["OFF", "NORMAL", "FULL", "EXTRA", "unknown"]).toContain(
      durability?.synchronous as string,
    );
    expect(statements).toContain("COMMIT"); // the hook sees the batches' statements
    const pragmas = statements.filter((sql) => /^\s*PRAGMA/i.test(sql));
    // The one pragma it may send only reads the server's setting, to report it.
    expect(pragmas.filter((sql) => !/^\s*PRAGMA synchronous\s*$/i.test(sql))).toEqual([]);
    expect(out).not.toContain(TOKEN);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(count("SELECT count(*) FROM course_enrollments")).toBe(10);
    expect(count("SELECT count(*) FROM processed_events")).toBe(10);
  }, 60_000);

  test("status, enrollments and dlq work against it", async () => {
    const status = await run(["status", "--json"]);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as Record<string, Record<string, unknown>>;
    expect(report.database).toMatchObject({ enrollments: 10, active_enrollments: 10 });
    expect(status.stdout).not.toContain(TOKEN);

    const enrollments = await run(["enrollments", "--tenant", "test_tenant", "--json"]);
    expect(enrollments.code).toBe(0);
    const rows = JSON.parse(enrollments.stdout) as { user_id: string }[];
    expect(rows.map((row) => row.user_id).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `u${i}`).sort(),
    );

    const dlq = await run(["dlq", "list", "--json"]);
    expect(dlq.code).toBe(0);
    expect((JSON.parse(dlq.stdout) as { reason: string }[]).map((l) => l.reason)).toEqual([
      "invalid_json",
    ]);
  });

  test("a wrong DATABASE_AUTH_TOKEN: one line, exit 1, no stack trace, no token", async () => {
    const result = await run(["status"], { DATABASE_AUTH_TOKEN: "wrong-token-value" });
    expect(result.code).toBe(1);
    const text = result.stdout + result.stderr;
    expect(text.trim().split("\n")).toHaveLength(1);
    expect(text).toContain("is unreachable: SERVER_ERROR");
    expect(text).not.toContain("wrong-token-value");
    expect(text).not.toMatch(/\n\s+at /);
  });
});
