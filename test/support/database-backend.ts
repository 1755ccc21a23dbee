/**
 * The two kinds of store coursepay runs on, for suites that must hold on both: a local libSQL
 * file, and a remote libSQL database over HTTP (the Hrana test server on loopback, with a bearer
 * token, as the libSQL client's own CI tests its HTTP path). Each call of `newDatabase` gives a
 * fresh empty database and the DATABASE_* variables that reach it.
 */
import { join } from "node:path";
import { tempDatabaseUrl, tempDir } from "./fixtures.ts";
import { type HranaServer, startHranaServer } from "./hrana-server.ts";

export interface DatabaseBackend {
  /** `file` or `http`, for test names. */
  readonly name: string;
  /** DATABASE_URL (and DATABASE_AUTH_TOKEN) of a new, empty database. */
  newDatabase(): Promise<Record<string, string>>;
}

const servers = new Set<HranaServer>();

export const FILE_BACKEND: DatabaseBackend = {
  name: "file",
  async newDatabase() {
    return { DATABASE_URL: tempDatabaseUrl().url };
  },
};

export const HTTP_BACKEND: DatabaseBackend = {
  name: "http",
  async newDatabase() {
    const authToken = crypto.randomUUID();
    const server = await startHranaServer({
      dbPath: join(tempDir("hrana"), "coursepay.db"),
      authToken,
    });
    servers.add(server);
    return { DATABASE_URL: server.url, DATABASE_AUTH_TOKEN: authToken };
  },
};

/** Both, for `describe.each(DATABASE_BACKENDS)("… (%s)")`-style suites. */
export const DATABASE_BACKENDS: readonly DatabaseBackend[] = [FILE_BACKEND, HTTP_BACKEND];

/** Stops every test server the HTTP backend started (call in afterAll). */
export async function stopDatabaseServers(): Promise<void> {
  await Promise.all([...servers].map((server) => server.stop()));
  servers.clear();
}
