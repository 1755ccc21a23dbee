/**
 * `coursepay simulate …`: the commands and their help; src/cli/simulate.ts and
 * src/cli/simulate-load.ts do the work (imported only when a command runs).
 */
import type { Command } from "commander";
import type { Finish } from "./program.ts";

const PUBLISHES = `Publishes one simulated event to EVENT_STREAM on REDIS_URL (wire form "data", marked
"simulated": true, signed with the first PAYCORE_SIGNING_SECRET when set) and prints its
trace_id. It never writes the database. Refused when APP_ENV=production.
--wait-replicas N sends WAIT N with it (1 s at most): when fewer replicas confirm it in time, it
prints the trace_id all the same, then says so and exits 1 (publish it again with
--trace-id to be sure: the worker skips a copy that did arrive).`;

const REVERSAL = `A full reversal of the payment whose trace_id is P, which takes back the course that payment
bought. T, U and C must be the payment's.`;

export const SIMULATE_SUMMARY = "publish simulated PayCore events";

export function defineSimulate(simulate: Command, finish: Finish): void {
  simulate.description(
    "Publishes simulated PayCore events: `coursepay simulate <command> --help` for one command.",
  );
  const one = async (kind: string, options: object) =>
    finish(await (await import("./simulate.ts")).simulateCommand(kind, options));

  const key = (command: Command) =>
    command
      .option("--tenant <T>", "tenant_id (required)")
      .option("--user <U>", "user_id (required)")
      .option("--course <C>", "metadata.course_id (required)")
      .option("--wait-replicas <N>", "WAIT for N replicas to confirm it, 1 to 100");

  key(
    simulate
      .command("payment-succeeded")
      .usage("--tenant T --user U --course C [--language de] [--trace-id ID]")
      .summary("publish one simulated payment and print its trace_id")
      .description(`A paycore.payment_succeeded. ${PUBLISHES}`),
  )
    .option("--language <L>", "metadata.language, e.g. de")
    .option("--trace-id <ID>", "its trace_id (default a new one)")
    .action((options) => one("payment-succeeded", options));

  for (const [name, type] of [
    ["payment-refunded", "paycore.payment_refunded"],
    ["payment-charged-back", "paycore.payment_charged_back"],
  ] as const) {
    key(
      simulate
        .command(name)
        .usage("--payment-trace-id P --tenant T --user U --course C [--trace-id ID]")
        .summary(`publish one simulated ${type} and print its trace_id`)
        .description(`A ${type}: ${REVERSAL} ${PUBLISHES}`),
    )
      .option("--payment-trace-id <P>", "the trace_id of the payment it reverses (required)")
      .option("--trace-id <ID>", "its own trace_id (default a new one)")
      .action((options) => one(name, options));
  }

  simulate
    .command("load")
    .usage(
      "--count N [--rate R] [--wait-replicas N] [--tenants K] [--users M] [--courses C] [--duplicates 0.05] [--invalid 0.01] [--refunds 0] [--seed S]",
    )
    .summary("publish a realistic mix of N events, with progress and a summary")
    .description(
      `Publishes N simulated events to EVENT_STREAM on REDIS_URL, a realistic mix:
  valid       paycore.payment_succeeded for tenant_1..K, user_1..M (per tenant), course_001..C,
              each with a new trace_id (evt_load_<seed>_<n>)
  duplicates  the fraction (default 0.05) replaying an earlier payment exactly (same trace_id)
  reversals   the fraction (--refunds, default 0) of refunds and chargebacks, in turn, each of
              its own payment (evt_load_<seed>_rev_<n>); every other one is published before
              the payment it reverses
  invalid     the fraction (default 0.01) the worker must dead-letter, in turn: missing
              tenant_id, bad JSON, whitespace in an id, missing metadata.course_id
--rate paces it at R events a second (decimals allowed); without it, events go as fast as Redis
takes them, 500 per round trip. --seed fixes the mix and the trace_ids: the same seed publishes
the same events again (all duplicates then).

--wait-replicas N sends WAIT N after each round trip, on the node that holds the stream, as a
producer should before it counts an event as sent: Redis replicates asynchronously, so what a
master acknowledged but no replica holds is lost if that master fails over. The summary says how
many events N replicas confirmed in time (WAIT's timeout: 1 s, at most REDIS_TIMEOUT_MS/2); the
others are on the master alone. A round trip that failed (a lost connection, a failover) is
sent again for up to 30 s with the same trace_ids: a payment that did arrive twice is skipped as
a duplicate; an invalid entry that did is dead-lettered twice.

Marked "simulated": true and signed with the first PAYCORE_SIGNING_SECRET when set, like
\`simulate payment-succeeded\`. Shows a progress bar on a terminal, a line a second otherwise,
and a summary at the end, with the enrollments a worker ends with (from an empty database);
Ctrl-C stops after the chunk in flight (exit 130). Refused when APP_ENV=production.`,
    )
    .option("--count <N>", "how many events (required)")
    .option("--rate <R>", "events a second (default: as fast as possible)")
    .option("--wait-replicas <N>", "WAIT for N replicas after each round trip, 1 to 100")
    .option("--tenants <K>", "how many tenants (default 3)")
    .option("--users <M>", "users per tenant (default 50)")
    .option("--courses <C>", "how many courses, at most 999 (default 10)")
    .option("--duplicates <F>", "fraction of exact replays (default 0.05)")
    .option("--invalid <F>", "fraction of invalid entries (default 0.01)")
    .option("--refunds <F>", "fraction of refunds and chargebacks (default 0)")
    .option("--seed <S>", "0..4294967295; the same seed gives the same events")
    .action(async (options) =>
      finish(await (await import("./simulate-load.ts")).simulateLoadCommand(options)),
    );
}
