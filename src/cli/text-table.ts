import { escapeForTerminal } from "../observe/terminal-text.ts";

/**
 * Left-aligned columns two spaces apart, header first; the last column is not padded. Cells
 * may hold event data: control and format characters are escaped, never printed raw.
 */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const safe = rows.map((row) => row.map(escapeForTerminal));
  const widths = header.map((h, i) => Math.max(h.length, ...safe.map((r) => r[i]?.length ?? 0)));
  return [header, ...safe]
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  "),
    )
    .join("\n");
}
