import type { StreamEntry } from "./stream-reader.ts";

/** An entry that failed on its own with a transient error and waits for its next attempt. */
interface PendingRetry {
  entry: StreamEntry;
  /** In-place retries done so far; its attempts are its deliveries plus these. */
  retries: number;
  nextAttemptAt: number;
}

/**
 * Entries waiting for an in-place retry. They stay pending in Redis (not ACKed) and are
 * retried from memory, so their delivery counts do not grow while other entries keep flowing.
 */
export class RetrySchedule {
  readonly #waiting = new Map<string, PendingRetry>();

  /** In-place retries already done for this entry (0 when it is not waiting). */
  retriesDone(id: string): number {
    return this.#waiting.get(id)?.retries ?? 0;
  }

  schedule(entry: StreamEntry, retries: number, nextAttemptAt: number): void {
    this.#waiting.set(entry.id, { entry, retries, nextAttemptAt });
  }

  remove(id: string): void {
    this.#waiting.delete(id);
  }

  has(id: string): boolean {
    return this.#waiting.has(id);
  }

  /** Up to `limit` entries whose time has come. */
  due(now: number, limit: number): StreamEntry[] {
    const due: StreamEntry[] = [];
    for (const retry of this.#waiting.values()) {
      if (due.length >= limit) break;
      if (retry.nextAttemptAt <= now) due.push(retry.entry);
    }
    return due;
  }

  /** When the next retry is due; Infinity when none waits. */
  nextAttemptAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const retry of this.#waiting.values()) next = Math.min(next, retry.nextAttemptAt);
    return next;
  }

  ids(): IterableIterator<string> {
    return this.#waiting.keys();
  }

  get size(): number {
    return this.#waiting.size;
  }
}
