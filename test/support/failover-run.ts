/**
 * Failover runs: `dist/coursepay serve` against a Sentinel or cluster topology under a steady
 * load published with WAIT 1 per chunk, a fault mid-stream, and the exact end state read from
 * the master that is left: every payment whose WAIT was answered survives and is applied once,
 * every payment the new master holds is applied once, nothing is pending there, and its
 * dead-letter stream holds one letter per bad entry it holds. Also the time the worker took to
 * resume: from the fault to its first commit of an entry published on the new master.
 */
import { expect } from "bun:test";
import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import type { Fault } from "./sentinel-topology.ts";
import type { LoadOptions } from "./steady-load.ts";
import { StreamRun } from "./stream-run.ts";
import { pairs } from "./topology-process.ts";

export interface Topology {
  /** The worker's Redis settings (REDIS_SENTINELS… or REDIS_CLUSTER_NODES). */
  env(): Record<string, string>;
  /** A client that follows failovers; the topology closes it when it stops. */
  client(): Redis | Cluster;
}

export type TopologyKind = "sentinel" | "cluster";

/** The steady load of every failover scenario: ~3,000 events at ~300/s, WAIT 1 per chunk. */
export const FAILOVER_LOAD: LoadOptions = {
  total: 3_000,
  perSecond: 300,
  duplicateEvery: 20,
  badEvery: 250,
  waitReplicas: 1,
  waitTimeoutMs: 250,
  resendAfterMs: 100,
  resendForMs: 20_000,
};
/** The fault comes once this many events are published: mid-stream. */
export const FAULT_AFTER_EVENTS = 1_200;
/** How long the worker may take to resume after a fault. */
export const RESUME_BOUND_MS = 15_000;

export interface FailoverSummary {
  published: number;
  unique: number;
  replays: number;
  bad: number;
  confirmed: number;
  /** Unique payments the new master holds. */
  survived: number;
  /** Unique payments published but not on the new master (none of them confirmed). */
  lost: number;
  applied: number;
  deadLetters: number;
  resends: number;
  /** From the fault to the test seeing the new master, ms. */
  promotionMs: number;
  /** From the fault to the first entry published on the new master, ms. */
  producerBackMs: number;
  /** From the fault to the worker's first commit of an entry published on the new master, ms. */
  resumeMs: number;
}

interface StreamEntry {
  id: string;
  ms: number;
  /** Undefined for a bad entry (not JSON). */
  traceId?: string;
}

export class FailoverRun extends StreamRun {
  constructor(
    readonly topology: Topology,
    readonly kind: TopologyKind,
  ) {
    super(topology.client(), {
      streamPrefix: `failover-${kind}`,
      // In a cluster the dead-letter stream shares the stream's slot through a hash tag.
      deadLetterStream: (stream) => (kind === "cluster" ? `{${stream}}.dlq` : `${stream}.dlq`),
    });
  }

  protected redisEnv(): Record<string, string> {
    return this.topology.env();
  }

  protected async closeConnections(): Promise<void> {
    // The topology's client: stop() disconnects it.
  }

  /**
   * For a failure message: the group on the master now, and each worker's log lines that are
   * not about one event (connections, retries, failovers), the last 40.
   */
  async diagnosis(): Promise<string> {
    let group = "";
    try {
      const groups = ((await this.redis.xinfo("GROUPS", this.stream)) as unknown[]).map(pairs);
      const [last] = (await this.redis.xrevrange(this.stream, "+", "-", "COUNT", 1)) as unknown as [
        string,
      ][];
      group = `group on the master: ${JSON.stringify(groups.find((g) => g.name === this.group))}, last entry ${last?.[0]}`;
    } catch (error) {
      group = `group on the master: unreadable (${String(error)})`;
    }
    const notable = this.workers.map((worker, i) => {
      const lines = worker
        .output()
        .split("\n")
        .filter((line) => line !== "" && !/\[CoursePayment\]|already processed/.test(line));
      return `--- worker ${i} (pid ${worker.pid}, exit ${worker.proc.exitCode})\n${lines.slice(-40).join("\n")}`;
    });
    return [group, ...notable].join("\n");
  }

  async waitPublished(events: number, timeoutMs = 20_000): Promise<void> {
    await this.waitFor(`${events} events to be published`, () => this.load.published >= events, {
      timeoutMs,
    });
  }

  /** Every entry of the stream on the master now. */
  async entries(): Promise<StreamEntry[]> {
    const raw = (await this.redis.xrange(this.stream, "-", "+")) as [string, string[]][];
    return raw.map(([id, fields]) => {
      let traceId: string | undefined;
      try {
        traceId = (JSON.parse(fields[1] ?? "") as { trace_id?: string }).trace_id;
      } catch {
        traceId = undefined; // `{broken`: a bad event
      }
      return { id, ms: Number(id.split("-")[0]), traceId };
    });
  }

