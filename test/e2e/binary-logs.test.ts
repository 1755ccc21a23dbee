/**
 * The compiled binary's logs: pino-pretty must work inside it (a pino transport would not: it
 * loads files at run time), on a pseudo-terminal, coloured, and without colour under NO_COLOR.
 */
import { beforeAll, expect, test } from "bun:test";
import { BUILT_BINARY, ensureBinaryBuilt } from "../support/binary.ts";
import { tempDatabaseUrl } from "../support/fixtures.ts";

beforeAll(() => {
  ensureBinaryBuilt();
}, 120_000);

async function migrateOnTerminal(env: Record<string, string>): Promise<string> {
  const script = Bun.which("script");
  if (script === null) throw new Error("script (util-linux) not found");
  const child = Bun.spawn([script, "-qefc", `${BUILT_BINARY} migrate`, "/dev/null"], {
    env: { PATH: "/usr/bin:/bin", DATABASE_URL: tempDatabaseUrl().url, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(code).toBe(0);
  return out;
}

test("the binary's pretty logs: dated lines, coloured on a terminal, plain under NO_COLOR", async () => {
  const coloured = await migrateOnTerminal({});
  expect(coloured).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z\] /m);
  expect(coloured).toContain("\u001b[32mINFO");
  expect(coloured).toContain("Database is up to date");
  const plain = await migrateOnTerminal({ NO_COLOR: "1" });
  expect(plain).toMatch(
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z\] INFO: Database opened {2}database=/m,
  );
  expect(plain).not.toContain("\u001b");
});
