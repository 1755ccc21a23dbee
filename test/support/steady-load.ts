/**
 * A steady load of payments published straight to Redis (a plain, Sentinel or cluster client)
 * in small pipelines: mostly new ones (each its own user, so one enrollment each), some replays
 * and some that are not JSON. Knows what the end state must be.
 */

import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { uniqueName } from "./fixtures.ts";
import { paymentEnvelope } from "./worker-harness.ts";

export interface LoadOptions {
  total: number;
  perSecond: number;
  /** Every n-th event is a replay of an earlier payment (same trace_id, same payload). */
  duplicateEvery?: number;
  /** Every n-th event is not JSON (`data` = `{broken`): one invalid_json dead letter each. */
  badEvery?: number;
  /**
   * WAIT n after each chunk, in the same pipeline (so on the same connection, to the stream's
   * master): the payments of a chunk whose WAIT answers n or more are `confirmed`.
   */
  waitReplicas?: number;
  /** How long that WAIT waits for the replicas, ms (default 250). */
  waitTimeoutMs?: number;
  /**
   * A chunk whose pipeline fails (a failover under way) is sent again after this many ms, as a
   * producer that retries would, for at most resendForMs in all. Default: the load fails.
   */
  resendAfterMs?: number;
  resendForMs?: number;
}

type Client = Redis | Cluster;
type Pipeline = ReturnType<Client["pipeline"]>;

export class SteadyLoad {
  /** Every unique payment's trace_id, in publishing order. */
  readonly traceIds: string[] = [];
  /** Entry ids of the bad events (and whatever else was meant to be dead-lettered). */
  readonly badIds: string[] = [];
  /** Trace_ids of the payments whose chunk's WAIT reached `waitReplicas`. */
  readonly confirmed: string[] = [];
  duplicates = 0;
  /** Events handed to Redis so far (chunks whose pipeline answered). */
  published = 0;
  /** Chunks sent again after their pipeline failed. */
  resends = 0;
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly redis: Client,
    readonly stream: string,
    readonly prefix = uniqueName("pay").replaceAll("-", "_"),
  ) {}

  get unique(): number {
    return this.traceIds.length;
  }

  /** Dead letters the run must end with. */
  get bad(): number {
    return this.badIds.length;
  }

  /** Resolves when the steady load has been published entirely. */
  get done(): Promise<void> {
    return this.#done;
  }

  start(options: LoadOptions): this {
    this.#done = this.#run(options);
    this.#done.catch(() => {});
    return this;
  }

  /** `count` new payments at once, in one pipeline: their trace_ids. */
  async burst(count: number): Promise<string[]> {
    const pipeline = this.redis.pipeline();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(`${this.prefix}_${this.traceIds.length}`);
      pipeline.xadd(this.stream, "*", ...this.#newPayment());
    }
    await exec(pipeline);
    return ids;
  }

  /** One new payment now: its trace_id and how many unique payments were published before it. */
  async marker(): Promise<{ traceId: string; uniqueBefore: number }> {
    const uniqueBefore = this.unique;
    const [traceId] = await this.burst(1);
    return { traceId: traceId as string, uniqueBefore };
  }

  /** Publishes fields that must end as one dead letter; returns the entry id. */
  async publishBad(fields: string[] = ["data", "{broken"]): Promise<string> {
    const id = (await this.redis.xadd(this.stream, "*", ...fields)) as string;
    this.badIds.push(id);
    return id;
  }

  /** A new payment's fields; its trace_id is recorded as published. */
  #newPayment(): string[] {
    const n = this.traceIds.length;
    this.traceIds.push(`${this.prefix}_${n}`);
    return this.#fields(n);
  }

  #fields(n: number): string[] {
    return encodeDataForm(
      paymentEnvelope({
        trace_id: `${this.prefix}_${n}`,
        user_id: `${this.prefix}_u${n}`,
        course_id: `course_${n % 7}`,
      }),
    );
  }

  async #run(options: LoadOptions): Promise<void> {
    const { total, perSecond, duplicateEvery = 50, badEvery = 500 } = options;
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) * perSecond) / 1000));
      if (due > sent) {
        const chunk: string[][] = [];
        const badAt: number[] = [];
        const firstNew = this.traceIds.length;
        for (; sent < due && chunk.length < 200; sent++) {
          const k = sent + 1;
          if (k % badEvery === 0) {
            badAt.push(chunk.length);
            chunk.push(["data", "{broken"]);
          } else if (k % duplicateEvery === 0 && this.unique > 0) {
            this.duplicates++;
            chunk.push(this.#fields(Math.floor(this.unique / 2)));
          } else {
            chunk.push(this.#newPayment());
          }
        }
        const { replies, replicas } = await this.#send(chunk, options);
        this.published += chunk.length;
        for (const i of badAt) this.badIds.push(String(replies[i]));
        if (options.waitReplicas !== undefined && replicas >= options.waitReplicas) {
          this.confirmed.push(...this.traceIds.slice(firstNew));
        }
      }
      await Bun.sleep(5);
    }
  }

  /** One chunk in one pipeline (and its WAIT), sent again on failure when the options say so. */
  async #send(
    chunk: readonly string[][],
    options: LoadOptions,
  ): Promise<{ replies: unknown[]; replicas: number }> {
    const giveUpAt = performance.now() + (options.resendForMs ?? 30_000);
    for (;;) {
      const pipeline = this.redis.pipeline();
      for (const fields of chunk) pipeline.xadd(this.stream, "*", ...fields);
      if (options.waitReplicas !== undefined) {
        pipeline.wait(options.waitReplicas, options.waitTimeoutMs ?? 250);
      }
      try {
        const replies = await exec(pipeline);
        const replicas = options.waitReplicas === undefined ? 0 : Number(replies[chunk.length]);
        return { replies, replicas };
      } catch (error) {
        if (options.resendAfterMs === undefined || performance.now() > giveUpAt) throw error;
        this.resends++;
        await Bun.sleep(options.resendAfterMs);
        await this.#refreshSlots();
      }
    }
  }

  /**
   * A cluster client retries a pipeline on MOVED only when every command got the same error;
   * here WAIT on a demoted master fails otherwise, so the slot map is refreshed by hand.
   */
  async #refreshSlots(): Promise<void> {
    const redis = this.redis;
    if (!("refreshSlotsCache" in redis)) return;
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
  }
}

async function exec(pipeline: Pipeline): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failure = replies.find(([error]) => error !== null)?.[0];
  if (failure) throw failure;
  return replies.map(([, reply]) => reply);
}
