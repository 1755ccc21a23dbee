/** Bad command-line usage: main prints the message and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** Second signal during shutdown: leave at once, like a shell does after Ctrl-C. */
export const EXIT_INTERRUPTED = 130;
