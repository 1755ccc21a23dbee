import { describe, expect, test } from "bun:test";
import {
  etaMs,
  formatBar,
  formatDuration,
  formatLine,
  ProgressDisplay,
  truncateToWidth,
} from "../../src/simulator/progress.ts";

/**
 * What a terminal `columns` wide shows after `output`: the rows left on screen, as a terminal
 * draws them (a character past the last column wraps to a new row; CR goes back to the row's
 * start; ESC[2K clears the cursor's row; LF starts a new row).
 */
function screenRows(output: string, columns: number): string[] {
  const rows: string[] = [""];
  let row = 0;
  let column = 0;
  for (let i = 0; i < output.length; i++) {
    if (output.startsWith("\x1b[2K", i)) {
      rows[row] = "";
      i += 3;
      continue;
    }
    const char = String.fromCodePoint(output.codePointAt(i) ?? 0);
    if (char.length === 2) i++;
    if (char === "\r") column = 0;
    else if (char === "\n") {
      row++;
      column = 0;
      rows[row] ??= "";
    } else {
      const width = Bun.stringWidth(char);
      if (column + width > columns) {
        row++;
        column = 0;
        rows[row] ??= "";
      }
      rows[row] = (rows[row] ?? "") + char;
      column += width;
    }
  }
  return rows.filter((text) => text !== "");
}

function display(isTTY: boolean, columns?: number) {
  let clock = 0;
  const written: string[] = [];
  const progress = new ProgressDisplay({
    total: 100,
    out: { write: (text: string) => written.push(text) },
    isTTY,
    verb: "published",
    now: () => clock,
    columns: () => columns,
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

describe("the bar fits the terminal", () => {
  const snapshot = { done: 500, total: 1000, elapsedMs: 2000 };

  test("the bar shrinks, then goes, and the figures are cut last; never wider than columns - 1", () => {
    for (const columns of [200, 80, 50, 40, 30, 10, 1]) {
      const line = formatBar(snapshot, columns);
      expect({ columns, width: Bun.stringWidth(line) <= columns - 1 }).toEqual({
        columns,
        width: true,
      });
    }
    expect(formatBar(snapshot, 200)).toBe(formatBar(snapshot));
    expect(formatBar(snapshot, 50)).toBe("[███████░░░░░░░]  50%  500/1000  250/s  ETA 2.0 s");
    expect(formatBar(snapshot, 30)).toBe("50%  500/1000  250/s  ETA 2.0");
  });

  test("truncation counts wide characters as two columns", () => {
    expect(truncateToWidth("用户一abc", 5)).toBe("用户");
    expect(truncateToWidth("用户一abc", 7)).toBe("用户一a");
    expect(truncateToWidth("abc", 3)).toBe("abc");
  });

  test("at 50 columns, 30 redraws leave one row on screen", () => {
    const { progress, written, at } = display(true, 50);
    for (let i = 0; i <= 30; i++) {
      at(i * 200);
      progress.update(i * 3);
    }
    expect(written.length).toBeGreaterThanOrEqual(30);
    expect(screenRows(written.join(""), 50)).toHaveLength(1);
    progress.finish(100);
    expect(screenRows(written.join(""), 50)).toEqual([
      formatBar({ done: 100, total: 100, elapsedMs: 6000 }, 50),
    ]);
  });

  test("the check above can fail: an unbounded bar at 50 columns leaves rows behind", () => {
    const { progress, written, at } = display(true);
    for (let i = 0; i <= 5; i++) {
      at(i * 200);
      progress.update(i * 3);
    }
    expect(screenRows(written.join(""), 50).length).toBeGreaterThan(1);
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
