/**
 * A Hrana-over-HTTP server (protocol version 2, JSON) on top of bun:sqlite, for tests that
 * talk to a remote libSQL (`http://` URL) without sqld. Modelled on libsql/hrana-test-server
 * and on sqld's answers. Test support only; never shipped.
 *
 *   bun test/support/hrana-server.ts --port P --db FILE [--auth-token T]
 *     [--baton-timeout-ms N] [--busy-timeout-ms N]
 *
 * prints `listening on http://127.0.0.1:P` and stops on SIGTERM or SIGINT.
 *
 * Open the database only through the server while it runs: a second SQLite library in the same
 * process (the native libSQL client with a `file:` URL) breaks SQLite's locking (see
 * write-lock.ts).
 */
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { type PipelineRequest, ProtocolError, type StreamResult } from "./hrana/protocol.ts";
import { HranaStream } from "./hrana/stream.ts";

export interface HranaServerOptions {
  /** The SQLite file; created if missing and switched to WAL mode, like sqld's. */
  dbPath: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** When set, requests need `Authorization: Bearer <authToken>`. */
  authToken?: string;
  /** An idle stream (its baton unused this long) is closed, rolling back (sqld: 10 s). */
  batonTimeoutMs?: number;
  /** How long a statement waits for another stream's lock before SQLITE_BUSY (default 5 s). */
  busyTimeoutMs?: number;
  /** Called with each well-formed pipeline request before it runs (to see what a client sent). */
  onPipeline?: (request: PipelineRequest) => void;
  /** Called when an idle stream expires (its transaction, if any, rolled back). */
  onStreamExpired?: () => void;
}

export interface HranaServer {
  /** `http://127.0.0.1:<port>`, for `createClient({ url })`. */
  url: string;
  port: number;
  /** HTTP requests to /v2/pipeline so far: the client's round trips. */
  readonly pipelineRequests: number;
  /** Stops listening and closes every stream (open transactions roll back). */
  stop(): Promise<void>;
}

const DEFAULT_BATON_TIMEOUT_MS = 10_000;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** sqld keeps an expired stream's id this long, to say "expired" rather than "invalid". */
const EXPIRED_MEMORY_MS = 300_000;

interface OpenStream {
  stream: HranaStream;
  /** The one baton that may be used next; undefined while a request holds the stream. */
  baton: string | undefined;
  expiry?: ReturnType<typeof setTimeout>;
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain" } });
}

/** Exactly `application/json`: the client reads an error body only with that content type. */
function json(status: number, body: unknown): Response {
  const headers = { "content-type": "application/json" };
  return new Response(JSON.stringify(body), { status, headers });
}

function parsePipeline(body: string): PipelineRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new ProtocolError(`Cannot deserialize client message from JSON: ${error}`);
  }
  const request = parsed as PipelineRequest | null;
  const requests: unknown = request?.requests;
  const baton: unknown = request?.baton;
  if (
    !Array.isArray(requests) ||
    !requests.every((r) => typeof r === "object" && r !== null) ||
    (baton != null && typeof baton !== "string")
  ) {
    throw new ProtocolError("Cannot deserialize client message: expected { baton, requests }");
  }
  return request as PipelineRequest;
}

