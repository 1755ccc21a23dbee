/**
 * The top-level commands that need no file of their own: their help, options and actions. Each
 * action imports its implementation only when it runs.
 */
import type { Command } from "commander";
import { formatBuildInfo } from "../version.ts";
import type { Finish } from "./program.ts";
import { EXIT_OK } from "./usage-error.ts";

export function defineServe(command: Command, finish: Finish): void {
  command
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
}

export function defineMigrate(command: Command, finish: Finish): void {
  command
    .description(
      `Applies the migrations embedded in this binary to DATABASE_URL. Running it again is a no-op.
A local database file's folder is created when it is missing (serve refuses to start then).`,
    )
    .action(async () => finish(await (await import("./migrate.ts")).migrateCommand()));
}

export function defineStatus(command: Command, finish: Finish): void {
  command
    .usage("[--json]")
    .description(
      `Shows, for EVENT_STREAM on the configured Redis and the database at DATABASE_URL:
  redis      the topology and the server in use: the URL, the master the sentinels named
             (sentinel <name> → host:port), or the cluster's masters and the node that holds
             the stream's slot
  stream     its length and the dead letters in <EVENT_STREAM>.dlq ({<EVENT_STREAM>}.dlq in a
             cluster)
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
}

export function defineEnrollments(command: Command, finish: Finish): void {
  command
    .usage("--tenant T [--user U] [--course C] [--limit N] [--json]")
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
}

export function defineConfig(command: Command, finish: Finish): void {
  command
    .usage("[--json]")
    .description(
      `Lists every environment variable coursepay reads: the value in force (secrets and passwords
in URLs redacted) and where it comes from, the default, and what it accepts. Values that would
stop start-up are marked, and listed at the end as serve would report them.`,
    )
    .option("--json", "one JSON array")
    .addHelpText("after", "\nExit codes: 0 every value is valid, 2 some value would stop start-up.")
    .action(async (options) => finish((await import("./show-config.ts")).showConfig(options)));
}

export function defineVersion(command: Command, finish: Finish): void {
  command
    .description("print the version, commit, build date, Bun version and target")
    .action(() => {
      console.log(formatBuildInfo());
      finish(EXIT_OK);
    });
}
