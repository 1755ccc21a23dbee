/** What the consumer loop is given and what it tells the outside. */
import type { Dispatcher, EntryResult } from "../dispatch/dispatcher.ts";
import type { Logger } from "../observe/logger.ts";
import type { DeadLetter, DeadLetterWriter } from "./dead-letters.ts";
import type { StreamReader } from "./stream-reader.ts";

export interface ConsumerOptions {
  batchSize: number;
  blockMs: number;
  maxEventBytes: number;
  /** An event failing on its own is dead-lettered after this many attempts. */
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Entries other consumers left pending this long are reclaimed (XAUTOCLAIM). */
  claimIdleMs: number;
  /** PAYCORE_SIGNING_SECRET: when set, unsigned or badly signed entries are dead-lettered. */
  signingSecrets: readonly string[];
  /** APP_ENV=production: events marked simulated are dead-lettered, never applied. */
  rejectSimulated: boolean;
}

/** What the consumer tells the outside (metrics, readiness, tests); every method optional. */
export interface ConsumerObserver {
  /** A batch has been committed, dead-lettered and ACKed (or scheduled for retry). */
  batchSettled?(results: readonly EntryResult[], durationSeconds: number): void;
  /** A read (XREADGROUP or XAUTOCLAIM) has come back, with or without entries. */
  readCompleted?(): void;
  /** A batch's transaction has committed (or the batch needed none). */
  batchCommitted?(): void;
  /** A batch's transaction has failed; it stays pending and is retried. */
  commitFailed?(error: unknown): void;
  /** Dead letters Redis has confirmed written, each reported once. */
  deadLettersWritten?(letters: readonly DeadLetter[]): void;
  /** Redis calls have started failing (`down`) or work again (`up`). */
  redisDown?(error: unknown): void;
  redisUp?(): void;
}

export interface ConsumerDependencies {
  reader: StreamReader;
  deadLetters: DeadLetterWriter;
  dispatcher: Dispatcher;
  logger: Logger;
  options: ConsumerOptions;
  observer?: ConsumerObserver;
  /** Recreates the consumer group after Redis reported NOGROUP (stream or group deleted). */
  recreateGroup: () => Promise<void>;
}
