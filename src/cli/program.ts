/**
 * The command line, on commander: every command, its options and its help. Each action imports
 * its implementation only when it runs, so `--version` and `--help` load neither the database
 * driver nor Redis (the native libSQL addon is unpacked to TMPDIR when first imported).
 */
import { Command, CommanderError } from "commander";
import { formatBuildInfo } from "../version.ts";
import {
  defineConfig,
  defineEnrollments,
  defineMigrate,
  defineServe,
  defineStatus,
  defineVersion,
} from "./basic-commands.ts";
import { DLQ_SUMMARY, defineDlq } from "./dlq-command.ts";
import { defineSimulate, SIMULATE_SUMMARY } from "./simulate-command.ts";
import { EXIT_OK, EXIT_USAGE } from "./usage-error.ts";

/** Sets the exit code of the command that ran. */
export type Finish = (code: number) => void;

const EXIT_CODES = `Exit codes: 0 done, 1 runtime failure (Redis or the database unreachable, …), 2 bad usage or
bad configuration.`;

/**
 * Every top-level command: its name and one line for the general help, and what defines the
 * rest (help, options, subcommands, action). Only the command that runs is defined in full:
 * commander's set-up costs ~0.1 ms a command in a cold binary, which `--version` should not pay
 * for every option of every command.
 */
const COMMANDS: readonly {
  name: string;
  summary: string;
  define: (command: Command, finish: Finish) => void;
}[] = [
  {
    name: "serve",
    summary: "run the worker (the default when no command is given)",
    define: defineServe,
  },
  {
    name: "migrate",
    summary: "apply the embedded database migrations and exit",
    define: defineMigrate,
  },
  { name: "simulate", summary: SIMULATE_SUMMARY, define: defineSimulate },
  { name: "dlq", summary: DLQ_SUMMARY, define: defineDlq },
  {
    name: "status",
    summary: "stream length, group lag and pending, dead letters, database counts",
    define: defineStatus,
  },
  {
    name: "enrollments",
    summary: "a learner's enrollments, the payment that granted each, and its record",
    define: defineEnrollments,
  },
  {
    name: "config",
    summary: "every setting: the value in force, the default and what it accepts",
    define: defineConfig,
  },
  {
    name: "version",
    summary: "print the version, commit, build date, Bun version and target",
    define: defineVersion,
  },
];

/**
 * Commander writes through process.stdout and process.stderr, and Bun builds those streams on
 * first use: ~1 ms of a `--version` that takes ~10. Whole lines go through console.log and
 * console.error, which write the same bytes without them; the streams are touched only for a
 * partial line or for the terminal's width, which only help needs.
 */
const CONSOLE_OUTPUT = {
  writeOut: (text: string) =>
    text.endsWith("\n") ? console.log(text.slice(0, -1)) : process.stdout.write(text),
  writeErr: (text: string) =>
    text.endsWith("\n") ? console.error(text.slice(0, -1)) : process.stderr.write(text),
  // The help texts are laid out for 100 columns; a narrower terminal wraps them.
  getOutHelpWidth: () => Math.min(process.stdout.columns ?? 100, 100),
  getErrHelpWidth: () => Math.min(process.stderr.columns ?? 100, 100),
};

/** The program, with `fullyDefined` (the command argv names, if any) defined in full. */
function defineProgram(finish: Finish, fullyDefined: string | undefined): Command {
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
    .configureOutput(CONSOLE_OUTPUT)
    .addHelpText(
      "after",
      `
Without a command, coursepay serves. Configuration comes from environment variables
(REDIS_URL, DATABASE_URL, EVENT_STREAM, …): \`coursepay config\` lists every one with the value
in force, its default and what it accepts.

${EXIT_CODES}`,
    );

  for (const spec of COMMANDS) {
    const command = program.command(spec.name).summary(spec.summary);
    if (spec.name === fullyDefined) spec.define(command, finish);
  }
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
function helpAsOption(program: Command, args: readonly string[]): string[] {
  if (args[0] !== "help" || args.length === 1) return [...args];
  const names = args.slice(1);
  let command = program;
  for (const [index, name] of names.entries()) {
    const sub = command.commands.find((c) => c.name() === name);
    if (sub === undefined) return names.slice(0, index + 1);
    command = sub;
  }
  return [...names, "--help"];
}

/** No command means serve, also with serve's options: `coursepay --bad` is serve's error. */
function withDefaultCommand(argv: readonly string[]): string[] {
  const first = argv[0];
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
  const args = withDefaultCommand(argv);
  const program = defineProgram(
    (result) => {
      code = result;
    },
    args[0] === "help" ? args[1] : args[0],
  );
  nameCommandsInErrors(program);
  try {
    await program.parseAsync(helpAsOption(program, args), { from: "user" });
    return code;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help, help <command> and --version end as "errors" with exit code 0.
    if (error.exitCode === 0) return EXIT_OK;
    return EXIT_USAGE;
  }
}
