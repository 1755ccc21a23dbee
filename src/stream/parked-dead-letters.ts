/**
 * Dead letters Redis refused to write with an error that waiting will not cure (WRONGTYPE on
 * the dead-letter key, a script error). Their entries stay pending, unacknowledged, and the
 * write alone is retried with backoff, without blocking the batches behind them.
 */
import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import type { DeadLetter } from "./dead-letters.ts";

interface Parked {
  letter: DeadLetter;
  attempts: number;
  nextAttemptAt: number;
}

export class ParkedDeadLetters {
  readonly #parked = new Map<string, Parked>();

  constructor(private readonly backoff: BackoffOptions) {}

  /** Parks these letters (again): the next attempt after a backoff that grows each time. */
  park(letters: readonly DeadLetter[], now: number): void {
    for (const letter of letters) {
      const attempts = (this.#parked.get(letter.originalId)?.attempts ?? 0) + 1;
      const nextAttemptAt = now + backoffDelay(attempts, this.backoff);
      this.#parked.set(letter.originalId, { letter, attempts, nextAttemptAt });
    }
  }

  /** The letters whose next attempt is due. */
  due(now: number): DeadLetter[] {
    return [...this.#parked.values()].filter((p) => p.nextAttemptAt <= now).map((p) => p.letter);
  }

  /** Written at last (or no longer pending): forget them. */
  remove(letters: readonly DeadLetter[]): void {
    for (const letter of letters) this.#parked.delete(letter.originalId);
  }

  has(id: string): boolean {
    return this.#parked.has(id);
  }

  ids(): IterableIterator<string> {
    return this.#parked.keys();
  }

  nextAttemptAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const parked of this.#parked.values()) next = Math.min(next, parked.nextAttemptAt);
    return next;
  }

  get size(): number {
    return this.#parked.size;
  }
}
