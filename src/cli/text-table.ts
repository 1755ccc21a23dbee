import { escapeForTerminal } from "../observe/terminal-text.ts";

/**
 * Left-aligned columns two spaces apart, header first; the last column is not padded. Cells
 * may hold event data: control and format characters are escaped, never printed raw. Widths
 * are terminal columns (Bun.stringWidth), so a wide character such as 用 takes two and its row
 * stays aligned.
 */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const safe = rows.map((row) => row.map(escapeForTerminal));
  const widths = header.map((h, i) =>
    Math.max(Bun.stringWidth(h), ...safe.map((r) => Bun.stringWidth(r[i] ?? ""))),
  );
  return [header, ...safe]
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : padToWidth(cell, widths[i] ?? 0)))
        .join("  "),
    )
    .join("\n");
}

/** `text` with spaces after it up to `width` terminal columns. */
export function padToWidth(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - Bun.stringWidth(text)));
}
