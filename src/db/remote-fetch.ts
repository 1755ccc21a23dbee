/**
 * The `fetch` the libSQL HTTP client uses for a remote database (sqld, Turso): each request is
 * bounded by DATABASE_TIMEOUT_MS, and a request that fails on the network (refused, reset,
 * timed out) fails with a DatabaseUnreachableError whose code says so. Without the code, a
 * timeout (a DOMException whose `code` is the number 23) would look like a failure of the
 * events' data and isolate or dead-letter them; with it, the batch is retried as it stands.
 */

/** A request to the remote database got no answer: refused, cut, or past the timeout. */
export class DatabaseUnreachableError extends Error {
  override readonly name = "DatabaseUnreachableError";
  /** `DATABASE_TIMEOUT` (no answer within the timeout) or `DATABASE_UNREACHABLE`. */
  readonly code: "DATABASE_TIMEOUT" | "DATABASE_UNREACHABLE";

  constructor(timeoutMs: number, cause: unknown) {
    const timedOut = cause instanceof Error && cause.name === "TimeoutError";
    const reason = timedOut
      ? `no answer within ${timeoutMs} ms (DATABASE_TIMEOUT_MS)`
      : `the request failed: ${cause instanceof Error ? cause.message : String(cause)}`;
    super(`The remote database did not answer: ${reason}`, { cause });
    this.code = timedOut ? "DATABASE_TIMEOUT" : "DATABASE_UNREACHABLE";
  }
}

/**
 * A fetch for `createClient({ fetch })`. The timeout covers the whole request, reading the
 * response body included, since the client reads the body from the response it is given.
 */
export function timedFetch(timeoutMs: number): (request: Request) => Promise<Response> {
  return async (request) => {
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(request, { signal });
    } catch (error) {
      throw new DatabaseUnreachableError(timeoutMs, error);
    }
    // Read here, under the same signal, so that a body that never ends fails the same way.
    let body: ArrayBuffer;
    try {
      body = await response.arrayBuffer();
    } catch (error) {
      throw new DatabaseUnreachableError(timeoutMs, signal.aborted ? signal.reason : error);
    }
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
