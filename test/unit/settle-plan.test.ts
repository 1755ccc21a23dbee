import { describe, expect, test } from "bun:test";
import type { DecodeResult } from "../../src/contract/decode.ts";
import type { Disposition, EntryResult } from "../../src/dispatch/dispatcher.ts";
import { planSettlement, type SettleRules } from "../../src/stream/settle-plan.ts";
import type { StreamEntry } from "../../src/stream/stream-reader.ts";

const decoded: DecodeResult = { ok: false, reason: "invalid_json", detail: "not JSON" };

function entry(id: string, deliveries = 1): StreamEntry {
  return { id, fields: ["data", "{x"], deliveries };
}

function result(id: string, disposition: Disposition): EntryResult {
  return { entry: { id, fields: ["data", "{x"], decoded }, outcomes: [], disposition };
}

function rules(overrides: Partial<SettleRules> = {}): SettleRules {
  return {
    maxDeliveries: 3,
    backoff: { baseMs: 100, maxMs: 1000 },
    now: 1_000_000,
    retriesDone: () => 0,
    random: () => 0.5,
    ...overrides,
  };
}

function plan(entries: StreamEntry[], results: EntryResult[], deleted: string[] = [], r = rules()) {
  return planSettlement(results, new Map(entries.map((e) => [e.id, e])), deleted, r);
}

const retry: Disposition = { kind: "retry", subscriber: "s", error: new Error("flaky") };

describe("planSettlement", () => {
  test("durable outcomes and deleted entries are ACKed as they are", () => {
    const p = plan([entry("1-0"), entry("2-0")], [result("1-0", { kind: "ack" })], ["2-0"]);
    expect(p).toEqual({ ackIds: ["2-0", "1-0"], deadLetters: [], retries: [] });
  });

  test("a rejected entry becomes a dead letter, not a plain ACK", () => {
    const p = plan(
      [entry("1-0")],
      [result("1-0", { kind: "dead_letter", reason: "invalid_json", detail: "not JSON" })],
    );
    expect(p.ackIds).toEqual([]);
    expect(p.deadLetters).toMatchObject([
      { originalId: "1-0", reason: "invalid_json", attempts: 1 },
    ]);
  });

  test("a transient failure is retried in place with backoff while attempts remain", () => {
    const p = plan([entry("1-0", 1)], [result("1-0", retry)]);
    expect(p.retries).toEqual([
      { entry: entry("1-0", 1), retries: 1, nextAttemptAt: 1_000_000 + 75 },
    ]);
    expect(p.ackIds).toEqual([]);
    expect(p.deadLetters).toEqual([]);
  });

  test("attempts are deliveries plus in-place retries; at MAX_DELIVERIES it is dead-lettered", () => {
    const p = plan([entry("1-0", 2)], [result("1-0", retry)], [], rules({ retriesDone: () => 1 }));
    expect(p.retries).toEqual([]);
    expect(p.deadLetters).toMatchObject([
      { originalId: "1-0", reason: "max_deliveries", attempts: 3, subscriber: "s" },
    ]);
    expect(p.deadLetters[0]?.detail).toContain("flaky");
  });

  test("an oversized entry's dead letter keeps its size and hash, not its fields", () => {
    const big: StreamEntry = {
      id: "1-0",
      fields: ["data", '{"pre'],
      deliveries: 1,
      oversized: { bytes: 900_000, prefix: ["data", '{"pre'] },
    };
    const p = plan(
      [big],
      [
        result("1-0", {
          kind: "dead_letter",
          reason: "too_large",
          detail: "entry is 900000 bytes",
        }),
      ],
    );
    expect(p.deadLetters[0]?.oversized).toEqual({ bytes: 900_000, prefix: ["data", '{"pre'] });
  });

  test("an entry missing from the batch is a bug, not a silent ACK", () => {
    expect(() => plan([], [result("9-9", { kind: "ack" })])).toThrow("not in the batch");
  });
});
