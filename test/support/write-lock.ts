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
    db.run("PRAGMA busy_timeout = 10000"); // the worker may be mid-commit
    db.run("BEGIN IMMEDIATE");
    console.log("locked");
    for await (const _ of console) break;
    db.run("COMMIT");
    db.close();`;
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const first = await child.stdout.getReader().read();
  const said = new TextDecoder().decode(first.value);
  if (!said.includes("locked")) {
    throw new Error(`could not take the write lock: ${await new Response(child.stderr).text()}`);
  }
  return {
    async release() {
      child.stdin.write("go\n");
      await child.stdin.end();
      expect(await child.exited).toBe(0);
    },
  };
}
