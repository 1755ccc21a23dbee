#!/usr/bin/env bun
import { UnreachableError } from "./cli/command-connections.ts";
/**
 * The only entry: picks a command from argv, runs it and maps errors to exit codes
 * (0 ok, 1 runtime failure, 2 bad usage, bad configuration or unsupported Redis).
 */
import { DLQ_HELP, dlqCommand } from "./cli/dlq.ts";
import { ENROLLMENTS_HELP, enrollmentsCommand } from "./cli/enrollments.ts";
import { MIGRATE_HELP, migrateCommand } from "./cli/migrate.ts";
import { SERVE_HELP, serveCommand } from "./cli/serve.ts";
import { SIMULATE_HELP, simulateCommand } from "./cli/simulate.ts";
import { STATUS_HELP, statusCommand } from "./cli/status.ts";
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from "./cli/usage-error.ts";
import { ConfigError } from "./config/config.ts";
import { DatabaseFolderMissingError } from "./db/database.ts";
import { describeDatabaseError, isDatabaseError } from "./db/database-errors.ts";
import { DuplicateSubscriberError } from "./dispatch/registry.ts";
import { UnsupportedRedisError } from "./stream/redis-connection.ts";
import { VERSION } from "./version.ts";

const HELP = `coursepay ${VERSION}: PayCore payment events on a Redis Stream → course access in libSQL.

Usage: coursepay [command] [options]

Commands:
  serve                 run the worker (the default when no command is given)
  migrate               apply the embedded database migrations and exit
  simulate payment-succeeded --tenant T --user U --course C [--language L] [--trace-id ID]
                        publish one simulated payment and print its trace_id
  simulate load --count N [--rate R] [--duplicates F] [--invalid F] [--seed S] …
                        publish a realistic mix of N events, with progress and a summary
  dlq list|replay|purge inspect, replay or delete the dead letters in <EVENT_STREAM>.dlq
  status [--json]       stream length, group lag and pending, dead letters, database counts
  enrollments --tenant T [--user U] [--course C] [--json]
                        a learner's enrollments, the payment that granted each, and its record
  help, --help          show this help; \`coursepay <command> --help\` for one command
  version, --version    print the version

Configuration comes from environment variables (REDIS_URL, DATABASE_URL, EVENT_STREAM, …);
see README.md for the full table.`;

interface Command {
  help: string;
  run: (args: string[]) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { help: SERVE_HELP, run: serveCommand },
  migrate: { help: MIGRATE_HELP, run: migrateCommand },
  simulate: { help: SIMULATE_HELP, run: simulateCommand },
  dlq: { help: DLQ_HELP, run: dlqCommand },
  status: { help: STATUS_HELP, run: statusCommand },
  enrollments: { help: ENROLLMENTS_HELP, run: enrollmentsCommand },
};

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(HELP);
    return 0;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    console.log(VERSION);
    return 0;
  }
  const name = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = first === undefined || first.startsWith("-") ? argv : rest;
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) throw new UsageError(`unknown command "${name}" (see --help)`);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(command.help);
    return 0;
  }
  return command.run(args);
}

/** The message and exit code for an error; no stack traces for what the user can fix. */
function describeFailure(error: unknown): { message: string; code: number } {
  if (
    error instanceof ConfigError ||
    error instanceof UsageError ||
    error instanceof DatabaseFolderMissingError ||
    error instanceof UnsupportedRedisError ||
    error instanceof DuplicateSubscriberError
  ) {
    return { message: error.message, code: EXIT_USAGE };
  }
  if (error instanceof UnreachableError) return { message: error.message, code: EXIT_FAILURE };
  // A database error: its code and root message, never drizzle's "Failed query: <sql> params: …".
  if (
    error instanceof Error &&
    (error.message.startsWith("Failed query:") || isDatabaseError(error))
  ) {
    const { code, message, hint } = describeDatabaseError(error);
    return {
      message: `database: ${code}: ${message}${hint ? ` (${hint})` : ""}`,
      code: EXIT_FAILURE,
    };
  }
  // node:util parseArgs reports unknown or malformed options with these codes.
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
    return { message: (error as Error).message, code: EXIT_USAGE };
  }
  return { message: error instanceof Error ? error.message : String(error), code: EXIT_FAILURE };
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const { message, code } = describeFailure(error);
  console.error(`coursepay: ${message}`);
  process.exitCode = code;
}
// Open Redis connections or timers must not keep a finished command alive.
process.exit(process.exitCode);
