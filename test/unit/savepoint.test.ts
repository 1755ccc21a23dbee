import { describe, expect, test } from "bun:test";
import type { SQL } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { Tx } from "../../src/db/database.ts";
import { DatabaseUnreachableError } from "../../src/db/remote-fetch.ts";
import { inSavepoint } from "../../src/db/savepoint.ts";

const dialect = new SQLiteSyncDialect();

function libsqlError(code: string): Error {
  return Object.assign(new Error(`${code}: failed`), { name: "LibsqlError", code });
}

/** A transaction that records each statement and fails those `failures` names. */
function fakeTx(failures: Record<string, Error> = {}) {
  const statements: string[] = [];
  const tx = {
    async run(query: SQL) {
      const text = dialect.sqlToQuery(query).sql;
      statements.push(text);
      const failure = Object.entries(failures).find(([prefix]) => text.startsWith(prefix));
      if (failure) throw failure[1];
    },
  } as unknown as Tx;
  return { tx, statements };
}

const lost = () => new DatabaseUnreachableError(1_500, new Error("ECONNRESET"));
const closed = () => libsqlError("TRANSACTION_CLOSED");

describe("inSavepoint", () => {
  test("a body that returns is released and its result passed on", async () => {
    const { tx, statements } = fakeTx();
    expect(await inSavepoint(tx, "claim", async () => 42)).toBe(42);
    expect(statements).toEqual(["SAVEPOINT claim", "RELEASE SAVEPOINT claim"]);
  });

  test("a body that throws is rolled back to the savepoint, and its error thrown", async () => {
    const { tx, statements } = fakeTx();
    const refused = libsqlError("SQLITE_CONSTRAINT");
    await expect(
      inSavepoint(tx, "claim", async () => {
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(statements).toEqual(["SAVEPOINT claim", "ROLLBACK TO SAVEPOINT claim"]);
  });

  test("the connection lost in the body: its error, not the rollback's TRANSACTION_CLOSED", async () => {
    const { tx } = fakeTx({ ROLLBACK: closed() });
    const cause = lost();
    await expect(
      inSavepoint(tx, "claim", async () => {
        throw cause;
      }),
    ).rejects.toBe(cause);
  });

  test("the connection lost on RELEASE (which drizzle's savepoint hides): its error is thrown", async () => {
    const cause = lost();
    const { tx, statements } = fakeTx({ RELEASE: cause, ROLLBACK: closed() });
    await expect(inSavepoint(tx, "claim", async () => 1)).rejects.toBe(cause);
    expect(statements).toEqual([
      "SAVEPOINT claim",
      "RELEASE SAVEPOINT claim",
      "ROLLBACK TO SAVEPOINT claim",
    ]);
  });

  test("a data error not undone by its rollback fails with the rollback's error: the batch cannot go on", async () => {
    const rollbackFailed = closed();
    const { tx } = fakeTx({ ROLLBACK: rollbackFailed });
    await expect(
      inSavepoint(tx, "claim", async () => {
        throw libsqlError("SQLITE_CONSTRAINT");
      }),
    ).rejects.toBe(rollbackFailed);
  });
});
