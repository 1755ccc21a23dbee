/**
 * The README's TypeScript snippet, run as written: it publishes one payment and exits by
 * itself (it closes the simulator's Redis connection), against a real Redis.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/binary.ts";
import { testRedisUrl, uniqueName } from "../support/fixtures.ts";
import { testRedis } from "../support/worker-harness.ts";

const redis = testRedis();
// At the repository's root, where the snippet's `./src/…` import resolves.
const script = join(REPO_ROOT, `.readme-snippet-${process.pid}.ts`);
afterAll(() => {
  rmSync(script, { force: true });
  redis.disconnect();
});

test("the README's TypeScript snippet publishes a payment and exits", async () => {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const snippets = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
  expect(snippets).toHaveLength(1);
  writeFileSync(script, snippets[0] ?? "");
  const stream = uniqueName("stream");
  const child = Bun.spawn([process.execPath, script], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      REDIS_URL: testRedisUrl(),
      EVENT_STREAM: stream,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  const traceId = stdout.trim();
  const entries = await redis.xrange(stream, "-", "+");
  expect(entries).toHaveLength(1);
  expect(JSON.stringify(entries[0]?.[1])).toContain(traceId);
}, 20_000);
