import { expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dir, "..", "..");

test("migrations/ matches the drizzle schema: drizzle-kit has nothing left to generate", () => {
  // drizzle-kit wants a path relative to the working directory.
  const scratch = mkdtempSync(join(root, ".migrations-check-"));
  try {
    cpSync(join(root, "migrations"), join(scratch, "migrations"), { recursive: true });
    const out = relative(root, join(scratch, "migrations"));
    const run = Bun.spawnSync(
      [
        join(root, "node_modules", ".bin", "drizzle-kit"),
        "generate",
        "--dialect",
        "sqlite",
        "--schema",
        "src/db/schema.ts",
        "--out",
        out,
      ],
      { cwd: root, env: process.env },
    );
    const output = run.stdout.toString() + run.stderr.toString();
    expect(run.exitCode).toBe(0);
    expect(output).toContain("No schema changes");
    expect(readdirSync(join(scratch, "migrations")).filter((f) => f.endsWith(".sql"))).toEqual(
      readdirSync(join(root, "migrations")).filter((f) => f.endsWith(".sql")),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
