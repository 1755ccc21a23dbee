/**
 * The deterministic event mix every contender gets. Event `i` of a seed is a pure function of
 * (seed, i), so every contender, repeat and mode sees byte-for-byte the same entries (apart from
 * the publish timestamp the producer stamps in when it sends them):
 *
 * - ~85% unique payments: trace_id `evt_<seed>_<i>`, each with its own (tenant, user, course),
 *   so enrollments == unique payments;
 * - ~5% replays: the exact payload of an earlier unique payment (same trace_id, same hash), to be
 *   skipped as duplicates;
 * - ~5% reversals (mix `reversals`, the default): a refund or a chargeback (`rev_<seed>_<i>`) of
 *   one unique payment, half of them of a later one (published before their payment), so
 *   active enrollments == unique payments − the distinct payments reversed;
 * - ~5% invalid: rejected by `decodeEntry` (bad JSON, a missing course_id, an empty user_id, a
 *   tenant_id with a space), to be dead-lettered (or, for BullMQ, failed).
 *
 * The mix `payments` has no reversals (their slots are unique payments): what the bench ran
 * before reversals existed, and what a binary of that time (`--baseline`) is given.
 *
 * Every entry is in the data form `["data", <json>]`. The JSON carries `published_at_us`, the
 * producer's clock in microseconds when it sent the entry (an extra field, allowed and ignored by
 * the contract), and `occurred_at` (the same instant, ISO with milliseconds).
 */

export type EventKind = "unique" | "replay" | "reversal" | "invalid";
export type MixName = "reversals" | "payments";

export const PAYMENT_SUCCEEDED = "paycore.payment_succeeded";
const REVERSAL_TYPES = ["paycore.payment_refunded", "paycore.payment_charged_back"] as const;
/** How far ahead a reversal published before its payment may reach. */
const REVERSAL_AHEAD = 2_000;
const LANGUAGES = ["de", "en", "pt-BR", undefined] as const;
/** How far back a replay may reach for the payment it repeats. */
const REPLAY_WINDOW = 5_000;
/** The first entries are always unique, so a replay always has something to repeat. */
const ALWAYS_UNIQUE = 20;

