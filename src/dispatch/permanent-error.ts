/**
 * Thrown by a subscriber (or validator) when retrying cannot help: the event goes to the
 * dead-letter stream with reason `permanent_error`. Any other error is treated as transient.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

export function isPermanentError(error: unknown): error is PermanentError {
  return error instanceof PermanentError;
}
