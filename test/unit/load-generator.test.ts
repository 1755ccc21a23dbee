import { describe, expect, test } from "bun:test";
import { decodeEntry } from "../../src/contract/decode.ts";
import { EnrollmentForecast } from "../../src/simulator/enrollment-forecast.ts";
import {
  generateLoad,
  type LoadEntry,
  LoadMixError,
  type LoadMixOptions,
  planLoad,
} from "../../src/simulator/load-generator.ts";

const FIXED_NOW = () => Date.parse("2026-11-26T08:00:00Z");

function mix(options: Partial<LoadMixOptions> = {}): LoadEntry[] {
  return [
    ...generateLoad({
      count: 1000,
      duplicates: 0.05,
      invalid: 0.01,
      seed: 42,
      now: FIXED_NOW,
      ...options,
    }),
  ];
}

function countKinds(entries: LoadEntry[]) {
  return {
    valid: entries.filter((e) => e.kind === "valid").length,
    duplicate: entries.filter((e) => e.kind === "duplicate").length,
    invalid: entries.filter((e) => e.kind === "invalid").length,
  };
}

function envelope(entry: LoadEntry): Record<string, unknown> {
  return JSON.parse(entry.fields[1] as string) as Record<string, unknown>;
}

describe("planLoad", () => {
  test("rounds each fraction and makes the rest valid", () => {
    expect(planLoad(1000, 0.05, 0.01)).toEqual({
      valid: 940,
      duplicates: 50,
      invalid: 10,
      reversals: 0,
    });
    expect(planLoad(200, 0.05, 0.01)).toEqual({
      valid: 188,
      duplicates: 10,
      invalid: 2,
      reversals: 0,
    });
    expect(planLoad(3, 0, 0)).toEqual({ valid: 3, duplicates: 0, invalid: 0, reversals: 0 });
    expect(planLoad(4, 0, 1)).toEqual({ valid: 0, duplicates: 0, invalid: 4, reversals: 0 });
    expect(planLoad(1000, 0.05, 0.01, 0.1)).toEqual({
      valid: 840,
      duplicates: 50,
      invalid: 10,
      reversals: 100,
    });
  });

  test("refuses fractions adding up past 1, and replays with nothing to replay", () => {
    expect(() => planLoad(10, 0.6, 0.5)).toThrow(LoadMixError);
    expect(() => planLoad(10, 1, 0)).toThrow("duplicates need at least one valid entry");
    expect(() => planLoad(10, -0.1, 0)).toThrow(LoadMixError);
    expect(() => planLoad(0, 0, 0)).toThrow(LoadMixError);
    expect(() => planLoad(10, 0, 0, 0.6)).toThrow("refunds need a payment each");
    expect(() => planLoad(10, 0.5, 0, 0.6)).toThrow("must not exceed 1");
  });
});

describe("generateLoad", () => {
  test("a seed gives exact counts of each kind", () => {
    const entries = mix();
    expect(entries).toHaveLength(1000);
    expect(countKinds(entries)).toEqual({ valid: 940, duplicate: 50, invalid: 10 });
    const invalidKinds = entries.flatMap((e) => (e.kind === "invalid" ? [e.invalid] : []));
    expect(invalidKinds.filter((k) => k === "missing_tenant_id")).toHaveLength(3);
    expect(invalidKinds.filter((k) => k === "bad_json")).toHaveLength(3);
    expect(invalidKinds.filter((k) => k === "whitespace_in_id")).toHaveLength(2);
    expect(invalidKinds.filter((k) => k === "missing_course_id")).toHaveLength(2);
  });

  test("the same seed gives the same entries; another seed other trace_ids and order", () => {
    expect(mix()).toEqual(mix());
    const other = mix({ seed: 43 });
    expect(other.map((e) => e.kind)).not.toEqual(mix().map((e) => e.kind));
    const traceIds = new Set(mix().flatMap((e) => (e.kind === "valid" ? [e.traceId] : [])));
    expect(other.some((e) => e.kind === "valid" && traceIds.has(e.traceId))).toBe(false);
  });

  test("valid entries decode as payments with new trace_ids, within the requested ranges", () => {
    const valid = mix({ tenants: 2, users: 3, courses: 4 }).filter((e) => e.kind === "valid");
    const seen = new Set<string>();
    for (const entry of valid) {
      const decoded = decodeEntry(entry.fields, { maxEventBytes: 65536 });
      if (!decoded.ok) throw new Error(`expected ${entry.traceId} to decode: ${decoded.detail}`);
      expect(decoded.event.trace_id).toBe(entry.traceId);
      expect(decoded.event.tenant_id).toMatch(/^tenant_[12]$/);
      expect(decoded.event.user_id).toMatch(/^user_[1-3]$/);
      expect(envelope(entry)).toMatchObject({
        event_type: "paycore.payment_succeeded",
        metadata: { course_id: expect.stringMatching(/^course_00[1-4]$/) },
        occurred_at: "2026-11-26T08:00:00.000Z",
        simulated: true,
      });
      seen.add(entry.traceId);
    }
    expect(seen.size).toBe(valid.length);
  });

  test("each duplicate repeats an earlier valid entry exactly", () => {
    const entries = mix({ duplicates: 0.3 });
    const earlier = new Map<string, string[]>();
    let duplicates = 0;
    for (const entry of entries) {
      if (entry.kind === "valid") earlier.set(entry.traceId, entry.fields);
      if (entry.kind === "duplicate") {
        duplicates++;
        expect(earlier.get(entry.traceId)).toEqual(entry.fields);
        expect(decodeEntry(entry.fields, { maxEventBytes: 65536 }).ok).toBe(true);
      }
    }
    expect(duplicates).toBe(300);
  });

  test("a mix of mostly duplicates still starts with a payment to replay", () => {
    for (let seed = 0; seed < 50; seed++) {
      const entries = mix({ count: 20, duplicates: 0.9, invalid: 0, seed });
      expect(entries.findIndex((e) => e.kind === "valid")).toBeLessThan(
        entries.findIndex((e) => e.kind === "duplicate"),
      );
    }
  });

  test("invalid entries are rejected by the decoder for the reason they were made", () => {
    const invalid = mix({ count: 8, duplicates: 0, invalid: 1 });
    const results = invalid.map((entry) => {
      if (entry.kind !== "invalid") throw new Error("expected only invalid entries");
      const decoded = decodeEntry(entry.fields, { maxEventBytes: 65536 });
      return [entry.invalid, decoded.ok ? "ok" : `${decoded.reason}: ${decoded.detail}`];
    });
    expect(results.slice(0, 4)).toEqual([
      ["missing_tenant_id", "invalid_event: tenant_id: required"],
      ["bad_json", expect.stringMatching(/^invalid_json: data: /)],
      [
        "whitespace_in_id",
        "invalid_event: user_id: must not contain whitespace or control characters",
      ],
      ["missing_course_id", "invalid_event: metadata.course_id: required"],
    ]);
    expect(results.slice(4).map(([kind]) => kind)).toEqual(results.slice(0, 4).map(([k]) => k));
  });

  test("with a signing secret every entry is signed, so invalid ones fail for their own reason", () => {
    const options = { maxEventBytes: 65536, signingSecrets: ["s3cret"] };
    const entries = mix({ count: 100, invalid: 0.1, signingSecret: "s3cret" });
    const outcomes = entries.map((entry) => {
      const decoded = decodeEntry(entry.fields, options);
      return decoded.ok ? "ok" : decoded.reason;
    });
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(90);
    expect(outcomes).not.toContain("unauthenticated");
    expect(entries.every((e) => e.fields[2] === "signature")).toBe(true);
  });
});