export async function startHranaServer(options: HranaServerOptions): Promise<HranaServer> {
  const batonTimeoutMs = options.batonTimeoutMs ?? DEFAULT_BATON_TIMEOUT_MS;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  // Held open while the server runs, as sqld does: the last connection to close checkpoints
  // the WAL, which would otherwise happen after every request.
  const keeper = new Database(options.dbPath, { create: true });
  try {
    keeper.run("PRAGMA journal_mode = WAL");
  } catch (error) {
    keeper.close();
    throw error;
  }

  const streams = new Map<string, OpenStream>();
  const expired = new Map<string, number>();
  let batonSeq = 0;
  let pipelineRequests = 0;

  const release = (id: string, open: OpenStream): string | null => {
    if (open.stream.closed) {
      streams.delete(id);
      return null;
    }
    batonSeq += 1;
    open.baton = `${id}.${batonSeq}`;
    open.expiry = setTimeout(() => {
      streams.delete(id);
      open.stream.close();
      const now = Date.now();
      for (const [oldId, at] of expired) if (now - at > EXPIRED_MEMORY_MS) expired.delete(oldId);
      expired.set(id, now);
      options.onStreamExpired?.();
    }, batonTimeoutMs);
    open.expiry.unref();
    return open.baton;
  };

  /** A new stream for no baton, the stream of a valid one, or sqld's answer to a bad one. */
  const acquire = (baton: string | null | undefined): [string, OpenStream] | Response => {
    if (baton == null) {
      const id = randomBytes(12).toString("hex");
      const stream = new HranaStream(options.dbPath, busyTimeoutMs);
      const open: OpenStream = { stream, baton: undefined };
      streams.set(id, open);
      return [id, open];
    }
    const id = baton.split(".")[0] ?? "";
    const open = streams.get(id);
    if (open === undefined) {
      if (!expired.has(id)) return text(400, "Received an invalid baton");
      const error = { message: "The stream has expired due to inactivity", code: "STREAM_EXPIRED" };
      return json(500, error);
    }
    if (open.baton !== baton) return text(400, "Received a baton that has already been used");
    clearTimeout(open.expiry);
    open.baton = undefined;
    return [id, open];
  };

  const pipeline = async (request: Request): Promise<Response> => {
    pipelineRequests += 1;
    if (options.authToken !== undefined) {
      if (request.headers.get("authorization") !== `Bearer ${options.authToken}`) {
        return text(401, "Unauthorized: expected Authorization: Bearer <auth token>");
      }
    }
    let body: PipelineRequest;
    try {
      body = parsePipeline(await request.text());
    } catch (error) {
      return text(400, (error as Error).message);
    }
    options.onPipeline?.(body);
    let held: [string, OpenStream] | undefined;
    try {
      const acquired = acquire(body.baton);
      if (acquired instanceof Response) return acquired;
      held = acquired;
      const [id, open] = acquired;
      const results: StreamResult[] = [];
      for (const streamRequest of body.requests) {
        results.push(await open.stream.handle(streamRequest));
      }
      return json(200, { baton: release(id, open), base_url: null, results });
    } catch (error) {
      // Like sqld: a protocol error (or a server fault) ends the stream.
      if (held !== undefined) {
        streams.delete(held[0]);
        held[1].stream.close();
      }
      if (error instanceof ProtocolError) return text(400, error.message);
      return text(500, `Internal server error: ${(error as Error).message ?? error}`);
    }
  };

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: options.port ?? 0,
      // A statement waiting for a lock keeps its request open for up to busyTimeoutMs.
      idleTimeout: Math.min(255, Math.ceil(busyTimeoutMs / 1000) + 10),
      fetch(request) {
        const { pathname } = new URL(request.url);
        if (pathname === "/v2" && request.method === "GET") {
          return text(200, "Hello, this is HTTP API v2 (Hrana over HTTP)");
        }
        if (pathname === "/v2/pipeline" && request.method === "POST") return pipeline(request);
        return text(404, "Not found");
      },
    });
  } catch (error) {
    keeper.close();
    throw error;
  }
  const port = server.port ?? 0;

  let stopped: Promise<void> | undefined;
  const stop = async () => {
    await server.stop(true);
    for (const open of streams.values()) {
      clearTimeout(open.expiry);
      open.stream.close();
    }
    streams.clear();
    keeper.close();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get pipelineRequests() {
      return pipelineRequests;
    },
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}

function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`${flag} needs a whole number of 0 or more, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      db: { type: "string" },
      "auth-token": { type: "string" },
      "baton-timeout-ms": { type: "string" },
      "busy-timeout-ms": { type: "string" },
    },
  });
  if (values.db === undefined) {
    console.error(
      "usage: bun test/support/hrana-server.ts --port P --db FILE [--auth-token T]" +
        " [--baton-timeout-ms N] [--busy-timeout-ms N]",
    );
    process.exit(2);
  }
  const server = await startHranaServer({
    dbPath: values.db,
    port: numberFlag(values.port, "--port"),
    authToken: values["auth-token"],
    batonTimeoutMs: numberFlag(values["baton-timeout-ms"], "--baton-timeout-ms"),
    busyTimeoutMs: numberFlag(values["busy-timeout-ms"], "--busy-timeout-ms"),
    onStreamExpired: () => console.log("a stream expired (baton unused too long)"),
  });
  console.log(`listening on ${server.url}`);
  const shutdown = () => {
    void server.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}