/** splitmix32-style integer hash: the same (seed, i, salt) → the same 32-bit value. */
function hash(seed: number, i: number, salt: number): number {
  let x = (seed * 0x9e3779b1 + i * 0x85ebca6b + salt * 0xc2b2ae35) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

export function kindOf(seed: number, i: number, mix: MixName = "reversals"): EventKind {
  if (i < ALWAYS_UNIQUE) return "unique";
  const bucket = hash(seed, i, 1) % 100;
  if (bucket < 5) return "replay";
  if (bucket < 10) return "invalid";
  if (bucket < 15 && mix === "reversals") return "reversal";
  return "unique";
}

/** The unique payment a replay at `i` repeats: an earlier unique index. */
export function replayTarget(seed: number, i: number, mix: MixName = "reversals"): number {
  let j = i - 1 - (hash(seed, i, 2) % Math.min(i, REPLAY_WINDOW));
  while (kindOf(seed, j, mix) !== "unique") j--;
  return j;
}

/** The unique payment a reversal at `i` reverses: a later one for half of them, else earlier. */
export function reversalTarget(seed: number, i: number): number {
  if (hash(seed, i, 5) % 2 === 0) {
    let j = i + 1 + (hash(seed, i, 6) % REVERSAL_AHEAD);
    while (kindOf(seed, j) !== "unique") j++;
    return j;
  }
  return replayTarget(seed, i);
}

export function traceIdOf(seed: number, i: number): string {
  return `evt_${seed}_${i}`;
}

/** The index inside a unique payment's trace_id, or -1 for anything else. */
export function indexOfTraceId(traceId: string): number {
  const match = /^evt_\d+_(\d+)$/.exec(traceId);
  return match === null ? -1 : Number(match[1]);
}

function paymentJson(seed: number, i: number, publishedUs: number): string {
  const language = LANGUAGES[hash(seed, i, 3) % LANGUAGES.length];
  const metadata: Record<string, string> = { course_id: courseOf(i) };
  if (language !== undefined) metadata.language = language;
  return JSON.stringify({
    event_type: PAYMENT_SUCCEEDED,
    trace_id: traceIdOf(seed, i),
    tenant_id: tenantOf(i),
    user_id: userOf(seed, i),
    metadata,
    occurred_at: new Date(publishedUs / 1000).toISOString(),
    published_at_us: publishedUs,
  });
}

const tenantOf = (i: number) => `tenant_${i % 20}`;
const userOf = (seed: number, i: number) => `user_${seed}_${i}`;
const courseOf = (i: number) => `course_${i % 50}`;

/** A refund or chargeback of payment `j = reversalTarget(seed, i)`, naming that payment's key. */
function reversalJson(seed: number, i: number, publishedUs: number): string {
  const j = reversalTarget(seed, i);
  return JSON.stringify({
    event_type: REVERSAL_TYPES[hash(seed, i, 7) % REVERSAL_TYPES.length],
    trace_id: `rev_${seed}_${i}`,
    tenant_id: tenantOf(j),
    user_id: userOf(seed, j),
    metadata: { course_id: courseOf(j), payment_trace_id: traceIdOf(seed, j) },
    occurred_at: new Date(publishedUs / 1000).toISOString(),
    published_at_us: publishedUs,
  });
}

function invalidJson(seed: number, i: number, publishedUs: number): string {
  const base = {
    event_type: PAYMENT_SUCCEEDED,
    trace_id: `bad_${seed}_${i}`,
    tenant_id: `tenant_${i % 20}`,
    user_id: `user_${seed}_${i}`,
    metadata: { course_id: `course_${i % 50}` } as Record<string, string>,
    occurred_at: new Date(publishedUs / 1000).toISOString(),
    published_at_us: publishedUs,
  };
  switch (hash(seed, i, 4) % 4) {
    case 0:
      return JSON.stringify(base).slice(0, 60); // cut off: invalid_json
    case 1:
      return JSON.stringify({ ...base, metadata: { language: "de" } }); // no course_id
    case 2:
      return JSON.stringify({ ...base, user_id: "" }); // empty id
    default:
      return JSON.stringify({ ...base, tenant_id: "tenant with space" }); // whitespace
  }
}

/** The stream entry (field/value pairs) of event `i`, stamped with `publishedUs`. */
export function entryFields(
  seed: number,
  i: number,
  publishedUs: number,
  mix: MixName = "reversals",
): string[] {
  switch (kindOf(seed, i, mix)) {
    case "unique":
      return ["data", paymentJson(seed, i, publishedUs)];
    case "replay":
      return ["data", paymentJson(seed, replayTarget(seed, i, mix), publishedUs)];
    case "reversal":
      return ["data", reversalJson(seed, i, publishedUs)];
    default:
      return ["data", invalidJson(seed, i, publishedUs)];
  }
}

export interface MixCounts {
  total: number;
  unique: number;
  replay: number;
  reversal: number;
  invalid: number;
  /** Distinct unique payments in range that a reversal in range reverses: revoked courses. */
  revoked: number;
  /** Distinct payments past the range that a reversal in range reverses: rows awaiting them. */
  reversedAhead: number;
}

/** Counts of each kind among events [from, to). */
export function countMix(
  seed: number,
  from: number,
  to: number,
  mix: MixName = "reversals",
): MixCounts {
  const counts: MixCounts = {
    total: to - from,
    unique: 0,
    replay: 0,
    reversal: 0,
    invalid: 0,
    revoked: 0,
    reversedAhead: 0,
  };
  const reversed = new Set<number>();
  for (let i = from; i < to; i++) {
    const kind = kindOf(seed, i, mix);
    counts[kind]++;
    if (kind === "reversal") reversed.add(reversalTarget(seed, i));
  }
  for (const j of reversed) {
    if (j >= to) counts.reversedAhead++;
    else if (j >= from) counts.revoked++;
  }
  return counts;
}

/** Wall-clock microseconds, finer than Date.now(): the publish stamp. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
