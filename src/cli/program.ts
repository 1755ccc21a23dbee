/**
 * The command line, on commander: every command, its options and its help. Each action imports
 * its implementation only when it runs, so `--version` and `--help` load neither the database
 * driver nor Redis (the native libSQL addon is unpacked to TMPDIR when first imported).
 */
import { Command, CommanderError } from "commander";
import { formatBuildInfo } from "../version.ts";
import { defineDlq } from "./dlq-command.ts";
import { defineSimulate } from "./simulate-command.ts";
import { EXIT_OK, EXIT_USAGE } from "./usage-error.ts";

/** Sets the exit code of the command that ran. */
export type Finish = (code: number) => void;

const EXIT_CODES = `Exit codes: 0 done, 1 runtime failure (Redis or the database unreachable, …), 2 bad usage or
bad configuration.`;

function defineProgram(finish: Finish): Command {
  const program = new Command("coursepay")
    .description("PayCore payment events on a Redis Stream → course access in libSQL.")
    .usage("[command] [options]")
    .version(
      formatBuildInfo(),
      "-v, --version",
      "print the version, commit, build date, Bun version and target",
    )
    .helpOption("-h, --help", "show this help; `coursepay help <command>` for one command")
    .helpCommand("help [command]", "show the help of a command")
    .exitOverride()
    // The help texts are laid out for 100 columns; a narrower terminal wraps them.
    .configureHelp({ helpWidth: Math.min(process.stdout.columns ?? 100, 100) })
    .addHelpText(
      "after",
      `
Without a command, coursepay serves. Configuration comes from environment variables
(REDIS_URL, DATABASE_URL, EVENT_STREAM, …): \`coursepay config\` lists every one with the value
in force, its default and what it accepts.

${EXIT_CODES}`,
    );

  program
    .command("serve")
    .summary("run the worker (the default when no command is given)")
    .description(
      `Runs the worker: applies migrations (MIGRATE_ON_START), then consumes PayCore events from
EVENT_STREAM through CONSUMER_GROUP and grants course access, until SIGINT or SIGTERM. It logs
its version and its settings (secrets redacted) at start. With ENABLE_SIMULATOR=true it also
publishes a simulated payment every SIMULATOR_INTERVAL_MS.`,
    )
    .addHelpText(
      "after",
      `
Configuration comes from the environment: \`coursepay config\` lists it.

Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage, bad configuration or unsupported Redis,
130 a second signal during shutdown.`,
    )
    .action(async () => finish(await (await import("./serve.ts")).serveCommand()));

  program
    .command("migrate")
    .summary("apply the embedded database migrations and exit")
    .description(
      `Applies the migrations embedded in this binary to DATABASE_URL. Running it again is a no-op.
A local database file's folder is created when it is missing (serve refuses to start then).`,
    )
    .action(async () => finish(await (await import("./migrate.ts")).migrateCommand()));

  defineSimulate(program, finish);
  defineDlq(program, finish);

  program
    .command("status")
    .usage("[--json]")
    .summary("stream length, group lag and pending, dead letters, database counts")
    .description(
      `Shows, for EVENT_STREAM on REDIS_URL and the database at DATABASE_URL:
  stream     its length and the dead letters in <EVENT_STREAM>.dlq
  groups     each consumer group: lag (entries not yet delivered), pending (delivered, not yet
             ACKed), the idle time of the oldest pending entry, and each consumer with its
             pending count and idle time; * marks CONSUMER_GROUP
  database   enrollments (active, revoked), processed events and the last processed event
  worker     with HTTP_PORT set, this host's worker: seconds since its last read and its last
             commit, failed commits and readiness, from its /metrics and /readyz
A table on a terminal; with --json one JSON object (times in milliseconds).`,
    )
    .option("--json", "print one JSON object")
    .addHelpText(
      "after",
      `
Exit codes: 0 shown, 1 CONSUMER_GROUP missing or Redis/the database unreachable (one line on
stderr says which), 2 bad usage, bad configuration or Redis older than 7.0.`,
    )
    .action(async (options) => finish(await (await import("./status.ts")).statusCommand(options)));

  program
    .command("enrollments")
    .usage("--tenant T [--user U] [--course C] [--limit N] [--json]")
    .summary("a learner's enrollments, the payment that granted each, and its record")
    .description(
      `Answers "did this customer get their course?" from DATABASE_URL: the enrollments of tenant T
(narrowed to user U and/or course C), the newest N, newest last, each with its status (active,
or revoked by a refund or chargeback), language, when it was granted (ISO 8601, UTC), the
trace_id of the payment it rests on (the one that granted it, or once revoked the last one
reversed) and whether processed_events records that payment (PROCESSED yes/no); then the
payments of those courses, each with its state (succeeded, refunded, charged_back), when it was
paid, and the refund or chargeback that reversed it. No match is not an error: it says so.
It only reads; it never migrates or writes.`,
    )
    .option("--tenant <T>", "the tenant (required)")
    .option("--user <U>", "only this user")
    .option("--course <C>", "only this course")
    .option("--limit <N>", "the newest N enrollments, 1 to 10000 (default 100)")
    .option("--json", "a JSON array with every field")
    .addHelpText(
      "after",
      `
Exit codes: 0 done (with or without matches), 1 database missing or unreadable, 2 bad usage.`,
    )
    .action(async (options) =>
      finish(await (await import("./enrollments.ts")).enrollmentsCommand(options)),
    );

  program
    .command("config")
    .usage("[--json]")
    .summary("every setting: the value in force, the default and what it accepts")
    .description(
      `Lists every environment variable coursepay reads: the value in force (secrets and passwords
in URLs redacted) and where it comes from, the default, and what it accepts. Values that would
stop start-up are marked, and listed at the end as serve would report them.`,
    )
    .option("--json", "one JSON array")
    .addHelpText("after", "\nExit codes: 0 every value is valid, 2 some value would stop start-up.")
    .action(async (options) => finish((await import("./show-config.ts")).showConfig(options)));

  program
    .command("version")
    .description("print the version, commit, build date, Bun version and target")
    .action(() => {
      console.log(formatBuildInfo());
      finish(EXIT_OK);
    });

  return program;
}

