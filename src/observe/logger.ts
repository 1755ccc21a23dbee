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
 */
export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === "pretty" || (options.format === "auto" && process.stdout.isTTY === true);
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // A second line of defence: secrets are never passed to the logger on purpose.
    redact: {
      paths: ["authToken", "password", "secret", "*.authToken", "*.password", "*.secret"],
      censor: "***",
    },
  };
  return pretty
    ? pino(pinoOptions, prettyLogDestination(process.stdout))
    : pino(pinoOptions, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for tests and for commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
