/** Every command reports an unreachable Redis or database the same way: one line, exit 1. */
import { describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { freePort, tempDatabaseUrl } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

function expectOneLine(run: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  expect(run.code).toBe(1);
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toContain("    at ");
  expect(run.stderr).not.toContain("[ioredis]");
}

describe("an unreachable Redis", () => {
  const commands = [
    ["status"],
    ["dlq", "list"],
    ["dlq", "replay", "--all"],
    ["simulate", "payment-succeeded", "--tenant", "t", "--user", "u", "--course", "c"],
    ["simulate", "load", "--count", "1"],
  ];
  test.each(commands)("coursepay %s … says so in one line", async (...args: string[]) => {
    const port = await freePort(); // nothing listens there
    const run = await runCoursepay(args, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_TIMEOUT_MS: "500",
      DATABASE_URL: tempDatabaseUrl().url,
    });
    expectOneLine(
      run,
      new RegExp(`^coursepay: Redis at redis://127\\.0\\.0\\.1:${port} is unreachable: `),
    );
  });
});

describe("an unreachable database", () => {
  const commands: string[][] = [["enrollments", "--tenant", "t"], ["status"]];
  test.each(commands)("coursepay %s … says so in one line", async (...args: string[]) => {
    const port = await freePort();
    // The group exists, so status gets as far as the database.
    const redis = new Redis(process.env.REDIS_URL ?? "");
    await redis.xgroup("CREATE", `unreachable-${port}`, "g", "0", "MKSTREAM");
    redis.disconnect();
    const run = await runCoursepay(args, {
      REDIS_URL: process.env.REDIS_URL ?? "",
      DATABASE_URL: `http://127.0.0.1:${port}`,
      EVENT_STREAM: `unreachable-${port}`,
      CONSUMER_GROUP: "g",
    });
    expectOneLine(
      run,
      new RegExp(`^coursepay: Database http://127\\.0\\.0\\.1:${port} is unreachable: `),
    );
  });
});
