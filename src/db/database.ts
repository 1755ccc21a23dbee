import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import * as schema from "./schema.ts";

export type Db = LibSQLDatabase<typeof schema>;
/** The transaction handed to subscribers: drizzle over one libSQL write transaction. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface DatabaseOptions {
  url: string;
  authToken?: string;
  /** Absolute path of a local database file; undefined for remote or in-memory databases. */
  filePath?: string;
  /** How long a writer waits for the write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

export interface Database {
  readonly client: Client;
  readonly db: Db;
  readonly filePath: string | undefined;
  close(): void;
}

/** 30 s: concurrent writers queue for the lock instead of failing (the client's default is 0). */
const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

/**
 * Opens the store. A local file gets its folder created and WAL mode (a property of the file,
 * so it holds on every connection of the client's pool). Busy timeout goes through the
 * client's `timeout` option, which it applies to every connection it opens.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.filePath !== undefined) mkdirSync(dirname(options.filePath), { recursive: true });
  const client = createClient({
    url: options.url,
    authToken: options.authToken,
    timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
  });
  try {
    if (options.filePath !== undefined) await client.execute("PRAGMA journal_mode=WAL");
  } catch (error) {
    client.close();
    throw error;
  }
  return {
    client,
    db: drizzle(client, { schema }),
    filePath: options.filePath,
    close: () => client.close(),
  };
}

export type SynchronousMode = "OFF" | "NORMAL" | "FULL" | "EXTRA" | "unknown";

const SYNCHRONOUS_NAMES: Record<number, SynchronousMode> = {
  0: "OFF",
  1: "NORMAL",
  2: "FULL",
  3: "EXTRA",
};

/**
 * Reads `synchronous` back from inside a write transaction, i.e. from the very connection that
 * commits batches (a PRAGMA through `execute` only reaches one connection of the pool).
 */
export async function readWriterSynchronous(client: Client): Promise<SynchronousMode> {
  const tx = await client.transaction("write");
  try {
    const result = await tx.execute("PRAGMA synchronous");
    const value = Number(result.rows[0]?.[0]);
    return SYNCHRONOUS_NAMES[value] ?? "unknown";
  } finally {
    tx.close();
  }
}
