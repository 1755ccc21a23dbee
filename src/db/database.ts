import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { REMOTE_DATABASE_PROTOCOLS } from "../config/setting-schemas.ts";
import { timedFetch } from "./remote-fetch.ts";
import * as schema from "./schema.ts";

export type Db = LibSQLDatabase<typeof schema>;
/** The transaction handed to subscribers: drizzle over one libSQL write transaction. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface DatabaseOptions {
  url: string;
  authToken?: string;
  /** Absolute path of a local database file; undefined for remote or in-memory databases. */
  filePath?: string;
  /**
   * How long a writer waits for the write lock before SQLITE_BUSY (default 5 s), so concurrent
   * writers queue instead of failing (the client's own default is 0). The local client waits
   * synchronously, blocking the event loop, so keep it well below SHUTDOWN_TIMEOUT_MS and
   * CLAIM_IDLE_MS.
   */
  busyTimeoutMs?: number;
  /**
   * Create the folder of `filePath` when it is missing (default false: a missing folder is a
   * DatabaseFolderMissingError, so a mistyped path never turns into an empty new database).
   */
  createFolder?: boolean;
  /**
   * How long one HTTP request to a remote database may take (DATABASE_TIMEOUT_MS, default 10 s).
   * Remote URLs (`http:`, `https:`, `libsql:`: DATABASE_URL takes no others) go through fetch.
   */
  requestTimeoutMs?: number;
}

/** True for a database reached over the network (sqld, Turso), as opposed to a file or memory. */
export function isRemoteDatabaseUrl(url: string): boolean {
  const protocol = URL.parse(url)?.protocol;
  return protocol !== undefined && REMOTE_DATABASE_PROTOCOLS.has(protocol);
}

/** DATABASE_URL names a file in a folder that does not exist (or is not a folder). */
export class DatabaseFolderMissingError extends Error {
  override readonly name = "DatabaseFolderMissingError";
  readonly folder: string;
  readonly filePath: string;

  constructor(filePath: string, problem: "missing" | "not a folder") {
    const folder = dirname(filePath);
    super(
      problem === "missing"
        ? `DATABASE_URL: the folder ${folder} of ${filePath} does not exist (create it, or run coursepay migrate, which creates it)`
        : `DATABASE_URL: ${folder}, the folder of ${filePath}, is not a folder`,
    );
    this.folder = folder;
    this.filePath = filePath;
  }
}

/**
 * Throws DatabaseFolderMissingError unless the folder of `filePath` exists. Other failures
 * (permissions, say) are left for opening the database to report.
 */
export function checkDatabaseFolder(filePath: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(dirname(filePath)).isDirectory();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new DatabaseFolderMissingError(filePath, "missing");
    }
    return;
  }
  if (!isFolder) throw new DatabaseFolderMissingError(filePath, "not a folder");
}

/** Creates the folder of `filePath` with its parents; returns the first folder created, if any. */
export function createDatabaseFolder(filePath: string): string | undefined {
  return mkdirSync(dirname(filePath), { recursive: true });
}

export interface Database {
  /** Replaced by `reopen()`: read it at each use, do not keep it. */
  readonly client: Client;
  readonly db: Db;
  readonly filePath: string | undefined;
  /**
   * Throws the client and its connections away and opens a new one. Needed after SQLITE_BUSY:
   * the libSQL client 0.18 can leave that connection's next COMMIT failing, and an abandoned
   * BEGIN holding the write lock. If opening fails, `closed` stays true and the next call tries
   * again: a failed reopen must not leave a closed client in place for good.
   */
  reopen(): Promise<void>;
  /** True while the client is closed: after close(), or after a reopen that failed. */
  readonly closed: boolean;
  close(): void;
}

/**
 * Opens the store. A local file must be in a folder that exists (created only with
 * `createFolder`) and gets WAL mode (a property of the file, so it holds on every connection
 * of the client's pool). Busy timeout goes through the client's `timeout` option, which it
 * applies to every connection it opens. A remote database gets no pragma at all (its server
 * decides journal and sync, and the client's busy timeout means nothing there); its requests
 * are bounded by `requestTimeoutMs` instead.
 * @throws {DatabaseFolderMissingError} when the file's folder is missing.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.filePath !== undefined) {
    if (options.createFolder === true) createDatabaseFolder(options.filePath);
    else checkDatabaseFolder(options.filePath);
  }
  const remote = isRemoteDatabaseUrl(options.url);
  const open = async (): Promise<Client> => {
    const client = createClient(
      remote
        ? {
            url: options.url,
            authToken: options.authToken,
            fetch: timedFetch(options.requestTimeoutMs ?? 10_000),
          }
        : {
            url: options.url,
            authToken: options.authToken,
            timeout: options.busyTimeoutMs ?? 5_000,
          },
    );
    try {
      if (options.filePath !== undefined) await client.execute("PRAGMA journal_mode=WAL");
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  };
  let client = await open();
  let db = drizzle(client, { schema });
  return {
    get client() {
      return client;
    },
    get db() {
      return db;
    },
    filePath: options.filePath,
    get closed() {
      return client.closed;
    },
    async reopen() {
      client.close();
      client = await open();
      db = drizzle(client, { schema });
    },
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
