import { afterAll, describe, expect, test } from "bun:test";
import { decodeEntry } from "../../src/contract/decode.ts";
import { testRedisUrl, uniqueName } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";
import { testRedis } from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

/** `coursepay simulate load …` from source, stdout a pipe (not a terminal). */
function simulateLoad(stream: string, args: string[], env: Record<string, string> = {}) {
  return runCoursepay(["simulate", "load", ...args], {
    REDIS_URL: testRedisUrl(),
    EVENT_STREAM: stream,
    ...env,
  });
}

describe("coursepay simulate load", () => {
  test("publishes the whole mix as fast as possible and sums it up", async () => {
    const stream = uniqueName("load");
    const run = await simulateLoad(stream, ["--count", "200", "--seed", "7", "--invalid", "0.05"]);

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(await redis.xlen(stream)).toBe(200);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(
      `Publishing 200 events to ${stream} on ${testRedisUrl()}, as fast as possible (seed 7)`,
    );
    expect(run.stdout).toMatch(
      new RegExp(`^Published 200 events to ${stream} in .+ events/s\\)$`, "m"),
    );
    expect(run.stdout).toMatch(/^ {2}valid +180 {2}new trace_ids$/m);
    expect(run.stdout).toMatch(/^ {2}duplicates +10 {2}replays of earlier trace_ids$/m);
    expect(run.stdout).toMatch(
      /^ {2}invalid +10 {2}\(missing_tenant_id 3, bad_json 3, whitespace_in_id 2, missing_course_id 2\)$/m,
    );
    // Nothing meant for a terminal ends up in a pipe.
    expect(run.stdout).not.toContain("\r");
  });

  test("paced, without a terminal, it prints plain progress lines, and what it published decodes as planned", async () => {
    const stream = uniqueName("load");
    // 200 events at 100/s take at least 1.99 s, so at least one once-a-second line is due.
    const run = await simulateLoad(
      stream,
      ["--count", "200", "--rate", "100", "--seed", "11", "--duplicates", "0.1"],
      { PAYCORE_SIGNING_SECRET: "load-secret,older-secret" },
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^published \d+\/200 \(\d+%\), \d+\/s, ETA .+$/m);
    expect(run.stdout).toMatch(/^Published 200 events to /m);
    const entries = await redis.xrange(stream, "-", "+");
    expect(entries).toHaveLength(200);
    const options = { maxEventBytes: 65536, signingSecrets: ["load-secret"] };
    const seen = new Set<string>();
    let valid = 0;
    let duplicates = 0;
    let invalid = 0;
    for (const [, fields] of entries) {
      const decoded = decodeEntry(fields, options);
      if (!decoded.ok) {
        expect(["invalid_event", "invalid_json"]).toContain(decoded.reason);
        invalid++;
      } else if (seen.has(decoded.event.trace_id)) {
        duplicates++;
      } else {
        seen.add(decoded.event.trace_id);
        valid++;
      }
    }
    expect({ valid, duplicates, invalid }).toEqual({ valid: 178, duplicates: 20, invalid: 2 });
  });

  test("is refused in production before publishing anything", async () => {
    const stream = uniqueName("load");
    const run = await simulateLoad(stream, ["--count", "5"], { APP_ENV: "production" });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("coursepay: simulate is refused when APP_ENV=production\n");
    expect(await redis.exists(stream)).toBe(0);
  });

  test("bad options are usage errors", async () => {
    const stream = uniqueName("load");
    const cases: [string[], string][] = [
      [[], "--count is required"],
      [["--count", "0"], "--count expects a whole number from 1 to"],
      [["--count", "10", "--rate", "fast"], "--rate expects events a second"],
      [["--count", "10", "--duplicates", "0.8", "--invalid", "0.5"], "must not exceed 1"],
    ];
    for (const [args, message] of cases) {
      const run = await simulateLoad(stream, args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
    }
  });
});
