import { afterAll, describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { describeDatabaseError, isTransientDatabaseError } from "../../src/db/database-errors.ts";
import { DatabaseUnreachableError, timedFetch } from "../../src/db/remote-fetch.ts";
import { freePort } from "../support/fixtures.ts";

// A loopback server that answers /ok at once, and never answers anything else.
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 30,
  fetch(request) {
    if (new URL(request.url).pathname === "/ok") return new Response("fine", { status: 200 });
    return new Promise<Response>(() => {});
  },
});
afterAll(() => server.stop(true));

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the request to fail");
}

describe("timedFetch", () => {
  test("passes an answer through, status and body", async () => {
    const response = await timedFetch(1_000)(new Request(`http://127.0.0.1:${server.port}/ok`));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("fine");
  });

  test("a request that never answers fails with DATABASE_TIMEOUT after the timeout, not later", async () => {
    const started = performance.now();
    const error = await failure(
      timedFetch(300)(new Request(`http://127.0.0.1:${server.port}/hang`, { method: "POST" })),
    );
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(DatabaseUnreachableError);
    expect((error as DatabaseUnreachableError).code).toBe("DATABASE_TIMEOUT");
    expect((error as Error).message).toContain("DATABASE_TIMEOUT_MS");
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2_000);
  });

  test("a refused connection fails with DATABASE_UNREACHABLE", async () => {
    const port = await freePort();
    const error = await failure(timedFetch(1_000)(new Request(`http://127.0.0.1:${port}/`)));
    expect((error as DatabaseUnreachableError).code).toBe("DATABASE_UNREACHABLE");
    expect((error as Error).message).toContain("ECONNREFUSED");
  });

  test("both are transient (the batch is retried, nothing isolated or dead-lettered), even inside drizzle's error", async () => {
    for (const code of ["DATABASE_TIMEOUT", "DATABASE_UNREACHABLE"] as const) {
      const cause =
        code === "DATABASE_TIMEOUT"
          ? new DOMException("The operation timed out.", "TimeoutError")
          : new TypeError("ECONNRESET: The socket connection was closed unexpectedly");
      const error = new DatabaseUnreachableError(1_000, cause);
      expect(error.code).toBe(code);
      expect(isTransientDatabaseError(error)).toBe(true);
      const wrapped = new DrizzleQueryError("COMMIT", [], error);
      expect(isTransientDatabaseError(wrapped)).toBe(true);
      expect(describeDatabaseError(wrapped).code).toBe(code);
      expect(describeDatabaseError(wrapped).hint).toContain("remote database");
    }
  });

  test("a bare fetch timeout would not have been (its code is the number 23): the reason for the wrapper", () => {
    const bare = new DOMException("The operation timed out.", "TimeoutError");
    expect(bare.code).toBe(23);
    expect(isTransientDatabaseError(bare)).toBe(false);
  });
});
