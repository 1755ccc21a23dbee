/**
 * The in-process parts of the metrics: event counters (tallied without allocating, handed to
 * prom-client at scrape time), the build-info labels and the status page's throughput ring.
 */
import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import type { DecodeResult } from "../../src/contract/decode.ts";
import type { EntryResult } from "../../src/dispatch/dispatcher.ts";
import type { Outcome } from "../../src/dispatch/outcome.ts";
import { EventMetrics } from "../../src/observe/event-metrics.ts";
import { buildInfoLabels } from "../../src/observe/runtime-metrics.ts";
import { SLOT_MS, SLOTS, ThroughputHistory } from "../../src/observe/throughput-history.ts";
import type { DeadLetter } from "../../src/stream/dead-letters.ts";

function result(eventType: string | undefined, outcome: Outcome, subscriber?: string): EntryResult {
  const decoded = (
    eventType === undefined
      ? { ok: false, reason: "invalid_json", detail: "x" }
      : { ok: true, event: { event_type: eventType } }
  ) as DecodeResult;
  return {
    entry: { id: `${Date.now()}-0`, fields: [], decoded },
    outcomes: [subscriber === undefined ? { outcome } : { subscriber, outcome }],
    disposition: { kind: "ack" },
  } as EntryResult;
}

async function lines(registry: Registry, prefix: string): Promise<string[]> {
  return (await registry.metrics())
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .sort();
}

describe("EventMetrics", () => {
  test("counts by label set, and a second scrape adds only what came since", async () => {
    const registry = new Registry();
    const metrics = new EventMetrics(registry);
    metrics.batchSettled(
      [result("paycore.payment_succeeded", "applied", "s"), result(undefined, "invalid")],
      0.01,
    );
    metrics.batchSettled([result("paycore.payment_succeeded", "applied", "s")], 0.01);
    expect(await lines(registry, "coursepay_event_outcomes_total")).toEqual([
      'coursepay_event_outcomes_total{event_type="paycore.payment_succeeded",subscriber="s",outcome="applied"} 2',
      'coursepay_event_outcomes_total{event_type="unknown",subscriber="none",outcome="invalid"} 1',
    ]);
    metrics.batchSettled([result("paycore.payment_succeeded", "duplicate", "s")], 0.01);
    expect(await lines(registry, "coursepay_events_received_total")).toEqual([
      'coursepay_events_received_total{event_type="paycore.payment_succeeded"} 3',
      'coursepay_events_received_total{event_type="unknown"} 1',
    ]);
    expect(await lines(registry, "coursepay_event_outcomes_total")).toEqual([
      'coursepay_event_outcomes_total{event_type="paycore.payment_succeeded",subscriber="s",outcome="applied"} 2',
      'coursepay_event_outcomes_total{event_type="paycore.payment_succeeded",subscriber="s",outcome="duplicate"} 1',
      'coursepay_event_outcomes_total{event_type="unknown",subscriber="none",outcome="invalid"} 1',
    ]);
  });

  test("past 50 event types, new ones count as other", async () => {
    const registry = new Registry();
    const metrics = new EventMetrics(registry);
    const many = Array.from({ length: 80 }, (_, i) => result(`type.${i}`, "ignored"));
    metrics.batchSettled(many, 0.01);
    const received = await lines(registry, "coursepay_events_received_total");
    expect(received).toHaveLength(51);
    expect(received).toContain('coursepay_events_received_total{event_type="other"} 30');
  });

  test("dead letters written are counted by reason, for /metrics and the status page", async () => {
    const registry = new Registry();
    const metrics = new EventMetrics(registry);
    const letter = (reason: DeadLetter["reason"]) => ({ reason }) as DeadLetter;
    metrics.deadLettersWritten([letter("invalid_json"), letter("conflict"), letter("conflict")]);
    expect(metrics.deadLettersByReason()).toEqual({ invalid_json: 1, conflict: 2 });
    expect(await lines(registry, "coursepay_dead_letters_written_total")).toEqual([
      'coursepay_dead_letters_written_total{reason="conflict"} 2',
      'coursepay_dead_letters_written_total{reason="invalid_json"} 1',
    ]);
    metrics.deadLettersWritten([letter("conflict")]);
    expect(metrics.deadLettersByReason()).toEqual({ invalid_json: 1, conflict: 3 });
    expect(
      await lines(registry, 'coursepay_dead_letters_written_total{reason="conflict"}'),
    ).toEqual(['coursepay_dead_letters_written_total{reason="conflict"} 3']);
  });

  test("tallying a batch allocates nothing per event once its label sets exist", () => {
    const metrics = new EventMetrics(new Registry());
    const batch = Array.from({ length: 1000 }, (_, i) =>
      result("paycore.payment_succeeded", i % 2 === 0 ? "applied" : "duplicate", "s"),
    );
    metrics.batchSettled(batch, 0.01);
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200; i++) metrics.batchSettled(batch, 0.01);
    const perEvent = (process.memoryUsage().heapUsed - before) / (200 * batch.length);
    // prom-client's histogram observe allocates a little (its labels object); counters nothing.
    expect(perEvent).toBeLessThan(200);
  });
});

describe("buildInfoLabels", () => {
  test("the version without its commit suffix, the commit, unknown without one", () => {
    expect(buildInfoLabels({ version: "0.1.0+abc1234", commit: "abc1234", bun: "1.4.5" })).toEqual({
      version: "0.1.0",
      commit: "abc1234",
      bun: "1.4.5",
    });
    expect(buildInfoLabels({ version: "0.1.0", commit: undefined, bun: "1.4.5" })).toEqual({
      version: "0.1.0",
      commit: "unknown",
      bun: "1.4.5",
    });
  });
});

describe("ThroughputHistory", () => {
  test("counts outcomes per 10 s slot over the last 15 minutes; older slots are reused empty", () => {
    let now = 1_000 * SLOT_MS + 5;
    const history = new ThroughputHistory(() => now);
    history.batchSettled([result("t", "applied", "s"), result("t", "applied", "s")]);
    history.batchSettled([result(undefined, "invalid")]);
    now += SLOT_MS;
    history.batchSettled([result("t", "duplicate", "s")]);
    let slots = history.slots();
    expect(slots).toHaveLength(SLOTS);
    expect(slots.at(-1)?.start).toBe(1_001 * SLOT_MS);
    expect(slots.at(-1)?.counts.duplicate).toBe(1);
    expect(slots.at(-2)?.counts).toMatchObject({ applied: 2, invalid: 1, duplicate: 0 });
    // 15 minutes on, the first slot's place in the ring holds a new slot, cleared first.
    now = 1_000 * SLOT_MS + SLOTS * SLOT_MS;
    history.batchSettled([result("t", "conflict", "s")]);
    slots = history.slots();
    expect(slots.at(-1)?.counts).toMatchObject({ applied: 0, invalid: 0, conflict: 1 });
    expect(slots.reduce((sum, slot) => sum + slot.counts.applied, 0)).toBe(0);
    expect(slots.reduce((sum, slot) => sum + slot.counts.duplicate, 0)).toBe(1);
  });
});
