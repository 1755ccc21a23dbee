import { describe, expect, test } from "bun:test";
import {
  compareStreamIds,
  type GroupPosition,
  safeTrimId,
} from "../../src/stream/stream-retention.ts";

const NOW = 10_000_000;
const RETENTION = 1_000_000;
/** `<NOW − RETENTION>-0`: the newest MINID retention alone allows. */
const CUTOFF = "9000000-0";

function group(lastDeliveredId: string, oldestPendingId?: string): GroupPosition {
  return { name: `g-${lastDeliveredId}`, lastDeliveredId, oldestPendingId };
}

describe("compareStreamIds", () => {
  test("orders by milliseconds, then sequence, numerically", () => {
    expect(compareStreamIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareStreamIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareStreamIds("10-10", "10-2")).toBeGreaterThan(0);
    expect(compareStreamIds("5-5", "5-5")).toBe(0);
  });

  test("is exact for sequences beyond 2^53", () => {
    expect(compareStreamIds("1-9007199254740993", "1-9007199254740992")).toBeGreaterThan(0);
  });

  test("refuses what is not an entry id", () => {
    expect(() => compareStreamIds("1", "1-0")).toThrow(TypeError);
  });
});

describe("safeTrimId", () => {
  test("no group: nothing is trimmed, since nobody's progress is known", () => {
    expect(safeTrimId([], NOW, RETENTION)).toBeUndefined();
  });

  test("groups past the cutoff with nothing pending: the retention cutoff", () => {
    expect(safeTrimId([group("9500000-3"), group("9999999-0")], NOW, RETENTION)).toBe(CUTOFF);
  });

  test("a lagging group holds the MINID at its last-delivered-id", () => {
    expect(safeTrimId([group("9999999-0"), group("4000-7")], NOW, RETENTION)).toBe("4000-7");
  });

  test("a group's oldest pending entry holds the MINID below its last-delivered-id", () => {
    expect(safeTrimId([group("9999999-0"), group("8000-0", "3000-2")], NOW, RETENTION)).toBe(
      "3000-2",
    );
  });

  test("the lowest of every group's positions wins", () => {
    const groups = [group("7000-0", "6000-0"), group("5000-0"), group("9999999-0", "5500-0")];
    expect(safeTrimId(groups, NOW, RETENTION)).toBe("5000-0");
  });

  test("a group that has read nothing yet (0-0) stops all trimming", () => {
    expect(safeTrimId([group("9999999-0"), group("0-0")], NOW, RETENTION)).toBeUndefined();
  });

  test("a retention longer than the clock allows trims nothing", () => {
    expect(safeTrimId([group("9999999-0")], NOW, NOW + 1)).toBeUndefined();
  });
});
