/**
 * What main prints for an error a command threw, and its exit code: one line, no stack trace
 * for anything the user can fix. Imported only when a command failed.
 */
import { ConfigError } from "../config/config.ts";
import { describeDatabaseError, isDatabaseError } from "../db/database-errors.ts";
import { DuplicateSubscriberError } from "../dispatch/registry.ts";
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./usage-error.ts";

/**
 * Errors of modules that load a driver (database.ts loads libSQL, redis-connection.ts ioredis),
 * told apart by name: describing a failure must not load the driver that may have failed.
 */
const USAGE_ERROR_NAMES = new Set(["DatabaseFolderMissingError", "UnsupportedRedisError"]);
const UNREACHABLE_ERROR_NAMES = new Set(["UnreachableError"]);

/**
 * The compiled binary unpacks its embedded libSQL addon into TMPDIR before it loads it; with
 * TMPDIR missing, read-only or mounted noexec, dlopen fails with a path inside the binary.
 */
export function driverLoadFailure(error: unknown, env = process.env): string | undefined {
  if ((error as { code?: unknown } | null)?.code !== "ERR_DLOPEN_FAILED") return undefined;
  const reason = error instanceof Error ? error.message : String(error);
  const tmpdir = env.TMPDIR === undefined ? "unset, so /tmp" : JSON.stringify(env.TMPDIR);
  return (
    `the libSQL database driver could not be unpacked and loaded (${reason}). ` +
    `coursepay unpacks it into TMPDIR (${tmpdir}) and loads it from there: point TMPDIR at a ` +
    "directory that exists, that this user can write and that is not mounted noexec, " +
    "e.g. TMPDIR=/var/tmp, or in a systemd unit CacheDirectory=coursepay with " +
    "Environment=TMPDIR=/var/cache/coursepay (see docs/deployment.md)"
  );
}

export function describeFailure(error: unknown): { message: string; code: number } {
  const name = error instanceof Error ? error.name : "";
  if (
    error instanceof ConfigError ||
    error instanceof UsageError ||
    error instanceof DuplicateSubscriberError ||
    USAGE_ERROR_NAMES.has(name)
  ) {
    return { message: (error as Error).message, code: EXIT_USAGE };
  }
  const driver = driverLoadFailure(error);
  if (driver !== undefined) return { message: driver, code: EXIT_USAGE };
  if (UNREACHABLE_ERROR_NAMES.has(name)) {
    return { message: (error as Error).message, code: EXIT_FAILURE };
  }
  // A database error: its code and root message, never drizzle's "Failed query: <sql> params: …".
  if (
    error instanceof Error &&
    (error.message.startsWith("Failed query:") || isDatabaseError(error))
  ) {
    const { code, message, hint } = describeDatabaseError(error);
    return {
      message: `database: ${code}: ${message}${hint ? ` (${hint})` : ""}`,
      code: EXIT_FAILURE,
    };
  }
  return { message: error instanceof Error ? error.message : String(error), code: EXIT_FAILURE };
}