  /** The load published, then nothing pending or unread in the group, every payment applied. */
  async waitSettled(timeoutMs = 30_000): Promise<void> {
    await this.load.done;
    await this.waitFor(
      "the new master's stream to be settled: nothing pending or unread, every payment applied",
      async () => {
        const group = (await this.redis.xinfo("GROUPS", this.stream)) as unknown[];
        const ours = group.map(pairs).find((g) => g.name === this.group);
        const [last] = (await this.redis.xrevrange(
          this.stream,
          "+",
          "-",
          "COUNT",
          1,
        )) as unknown as [string][];
        if (!ours || Number(ours.pending) !== 0 || ours["last-delivered-id"] !== last?.[0]) {
          return false;
        }
        const wanted = new Set((await this.entries()).flatMap((e) => e.traceId ?? []));
        return this.processedOf([...wanted]) === wanted.size;
      },
      { timeoutMs },
    );
  }

  /** The exact end state after a fault (see the file's comment); returns what it counted. */
  async expectExactCountsAfterFailover(
    fault: Fault,
    promotedAtEpochMs: number,
  ): Promise<FailoverSummary> {
    await this.waitSettled();
    const entries = await this.entries();
    const published = new Set(this.load.traceIds);
    const survived = new Set(entries.flatMap((entry) => entry.traceId ?? []));
    const rows =
      this.query<{ trace_id: string; stream_entry_id: string; processed_at: number }>(
        "SELECT trace_id, stream_entry_id, processed_at FROM processed_events",
      ) ?? [];
    const applied = new Set(rows.map((row) => row.trace_id));

    // Nothing confirmed by WAIT is lost; whatever the new master holds is applied; nothing is
    // applied that was not published; each applied payment is one row and one enrollment.
    expect(this.load.confirmed.filter((id) => !survived.has(id))).toEqual([]);
    expect([...survived].filter((id) => !applied.has(id))).toEqual([]);
    expect([...applied].filter((id) => !published.has(id))).toEqual([]);
    expect(rows.length).toBe(applied.size);
    expect(this.count("SELECT count(*) FROM course_enrollments")).toBe(applied.size);
    expect(this.count("SELECT count(DISTINCT trace_id) FROM course_enrollments")).toBe(
      applied.size,
    );
    const [pending] = (await this.redis.xpending(this.stream, this.group)) as [number];
    expect(pending).toBe(0);

    // One dead letter per bad entry the new master holds, none twice.
    const badIds = entries.filter((entry) => entry.traceId === undefined).map((e) => e.id);
    const letters = await this.deadLetters();
    const originals = letters.map((letter) => letter.original_id);
    expect(new Set(originals).size).toBe(originals.length);
    expect(new Set(originals)).toEqual(new Set(badIds));

    // Resumed: the first commit of an entry published on the new master (after its promotion).
    const newIds = new Set(entries.filter((e) => e.ms >= promotedAtEpochMs).map((e) => e.id));
    const firstNew = entries.find((entry) => newIds.has(entry.id));
    const resumedAt = Math.min(
      ...rows.filter((row) => newIds.has(row.stream_entry_id)).map((row) => row.processed_at),
    );
    expect(firstNew).toBeDefined();
    expect(Number.isFinite(resumedAt)).toBe(true);
    return {
      published: this.load.published,
      unique: published.size,
      replays: this.load.duplicates,
      bad: badIds.length,
      confirmed: this.load.confirmed.length,
      survived: survived.size,
      lost: [...published].filter((id) => !survived.has(id)).length,
      applied: applied.size,
      deadLetters: letters.length,
      resends: this.load.resends,
      promotionMs: promotedAtEpochMs - fault.atEpochMs,
      producerBackMs: (firstNew?.ms ?? Number.NaN) - fault.atEpochMs,
      resumeMs: resumedAt - fault.atEpochMs,
    };
  }
}

export interface FailoverScenario {
  label: string;
  topology: Topology;
  kind: TopologyKind;
  /** Triggers the fault (on the master of the run's stream); resolves at once. */
  fault(run: FailoverRun): Promise<Fault>;
  /** Waits until the topology has promoted a new master after `fault`. */
  promoted(run: FailoverRun, fault: Fault): Promise<unknown>;
}

/**
 * One scenario end to end: worker, steady load, the fault mid-stream, the exact counts, the
 * time to resume printed and bounded, the worker stopped cleanly (exit 0).
 */
export async function runFailoverScenario(scenario: FailoverScenario): Promise<FailoverSummary> {
  const run = new FailoverRun(scenario.topology, scenario.kind);
  try {
    await run.startWorker();
    run.load.start(FAILOVER_LOAD);
    await run.waitPublished(FAULT_AFTER_EVENTS);
    const fault = await scenario.fault(run);
    await scenario.promoted(run, fault);
    const summary = await run.expectExactCountsAfterFailover(fault, Date.now());
    console.log(describeSummary(scenario.label, summary));
    expect(summary.resumeMs).toBeLessThan(RESUME_BOUND_MS);
    return summary;
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await run.diagnosis()}`, { cause: error });
  } finally {
    await run.close();
  }
}

export function describeSummary(label: string, s: FailoverSummary): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return (
    `failover: ${label} → worker resumed in ${seconds(s.resumeMs)} (new master seen at ` +
    `${seconds(s.promotionMs)}, producer back at ${seconds(s.producerBackMs)}); published ` +
    `${s.published} (unique ${s.unique}, replays ${s.replays}), confirmed by WAIT ${s.confirmed}, ` +
    `on the new master ${s.survived}, lost ${s.lost} (none confirmed), applied ${s.applied}, ` +
    `bad ${s.bad} = dead letters ${s.deadLetters}, chunks resent ${s.resends}`
  );
}
