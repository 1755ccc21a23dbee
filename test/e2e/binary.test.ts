/**
 * End-to-end: the real compiled binary, copied alone into an empty folder outside the repo (no
 * node_modules reachable), run with nothing but the environment below. Guards that the build
 * embeds everything the worker needs at run time: libsql's native addon, the migrations, and the
 * version, and that the binary keeps the CLI contract (commands, log lines, exit codes).
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import Redis from "ioredis";
import pkg from "../../package.json" with { type: "json" };
import { ensureBinaryBuilt } from "../support/binary.ts";

const repoRoot = resolve(import.meta.dir, "..", "..");
const builtBinary = join(repoRoot, "dist", "coursepay");
const CONSUMER_STARTED = "✅ Event consumer started";
const ACCESS_GRANTED = "[CoursePayment] Course access granted successfully";

const redisUrl = process.env.REDIS_URL ?? "";
const runId = `${process.pid}-${randomUUID().slice(0, 8)}`;
const streams: string[] = [];
const dirs: string[] = [];
const workers: Bun.Subprocess[] = [];

/** An empty folder under the OS temp dir holding only a copy of the binary. */
function isolatedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "coursepay-e2e-"));
  dirs.push(dir);
  copyFileSync(builtBinary, join(dir, "coursepay"));
  return dir;
}

function uniqueName(prefix: string): string {
  return `${prefix}-${runId}-${randomUUID().slice(0, 8)}`;
}

/** The whole environment of the binary: nothing is inherited from the test process. */
function workerEnv(dir: string, extra: Record<string, string | undefined> = {}) {
  const stream = uniqueName("e2e-stream");
  streams.push(stream);
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: dir,
    REDIS_URL: redisUrl,
    EVENT_STREAM: stream,
    CONSUMER_GROUP: uniqueName("e2e-group"),
    CONSUMER_NAME: "e2e",
    DATABASE_URL: `file:${join(dir, "e2e.db")}`,
    LOG_FORMAT: "json",
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function run(dir: string, args: string[], env: Record<string, string>) {
  const result = Bun.spawnSync(["./coursepay", ...args], {
    cwd: dir,
    env,
    stdout: "pipe",
    stderr: "pipe",
    timeout: 15_000,
  });
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
}

/** A running worker whose stdout and stderr are collected as they arrive. */
function startWorker(dir: string, args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(["./coursepay", ...args], {
    cwd: dir,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  workers.push(proc);
  const output = { stdout: "", stderr: "" };
  const drain = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output[key] += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout, "stdout");
  void drain(proc.stderr, "stderr");
  return { proc, output };
}

type Worker = ReturnType<typeof startWorker>;

/** Polls `check` every 100 ms until it returns a value; fails with the worker's output on timeout or early exit. */
async function waitFor<T>(
  what: string,
  worker: Worker,
  check: () => T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    const exited = worker.proc.exitCode !== null;
    if (exited || Date.now() > deadline) {
      throw new Error(
        `${exited ? `worker exited (${worker.proc.exitCode})` : `timed out after ${timeoutMs} ms`} ` +
          `waiting for ${what}\n--- stdout\n${worker.output.stdout}\n--- stderr\n${worker.output.stderr}`,
      );
    }
    await Bun.sleep(100);
  }
}

/** Sends SIGTERM and returns the exit code, or undefined if the worker is still running after 15 s. */
async function stop(worker: Worker): Promise<number | null | undefined> {
  worker.proc.kill("SIGTERM");
  const timeout = Bun.sleep(15_000).then(() => undefined);
  return Promise.race([worker.proc.exited.then(() => worker.proc.exitCode), timeout]);
}

/** Runs a read-only query, or returns undefined while the file is missing or locked. */
function query<T>(dbPath: string, sql: string): T[] | undefined {
  if (!existsSync(dbPath)) return undefined;
  let db: Database | undefined;
  try {
    db = new Database(dbPath, { readonly: true });
    return db.query(sql).all() as T[];
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}

function tableNames(dbPath: string): string[] {
  const rows = query<{ name: string }>(
    dbPath,
    "SELECT name FROM sqlite_master WHERE type = 'table'",
  );
  return (rows ?? []).map((row) => row.name);
}

function columnNames(dbPath: string, table: string): string[] {
  return (query<{ name: string }>(dbPath, `PRAGMA table_info(${table})`) ?? []).map((c) => c.name);
}

beforeAll(() => {
  if (!redisUrl)
    throw new Error("REDIS_URL is not set: test/support/redis-server.ts should set it");
  ensureBinaryBuilt();
}, 180_000);

afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill("SIGKILL");
  await Promise.all(workers.map((worker) => worker.exited));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (redisUrl && streams.length > 0) {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await redis.del(...streams);
    } catch {
      // Best effort: the preload's throwaway redis-server goes away with the run anyway.
    } finally {
      redis.disconnect();
    }
  }
});

