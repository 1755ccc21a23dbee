import { describe, expect, test } from "bun:test";
import {
  type DeadLetter,
  deadLetterFields,
  MAX_DETAIL_CHARS,
  MAX_ORIGINAL_JSON_CHARS,
} from "../../src/stream/dead-letters.ts";
import { oversizedEntry, sha256OfFields } from "../../src/stream/oversized-entry.ts";

function letter(overrides: Partial<DeadLetter>): DeadLetter {
  return {
    originalId: "1-0",
    originalFields: ["data", "{}"],
    reason: "invalid_event",
    detail: "bad",
    attempts: 1,
    ...overrides,
  };
}

function record(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}

/** Everything a dead letter sends to Redis, in bytes (what proto-max-bulk-len limits per value). */
function largestValue(fields: string[]): number {
  return Math.max(...fields.map((field) => Buffer.byteLength(field)));
}

describe("dead letters stay small whatever the entry held", () => {
  test("a normal entry keeps its exact original, so it can be replayed", () => {
    const fields = record(deadLetterFields(letter({}), "2026-01-01T00:00:00.000Z"));
    expect(JSON.parse(fields.original as string)).toEqual(["data", "{}"]);
    expect(fields.original_prefix).toBeUndefined();
  });

  test("an oversized entry keeps a prefix, its size and its SHA-256, never the whole", () => {
    const value = "\u0001".repeat(900_000); // a control byte becomes 6 characters in JSON
    const whole = ["data", value];
    const oversized = oversizedEntry(whole, 900_004, true);
    const fields = deadLetterFields(
      letter({ originalFields: oversized.prefix, oversized, reason: "too_large" }),
      "2026-01-01T00:00:00.000Z",
    );
    const out = record(fields);
    expect(out.original).toBeUndefined();
    expect(out.original_bytes).toBe("900004");
    expect(out.original_sha256).toBe(sha256OfFields(whole));
    expect(JSON.parse(out.original_prefix as string)[0]).toBe("data");
    expect(largestValue(fields)).toBeLessThan(8 * 1024);
  });

  test("an entry within MAX_EVENT_BYTES whose JSON would be huge is cut the same way", () => {
    const value = "\u0001".repeat(MAX_ORIGINAL_JSON_CHARS); // 6× that once escaped
    const fields = deadLetterFields(letter({ originalFields: ["data", value] }), "t");
    expect(record(fields).original).toBeUndefined();
    expect(record(fields).original_bytes).toBe(String(4 + MAX_ORIGINAL_JSON_CHARS));
    expect(largestValue(fields)).toBeLessThan(1024 * 1024);
  });

  test("a long detail (an error message, many schema issues) is capped", () => {
    const fields = deadLetterFields(letter({ detail: "x".repeat(100_000) }), "t");
    const detail = record(fields).detail as string;
    expect(detail.length).toBeLessThan(MAX_DETAIL_CHARS + 100);
    expect(detail).toEndWith("(100000 characters)");
  });
});
