import pino from "pino";
import type { LogFormat, LogLevel } from "../config/config.ts";
import { journalPrefix, stdoutIsJournal } from "./journal.ts";
import { prettyLogDestination } from "./pretty-log-destination.ts";

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
}

/**
 * JSON lines on stdout for log collectors; a readable line per event on a terminal, coloured
 * unless NO_COLOR is set (no-color.org). When stdout is the journal, each JSON line starts with
 * its sd-daemon priority (src/observe/journal.ts).
 * No pino transports: they load files at run time, which a compiled binary cannot.
 * No `redact` paths either: secrets are never handed to the logger (config values go through
 * describeConfig/redactUrl), and redaction cost ~10% of the worker's throughput at info level.
 * Writes are synchronous: buffering them bought no speed and let memory grow under load.
 */
export function createLogger(
  options: LoggerOptions,
  env: Record<string, string | undefined> = process.env,
): Logger {
  const terminal = process.stdout.isTTY === true;
  const pretty = options.format === "pretty" || (options.format === "auto" && terminal);
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    // First in every line, so journalPrefix finds the level without parsing.
    formatters: { level: (label) => ({ level: label }) },
  };
  if (pretty) {
    const colour = terminal && (env.NO_COLOR ?? "") === "";
    return pino(pinoOptions, prettyLogDestination(1, { colour }));
  }
  if (stdoutIsJournal(env.JOURNAL_STREAM)) {
    pinoOptions.hooks = { streamWrite: (line) => journalPrefix(line) + line };
  }
  return pino(pinoOptions, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for tests and for commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
