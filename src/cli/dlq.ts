import { parseArgs } from "node:util";
import { loadConfig } from "../config/config.ts";
import { escapeForTerminal } from "../observe/terminal-text.ts";
import {
  DeadLetterStore,
  ENTRY_ID,
  type Replayed,
  type ReplayResult,
  type StoredDeadLetter,
} from "../stream/dead-letter-store.ts";
import { withCommandRedis } from "./command-connections.ts";
import { textTable } from "./text-table.ts";
import { UsageError } from "./usage-error.ts";

export const DLQ_HELP = `Usage: coursepay dlq list [--limit N] [--json]
       coursepay dlq replay <id>… | --all
       coursepay dlq purge <id>… | --all

Works on the dead-letter stream <EVENT_STREAM>.dlq on REDIS_URL.

  list     the newest N dead letters (default 50, at most 10000), oldest first so the newest is
           last, as a table followed by the total count; with --json a JSON array of every field
           ("original" parsed back into its field/value array)
  replay   puts each dead letter's original field/value pairs back on EVENT_STREAM unchanged
           (XADD) and deletes the dead letter once that XADD succeeded, oldest first; --all does
           it for every dead letter present when it starts. Replaying an event that was applied
           already is harmless (the worker skips its trace_id). Stops at the first failure: that
           dead letter and the ones after it stay.
  purge    deletes the given dead letters, or with --all every one present when it starts
           (dead letters written meanwhile are kept)

<id> is a dead-letter entry id as list shows it (<ms>-<seq>). When any id is not in the
dead-letter stream, nothing is replayed or purged.
Exit codes: 0 done, 1 Redis unreachable or a replay failed, 2 bad usage or unknown ids.`;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 10_000;
const DETAIL_WIDTH = 60;

export async function dlqCommand(args: string[]): Promise<number> {
  const [subcommand, ...rest] = args;
  if (
    subcommand === "--help" ||
    subcommand === "-h" ||
    rest.includes("--help") ||
    rest.includes("-h")
  ) {
    console.log(DLQ_HELP);
    return 0;
  }
  switch (subcommand) {
    case "list":
      return listCommand(rest);
    case "replay":
      return replayCommand(rest);
    case "purge":
      return purgeCommand(rest);
    case undefined:
      throw new UsageError("dlq: missing subcommand: list, replay or purge (see --help)");
    default:
      throw new UsageError(
        `dlq: unknown subcommand "${subcommand}"; expected list, replay or purge (see --help)`,
      );
  }
}

async function listCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      limit: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const limit = parseLimit(values.limit);
  return withStore(async (store) => {
    const letters = await store.list(limit);
    if (values.json) {
      console.log(JSON.stringify(letters.map(toJson), null, 2));
      return 0;
    }
    const total = await store.count();
    if (letters.length === 0) {
      console.log(`No dead letters in ${store.deadLetterStream}.`);
      return 0;
    }
    console.log(formatTable(letters));
    const more = total > letters.length ? `; --limit ${total} shows them all` : "";
    console.log(
      `\n${letters.length} of ${total} dead letters in ${store.deadLetterStream}, newest last${more}.`,
    );
    return 0;
  });
}

async function replayCommand(args: string[]): Promise<number> {
  const target = parseTarget("replay", args);
  return withStore(async (store) => {
    const print = (r: Replayed) => {
      const as = r.newId === undefined ? "(already replayed: a reply was lost)" : `as ${r.newId}`;
      const traceId = r.traceId ? ` (trace_id ${escapeForTerminal(r.traceId)})` : "";
      console.log(`replayed ${r.id} ${as}${traceId}`);
    };
    const result =
      target === "all" ? await store.replayAll(print) : await store.replay(target, print);
    rejectMissing("replay", store.deadLetterStream, result.missing, "replayed");
    console.log(`Replayed ${plural(result.replayed.length)} to ${store.stream}.`);
    if (result.failed !== undefined) throw replayFailure(store.deadLetterStream, result);
    return 0;
  });
}