describe("compiled binary, alone in an empty folder", () => {
  test("the copy has no node_modules or repository within reach", () => {
    const dir = isolatedCopy();
    expect(readdirSync(dir)).toEqual(["coursepay"]);
    expect(dir.startsWith(repoRoot)).toBe(false);
    for (let up = dir; up !== dirname(up); up = dirname(up)) {
      expect(existsSync(join(up, "node_modules"))).toBe(false);
    }
    expect(existsSync("/node_modules")).toBe(false);
  });

  test("--version exits 0 and prints the package version", () => {
    const dir = isolatedCopy();
    const result = run(dir, ["--version"], workerEnv(dir));
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(pkg.version);
  });

  test("--version names the commit, dirty flag, build date, Bun version and target", () => {
    const dir = isolatedCopy();
    const lines = run(dir, ["--version"], workerEnv(dir)).stdout.trimEnd().split("\n");
    // The commit the binary was built from (HEAD then; a later commit of docs needs no rebuild).
    const commit = /^coursepay .*\+([0-9a-f]{7,40})$/.exec(lines[0] ?? "")?.[1] ?? "";
    expect(lines[0]).toBe(`coursepay ${pkg.version}+${commit}`);
    const git = Bun.spawnSync(["git", "cat-file", "-t", commit], { cwd: repoRoot });
    expect(git.stdout.toString().trim()).toBe("commit");
    expect(lines[1]).toMatch(new RegExp(`^commit: ${commit}( \\(dirty: uncommitted changes\\))?$`));
    expect(lines[2]).toMatch(/^built: {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines.slice(3)).toEqual([`bun:    ${Bun.version}`, "target: bun-linux-x64"]);
    expect(run(dir, ["version"], workerEnv(dir)).stdout.trimEnd().split("\n")).toEqual(lines);
  });

  // The driver is unpacked into TMPDIR when first loaded: a TMPDIR that does not exist shows
  // which commands load it. (As root, a read-only folder would still be writable.)
  test("--version, --help and config do not load the database driver", () => {
    const dir = isolatedCopy();
    const env = workerEnv(dir, { TMPDIR: join(dir, "no-such-dir") });
    for (const args of [["--version"], ["-v"], ["--help"], ["help", "dlq"], ["config"]]) {
      const result = run(dir, args, env);
      expect({ args, code: result.exitCode, stderr: result.stderr }).toEqual({
        args,
        code: 0,
        stderr: "",
      });
    }
  });

  test("a driver that cannot be unpacked: exit 2, one line naming TMPDIR and what to do", () => {
    const dir = isolatedCopy();
    const tmp = join(dir, "no-such-dir");
    const result = run(dir, ["migrate"], workerEnv(dir, { TMPDIR: tmp }));
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(
      "coursepay: the libSQL database driver could not be unpacked and loaded (",
    );
    expect(lines[0]).toContain(`coursepay unpacks it into TMPDIR ("${tmp}")`);
    expect(lines[0]).toContain("e.g. TMPDIR=/var/tmp");
    expect(existsSync(join(dir, "e2e.db"))).toBe(false);
  });

  // Needs root and mount(8), as the disk-full test does (README: the tests run as root).
  test("a noexec TMPDIR: the same one line, quoting the loader's error", () => {
    const dir = isolatedCopy();
    const tmp = join(dir, "noexec");
    mkdirSync(tmp);
    const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64m,noexec", "tmpfs", tmp]);
    expect({ mount: mount.exitCode, stderr: mount.stderr.toString() }).toEqual({
      mount: 0,
      stderr: "",
    });
    try {
      const env = workerEnv(dir, { TMPDIR: tmp });
      const result = run(dir, ["migrate"], env);
      expect(result).toMatchObject({ exitCode: 2, stdout: "" });
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(result.stderr).toContain("failed to map segment from shared object");
      expect(result.stderr).toContain(`coursepay unpacks it into TMPDIR ("${tmp}")`);
      expect(result.stderr).toContain("not mounted noexec");
      expect(run(dir, ["--version"], env)).toMatchObject({ exitCode: 0, stderr: "" });
    } finally {
      if (!Bun.spawnSync(["umount", tmp]).success) Bun.spawnSync(["umount", "-l", tmp]);
    }
  });

  test("migrate exits 0 and creates both tables at DATABASE_URL", () => {
    const dir = isolatedCopy();
    const dbPath = join(dir, "e2e.db");
    const result = run(dir, ["migrate"], workerEnv(dir));
    expect(result).toMatchObject({ exitCode: 0 });
    expect(tableNames(dbPath)).toEqual(
      expect.arrayContaining(["course_enrollments", "course_payments", "processed_events"]),
    );
    expect(columnNames(dbPath, "course_enrollments").sort()).toEqual(
      [
        "actor_id",
        "course_id",
        "granted_at",
        "id",
        "language",
        "revoked_at",
        "revoked_by_trace_id",
        "status",
        "tenant_id",
        "trace_id",
        "user_id",
      ].sort(),
    );
    expect(columnNames(dbPath, "processed_events").sort()).toEqual(
      [
        "event_type",
        "outcome",
        "payload_hash",
        "processed_at",
        "stream_entry_id",
        "subscriber_name",
        "trace_id",
      ].sort(),
    );
  });

  test("without DATABASE_URL, migrate creates data/coursepay.db inside the working directory", () => {
    const dir = isolatedCopy();
    const result = run(dir, ["migrate"], workerEnv(dir, { DATABASE_URL: undefined }));
    expect(result).toMatchObject({ exitCode: 0 });
    expect(tableNames(join(dir, "data", "coursepay.db"))).toEqual(
      expect.arrayContaining(["course_enrollments", "processed_events"]),
    );
  });

  test("serve grants course access for a simulated payment exactly once, then stops on SIGTERM with 0", async () => {
    const dir = isolatedCopy();
    const dbPath = join(dir, "e2e.db");
    const env = workerEnv(dir);
    expect(run(dir, ["migrate"], env)).toMatchObject({ exitCode: 0 });

    const worker = startWorker(dir, ["serve"], env);
    await waitFor("the consumer to start", worker, () =>
      worker.output.stdout.includes(CONSUMER_STARTED) ? true : undefined,
    );

    const simulate = run(
      dir,
      [
        "simulate",
        "payment-succeeded",
        "--tenant",
        "test_tenant",
        "--user",
        "test_user",
        "--course",
        "course_001",
      ],
      env,
    );
    expect(simulate).toMatchObject({ exitCode: 0 });

    interface Enrollment {
      tenant_id: string;
      user_id: string;
      actor_id: string;
      course_id: string;
      status: string;
      trace_id: string;
    }
    interface Processed {
      trace_id: string;
      stream_entry_id: string;
      payload_hash: string;
    }
    const [enrollment, processed] = await waitFor(
      "the enrollment and its processed event",
      worker,
      () => {
        const enrollments = query<Enrollment>(
          dbPath,
          "SELECT * FROM course_enrollments WHERE actor_id LIKE 'test_tenant%'",
        );
        const events = query<Processed>(
          dbPath,
          "SELECT * FROM processed_events WHERE subscriber_name = 'course_payment_subscriber'",
        );
        if (!enrollments?.length || !events?.length) return undefined;
        return [enrollments, events] as const;
      },
    );
    expect(enrollment).toHaveLength(1);
    expect(processed).toHaveLength(1);
    expect(enrollment[0]).toMatchObject({
      tenant_id: "test_tenant",
      user_id: "test_user",
      actor_id: "test_tenant:test_user",
      course_id: "course_001",
      status: "active",
    });
    const traceId = enrollment[0]?.trace_id ?? "";
    expect(traceId).not.toBe("");
    expect(simulate.stdout).toContain(traceId);
    expect(processed[0]?.trace_id).toBe(traceId);
    expect(processed[0]?.stream_entry_id).toMatch(/^\d+-\d+$/);
    expect(processed[0]?.payload_hash).not.toBe("");

    await waitFor("the access-granted log line", worker, () =>
      worker.output.stdout.includes(ACCESS_GRANTED) ? true : undefined,
    );

    expect(await stop(worker)).toBe(0);
    // Still one of each after shutdown: nothing was processed twice.
    expect(query(dbPath, "SELECT * FROM course_enrollments")).toHaveLength(1);
    expect(query(dbPath, "SELECT * FROM processed_events")).toHaveLength(1);
  }, 90_000);

  test("serve takes back the course of a simulated refund, logging the revocation twice", async () => {
    const dir = isolatedCopy();
    const dbPath = join(dir, "e2e.db");
    const env = workerEnv(dir);
    const worker = startWorker(dir, ["serve"], env);
    await waitFor("the consumer to start", worker, () =>
      worker.output.stdout.includes(CONSUMER_STARTED) ? true : undefined,
    );
    const key = ["--tenant", "test_tenant", "--user", "test_user", "--course", "course_001"];
    const paid = run(dir, ["simulate", "payment-succeeded", ...key], env);
    expect(paid).toMatchObject({ exitCode: 0 });
    const paymentTraceId = paid.stdout.trim();
    await waitFor("the access-granted log line", worker, () =>
      worker.output.stdout.includes(ACCESS_GRANTED) ? true : undefined,
    );
    const refunded = run(
      dir,
      ["simulate", "payment-refunded", "--payment-trace-id", paymentTraceId, ...key],
      env,
    );
    expect(refunded).toMatchObject({ exitCode: 0 });
    await waitFor("the access-revoked log line", worker, () =>
      worker.output.stdout.includes("[CoursePayment] Course access revoked") ? true : undefined,
    );
    expect(await stop(worker)).toBe(0);
    expect(worker.output.stdout).toContain("[CoursePayment] Revoking course access");
    expect(
      query(dbPath, "SELECT status, trace_id, revoked_by_trace_id FROM course_enrollments"),
    ).toEqual([
      { status: "revoked", trace_id: paymentTraceId, revoked_by_trace_id: refunded.stdout.trim() },
    ]);
    expect(query(dbPath, "SELECT state FROM course_payments")).toEqual([{ state: "refunded" }]);
  }, 90_000);

  test("no arguments means serve, which logs its version and redacted settings first", async () => {
    const dir = isolatedCopy();
    const env = workerEnv(dir, {
      DATABASE_AUTH_TOKEN: "token-zq81",
      PAYCORE_SIGNING_SECRET: "secret-zq81",
    });
    expect(run(dir, ["migrate"], env)).toMatchObject({ exitCode: 0 });
    const worker = startWorker(dir, [], env);
    await waitFor("the consumer to start", worker, () =>
      worker.output.stdout.includes(CONSUMER_STARTED) ? true : undefined,
    );
    expect(await stop(worker)).toBe(0);
    const first = JSON.parse(worker.output.stdout.split("\n")[0] as string);
    expect(first).toMatchObject({
      level: "info",
      msg: "Starting coursepay",
      version: expect.stringMatching(new RegExp(`^${pkg.version.replaceAll(".", "\\.")}\\+`)),
      commit: expect.any(String),
      dirty: expect.any(Boolean),
      built_at: expect.stringMatching(/^\d{4}-/),
      bun: Bun.version,
      target: "bun-linux-x64",
    });
    expect(first.settings).toMatchObject({
      REDIS_URL: redisUrl,
      EVENT_STREAM: env.EVENT_STREAM,
      BATCH_SIZE: "500",
      DATABASE_AUTH_TOKEN: "(set)",
      PAYCORE_SIGNING_SECRET: "(set: 1 secret)",
      HTTP_PORT: null,
    });
    expect(`${worker.output.stdout}${worker.output.stderr}`).not.toContain("zq81");
  }, 40_000);

  test("a bad BATCH_SIZE exits 2 naming the variable, without a stack trace", () => {
    const dir = isolatedCopy();
    const result = run(dir, [], workerEnv(dir, { BATCH_SIZE: "abc" }));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("BATCH_SIZE");
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
