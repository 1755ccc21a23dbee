/**
 * docs/deployment.md's "Migrate as the service user" recipe, run as written: the shipped env file
 * sourced by sh, the folders made by `install -d`, the compiled binary started by `runuser -u`.
 * No coursepay user exists here, so `nobody` stands in for it; and the root-made database the
 * recipe warns about is shown to refuse the service user's writes.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILT_BINARY, ensureBinaryBuilt, REPO_ROOT } from "../support/binary.ts";
import { tempDir } from "../support/fixtures.ts";

const ENV_EXAMPLE = join(REPO_ROOT, "deploy", "systemd", "coursepay.env.example");
const SERVICE_USER = "nobody";
const SERVICE_UID = 65534;
const isRoot = process.getuid?.() === 0;

interface Layout {
  lib: string;
  cache: string;
  envFile: string;
  database: string;
}

/** The unit's folders, made as the recipe makes them, and the shipped env file pointed at them. */
function layout(): Layout {
  const root = tempDir("service-user");
  chmodSync(root, 0o755); // the service user must reach the folders inside
  const lib = join(root, "lib");
  const cache = join(root, "cache");
  const run = Bun.spawnSync(
    ["install", "-d", "-o", SERVICE_USER, "-g", "nogroup", "-m", "0750", lib, cache],
    { stderr: "pipe" },
  );
  if (run.exitCode !== 0) throw new Error(`install -d failed: ${run.stderr.toString()}`);
  const database = join(lib, "coursepay.db");
  const shipped = readFileSync(ENV_EXAMPLE, "utf8");
  expect(shipped).toMatch(/^DATABASE_URL=file:\/var\/lib\/coursepay\/coursepay\.db$/m);
  const envFile = join(root, "coursepay.env");
  writeFileSync(envFile, shipped.replace(/^DATABASE_URL=.*$/m, `DATABASE_URL=file:${database}`), {
    mode: 0o600,
  });
  return { lib, cache, envFile, database };
}

/** `sh -c 'set -a; . ENV; TMPDIR=…; exec runuser -u USER -- coursepay ARGS'`, as the doc says. */
function asServiceUser(where: Layout, ...args: string[]) {
  const script = `set -a; . '${where.envFile}'; TMPDIR='${where.cache}'; exec runuser -u ${SERVICE_USER} -- '${BUILT_BINARY}' ${args.join(" ")}`;
  return Bun.spawnSync(["sh", "-c", script], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdout: "pipe",
    stderr: "pipe",
  });
}

function sqliteAsServiceUser(database: string, statement: string) {
  return Bun.spawnSync(["runuser", "-u", SERVICE_USER, "--", "sqlite3", database, statement], {
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe.skipIf(!isRoot)("migrate as the service user (docs/deployment.md)", () => {
  beforeAll(() => {
    ensureBinaryBuilt();
  });

  test("the recipe leaves a database the service user owns and can write", () => {
    const where = layout();
    const first = asServiceUser(where, "migrate");
    expect(first.stderr.toString()).toBe("");
    expect(first.exitCode).toBe(0);
    for (const file of [where.database, `${where.database}-wal`, `${where.database}-shm`]) {
      let owner: number | undefined;
      try {
        owner = statSync(file).uid;
      } catch {
        continue; // -wal and -shm exist only while a connection is open
      }
      expect({ file, owner }).toEqual({ file, owner: SERVICE_UID });
    }
    // Run again: nothing to apply, and the user can write what it made.
    expect(asServiceUser(where, "migrate").exitCode).toBe(0);
    const write = sqliteAsServiceUser(
      where.database,
      "INSERT INTO course_payments (trace_id, tenant_id, user_id, course_id, state) VALUES ('t', 't', 'u', 'c', 'succeeded')",
    );
    expect(write.stderr.toString()).toBe("");
    expect(write.exitCode).toBe(0);
  }, 30_000);

  test("a database root migrated refuses the service user's writes, as the doc warns", () => {
    const where = layout();
    const asRoot = Bun.spawnSync([BUILT_BINARY, "migrate"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        DATABASE_URL: `file:${where.database}`,
        TMPDIR: where.cache,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(asRoot.exitCode).toBe(0);
    expect(statSync(where.database).uid).toBe(0);
    const write = sqliteAsServiceUser(
      where.database,
      "INSERT INTO course_payments (trace_id, tenant_id, user_id, course_id, state) VALUES ('t', 't', 'u', 'c', 'succeeded')",
    );
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr.toString()).toMatch(/readonly database/);
  }, 30_000);
});
