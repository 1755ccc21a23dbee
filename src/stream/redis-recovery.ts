/**
 * What the consumer does after a failed Redis call, by the error's kind (redis-errors.ts):
 * recreate a vanished group; wait for a lost connection to come back; back off after an error
 * reply. The outage is logged once when it starts and once when it ends.
 */
import type { Logger } from "../observe/logger.ts";
import { type BackoffOptions, backoffDelay, sleep } from "./backoff.ts";
import { classifyRedisError } from "./redis-errors.ts";
import type { StreamReader } from "./stream-reader.ts";

export interface RedisRecoveryOptions {
  reader: Pick<StreamReader, "connected" | "untilConnected">;
  logger: Logger;
  backoff: BackoffOptions;
  /** Aborted at shutdown: every wait ends at once. */
  signal: AbortSignal;
  /** Recreates the consumer group after NOGROUP. */
  recreateGroup: () => Promise<void>;
  onDown?: (error: unknown) => void;
  onUp?: () => void;
}

/** A connection that still looks up but timed out is retried at least this often. */
const MAX_RECONNECT_BACKOFF_MS = 1_000;

export class RedisRecovery {
  #failures = 0;

  constructor(private readonly options: RedisRecoveryOptions) {}

  /** True while Redis calls are failing (since the last success). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  async recover(error: unknown): Promise<void> {
    const { logger, reader, signal } = this.options;
    const kind = classifyRedisError(error);
    if (kind === "nogroup") {
      logger.error(
        "The consumer group or the stream vanished (NOGROUP): recreating the group at 0. " +
          "Entries deleted with the stream cannot be recovered.",
      );
      try {
        await this.options.recreateGroup();
        return;
      } catch (recreateError) {
        error = recreateError;
      }
    }
    this.#failures++;
    if (this.#failures === 1) {
      logger.error({ err: error, kind }, "Redis unavailable; retrying");
      this.options.onDown?.(error);
    }
    const wasConnected = reader.connected;
    if (!wasConnected) await reader.untilConnected(signal);
    if (kind !== "connection" || wasConnected) {
      // An error reply, or a timeout on a link that still looks up: back off before the next try.
      const backoff =
        kind === "connection"
          ? { ...this.options.backoff, maxMs: MAX_RECONNECT_BACKOFF_MS }
          : this.options.backoff;
      await sleep(backoffDelay(this.#failures, backoff), signal);
    }
  }

  /** A Redis call succeeded: ends the outage, if there was one. */
  ok(): void {
    if (this.#failures === 0) return;
    this.options.logger.info({ failures: this.#failures }, "Redis available again");
    this.#failures = 0;
    this.options.onUp?.();
  }
}
