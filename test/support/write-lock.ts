/**
 * Another process that takes the database's write lock on demand and keeps it until released.
 * (A second SQLite library in the test's own process would not do: POSIX locks do not separate
 * connections of one process.) Starting it is slow (a new Bun process), taking the lock is not:
 * tests that race a worker start it first and lock later.
 */
export interface WriteLocker {
  lock(): Promise<void>;
  release(): Promise<void>;
}

export async function startWriteLocker(path: string): Promise<WriteLocker> {
  const script = `
    import { Database } from "bun:sqlite";
    const db = new Database(${JSON.stringify(path)});
    db.run("PRAGMA busy_timeout = 10000"); // the worker may be mid-commit
    console.log("ready");
    for await (const line of console) {
      if (line === "lock") { db.run("BEGIN IMMEDIATE"); console.log("locked"); }
      else { db.run("COMMIT"); break; }
    }
    db.close();`;
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines = child.stdout.getReader();
  const expectLine = async (word: string) => {
    const { value } = await lines.read();
    if (!new TextDecoder().decode(value).includes(word)) {
      throw new Error(
        `write locker: expected "${word}": ${await new Response(child.stderr).text()}`,
      );
    }
  };
  await expectLine("ready");
  return {
    async lock() {
      child.stdin.write("lock\n");
      await child.stdin.flush();
      await expectLine("locked");
    },
    async release() {
      child.stdin.write("release\n");
      await child.stdin.end();
      if ((await child.exited) !== 0) throw new Error("write locker: COMMIT failed");
    },
  };
}

/** Takes the write lock in another process now; `release()` gives it back. */
export async function holdWriteLock(path: string): Promise<WriteLocker> {
  const locker = await startWriteLocker(path);
  await locker.lock();
  return locker;
}
