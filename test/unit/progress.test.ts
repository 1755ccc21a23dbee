import { describe, expect, test } from "bun:test";
import {
  etaMs,
  formatBar,
  formatDuration,
  formatLine,
  ProgressDisplay,
} from "../../src/simulator/progress.ts";

function display(isTTY: boolean) {
  let clock = 0;
  const written: string[] = [];
  const progress = new ProgressDisplay({
    total: 100,
    out: { write: (text: string) => written.push(text) },
    isTTY,
    verb: "published",
    now: () => clock,
  });
  return {
    progress,
    written,
    at: (ms: number) => {
      clock = ms;
    },
  };
}

describe("progress formatting", () => {
  test("durations read naturally at every scale", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(12_345)).toBe("12.3 s");
    expect(formatDuration(245_000)).toBe("4m 05s");
    expect(formatDuration(7_380_000)).toBe("2h 03m");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("?");
  });

  test("the ETA follows the rate so far and is unknown before anything is done", () => {
    expect(etaMs({ done: 50, total: 100, elapsedMs: 1000 })).toBe(1000);
    expect(etaMs({ done: 0, total: 100, elapsedMs: 1000 })).toBe(Number.POSITIVE_INFINITY);
    expect(etaMs({ done: 100, total: 100, elapsedMs: 1000 })).toBe(0);
  });

  test("a bar and a plain line show count, percentage, rate and ETA", () => {
    const snapshot = { done: 500, total: 1000, elapsedMs: 2000 };
    expect(formatBar(snapshot)).toBe(
      `[${"█".repeat(14)}${"░".repeat(14)}]  50%  500/1000  250/s  ETA 2.0 s`,
    );
    expect(formatLine(snapshot, "published")).toBe("published 500/1000 (50%), 250/s, ETA 2.0 s");
  });
});

describe("ProgressDisplay", () => {
  test("without a terminal: one plain line per second, nothing at the end", () => {
    const { progress, written, at } = display(false);
    at(500);
    progress.update(10);
    at(1000);
    progress.update(20);
    at(1500);
    progress.update(30);
    at(2000);
    progress.update(40);
    progress.finish(100);
    expect(written).toEqual([
      "published 20/100 (20%), 20/s, ETA 4.0 s\n",
      "published 40/100 (40%), 20/s, ETA 3.0 s\n",
    ]);
  });

  test("on a terminal: the bar is redrawn in place and its line ended at the finish", () => {
    const { progress, written, at } = display(true);
    progress.update(0);
    at(50);
    progress.update(5);
    at(200);
    progress.update(20);
    at(400);
    progress.finish(100);
    expect(written).toHaveLength(4);
    expect(written.slice(0, 3).every((text) => text.startsWith("\r\x1b[2K["))).toBe(true);
    expect(written[1]).toContain("20/100");
    expect(written[2]).toContain("100/100");
    expect(written[3]).toBe("\n");
  });
});
