/**
 * `coursepay dlq …`: the commands and their help; src/cli/dlq.ts does the work (imported only
 * when a command runs).
 */
import type { Command } from "commander";
import type { Finish } from "./program.ts";

const WHERE = `Works on the dead-letter stream <EVENT_STREAM>.dlq, or {<EVENT_STREAM>}.dlq on a cluster
(REDIS_CLUSTER_NODES: the hash tag keeps it in the stream's slot), on the configured Redis.`;
const IDS = `<id> is a dead-letter entry id as \`dlq list\` shows it (<ms>-<seq>). When any id is not in
the dead-letter stream, nothing is done.`;
const EXIT_CODES =
  "Exit codes: 0 done, 1 Redis unreachable or a replay failed, 2 bad usage or unknown ids.";

export const DLQ_SUMMARY = "inspect, replay or delete the dead letters in <EVENT_STREAM>.dlq";

export function defineDlq(dlq: Command, finish: Finish): void {
  dlq
    .description(
      `Inspects, replays or deletes the dead letters in <EVENT_STREAM>.dlq ({<EVENT_STREAM>}.dlq on a
cluster) on the configured Redis: \`coursepay dlq <command> --help\` for one command.`,
    )
    .addHelpText("after", `\n${EXIT_CODES}`);
  const dead = () => import("./dlq.ts");

  dlq
    .command("list")
    .usage("[--limit N] [--json]")
    .summary("the newest dead letters")
    .description(
      `${WHERE}
Prints the newest N dead letters (default 50, at most 10000), oldest first so the newest is
last, as a table followed by the total count; with --json a JSON array of every field
("original" parsed back into its field/value array).`,
    )
    .option("--limit <N>", "how many, 1 to 10000 (default 50)")
    .option("--json", "a JSON array of every field")
    .addHelpText("after", `\n${EXIT_CODES}`)
    .action(async (options) => finish(await (await dead()).dlqList(options)));

  dlq
    .command("show")
    .usage("<id> [--json]")
    .argument("<id>", "the dead letter's entry id (<ms>-<seq>)")
    .summary("one dead letter in full: every field and its original entry")
    .description(
      `${WHERE}
Prints one dead letter in full: its reason, detail, attempts, time, subscriber, trace_id and
event type, then the field/value pairs of the original entry (control characters escaped);
with --json the JSON object \`dlq list --json\` gives for it.`,
    )
    .option("--json", "one JSON object")
    .addHelpText("after", `\n${EXIT_CODES}`)
    .action(async (id: string, options) => finish(await (await dead()).dlqShow(id, options)));

  dlq
    .command("replay")
    .usage("<id>… | --all | --reason R")
    .argument("[id...]", "dead-letter entry ids (<ms>-<seq>)")
    .summary("put dead letters back on EVENT_STREAM, unchanged")
    .description(
      `${WHERE}
Puts each dead letter's original field/value pairs back on EVENT_STREAM unchanged (XADD) and
deletes the dead letter once that XADD succeeded, oldest first; --all does it for every dead
letter present when it starts, --reason R for every one whose reason is R (e.g. permanent_error
once the cause is fixed). Replaying an event that was applied already is harmless (the worker
skips its trace_id). Stops at the first failure: that dead letter and the ones after it stay.

${IDS}`,
    )
    .option("--all", "every dead letter present when it starts")
    .option(
      "--reason <R>",
      "every dead letter of this reason: invalid_json, invalid_event, too_large, conflict, unauthenticated, max_deliveries, permanent_error, simulated",
    )
    .addHelpText("after", `\n${EXIT_CODES}`)
    .action(async (ids: string[], options) => finish(await (await dead()).dlqReplay(ids, options)));

  dlq
    .command("purge")
    .usage("<id>… | --all [--yes]")
    .argument("[id...]", "dead-letter entry ids (<ms>-<seq>)")
    .summary("delete dead letters")
    .description(
      `${WHERE}
Deletes the given dead letters, or with --all every one present when it starts (dead letters
written meanwhile are kept). --all asks for confirmation on a terminal; elsewhere (a script, a
pipe, a cron job) it needs --yes.

${IDS}`,
    )
    .option("--all", "every dead letter present when it starts")
    .option("-y, --yes", "do not ask before deleting them all")
    .addHelpText("after", `\n${EXIT_CODES}; 1 also when the confirmation was declined.`)
    .action(async (ids: string[], options) => finish(await (await dead()).dlqPurge(ids, options)));
}
