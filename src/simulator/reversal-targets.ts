/**
 * Which payment each reversal of a load mix takes back: half of them one still to come (the
 * reversal is published first, the payment later), the others one already published and not
 * reversed yet. Each payment is reversed at most once. Pure bookkeeping, no I/O.
 */

/** A payment of the mix, by its number (its trace_id is `<prefix>_<number>`). */
export interface PlannedPayment {
  readonly number: number;
  /** Index of its (tenant, user, course) among tenants × users × courses. */
  readonly keyIndex: number;
}

export class ReversalTargets {
  /** keyIndex of each published payment, by number; NaN once reversed. */
  #published = new Float64Array(1024).fill(Number.NaN);
  #count = 0;
  /** Every payment numbered below this one is reversed. */
  #scanFrom = 0;
  /** Payments generated early, reversed already, waiting for a valid slot to be published. */
  readonly #waiting: PlannedPayment[] = [];

  constructor(
    private readonly random: () => number,
    private readonly window: number,
  ) {}

  /** The payment to publish at a valid slot: a waiting one first, else `fresh()`. */
  nextPayment(fresh: () => PlannedPayment): { payment: PlannedPayment; reversed: boolean } {
    const waiting = this.#waiting.shift();
    const payment = waiting ?? fresh();
    this.#record(payment, waiting !== undefined);
    return { payment, reversed: waiting !== undefined };
  }

  /**
   * The payment a reversal takes back. `beforeWanted`: publish it before its payment, which is
   * then made now (`fresh()`) and published at one of the `validSlotsAhead` valid slots.
   */
  target(
    beforeWanted: boolean,
    validSlotsAhead: number,
    fresh: () => PlannedPayment,
  ): { payment: PlannedPayment; beforePayment: boolean } {
    const canWait = validSlotsAhead > this.#waiting.length;
    const published = beforeWanted && canWait ? undefined : this.#unreversed();
    if (published !== undefined) return { payment: published, beforePayment: false };
    if (!canWait) throw new Error("unreachable: a reversal with no payment left to reverse");
    const payment = fresh();
    this.#waiting.push(payment);
    return { payment, beforePayment: true };
  }

  #record(payment: PlannedPayment, reversed: boolean): void {
    if (payment.number >= this.#published.length) {
      let size = this.#published.length;
      while (size <= payment.number) size *= 2;
      const grown = new Float64Array(size).fill(Number.NaN);
      grown.set(this.#published);
      this.#published = grown;
    }
    this.#published[payment.number] = reversed ? Number.NaN : payment.keyIndex;
    this.#count = Math.max(this.#count, payment.number + 1);
  }

  /** A published, unreversed payment among the latest `window`, else the oldest one; marks it. */
  #unreversed(): PlannedPayment | undefined {
    const take = (number: number): PlannedPayment => {
      const keyIndex = this.#published[number] as number;
      this.#published[number] = Number.NaN;
      return { number, keyIndex };
    };
    const low = Math.max(0, this.#count - this.window);
    for (let attempt = 0; attempt < 8 && this.#count > low; attempt++) {
      const number = low + Math.floor(this.random() * (this.#count - low));
      if (!Number.isNaN(this.#published[number] as number)) return take(number);
    }
    while (
      this.#scanFrom < this.#count &&
      Number.isNaN(this.#published[this.#scanFrom] as number)
    ) {
      this.#scanFrom++;
    }
    return this.#scanFrom < this.#count ? take(this.#scanFrom) : undefined;
  }
}
