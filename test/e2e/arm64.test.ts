/**
 * End-to-end on arm64: the cross-compiled binary (`bun run build -- --target linux-arm64`),
 * copied alone into an empty folder, run under qemu-user (qemu-aarch64-static, on the arm64
 * glibc in /usr/aarch64-linux-gnu; .ci/setup installs both). Guards that the arm64 build embeds
 * the arm64 libSQL driver and the migrations, and that it serves: `--version`, `migrate`, and
 * one payment granted against the test run's real Redis, then a clean stop on SIGTERM.
 *
 * qemu translates every instruction: start-up takes a second or two instead of milliseconds,
 * hence the long timeouts.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import pkg from "../../package.json" with { type: "json" };
import { BUILT_BINARY, ensureBinaryBuilt, REPO_ROOT } from "../support/binary.ts";

const ARM64_BINARY = join(REPO_ROOT, "dist", "coursepay-linux-arm64");
const QEMU = "qemu-aarch64-static";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const CONSUMER_STARTED = "✅ Event consumer started";
const ACCESS_GRANTED = "[CoursePayment] Course access granted successfully";
/** One command under qemu: a few seconds at most on these machines. */
const COMMAND_TIMEOUT_MS = 30_000;

const redisUrl = process.env.REDIS_URL ?? "";
const runId = `${process.pid}-${randomUUID().slice(0, 8)}`;
const streams: string[] = [];
const dirs: string[] = [];
const workers: Bun.Subprocess[] = [];

/** Newest modification time under the paths the binary is built from (as test/support/binary.ts). */
function newestSourceMtime(): number {
  let newest = 0;
  const visit = (path: string): void => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const path of ["src", "migrations", "build.ts", "package.json", "bun.lock"]) {
    visit(join(REPO_ROOT, path));
  }
  return newest;
}

/** Builds dist/coursepay-linux-arm64 unless it is newer than its sources. */
function ensureArm64BinaryBuilt(): void {
  if (existsSync(ARM64_BINARY) && statSync(ARM64_BINARY).mtimeMs >= newestSourceMtime()) return;
  const build = Bun.spawnSync([process.execPath, "run", "build", "--", "--target", "linux-arm64"], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!build.success || !existsSync(ARM64_BINARY)) {
    throw new Error(
      `bun run build -- --target linux-arm64 failed (exit ${build.exitCode}):\n` +
        `${build.stdout}\n${build.stderr}`,
    );
  }
}

/** The ELF `e_machine` of a file (62 x86-64, 183 AArch64). */
function elfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  expect(header.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  return header.readUInt16LE(18);
}

/** An empty folder under the OS temp dir holding only a copy of the arm64 binary. */
function isolatedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "coursepay-arm64-"));
  dirs.push(dir);
  copyFileSync(ARM64_BINARY, join(dir, "coursepay"));
  return dir;
}

function uniqueName(prefix: string): string {
  return `${prefix}-${runId}-${randomUUID().slice(0, 8)}`;
}

/** The whole environment of the binary: nothing is inherited from the test process. */
function workerEnv(dir: string): Record<string, string> {
  const stream = uniqueName("arm64-stream");
  streams.push(stream);
  return {
    PATH: "/usr/bin:/bin",
    HOME: dir,
    REDIS_URL: redisUrl,
    EVENT_STREAM: stream,
    CONSUMER_GROUP: uniqueName("arm64-group"),
    CONSUMER_NAME: "arm64",
    DATABASE_URL: `file:${join(dir, "arm64.db")}`,
    LOG_FORMAT: "json",
  };
}

/** The argv that runs ./coursepay (arm64) under qemu-user on this x64 host. */
function underQemu(args: string[]): string[] {
  return [QEMU, "-L", ARM64_SYSROOT, "./coursepay", ...args];
}

function run(dir: string, args: string[], env: Record<string, string>) {
  const started = performance.now();
  const result = Bun.spawnSync(underQemu(args), {
    cwd: dir,
    env,
    stdout: "pipe",
    stderr: "pipe",
    timeout: COMMAND_TIMEOUT_MS,
  });
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
    ms: performance.now() - started,
  };
}

