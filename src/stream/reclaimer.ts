/**
 * Takes over entries that other consumers (dead workers) left pending for CLAIM_IDLE_MS: one
 * XAUTOCLAIM page at a time, a full pass every CLAIM_IDLE_MS/2. A lost reply leaves what it
 * claimed in this consumer's pending list, where the consumer's re-read finds it.
 */
import type { Logger } from "../observe/logger.ts";
import type { StreamEntry, StreamReader } from "./stream-reader.ts";

export interface ReclaimerOptions {
  claimIdleMs: number;
  batchSize: number;
}

export class Reclaimer {
  reclaimed = 0;
  deleted = 0;
  #cursor = "0-0";
  #nextPassAt = 0;

  constructor(
    private readonly reader: Pick<StreamReader, "autoClaim">,
    private readonly logger: Logger,
    private readonly options: ReclaimerOptions,
    private readonly clock: () => number = Date.now,
  ) {}

  /** When the next page is due (now, while a pass is under way). */
  get nextAt(): number {
    return this.#cursor === "0-0" ? this.#nextPassAt : 0;
  }

  isDue(): boolean {
    return this.clock() >= this.nextAt;
  }

  /** The next page of reclaimed entries (often none); throws what Redis threw. */
  async claimPage(): Promise<StreamEntry[]> {
    const { claimIdleMs, batchSize } = this.options;
    const result = await this.reader.autoClaim(claimIdleMs, this.#cursor, batchSize);
    this.#cursor = result.cursor;
    if (result.cursor === "0-0") this.#nextPassAt = this.clock() + claimIdleMs / 2;
    if (result.deletedIds.length > 0) {
      this.deleted += result.deletedIds.length;
      this.logger.warn(
        { entry_ids: result.deletedIds },
        "Entries left pending by another consumer were deleted from the stream before anyone processed them",
      );
    }
    if (result.entries.length > 0) {
      this.reclaimed += result.entries.length;
      this.logger.warn(
        { entries: result.entries.length, idle_ms: claimIdleMs },
        "Reclaimed entries another consumer left pending",
      );
    }
    return result.entries;
  }
}
