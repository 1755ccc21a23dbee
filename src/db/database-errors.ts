/** SQLite result codes that say something about the event's data, not about the database. */
const DATA_ERROR_PREFIXES = [
  "SQLITE_CONSTRAINT",
  "SQLITE_MISMATCH",
  "SQLITE_TOOBIG",
  "SQLITE_RANGE",
];

/** Primary SQLite result codes, for errors that carry only the number. */
const RESULT_CODES: Record<number, string> = {
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  8: "SQLITE_READONLY",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
};

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    // libsql's native driver fails to open a connection with an empty code and the SQLite
    // result code only in its message: `ConnectionFailed("Unable to open connection to …: 14")`.
    const number = /^ConnectionFailed\(".*: (\d+)"\)$/s.exec(current.message)?.[1];
    if (number !== undefined) {
      const primary = Number(number) & 0xff;
      return RESULT_CODES[primary] ?? `SQLITE_ERROR_${primary}`;
    }
    current = current.cause;
  }
  return undefined;
}

/**
 * True when the database itself is in trouble (busy, locked, I/O, unreachable, closed): such a
 * failure says nothing about the events, so the whole batch is retried rather than any event
 * being isolated or dead-lettered.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const code = errorCode(error);
  if (code === undefined) return false;
  return !DATA_ERROR_PREFIXES.some((prefix) => code.startsWith(prefix));
}

/** Busy or locked: the connection that saw it may be left holding a stale lock. */
export function isBusyError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/** Errors of the database path: the libSQL client's, and a remote database not answering. */
const DATABASE_ERROR_NAMES = new Set(["LibsqlError", "DatabaseUnreachableError"]);

/** True for an error of the libSQL client (it carries a SQLite or client code). */
export function isDatabaseError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (DATABASE_ERROR_NAMES.has(error.name) ||
      (error.cause instanceof Error && DATABASE_ERROR_NAMES.has(error.cause.name)))
  );
}

/** What an operator can do about a database error, by its SQLite code. */
const HINTS: [prefix: string, hint: string][] = [
  ["SQLITE_READONLY", "the database file or its folder is not writable by this user"],
  ["SQLITE_FULL", "the disk is full"],
  ["SQLITE_BUSY", "another process holds the write lock (DATABASE_BUSY_TIMEOUT_MS)"],
  ["SQLITE_LOCKED", "another connection holds a lock on the database"],
  [
    "SQLITE_CANTOPEN",
    "the database file cannot be opened: its folder is missing, or no file descriptors are left",
  ],
  ["SQLITE_IOERR", "the disk or the file system reported an I/O error"],
  ["SQLITE_CORRUPT", "the database file is damaged; restore it from a backup"],
  ["CLIENT_CLOSED", "the database client is closed; it is reopened before the next attempt"],
  ["DATABASE_TIMEOUT", "the remote database did not answer within DATABASE_TIMEOUT_MS"],
  [
    "DATABASE_UNREACHABLE",
    "the remote database cannot be reached: check DATABASE_URL and the network",
  ],
  [
    "TRANSACTION_CLOSED",
    "the remote database closed the transaction (it expired, or the connection broke); the batch is retried",
  ],
  ["STREAM_EXPIRED", "the remote database ended an idle transaction; the batch is retried"],
  [
    "SERVER_ERROR",
    "the remote database answered with an HTTP error (a wrong DATABASE_AUTH_TOKEN?)",
  ],
];

export interface DatabaseErrorSummary {
  /** The SQLite (or libSQL client) code, e.g. `SQLITE_FULL`; `unknown` when there is none. */
  code: string;
  /** The innermost message: never the statement or its parameters (drizzle puts both in its own). */
  message: string;
  hint?: string;
}

/** For logs: the code, the root message and a hint, without SQL text or parameters. */
export function describeDatabaseError(error: unknown): DatabaseErrorSummary {
  const code = errorCode(error) ?? "unknown";
  let root = error;
  for (let depth = 0; root instanceof Error && root.cause instanceof Error && depth < 5; depth++) {
    root = root.cause;
  }
  const raw = root instanceof Error ? root.message : String(root);
  // A drizzle error with no cause still carries "Failed query: <sql> params: <params>".
  const message = raw.startsWith("Failed query:") ? "query failed" : raw.slice(0, 500);
  const hint = HINTS.find(([prefix]) => code.startsWith(prefix))?.[1];
  return hint === undefined ? { code, message } : { code, message, hint };
}
