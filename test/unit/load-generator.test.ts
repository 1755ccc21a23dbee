import { describe, expect, test } from "bun:test";
import { decodeEntry } from "../../src/contract/decode.ts";
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
    expect(planLoad(1000, 0.05, 0.01)).toEqual({ valid: 940, duplicates: 50, invalid: 10 });
    expect(planLoad(200, 0.05, 0.01)).toEqual({ valid: 188, duplicates: 10, invalid: 2 });
    expect(planLoad(3, 0, 0)).toEqual({ valid: 3, duplicates: 0, invalid: 0 });
    expect(planLoad(4, 0, 1)).toEqual({ valid: 0, duplicates: 0, invalid: 4 });
  });

  test("refuses fractions adding up past 1, and replays with nothing to replay", () => {
    expect(() => planLoad(10, 0.6, 0.5)).toThrow(LoadMixError);
    expect(() => planLoad(10, 1, 0)).toThrow("duplicates need at least one valid entry");
    expect(() => planLoad(10, -0.1, 0)).toThrow(LoadMixError);
    expect(() => planLoad(0, 0, 0)).toThrow(LoadMixError);
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
