import type { Writable } from "node:stream";
import { escapeForTerminal } from "./terminal-text.ts";

const LEVEL_LABELS: Record<string, string> = {
  debug: "\x1b[90mDEBUG\x1b[0m",
  info: "\x1b[32mINFO \x1b[0m",
  warn: "\x1b[33mWARN \x1b[0m",
  error: "\x1b[31mERROR\x1b[0m",
  fatal: "\x1b[31mFATAL\x1b[0m",
};

/** Turns pino's JSON lines into `12:00:01 INFO  message key=value …` for people at a terminal. */
export function prettyLogDestination(out: Writable): { write(line: string): void } {
  return {
    write(line: string) {
      out.write(`${formatLine(line)}\n`);
    },
  };
}

export function formatLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return escapeForTerminal(line.trimEnd());
  }
  const { time, level, msg, ...fields } = record;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  const label = LEVEL_LABELS[String(level)] ?? String(level).toUpperCase();
  // Values may come from events: escaped, so a newline or ESC cannot forge a line.
  const rest = Object.entries(fields)
    .map(([key, value]) => {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      return `${escapeForTerminal(key)}=${escapeForTerminal(text ?? "")}`;
    })
    .join(" ");
  return `${clock} ${label} ${escapeForTerminal(String(msg ?? ""))}${rest ? `  ${rest}` : ""}`;
}
