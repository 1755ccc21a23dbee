import { describe, expect, test } from "bun:test";
import { compareEntryIds, ENTRY_ID, parseDeadLetter } from "../../src/stream/dead-letter-entry.ts";

describe("parseDeadLetter", () => {
  test("reads every field a dead letter is written with", () => {
    const letter = parseDeadLetter("5-0", [
      "original_id",
      "1-2",
      "original",
      JSON.stringify(["data", "{}"]),
      "reason",
      "invalid_payload",
      "detail",
      "metadata.course_id: missing",
      "attempts",
      "3",
      "failed_at",
      "2026-12-03T00:00:00.000Z",
      "subscriber",
      "course_enrollment",
      "trace_id",
      "t-1",
      "event_type",
      "paycore.payment_succeeded",
    ]);
    expect(letter).toEqual({
      id: "5-0",
      originalId: "1-2",
      original: ["data", "{}"],
      originalEncoding: undefined,
      originalText: '["data","{}"]',
      truncated: undefined,
      reason: "invalid_payload",
      detail: "metadata.course_id: missing",
      attempts: 3,
      failedAt: "2026-12-03T00:00:00.000Z",
      subscriber: "course_enrollment",
      traceId: "t-1",
      eventType: "paycore.payment_succeeded",
    });
  });

  test("an original that is not an even, non-empty array of strings is kept as text only", () => {
    for (const text of ["not json", "[]", '["odd"]', "[1, 2]", '{"a":"b"}']) {
      const letter = parseDeadLetter("5-0", ["original", text]);
      expect(letter.original).toBeUndefined();
      expect(letter.originalText).toBe(text);
    }
  });

  test("a truncated entry keeps its prefix, size and hash, and no parsed original", () => {
    const letter = parseDeadLetter("5-0", [
      "original_prefix",
      '["data","{',
      "original_bytes",
      "900000",
      "original_sha256",
      "ab".repeat(32),
    ]);
    expect(letter.original).toBeUndefined();
    expect(letter.originalText).toBe('["data","{');
    expect(letter.truncated).toEqual({ bytes: 900000, sha256: "ab".repeat(32) });
  });

  test("missing or odd fields never throw: empty strings and undefined instead", () => {
    const letter = parseDeadLetter("5-0", ["attempts", "three", "dangling"]);
    expect(letter).toMatchObject({
      originalId: "",
      originalText: "",
      reason: "",
      attempts: undefined,
      traceId: undefined,
    });
  });

  test("base64 is the only encoding recognised", () => {
    expect(parseDeadLetter("5-0", ["original_encoding", "base64"]).originalEncoding).toBe("base64");
    expect(parseDeadLetter("5-0", ["original_encoding", "hex"]).originalEncoding).toBeUndefined();
  });
});

describe("entry ids", () => {
  test("compareEntryIds orders by milliseconds, then sequence, past 2^53", () => {
    const ids = ["10-0", "9-5", "9-10", "18446744073709551615-1", "18446744073709551615-0"];
    expect(ids.sort(compareEntryIds)).toEqual([
      "9-5",
      "9-10",
      "10-0",
      "18446744073709551615-0",
      "18446744073709551615-1",
    ]);
    expect(compareEntryIds("3-3", "3-3")).toBe(0);
  });

  test("ENTRY_ID accepts only complete ids", () => {
    expect(ENTRY_ID.test("1700000000000-0")).toBe(true);
    for (const id of ["1700000000000", "-", "1-2-3", "a-1", "1-", " 1-2", "$", ">"]) {
      expect(ENTRY_ID.test(id)).toBe(false);
    }
  });
});