describe("generateLoad with refunds", () => {
  const withRefunds = (options: Partial<LoadMixOptions> = {}) =>
    mix({ count: 2000, refunds: 0.1, duplicates: 0.05, invalid: 0.01, ...options });

  test("exact counts: each reversal takes back one payment of the mix, half before it is published", () => {
    const entries = withRefunds();
    const reversals = entries.flatMap((e) => (e.kind === "reversal" ? [e] : []));
    expect(reversals).toHaveLength(200);
    expect(entries.filter((e) => e.kind === "valid")).toHaveLength(1680);
    expect(reversals.filter((r) => r.beforePayment)).toHaveLength(100);
    const position = new Map<string, number>();
    entries.forEach((e, i) => {
      if (e.kind === "valid") position.set(e.traceId, i);
    });
    const reversed = new Set<string>();
    entries.forEach((e, i) => {
      if (e.kind !== "reversal") return;
      expect(reversed.has(e.paymentTraceId)).toBe(false);
      reversed.add(e.paymentTraceId);
      const paidAt = position.get(e.paymentTraceId);
      expect(paidAt).toBeDefined();
      expect((paidAt as number) > i).toBe(e.beforePayment);
    });
  });

  test("a reversal decodes as a refund or chargeback naming its payment's tenant, user and course", () => {
    const entries = withRefunds();
    const payments = new Map<string, Record<string, unknown>>();
    for (const e of entries) if (e.kind === "valid") payments.set(e.traceId, envelope(e));
    const types = new Set<string>();
    for (const e of entries) {
      if (e.kind !== "reversal") continue;
      const decoded = decodeEntry(e.fields, { maxEventBytes: 65536 });
      if (!decoded.ok) throw new Error(decoded.detail);
      types.add(decoded.event.event_type);
      const paid = payments.get(e.paymentTraceId) as {
        tenant_id: string;
        user_id: string;
        metadata: { course_id: string };
      };
      expect(decoded.event).toMatchObject({
        trace_id: e.traceId,
        tenant_id: paid.tenant_id,
        user_id: paid.user_id,
        metadata: { course_id: paid.metadata.course_id, payment_trace_id: e.paymentTraceId },
      });
    }
    expect([...types].sort()).toEqual(["paycore.payment_charged_back", "paycore.payment_refunded"]);
  });

  test("the forecast counts the courses left with a payment not reversed", () => {
    const entries = withRefunds({ tenants: 2, users: 300, courses: 5, refunds: 0.4 });
    const forecast = new EnrollmentForecast();
    const standing = new Map<number, number>();
    for (const e of entries) {
      if (e.kind === "valid") {
        forecast.paid(e.keyIndex);
        standing.set(e.keyIndex, (standing.get(e.keyIndex) ?? 0) + 1);
      } else if (e.kind === "reversal") {
        forecast.reversed(e.keyIndex);
        standing.set(e.keyIndex, (standing.get(e.keyIndex) ?? 0) - 1);
      }
    }
    expect(forecast.enrollments).toBe(standing.size);
    expect(forecast.active).toBe([...standing.values()].filter((n) => n > 0).length);
    expect(forecast.active).toBeLessThan(forecast.enrollments);
  });

  test("without refunds the mix is what it was: no reversal, the same entries for a seed", () => {
    expect(mix().some((e) => e.kind === "reversal")).toBe(false);
    expect(mix({ refunds: 0 })).toEqual(mix());
  });
});
