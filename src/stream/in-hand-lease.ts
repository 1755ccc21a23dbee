/**
 * Keeps the entries this worker holds (the batch in hand, entries waiting for a retry, dead
 * letters waiting to be written) fresh in Redis, so no other consumer reclaims them from a live
 * worker however long they take: every CLAIM_IDLE_MS/3 their idle time is reset (an XCLAIM that
 * only touches entries still ours, safe to run twice).
 */
export interface InHandLeaseOptions {
  /** Resets the idle time of these ids (StreamReader.touch). */
  touch(ids: readonly string[]): Promise<void>;
  /** CLAIM_IDLE_MS. */
  claimIdleMs: number;
  /** Ids held elsewhere (retries, parked dead letters), read at each beat. */
  alsoHeld(): Iterable<string>;
  onError(error: unknown): void;
}

export class InHandLease {
  readonly #batch = new Set<string>();
  readonly #options: InHandLeaseOptions;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: InHandLeaseOptions) {
    this.#options = options;
  }

  /** Every CLAIM_IDLE_MS/3, at least every 250 ms. */
  get intervalMs(): number {
    return Math.max(250, Math.floor(this.#options.claimIdleMs / 3));
  }

  start(): void {
    this.#timer ??= setInterval(() => this.beat(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  hold(ids: Iterable<string>): void {
    for (const id of ids) this.#batch.add(id);
  }

  releaseAll(): void {
    this.#batch.clear();
  }

  /** One refresh now (the timer calls it); failures are reported, never thrown. */
  beat(): void {
    const ids = [...this.#batch, ...this.#options.alsoHeld()];
    if (ids.length === 0) return;
    this.#options.touch(ids).catch((error: unknown) => this.#options.onError(error));
  }
}
