import { describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { describeDatabaseError, isTransientDatabaseError } from "../../src/db/database-errors.ts";

function libsqlError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { name: "LibsqlError", code });
}

describe("describeDatabaseError", () => {
  test("names the SQLite code and a hint, never the statement or its parameters", () => {
    const wrapped = new DrizzleQueryError(
      "INSERT INTO processed_events (trace_id) VALUES (?)",
      ["evt_secret_payload"],
      libsqlError("SQLITE_FULL", "database or disk is full"),
    );
    const summary = describeDatabaseError(wrapped);
    expect(summary).toEqual({
      code: "SQLITE_FULL",
      message: "SQLITE_FULL: database or disk is full",
      hint: "the disk is full",
    });
    expect(JSON.stringify(summary)).not.toContain("INSERT");
    expect(JSON.stringify(summary)).not.toContain("evt_secret_payload");
  });

  test("a read-only database says who cannot write", () => {
    expect(
      describeDatabaseError(libsqlError("SQLITE_READONLY", "attempt to write a readonly database"))
        .hint,
    ).toBe("the database file or its folder is not writable by this user");
  });

  test("the native driver's ConnectionFailed carries its code in the message", () => {
    const error = Object.assign(
      new Error('ConnectionFailed("Unable to open connection to local database /x/db: 14")'),
      {
        code: "",
      },
    );
    expect(describeDatabaseError(error).code).toBe("SQLITE_CANTOPEN");
  });

  test("disk full and read-only are transient (retried), constraint errors are not", () => {
    expect(isTransientDatabaseError(libsqlError("SQLITE_FULL", "full"))).toBe(true);
    expect(isTransientDatabaseError(libsqlError("SQLITE_READONLY", "ro"))).toBe(true);
    expect(isTransientDatabaseError(libsqlError("SQLITE_CONSTRAINT_UNIQUE", "dup"))).toBe(false);
  });
});
