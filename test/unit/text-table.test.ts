import { describe, expect, test } from "bun:test";
import { padToWidth, textTable } from "../../src/cli/text-table.ts";

/** The terminal column where each line's `n`th cell starts (cells two spaces apart). */
function columnOf(table: string, marker: string): number[] {
  return table.split("\n").map((line) => Bun.stringWidth(line.slice(0, line.indexOf(marker))));
}

describe("textTable", () => {
  test("wide East Asian characters take two columns, so their row does not shift", () => {
    const table = textTable(
      ["USER", "COURSE", "STATUS"],
      [
        ["用户一", "|course_001", "active"],
        ["bob", "|course_002", "revoked"],
        ["Ünïcödé", "|course_003", "active"],
      ],
    );
    const lines = table.split("\n");
    // The second column starts at the same terminal column on every row.
    const starts = columnOf(table, "|").slice(1);
    expect(new Set(starts).size).toBe(1);
    expect(starts[0]).toBe(9); // "Ünïcödé" is 7 columns wide, plus two spaces
    expect(lines[1]).toBe("用户一   |course_001  active");
    expect(Bun.stringWidth(lines[1] ?? "")).toBe(
      Bun.stringWidth(lines[2]?.replace("revoked", "active") ?? ""),
    );
  });

  test("cells with control characters are escaped before they are measured", () => {
    const table = textTable(["A", "B"], [["x\u001b[31my", "z"]]);
    expect(table).not.toContain("\u001b");
    expect(table.split("\n")[1]).toBe("x\\u001b[31my  z");
  });

  test("padToWidth pads by terminal columns", () => {
    expect(padToWidth("用户", 6)).toBe("用户  ");
    expect(padToWidth("abc", 2)).toBe("abc");
  });
});
