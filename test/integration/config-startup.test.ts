/**
 * Start-up refusals through the real entry point (`bun src/main.ts`): exit 2, one message on
 * stderr naming the variable, no stack trace, no secret; and migrate creating a missing folder.
 * None of these reach Redis, so none needs one.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/binary.ts";
import { tempDir } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

/** Never a Redis: a refusal must come before any connection. */
const NO_REDIS = "redis://127.0.0.1:1";

function logLines(stdout: string): { level: string; msg: string; [key: string]: unknown }[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

describe("serve refuses a bad configuration at start", () => {
  test('PAYCORE_SIGNING_SECRET=" , ": exit 2, the variable named, no stack trace', async () => {
    const run = await runCoursepay(["serve"], {
      REDIS_URL: NO_REDIS,
      PAYCORE_SIGNING_SECRET: " , ",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'coursepay: Invalid configuration:\n  PAYCORE_SIGNING_SECRET: expected a comma-separated list of secrets, got no secret: items 1 and 2 of 2 are empty (write a comma inside a secret as "\\,", a backslash as "\\\\", a leading or trailing space as "\\ ")\n',
    );
    expect(run.stderr).not.toContain("    at ");
    expect(run.stdout).toBe("");
  });

  test("a secret in a bad list is never echoed", async () => {
    const run = await runCoursepay(["serve"], {
      REDIS_URL: NO_REDIS,
      PAYCORE_SIGNING_SECRET: "current-zq81x,,older-zq81y\\",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("PAYCORE_SIGNING_SECRET: expected a comma-separated list");
    expect(run.stderr).toContain("an empty item: item 2 of 3");
    expect(run.stderr).toContain("a lone backslash at the end of item 3 of 3");
    expect(`${run.stdout}${run.stderr}`).not.toContain("zq81");
    expect(run.stderr).not.toContain("    at ");
  });

  test("DATABASE_URL=/var/lib/x.db: exit 2, did you mean file:/var/lib/x.db?", async () => {
    const run = await runCoursepay(["serve"], {
      REDIS_URL: NO_REDIS,
      DATABASE_URL: "/var/lib/x.db",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'coursepay: Invalid configuration:\n  DATABASE_URL: expected a file:, :memory:, libsql:, http: or https: URL, got "/var/lib/x.db" (did you mean file:/var/lib/x.db?)\n',
    );
  });

  test("the cross-check and other bad variables come in one message", async () => {
    const run = await runCoursepay(["serve"], {
      REDIS_URL: "redis://127.0.0.1:6379/abc",
      CLAIM_IDLE_MS: "1000",
      GROUP_START_ID: "+1",
    });
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")).toEqual([
      "coursepay: Invalid configuration:",
      '  REDIS_URL: expected a redis:// or rediss:// URL whose path is empty or a database number (/0, /1, …), got "redis://127.0.0.1:6379/abc"',
      "  DATABASE_BUSY_TIMEOUT_MS: expected an integer from 0 to 333, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is 1000) and below SHUTDOWN_TIMEOUT_MS (10000), got the default 5000",
      '  GROUP_START_ID: expected one of 0|$|<ms>|<ms>-<seq>, each part a decimal integer up to 18446744073709551615, got "+1"',
      "",
    ]);
  });

  test("a database folder that does not exist: exit 2 naming the path, nothing created", async () => {
    const folder = join(tempDir("startup"), "x", "y");
    const file = join(folder, "coursepay.db");
    const run = await runCoursepay(["serve"], {
      REDIS_URL: NO_REDIS,
      DATABASE_URL: `file:${file}`,
      LOG_FORMAT: "json",
      BATCHSIZE: "100",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `coursepay: DATABASE_URL: the folder ${folder} of ${file} does not exist (create it, or run coursepay migrate, which creates it)\n`,
    );
    expect(existsSync(join(folder, ".."))).toBe(false);
    // The warnings about unknown variables come first, at warn level, without values.
    expect(logLines(run.stdout)).toEqual([
      expect.objectContaining({
        level: "warn",
        msg: "BATCHSIZE is not a variable coursepay reads and is ignored; did you mean BATCH_SIZE?",
      }),
    ]);
  });
});

describe("serve with DATABASE_URL unset", () => {
  test("creates the default folder data/ in the working directory, saying so", async () => {
    const cwd = tempDir("startup-default");
    const child = Bun.spawn([process.execPath, join(REPO_ROOT, "src", "main.ts"), "serve"], {
      cwd,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        REDIS_URL: NO_REDIS,
        ENABLE_EVENT_CONSUMER: "false",
        LOG_FORMAT: "json",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    let stdout = "";
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + 15_000;
    while (!stdout.includes("Event consumer disabled") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += decoder.decode(value, { stream: true });
    }
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    reader.releaseLock();
    expect(existsSync(join(cwd, "data", "coursepay.db"))).toBe(true);
    expect(logLines(stdout)[0]).toMatchObject({
      level: "info",
      msg: "Created the database folder",
      folder: join(cwd, "data"),
    });
  });
});

describe("migrate", () => {
  test("creates a missing database folder, says so, and exits 0", async () => {
    const folder = join(tempDir("startup"), "x", "y");
    const file = join(folder, "coursepay.db");
    const run = await runCoursepay(["migrate"], {
      DATABASE_URL: `file:${file}`,
      LOG_FORMAT: "json",
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const lines = logLines(run.stdout);
    expect(lines[0]).toMatchObject({ level: "info", msg: "Created the database folder", folder });
    expect(lines.at(-1)).toMatchObject({ msg: "Database is up to date" });

    // The folder exists now: serve gets past the check (and a second migrate creates nothing).
    const again = await runCoursepay(["migrate"], {
      DATABASE_URL: `file:${file}`,
      LOG_FORMAT: "json",
    });
    expect(again.code).toBe(0);
    expect(logLines(again.stdout).map((line) => line.msg)).not.toContain(
      "Created the database folder",
    );
  });
});
