/**
 * Outcomes per time slot over the last 15 minutes, in a fixed ring of slots (90 of 10 s): what
 * the status page draws for deployments that run no Prometheus. Counting is an array increment;
 * nothing grows with traffic.
 */
import type { EntryResult } from "../dispatch/dispatcher.ts";
import { OUTCOMES, type Outcome } from "../dispatch/outcome.ts";

export const SLOT_MS = 10_000;
export const SLOTS = 90;

const OUTCOME_INDEX = Object.fromEntries(OUTCOMES.map((outcome, i) => [outcome, i])) as Record<
  Outcome,
  number
>;

export interface ThroughputSlot {
  /** Start of the slot, milliseconds since the epoch. */
  start: number;
  counts: Record<Outcome, number>;
}

export class ThroughputHistory {
  /** SLOTS × OUTCOMES counts; slot i holds the slot whose number ≡ i (mod SLOTS). */
  readonly #counts = new Float64Array(SLOTS * OUTCOMES.length);
  /** The slot number (time / SLOT_MS) each ring position last held; -1 when never used. */
  readonly #slotOf = new Float64Array(SLOTS).fill(-1);

  constructor(private readonly clock: () => number = Date.now) {}

  batchSettled(results: readonly EntryResult[]): void {
    if (results.length === 0) return;
    const base = this.#position(Math.floor(this.clock() / SLOT_MS)) * OUTCOMES.length;
    for (const { outcomes } of results) {
      for (const { outcome } of outcomes) {
        const i = base + OUTCOME_INDEX[outcome];
        this.#counts[i] = (this.#counts[i] ?? 0) + 1;
      }
    }
  }

  /** The last SLOTS slots, oldest first, the current one last; empty slots have zero counts. */
  slots(): ThroughputSlot[] {
    const current = Math.floor(this.clock() / SLOT_MS);
    const slots: ThroughputSlot[] = [];
    for (let slot = current - SLOTS + 1; slot <= current; slot++) {
      const position = slot % SLOTS;
      const used = this.#slotOf[position] === slot;
      const counts = Object.fromEntries(
        OUTCOMES.map((outcome, i) => [
          outcome,
          used ? (this.#counts[position * OUTCOMES.length + i] ?? 0) : 0,
        ]),
      ) as Record<Outcome, number>;
      slots.push({ start: slot * SLOT_MS, counts });
    }
    return slots;
  }

  /** The ring position of `slot`, cleared first when it last held an older slot. */
  #position(slot: number): number {
    const position = slot % SLOTS;
    if (this.#slotOf[position] !== slot) {
      this.#counts.fill(0, position * OUTCOMES.length, (position + 1) * OUTCOMES.length);
      this.#slotOf[position] = slot;
    }
    return position;
  }
}
