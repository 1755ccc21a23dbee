import type { StreamEntry } from "./stream-reader.ts";

/**
 * The next batch of new entries, read while the current one is processed. Redis delivers its
 * entries (pending, this consumer's) at once, so from then on they are in hand: the lease keeps
 * them fresh (`heldIds`) and the consumer takes them before any other read, or on stop.
 */
export class ReadAhead {
  #pending: Promise<StreamEntry[]> | undefined;
  /** The entries once they have arrived and until they are taken. */
  #arrived: StreamEntry[] | undefined;

  get started(): boolean {
    return this.#pending !== undefined;
  }

  /** Starts `read` unless one is already under way. */
  start(read: () => Promise<StreamEntry[]>): void {
    if (this.#pending !== undefined) return;
    const pending = read();
    pending.then(
      (entries) => {
        if (this.#pending === pending) this.#arrived = entries;
      },
      () => {}, // reported to whoever takes it
    );
    this.#pending = pending;
  }

  /** Its entries (waiting for them if needed), or undefined when none was started. */
  async take(): Promise<StreamEntry[] | undefined> {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    this.#pending = undefined;
    try {
      return await pending;
    } finally {
      this.#arrived = undefined;
    }
  }

  heldIds(): string[] {
    return (this.#arrived ?? []).map((entry) => entry.id);
  }
}
