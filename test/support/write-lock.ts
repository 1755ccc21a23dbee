import { expect } from "bun:test";

/**
 * Another process takes the database's write lock and keeps it until released. (A second
 * SQLite library in the test's own process would not do: POSIX locks do not separate
 * connections of one process.)
 */
export async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const script = `
    import { Database } from "bun:sqlite";
    const db = new Database(${JSON.stringify(path)});
    db.run("BEGIN IMMEDIATE");
    console.log("locked");
    for await (const _ of console) break;
    db.run("COMMIT");
    db.close();`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe" });
  const first = await child.stdout.getReader().read();
  expect(new TextDecoder().decode(first.value)).toContain("locked");
  return {
    async release() {
      child.stdin.write("go\n");
      await child.stdin.end();
      expect(await child.exited).toBe(0);
    },
  };
}
