/**
 * The correctness gate after every run: the database, the stream (or the BullMQ queue) and the
 * dead letters hold exactly what the event mix says they must. A run that fails it gets no
 * figure in the report.
 *
 * Expected, for events [0, n) of the mix: enrollments = unique payments (each has its own
 * tenant/user/course, replays add nothing), of which active = unique − the payments reversed;
 * processed rows = unique payments + reversals; payment rows (when the schema has them) =
 * unique payments + the payments reversed ahead of the range; dead letters (stream
 * contenders: `<stream>.dlq`; BullMQ: failed jobs) = invalid events; nothing pending.
 */
import { Database } from "bun:sqlite";
import type Redis from "ioredis";
import type { MixCounts } from "./events.ts";

export interface Check {
  name: string;
  expected: number;
  actual: number;
  ok: boolean;
}

export interface GateResult {
  pass: boolean;
  checks: Check[];
}

function check(name: string, expected: number, actual: number): Check {
  return { name, expected, actual, ok: expected === actual };
}

function result(checks: Check[]): GateResult {
  return { pass: checks.every((c) => c.ok), checks };
}

function databaseChecks(path: string, mix: MixCounts): Check[] {
  const db = new Database(path, { readonly: true });
  try {
    const count = (sql: string) => Number((db.query(sql).values()[0] ?? [0])[0]);
    const checks = [
      check("enrollments", mix.unique, count("SELECT count(*) FROM course_enrollments")),
      check(
        "active enrollments",
        mix.unique - mix.revoked,
        count("SELECT count(*) FROM course_enrollments WHERE status = 'active'"),
      ),
      check(
        "processed rows",
        mix.unique + mix.reversal,
        count("SELECT count(*) FROM processed_events"),
      ),
      check(
        "enrollments whose payment is claimed",
        mix.unique,
        count(`SELECT count(*) FROM course_enrollments e JOIN processed_events p
                 ON p.subscriber_name = 'course_payment_subscriber' AND p.trace_id = e.trace_id`),
      ),
    ];
    // A binary from before reversals (--baseline) has no payments table.
    if (count("SELECT count(*) FROM sqlite_schema WHERE name = 'course_payments'") > 0) {
      checks.push(
        check(
          "payment rows",
          mix.unique + mix.reversedAhead,
          count("SELECT count(*) FROM course_payments"),
        ),
      );
    }
    return checks;
  } finally {
    db.close();
  }
}

interface GroupInfo {
  pending: number;
  lag: number | null;
  entriesRead: number | null;
}

export async function groupInfo(redis: Redis, stream: string, group: string): Promise<GroupInfo> {
  const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
  for (const flat of groups) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    if (info.get("name") !== group) continue;
    const numberOrNull = (value: unknown) => (value === null ? null : Number(value));
    return {
      pending: Number(info.get("pending")),
      lag: numberOrNull(info.get("lag") ?? null),
      entriesRead: numberOrNull(info.get("entries-read") ?? null),
    };
  }
  throw new Error(`no group ${group} on ${stream}`);
}

/** Stream contenders: (a), (b) with a database; (c) without one (`databasePath` undefined). */
export async function gateStream(options: {
  redis: Redis;
  stream: string;
  group: string;
  databasePath: string | undefined;
  mix: MixCounts;
  /** (c): how many entries it decoded as valid, from its stats. */
  decodedValid?: number;
}): Promise<GateResult> {
  const { redis, stream, group, databasePath, mix } = options;
  const info = await groupInfo(redis, stream, group);
  const checks = [
    check("stream entries", mix.total, await redis.xlen(stream)),
    check("entries delivered to the group", mix.total, info.entriesRead ?? -1),
    check("pending (delivered, not ACKed)", 0, info.pending),
    check("dead letters", mix.invalid, await redis.xlen(`${stream}.dlq`)),
  ];
  if (databasePath !== undefined) checks.push(...databaseChecks(databasePath, mix));
  if (options.decodedValid !== undefined) {
    checks.push(
      check("decoded as valid", mix.unique + mix.replay + mix.reversal, options.decodedValid),
    );
  }
  return result(checks);
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
}

/** BullMQ contender (d): nothing waiting or active, invalid events failed, the database right. */
export function gateQueue(options: {
  counts: QueueCounts;
  databasePath: string;
  mix: MixCounts;
}): GateResult {
  const { counts, databasePath, mix } = options;
  const unfinished = counts.waiting + counts.active + counts.delayed + counts.prioritized;
  return result([
    check("jobs waiting, active, delayed or prioritized", 0, unfinished),
    check("failed jobs (dead letters)", mix.invalid, counts.failed),
    ...databaseChecks(databasePath, mix),
  ]);
}

export function describeFailures(gate: GateResult): string {
  return gate.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: expected ${c.expected}, got ${c.actual}`)
    .join("; ");
}
