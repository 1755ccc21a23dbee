/**
 * Carries out a settle plan against Redis: ACKs what is durable and writes the dead letters
 * (then ACKs their entries) in one idempotent script, retrying while Redis is away. An error
 * reply that waiting will not cure (WRONGTYPE, a script error) does not hold the loop: the
 * durable entries are ACKed on their own and the refused dead letters are parked, their entries
 * left pending, and written later.
 */
import type { Logger } from "../observe/logger.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { DeadLetter, DeadLetterWriter } from "./dead-letters.ts";
import { ParkedDeadLetters } from "./parked-dead-letters.ts";
import { classifyRedisError } from "./redis-errors.ts";
import type { RedisRecovery } from "./redis-recovery.ts";
import type { SettlePlan } from "./settle-plan.ts";
import type { StreamReader } from "./stream-reader.ts";

export interface BatchSettlerOptions {
  reader: Pick<StreamReader, "stream" | "group" | "connected" | "ack" | "sha256Of">;
  deadLetters: Pick<DeadLetterWriter, "settle">;
  logger: Logger;
  recovery: RedisRecovery;
  backoff: BackoffOptions;
  stopping: () => boolean;
  /** Told of the dead letters Redis confirmed written (each once): metrics count them by reason. */
  onWritten?: (letters: readonly DeadLetter[]) => void;
}

export class BatchSettler {
  /** Dead letters written (and confirmed) so far. */
  deadLettered = 0;
  readonly parked: ParkedDeadLetters;

  constructor(private readonly options: BatchSettlerOptions) {
    this.parked = new ParkedDeadLetters(options.backoff);
  }

  async settle(plan: SettlePlan): Promise<void> {
    if (plan.ackIds.length === 0 && plan.deadLetters.length === 0) return;
    const { reader, deadLetters, logger, recovery, stopping } = this.options;
    for (const letter of plan.deadLetters) {
      logger.warn(
        {
          entry_id: letter.originalId,
          trace_id: letter.traceId,
          reason: letter.reason,
          detail: letter.detail,
          subscriber: letter.subscriber,
        },
        "Event moved to the dead-letter stream",
      );
    }
    const letters = await this.#withSha256(plan.deadLetters);
    for (;;) {
      try {
        this.#written(await deadLetters.settle(reader.stream, reader.group, plan.ackIds, letters));
        recovery.ok();
        return;
      } catch (error) {
        if (stopping() && recovery.failing) return; // left pending
        if (classifyRedisError(error) !== "persistent") {
          await recovery.recover(error);
          if (stopping() && !reader.connected) return;
          continue;
        }
        logger.error(
          { err: error, entry_ids: letters.map((letter) => letter.originalId) },
          "Redis refused to write these dead letters; their entries stay pending and the write is retried with backoff",
        );
        this.parked.park(letters, Date.now());
        await this.#ackAlone(plan.ackIds);
        return;
      }
    }
  }

  /** Retries parked dead letters whose time has come. */
  async settleParked(letters: readonly DeadLetter[]): Promise<void> {
    const { reader, deadLetters, logger, recovery } = this.options;
    try {
      this.#written(await deadLetters.settle(reader.stream, reader.group, [], letters));
      this.parked.remove(letters);
      logger.info(
        { entry_ids: letters.map((letter) => letter.originalId) },
        "Parked dead letters written",
      );
    } catch (error) {
      if (classifyRedisError(error) === "persistent") this.parked.park(letters, Date.now());
      else await recovery.recover(error);
    }
  }

  #written(letters: readonly DeadLetter[]): void {
    if (letters.length === 0) return;
    this.deadLettered += letters.length;
    this.options.onWritten?.(letters);
  }

  /** The ACKs of a batch whose dead letters were refused: durable entries must not wait on them. */
  async #ackAlone(ids: readonly string[]): Promise<void> {
    const { reader, logger, recovery, stopping } = this.options;
    for (;;) {
      try {
        await reader.ack(ids);
        return;
      } catch (error) {
        if (stopping() || classifyRedisError(error) === "persistent") {
          logger.error({ err: error, entry_ids: ids }, "Could not acknowledge entries");
          return; // they stay pending: re-read and skipped as duplicates
        }
        await recovery.recover(error);
      }
    }
  }

  /** Fills in the SHA-256 of oversized entries read as a prefix, reading each one whole, alone. */
  async #withSha256(letters: DeadLetter[]): Promise<DeadLetter[]> {
    for (const [index, letter] of letters.entries()) {
      if (letter.oversized === undefined || letter.oversized.sha256 !== undefined) continue;
      const sha256 = await this.options.reader.sha256Of(letter.originalId).catch(() => undefined);
      if (sha256 !== undefined) {
        letters[index] = { ...letter, oversized: { ...letter.oversized, sha256 } };
      }
    }
    return letters;
  }
}
