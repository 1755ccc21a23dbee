/**
 * Logs for a person at a terminal: `[2026-11-26 08:00:01.234Z] INFO: message  key=value key="a b"`,
 * one line per record, by pino-pretty used as a synchronous stream (a pino transport runs in a
 * worker thread that loads files at run time, which the compiled binary cannot).
 * Values may come from events: keys, values and the message are escaped
 * (src/observe/terminal-text.ts), so a newline or an ESC cannot forge a line or drive the terminal.
 */
import pinoPretty, { type PrettyOptions, prettyFactory } from "pino-pretty";
import { escapeForTerminal } from "./terminal-text.ts";

export interface PrettyLogOptions {
  /** Colour the level and message (off for NO_COLOR and when not writing to a terminal). */
  colour: boolean;
}

/** Fields pino sets itself, shown by pino-pretty in their own places. */
const OWN_KEYS = new Set(["time", "level", "msg", "pid", "hostname"]);

/** A bare word in `key=value`; anything else (spaces, quotes, `=`, empty) is quoted. */
const BARE = /^[^\s"'=\\]+$/u;

function prettyOptions({ colour }: PrettyLogOptions): PrettyOptions {
  return {
    colorize: colour,
    // The date too, in UTC like the JSON logs, so lines from several hosts compare.
    translateTime: "UTC:yyyy-mm-dd HH:MM:ss.l'Z'",
    // The fields go in the message line (messageFormat), never as an indented object.
    hideObject: true,
    // Errors as fields too: pino-pretty's error block spreads a stack over many lines.
    errorLikeObjectKeys: [],
    messageFormat: (log, messageKey) => formatMessage(log, messageKey),
  };
}

/** `message  key=value key="a b" err={"message":"…"}`, escaped for a terminal. */
export function formatMessage(log: Record<string, unknown>, messageKey = "msg"): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(log)) {
    if (key === messageKey || OWN_KEYS.has(key) || value === undefined) continue;
    fields.push(`${escapeForTerminal(key)}=${formatValue(value)}`);
  }
  const message = escapeForTerminal(String(log[messageKey] ?? ""));
  return fields.length === 0 ? message : `${message}  ${fields.join(" ")}`;
}

/**
 * A bare word as it is; another string in double quotes, its own `"` backslashed; objects and
 * numbers as JSON. Then escaped: controls show as `\u000a` and the like.
 */
function formatValue(value: unknown): string {
  if (typeof value !== "string") return escapeForTerminal(JSON.stringify(value) ?? "");
  if (BARE.test(value)) return escapeForTerminal(value);
  return `"${escapeForTerminal(value.replaceAll('"', '\\"'))}"`;
}

/** The stream pino writes to: pino-pretty, synchronous, to `destination` (default stdout). */
export function prettyLogDestination(
  destination: number | NodeJS.WritableStream = 1,
  options: PrettyLogOptions = { colour: false },
): NodeJS.WritableStream {
  return pinoPretty({
    ...prettyOptions(options),
    sync: true,
    destination,
  });
}

/** One JSON log line as the terminal shows it (without its newline); tests and tools. */
export function formatLine(line: string, options: PrettyLogOptions = { colour: false }): string {
  return prettyFactory(prettyOptions(options))(line).trimEnd();
}
