/**
 * The system-call filter and address families of deploy/systemd/coursepay.service allow what
 * the worker really does. No systemd runs here, so the compiled binary runs under strace as an
 * unprivileged user (as the unit runs it), serves payments, a dead letter, /metrics and the
 * status page, and stops on SIGTERM; every call it made must pass the unit's SystemCallFilter
 * (the sets expanded by `systemd-analyze syscall-filter`) and every socket it opened must be of
 * a family RestrictAddressFamilies allows. A call the filter refused would fail with EPERM in
 * production; this finds it first.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUILT_BINARY, ensureBinaryBuilt, REPO_ROOT } from "../support/binary.ts";
import { freePort, tempDir, testRedisUrl, uniqueName } from "../support/fixtures.ts";
import { publishFields, publishPayment, testRedis, waitFor } from "../support/worker-harness.ts";

const UNIT = join(REPO_ROOT, "deploy", "systemd", "coursepay.service");
/** nobody: the worker must not need root for anything it does. */
const NOBODY = "65534";

function which(tool: string): string {
  const path = Bun.which(tool);
  if (path === null) throw new Error(`${tool} not found: run .ci/setup`);
  return path;
}

/** Every named set of `systemd-analyze syscall-filter`, with its members (calls and sets). */
function syscallSets(): Map<string, string[]> {
  const run = Bun.spawnSync([which("systemd-analyze"), "syscall-filter", "--no-pager"], {
    stdout: "pipe",
  });
  const sets = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of run.stdout.toString().split("\n")) {
    const text = line.trim();
    if (text === "" || text.startsWith("#")) continue;
    if (line.startsWith("@")) {
      current = [];
      sets.set(text, current);
    } else {
      current?.push(text);
    }
  }
  return sets;
}

function expand(names: readonly string[], sets: Map<string, string[]>): Set<string> {
  const calls = new Set<string>();
  const visit = (name: string) => {
    if (!name.startsWith("@")) calls.add(name);
    else for (const member of sets.get(name) ?? []) visit(member);
  };
  for (const name of names) visit(name);
  return calls;
}

/** The unit's SystemCallFilter lines: what they allow, and what `~` lines take away. */
function unitFilter(unit: string, sets: Map<string, string[]>) {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const [, value = ""] of unit.matchAll(/^SystemCallFilter=(.*)$/gm)) {
    const deny = value.startsWith("~");
    const names = value.replace(/^~/, "").split(/\s+/).filter(Boolean);
    for (const call of expand(names, sets)) (deny ? denied : allowed).add(call);
  }
  return { allowed, denied };
}

describe("the unit's system-call filter, against what the worker does", () => {
  const redis = testRedis();
  let trace = "";

  beforeAll(async () => {
    ensureBinaryBuilt();
    const dir = tempDir("strace");
    chmodSync(dir, 0o777);
    const traceFile = join(dir, "trace");
    const port = await freePort();
    const stream = uniqueName("stream");
    const child = Bun.spawn(
      [
        // As root, drop to nobody first (root would make SQLite call fchown, which the unit's
        // unprivileged worker never does); anyone else is unprivileged already.
        ...(process.getuid?.() === 0
          ? [which("setpriv"), `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"]
          : []),
        which("strace"),
        "-f",
        "-qq",
        "-o",
        traceFile,
        BUILT_BINARY,
        "serve",
      ],
      {
        cwd: dir,
        env: {
          PATH: "/usr/bin:/bin",
          REDIS_URL: testRedisUrl(),
          DATABASE_URL: `file:${join(dir, "coursepay.db")}`,
          TMPDIR: dir,
          EVENT_STREAM: stream,
          HTTP_PORT: String(port),
          LOG_LEVEL: "warn",
        },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const origin = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        "the worker under strace to be ready",
        async () => (await fetch(`${origin}/readyz`).catch(() => undefined))?.status === 200,
        30_000,
      );
      for (let i = 0; i < 20; i++) {
        await publishPayment(redis, stream, { trace_id: uniqueName("evt"), user_id: `u${i}` });
      }
      await publishFields(redis, stream, ["data", "{not json"]);
      await waitFor("the 21 entries to be counted", async () =>
        (await (await fetch(`${origin}/metrics`)).text()).includes(
          "\ncoursepay_event_processing_seconds_count 21\n",
        ),
      );
      for (const path of ["/", "/status.js", "/status.css", "/status.json", "/readyz"]) {
        expect((await fetch(`${origin}${path}`)).status).toBe(200);
      }
    } finally {
      // strace's child is the worker; the signal goes to it, as systemd's would.
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      for (const pid of children) process.kill(pid, "SIGTERM");
      if (children.length === 0) child.kill("SIGKILL");
    }
    const code = await child.exited;
    if (code !== 0) throw new Error(`exit ${code}: ${await new Response(child.stderr).text()}`);
    trace = readFileSync(traceFile, "utf8");
  }, 60_000);

  afterAll(() => redis.disconnect());

  test("every system call it made passes SystemCallFilter", () => {
    const sets = syscallSets();
    const { allowed, denied } = unitFilter(readFileSync(UNIT, "utf8"), sets);
    expect(allowed.size).toBeGreaterThan(100);
    const made = new Set<string>();
    for (const [, call = ""] of trace.matchAll(/^\d+\s+([a-z0-9_]+)\(/gm)) made.add(call);
    expect(made.size).toBeGreaterThan(30);
    const refused = [...made].filter((call) => !allowed.has(call) || denied.has(call)).sort();
    expect(refused).toEqual([]);
  });

  test("every socket it opened is of a family RestrictAddressFamilies allows", () => {
    const families = /^RestrictAddressFamilies=(.*)$/m.exec(readFileSync(UNIT, "utf8"))?.[1];
    const allowed = new Set((families ?? "").split(/\s+/));
    const opened = new Set([...trace.matchAll(/socket\((AF_[A-Z0-9]+)/g)].map((m) => m[1] ?? ""));
    expect(opened).toContain("AF_INET");
    expect([...opened].filter((family) => !allowed.has(family))).toEqual([]);
  });
});