async function purgeCommand(args: string[]): Promise<number> {
  const target = parseTarget("purge", args);
  return withStore(async (store) => {
    if (target === "all") {
      console.log(`Removed ${plural(await store.purgeAll())} from ${store.deadLetterStream}.`);
      return 0;
    }
    const result = await store.purge(target);
    rejectMissing("purge", store.deadLetterStream, result.missing, "purged");
    console.log(`Removed ${plural(result.removed)} from ${store.deadLetterStream}.`);
    return 0;
  });
}

// --- arguments --------------------------------------------------------------------------------

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) {
    throw new UsageError(
      `dlq list: --limit expects a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(text)}`,
    );
  }
  return limit;
}

/** The ids given, or "all" for --all; exactly one of the two. */
function parseTarget(subcommand: string, args: string[]): string[] | "all" {
  const { values, positionals } = parseArgs({
    args,
    options: { all: { type: "boolean", default: false } },
    strict: true,
    allowPositionals: true,
  });
  if (values.all && positionals.length > 0) {
    throw new UsageError(`dlq ${subcommand}: give dead-letter ids or --all, not both`);
  }
  if (!values.all && positionals.length === 0) {
    throw new UsageError(`dlq ${subcommand}: give one or more dead-letter ids, or --all`);
  }
  const malformed = positionals.filter((id) => !ENTRY_ID.test(id));
  if (malformed.length > 0) {
    throw new UsageError(
      `dlq ${subcommand}: not a stream entry id (<ms>-<seq>): ${malformed.join(", ")}`,
    );
  }
  return values.all ? "all" : positionals;
}

function rejectMissing(subcommand: string, stream: string, missing: string[], done: string): void {
  if (missing.length === 0) return;
  throw new UsageError(
    `dlq ${subcommand}: not in ${stream}: ${missing.join(", ")}; nothing was ${done}`,
  );
}

function replayFailure(stream: string, result: ReplayResult): Error {
  const { id, message } = result.failed ?? { id: "", message: "" };
  const rest = result.notAttempted > 0 ? `; ${plural(result.notAttempted)} after it not tried` : "";
  return new Error(`dlq replay: ${id} was not replayed and stays in ${stream}: ${message}${rest}`);
}

// --- output -----------------------------------------------------------------------------------

/** The dead letter with the stream's own field names, `original` as its field/value array. */
function toJson(letter: StoredDeadLetter): Record<string, unknown> {
  return {
    id: letter.id,
    original_id: letter.originalId,
    original: letter.original ?? null,
    ...(letter.originalEncoding === undefined
      ? {}
      : { original_encoding: letter.originalEncoding }),
    ...(letter.original === undefined ? { original_text: letter.originalText } : {}),
    ...(letter.truncated === undefined
      ? {}
      : {
          original_bytes: letter.truncated.bytes,
          original_sha256: letter.truncated.sha256 ?? null,
        }),
    reason: letter.reason,
    detail: letter.detail,
    attempts: letter.attempts ?? null,
    failed_at: letter.failedAt,
    subscriber: letter.subscriber,
    trace_id: letter.traceId,
    event_type: letter.eventType,
  };
}

function formatTable(letters: readonly StoredDeadLetter[]): string {
  const header = ["ID", "REASON", "TRACE_ID", "ATTEMPTS", "FAILED_AT", "DETAIL"];
  const rows = letters.map((l) => [
    l.id,
    l.reason || "-",
    l.traceId ?? "-",
    l.attempts === undefined ? "-" : String(l.attempts),
    l.failedAt || "-",
    shorten(l.detail),
  ]);
  return textTable(header, rows);
}

/** One line of at most DETAIL_WIDTH characters. */
function shorten(detail: string): string {
  const line = detail.replace(/\s+/g, " ").trim();
  return line.length > DETAIL_WIDTH ? `${line.slice(0, DETAIL_WIDTH - 1)}…` : line || "-";
}

function plural(count: number): string {
  return `${count} dead letter${count === 1 ? "" : "s"}`;
}

// --- Redis ------------------------------------------------------------------------------------

/** Connects (failing within REDIS_TIMEOUT_MS when Redis does not answer), runs, always closes. */
async function withStore(run: (store: DeadLetterStore) => Promise<number>): Promise<number> {
  const config = loadConfig();
  return withCommandRedis(config, "dlq", (redis) =>
    run(new DeadLetterStore(redis, config.eventStream)),
  );
}