/**
 * The command path of `command` after `coursepay` (`dlq replay`), empty for the program itself.
 */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

/**
 * Commander's errors as coursepay's one-line messages, naming the command they were given to:
 * `coursepay: dlq list: unknown option '--all' (did you mean --limit?)`.
 */
export function formatCommanderError(path: string, message: string): string {
  const text = message
    .trim()
    .replace(/^error: /, "")
    .replace(/\s*\n\(Did you mean (.+)\?\)$/, " (did you mean $1?)")
    .replace(/^too many arguments for '[^']*'\./, "too many arguments.");
  const hint =
    /^unknown (command|option)/.test(text) && !text.includes("did you mean")
      ? ` (see coursepay ${path === "" ? "" : `${path} `}--help)`
      : "";
  return `coursepay: ${path === "" ? "" : `${path}: `}${text}${hint}\n`;
}

/** Every command writes its own errors, so that each names the command it belongs to. */
function nameCommandsInErrors(command: Command): void {
  const path = commandPath(command);
  command.configureOutput({
    outputError: (message, write) => write(formatCommanderError(path, message)),
  });
  for (const sub of command.commands) nameCommandsInErrors(sub);
}

/**
 * `help dlq replay` is `dlq replay --help`; a name that is not a command is parsed as one, so
 * that it gets commander's "unknown command … (did you mean …?)" instead of the general help.
 */
function helpAsOption(program: Command, names: readonly string[]): string[] {
  let command = program;
  for (const [index, name] of names.entries()) {
    const sub = command.commands.find((c) => c.name() === name);
    if (sub === undefined) return names.slice(0, index + 1);
    command = sub;
  }
  return [...names, "--help"];
}

/**
 * argv as commander should see it: no command means serve, also with serve's options
 * (`coursepay --bad` is serve's error), and `help <command…>` is `<command…> --help`.
 */
function normalizeArgv(program: Command, argv: readonly string[]): string[] {
  const first = argv[0];
  if (first === "help" && argv.length > 1) return helpAsOption(program, argv.slice(1));
  const own = ["-h", "--help", "-v", "--version"];
  if (first === undefined || (first.startsWith("-") && !own.includes(first))) {
    return ["serve", ...argv];
  }
  return [...argv];
}

/**
 * Parses argv (without `bun` and the script) and runs the command; its exit code. Usage errors
 * are printed here and give 2; the command's own errors are thrown for main to report.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  let code = EXIT_OK;
  const program = defineProgram((result) => {
    code = result;
  });
  nameCommandsInErrors(program);
  try {
    await program.parseAsync(normalizeArgv(program, argv), { from: "user" });
    return code;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help, help <command> and --version end as "errors" with exit code 0.
    if (error.exitCode === 0) return EXIT_OK;
    return EXIT_USAGE;
  }
}
