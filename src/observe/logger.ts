import pino from "pino";
import type { LogFormat, LogLevel } from "../config/config.ts";
import { prettyLogDestination } from "./pretty-log-destination.ts";

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
}

/**
 * JSON lines on stdout for log collectors; a readable line per event on a terminal.
 * No pino transports: they load files at run time, which a compiled binary cannot.
 * No `redact` paths either: secrets are never handed to the logger (config values go through
 * describeConfig/redactUrl), and redaction cost ~10% of the worker's throughput at info level.
 * Writes are synchronous: buffering them bought no speed and let memory grow under load.
 */
export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === "pretty" || (options.format === "auto" && process.stdout.isTTY === true);
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pretty
    ? pino(pinoOptions, prettyLogDestination(process.stdout))
    : pino(pinoOptions, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for tests and for commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
