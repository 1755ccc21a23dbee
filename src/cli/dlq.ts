import { loadConfig } from "../config/config.ts";
import { DEAD_LETTER_REASONS, type DeadLetterReason } from "../contract/decode.ts";
import { escapeForTerminal } from "../observe/terminal-text.ts";
import { ENTRY_ID, type StoredDeadLetter } from "../stream/dead-letter-entry.ts";
import { DeadLetterStore, type Replayed, type ReplayResult } from "../stream/dead-letter-store.ts";
import { withCommandRedis } from "./command-connections.ts";
import { textTable } from "./text-table.ts";
import { EXIT_FAILURE, UsageError } from "./usage-error.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 10_000;
const DETAIL_WIDTH = 60;

export interface ListOptions {
  limit?: string | undefined;
  json?: boolean | undefined;
}

export interface TargetOptions {
  all?: boolean | undefined;
  /** replay only: every dead letter of this reason. */
  reason?: string | undefined;
  /** purge only: no confirmation asked. */
  yes?: boolean | undefined;
}

export async function dlqList(options: ListOptions): Promise<number> {
  const limit = parseLimit(options.limit);
  return withStore(async (store) => {
    const letters = await store.list(limit);
    if (options.json) {
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

export async function dlqShow(
  id: string,
  options: { json?: boolean | undefined },
): Promise<number> {
  if (!ENTRY_ID.test(id)) {
    throw new UsageError(`dlq show: not a stream entry id (<ms>-<seq>): ${escapeForTerminal(id)}`);
  }
  return withStore(async (store) => {
    const { found } = await store.get([id]);
    const letter = found[0];
    if (letter === undefined) {
      throw new UsageError(`dlq show: not in ${store.deadLetterStream}: ${id}`);
    }
    console.log(options.json ? JSON.stringify(toJson(letter), null, 2) : formatLetter(letter));
    return 0;
  });
}

export async function dlqReplay(ids: string[], options: TargetOptions): Promise<number> {
  const target = parseTarget("replay", ids, options);
  const reason = options.reason === undefined ? undefined : parseReason(options.reason);
  return withStore(async (store) => {
    const print = (r: Replayed) => {
      const as = r.newId === undefined ? "(already replayed: a reply was lost)" : `as ${r.newId}`;
      const traceId = r.traceId ? ` (trace_id ${escapeForTerminal(r.traceId)})` : "";
      console.log(`replayed ${r.id} ${as}${traceId}`);
    };
    const only = reason === undefined ? undefined : (l: StoredDeadLetter) => l.reason === reason;
    const result =
      target === "all" ? await store.replayAll(print, only) : await store.replay(target, print);
    rejectMissing("replay", store.deadLetterStream, result.missing, "replayed");
    const which = reason === undefined ? "" : ` of reason ${reason}`;
    console.log(`Replayed ${plural(result.replayed.length)}${which} to ${store.stream}.`);
    if (result.failed !== undefined) throw replayFailure(store.deadLetterStream, result);
    return 0;
  });
}

export async function dlqPurge(ids: string[], options: TargetOptions): Promise<number> {
  const target = parseTarget("purge", ids, options);
  return withStore(async (store) => {
    if (target === "all") {
      const count = await store.count();
      if (count === 0) {
        console.log(`No dead letters in ${store.deadLetterStream}.`);
        return 0;
      }
      if (!options.yes && !confirmPurgeAll(store.deadLetterStream, count)) {
        console.log("Nothing was purged.");
        return EXIT_FAILURE;
      }
      console.log(`Removed ${plural(await store.purgeAll())} from ${store.deadLetterStream}.`);
      return 0;
    }
    const result = await store.purge(target);
    rejectMissing("purge", store.deadLetterStream, result.missing, "purged");
    console.log(`Removed ${plural(result.removed)} from ${store.deadLetterStream}.`);
    return 0;
  });
}

/**
 * Deleting every dead letter cannot be undone: on a terminal it asks, elsewhere (a script, a
 * pipe) it refuses unless --yes says so.
 */
function confirmPurgeAll(stream: string, count: number): boolean {
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `dlq purge --all would delete ${plural(count)} from ${stream}: add --yes to confirm (stdin is not a terminal, so it cannot ask)`,
    );
  }
  // Bun's confirm(): prints the question with " [y/N] " and reads one line from stdin.
  return confirm(`Delete all ${plural(count)} in ${stream}? This cannot be undone.`);
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

/** The ids given, or "all" for --all (or --reason); exactly one of the two. */
function parseTarget(
  subcommand: string,
  positionals: string[],
  options: TargetOptions,
): string[] | "all" {
  const all = options.all === true || options.reason !== undefined;
  const what = options.reason === undefined ? "--all" : "--reason";
  if (all && positionals.length > 0) {
    throw new UsageError(`dlq ${subcommand}: give dead-letter ids or ${what}, not both`);
  }
  if (!all && positionals.length === 0) {
    const or = subcommand === "replay" ? ", --reason R" : "";
    throw new UsageError(`dlq ${subcommand}: give one or more dead-letter ids${or}, or --all`);
  }
  const malformed = positionals.filter((id) => !ENTRY_ID.test(id));
  if (malformed.length > 0) {
    throw new UsageError(
      `dlq ${subcommand}: not a stream entry id (<ms>-<seq>): ${malformed.join(", ")}`,
    );
  }
  return all ? "all" : positionals;
}

/** One of the reasons the worker dead-letters for; a typo is an error, not "0 replayed". */
function parseReason(text: string): DeadLetterReason {
  const reason = DEAD_LETTER_REASONS.find((known) => known === text);
  if (reason === undefined) {
    throw new UsageError(
      `dlq replay: --reason expects one of ${DEAD_LETTER_REASONS.join(", ")}, got ${JSON.stringify(escapeForTerminal(text))}`,
    );
  }
  return reason;
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

/** `dlq show`: every field on its own line, then the original field/value pairs. */
function formatLetter(letter: StoredDeadLetter): string {
  const fields: [string, string | number | undefined][] = [
    ["id", letter.id],
    ["reason", letter.reason],
    ["detail", letter.detail],
    ["attempts", letter.attempts],
    ["failed_at", letter.failedAt],
    ["subscriber", letter.subscriber],
    ["trace_id", letter.traceId],
    ["event_type", letter.eventType],
    ["original_id", letter.originalId],
  ];
  if (letter.truncated !== undefined) {
    fields.push(["original_bytes", letter.truncated.bytes]);
    fields.push(["original_sha256", letter.truncated.sha256]);
  }
  const lines = fields.map(
    ([name, value]) => `${`${name}:`.padEnd(16)}${escapeForTerminal(String(value ?? "-"))}`,
  );
  if (letter.original === undefined) {
    const what =
      letter.truncated === undefined ? "original (not field/value pairs)" : "original_prefix";
    lines.push(`${what}:`, `  ${escapeForTerminal(letter.originalText)}`);
    return lines.join("\n");
  }
  const encoding = letter.originalEncoding === "base64" ? " (each value base64: not UTF-8)" : "";
  lines.push(`original${encoding}:`);
  for (let i = 0; i < letter.original.length; i += 2) {
    const field = escapeForTerminal(letter.original[i] ?? "");
    lines.push(`  ${field}: ${escapeForTerminal(letter.original[i + 1] ?? "")}`);
  }
  return lines.join("\n");
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
    run(
      new DeadLetterStore(redis, config.eventStream, { deadLetterStream: config.deadLetterStream }),
    ),
  );
}
