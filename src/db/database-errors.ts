/** SQLite result codes that say something about the event's data, not about the database. */
const DATA_ERROR_PREFIXES = [
  "SQLITE_CONSTRAINT",
  "SQLITE_MISMATCH",
  "SQLITE_TOOBIG",
  "SQLITE_RANGE",
];

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
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