/** A running worker whose stdout and stderr are collected as they arrive. */
function startWorker(dir: string, args: string[], env: Record<string, string>) {
  const proc = Bun.spawn(underQemu(args), { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
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
  timeoutMs = COMMAND_TIMEOUT_MS,
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

/** The release version in a `--version` output: `0.1.0+abc1234`, `0.1.0`, … */
function versionIn(output: string): string | undefined {
  return /\b\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?/.exec(output)?.[0];
}

beforeAll(() => {
  if (!redisUrl)
    throw new Error("REDIS_URL is not set: test/support/redis-server.ts should set it");
  if (!Bun.which(QEMU) || !existsSync(join(ARM64_SYSROOT, "lib", "ld-linux-aarch64.so.1"))) {
    throw new Error(
      `${QEMU} or the arm64 glibc in ${ARM64_SYSROOT} is missing: run .ci/setup ` +
        "(apt-get install qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross)",
    );
  }
  ensureArm64BinaryBuilt();
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

describe("arm64 binary under qemu-user, alone in an empty folder", () => {
  test("it is an AArch64 executable, and the x64 one is not", () => {
    expect(elfMachine(ARM64_BINARY)).toBe(183);
    expect(elfMachine(BUILT_BINARY)).toBe(62);
  });

  test("--version exits 0 and prints the same version as the x64 binary", () => {
    const dir = isolatedCopy();
    const result = run(dir, ["--version"], workerEnv(dir));
    const x64 = Bun.spawnSync([BUILT_BINARY, "--version"], { env: workerEnv(dir) });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(x64.exitCode).toBe(0);
    const version = versionIn(result.stdout);
    expect(version).toStartWith(pkg.version);
    expect(version).toBe(versionIn(x64.stdout.toString()));
  });

  test("migrate exits 0 and creates the tables at DATABASE_URL with the arm64 driver", () => {
    const dir = isolatedCopy();
    const result = run(dir, ["migrate"], workerEnv(dir));
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      stderr: "",
    });
    const tables = query<{ name: string }>(
      join(dir, "arm64.db"),
      "SELECT name FROM sqlite_master WHERE type = 'table'",
    );
    expect((tables ?? []).map((row) => row.name)).toEqual(
      expect.arrayContaining(["course_enrollments", "processed_events"]),
    );
    // Nothing but the binary and its database (and WAL files) in the folder.
    expect(readdirSync(dir).filter((name) => !name.startsWith("arm64.db"))).toEqual(["coursepay"]);
  });

  test("serve grants course access for one published payment, then stops on SIGTERM with 0", async () => {
    const dir = isolatedCopy();
    const dbPath = join(dir, "arm64.db");
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
        "arm_tenant",
        "--user",
        "arm_user",
        "--course",
        "course_arm64",
      ],
      env,
    );
    expect(simulate).toMatchObject({ exitCode: 0 });

    interface Enrollment {
      tenant_id: string;
      user_id: string;
      course_id: string;
      status: string;
      trace_id: string;
    }
    const enrollments = await waitFor("the enrollment", worker, () => {
      const rows = query<Enrollment>(dbPath, "SELECT * FROM course_enrollments");
      return rows?.length ? rows : undefined;
    });
    expect(enrollments).toHaveLength(1);
    expect(enrollments[0]).toMatchObject({
      tenant_id: "arm_tenant",
      user_id: "arm_user",
      course_id: "course_arm64",
      status: "active",
    });
    expect(simulate.stdout).toContain(enrollments[0]?.trace_id ?? "<no trace_id>");
    await waitFor("the access-granted log line", worker, () =>
      worker.output.stdout.includes(ACCESS_GRANTED) ? true : undefined,
    );

    worker.proc.kill("SIGTERM");
    const exitCode = await Promise.race([
      worker.proc.exited,
      Bun.sleep(COMMAND_TIMEOUT_MS).then(() => "still running after SIGTERM"),
    ]);
    expect(exitCode).toBe(0);
    expect(query(dbPath, "SELECT * FROM processed_events")).toHaveLength(1);
  }, 120_000);
});
