/**
 * Event data shown to a person (pretty logs, tables, status lines) goes through here: control
 * characters (newlines, ESC and the C1 controls that start terminal sequences, DEL) and format
 * characters (bidi overrides, zero-width marks) become visible `\u001b`-style escapes, so an
 * event can neither forge a log line nor drive the terminal. JSON output needs none of this:
 * JSON.stringify escapes control characters itself.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const code = char.codePointAt(0) ?? 0;
    return code <= 0xffff
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : `\\u{${code.toString(16)}}`;
  });
}
