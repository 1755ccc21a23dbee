/**
 * The mix `coursepay simulate load` publishes: new payments, replays of earlier ones (the same
 * entry again, as PayCore re-sends it), refunds and chargebacks (half of them published before
 * their payment) and invalid entries, in exact proportions and in an order fixed by a seed.
 * Pure: it builds stream entries and never touches Redis.
 */
import {
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
} from "../contract/event-schema.ts";
import { signData } from "../contract/signature.ts";
import { type PlannedPayment, ReversalTargets } from "./reversal-targets.ts";

/** The broken entries it produces, in turn, so every kind shows up. */
export const INVALID_KINDS = [
  "missing_tenant_id",
  "bad_json",
  "whitespace_in_id",
  "missing_course_id",
] as const;
export type InvalidKind = (typeof INVALID_KINDS)[number];

export type LoadEntry =
  /** `keyIndex`: its (tenant, user, course) among tenants × users × courses. */
  | { kind: "valid"; traceId: string; keyIndex: number; fields: string[] }
  /** The same fields as an earlier valid entry (same trace_id, same payload, same signature). */
  | { kind: "duplicate"; traceId: string; fields: string[] }
  /** A refund or chargeback of a valid entry's payment, maybe published before it. */
  | {
      kind: "reversal";
      traceId: string;
      paymentTraceId: string;
      keyIndex: number;
      beforePayment: boolean;
      fields: string[];
    }
  | { kind: "invalid"; invalid: InvalidKind; fields: string[] };

export interface LoadMixOptions {
  /** Entries in all. */
  count: number;
  /** Tenants `tenant_1…`. @defaultValue 3 */
  tenants?: number;
  /** Users per tenant `user_1…`. @defaultValue 50 */
  users?: number;
  /** Courses `course_001…`. @defaultValue 10 */
  courses?: number;
  /** Fraction of entries replaying an earlier valid one. @defaultValue 0.05 */
  duplicates?: number;
  /** Fraction of invalid entries. @defaultValue 0.01 */
  invalid?: number;
  /**
   * Fraction of refunds and chargebacks, each of its own valid entry's payment; every other
   * one is published before that payment. @defaultValue 0
   */
  refunds?: number;
  /** Decides the order, the attributes and the trace_ids; the same seed, the same mix. */
  seed: number;
  /** Signs each entry like PayCore (the first PAYCORE_SIGNING_SECRET) when set. */
  signingSecret?: string | undefined;
  /** Milliseconds since the epoch for `occurred_at`. @defaultValue Date.now */
  now?: () => number;
  /** Replays are picked among this many most recent valid entries. @defaultValue 10000 */
  replayWindow?: number;
}

export interface LoadPlan {
  valid: number;
  duplicates: number;
  invalid: number;
  reversals: number;
}

export class LoadMixError extends Error {
  override readonly name = "LoadMixError";
}

/** Exact counts for `count` entries: each fraction rounded, the rest valid. */
export function planLoad(
  count: number,
  duplicates: number,
  invalid: number,
  refunds = 0,
): LoadPlan {
  if (!Number.isInteger(count) || count < 1) throw new LoadMixError("count must be at least 1");
  for (const [name, fraction] of [
    ["duplicates", duplicates],
    ["invalid", invalid],
    ["refunds", refunds],
  ] as const) {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new LoadMixError(`${name} must be a fraction from 0 to 1, got ${fraction}`);
    }
  }
  const plan = {
    duplicates: Math.round(count * duplicates),
    invalid: Math.round(count * invalid),
    valid: 0,
    reversals: Math.round(count * refunds),
  };
  plan.valid = count - plan.duplicates - plan.invalid - plan.reversals;
  if (plan.valid < 0) throw new LoadMixError("duplicates + invalid + refunds must not exceed 1");
  if (plan.duplicates > 0 && plan.valid === 0) {
    throw new LoadMixError("duplicates need at least one valid entry to replay");
  }
  if (plan.reversals > plan.valid) {
    throw new LoadMixError("refunds need a payment each: at most as many as valid entries");
  }
  return plan;
}

/** mulberry32: a small, fast, seedable generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const VALID = 0;
const DUPLICATE = 1;
const INVALID = 2;
const REVERSAL = 3;
const LANGUAGES = ["de", "en", "fr", "es", "pt-BR"] as const;

/**
 * The kinds of the `count` entries in publishing order: the plan's counts shuffled, then the
 * first duplicate moved after the first valid entry, so every replay has something to replay.
 */
function shuffledKinds(plan: LoadPlan, random: () => number): Uint8Array {
  const invalidEnd = plan.valid + plan.duplicates + plan.invalid;
  const kinds = new Uint8Array(invalidEnd + plan.reversals);
  kinds.fill(DUPLICATE, plan.valid, plan.valid + plan.duplicates);
  kinds.fill(INVALID, plan.valid + plan.duplicates, invalidEnd);
  kinds.fill(REVERSAL, invalidEnd);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as number, kinds[i] as number];
  }
  const firstValid = kinds.indexOf(VALID);
  const firstDuplicate = kinds.indexOf(DUPLICATE);
  if (firstDuplicate !== -1 && firstDuplicate < firstValid) {
    kinds[firstDuplicate] = VALID;
    kinds[firstValid] = DUPLICATE;
  }
  return kinds;
}

interface Drawn {
  tenant: number;
  user: number;
  course: number;
  language: string | undefined;
}

/** Yields the entries of the mix, in publishing order. */
export function* generateLoad(options: LoadMixOptions): Generator<LoadEntry> {
  const plan = planLoad(
    options.count,
    options.duplicates ?? 0.05,
    options.invalid ?? 0.01,
    options.refunds ?? 0,
  );
  const tenants = options.tenants ?? 3;
  const users = options.users ?? 50;
  const courses = options.courses ?? 10;
  const now = options.now ?? Date.now;
  const replayWindow = Math.max(1, options.replayWindow ?? 10_000);
  const random = seededRandom(options.seed);
  const pick = (n: number) => 1 + Math.floor(random() * n);
  // The seed is in every trace_id: runs with other seeds never collide, the same seed replays.
  const prefix = `evt_load_${(options.seed >>> 0).toString(16).padStart(8, "0")}`;

  const sign = (data: string): string[] =>
    options.signingSecret === undefined
      ? ["data", data]
      : ["data", data, "signature", signData(data, options.signingSecret)];

  const draw = (): Drawn => {
    const course = pick(courses);
    // One payment in five carries no language, as the contract allows.
    const language =
      random() < 0.2 ? undefined : LANGUAGES[Math.floor(random() * LANGUAGES.length)];
    return { course, language, tenant: pick(tenants), user: pick(users) };
  };
  const keyIndexOf = (d: Drawn) => ((d.tenant - 1) * users + (d.user - 1)) * courses + d.course - 1;
  const keyOf = (keyIndex: number) => ({
    tenant: Math.floor(keyIndex / courses / users) + 1,
    user: (Math.floor(keyIndex / courses) % users) + 1,
    course: (keyIndex % courses) + 1,
  });
  const courseId = (course: number) => `course_${String(course).padStart(3, "0")}`;
  const envelope = (
    eventType: string,
    traceId: string,
    key: Omit<Drawn, "language">,
    metadata: Record<string, string>,
  ) => ({
    event_type: eventType,
    trace_id: traceId,
    tenant_id: `tenant_${key.tenant}`,
    user_id: `user_${key.user}`,
    metadata: { course_id: courseId(key.course), ...metadata },
    occurred_at: new Date(now()).toISOString(),
    simulated: true,
  });
  const payment = (traceId: string, d: Drawn) =>
    envelope(
      PAYMENT_SUCCEEDED,
      traceId,
      d,
      d.language === undefined ? {} : { language: d.language },
    );

  const targets = new ReversalTargets(random, replayWindow);
  /** Payments made early for a reversal published first, by number. */
  const early = new Map<number, Drawn>();
  let drawn: Drawn | undefined;
  let paymentCount = 0;
  const fresh = (): PlannedPayment => {
    drawn = draw();
    return { number: paymentCount++, keyIndex: keyIndexOf(drawn) };
  };
  // A ring of the latest valid entries, the ones a replay picks from.
  const recent: (LoadEntry & { traceId: string })[] = [];
  let validSlots = 0;
  let invalidCount = 0;
  let reversalCount = 0;
  for (const kind of shuffledKinds(plan, random)) {
    if (kind === VALID) {
      const { payment: planned, reversed } = targets.nextPayment(fresh);
      const attributes = reversed ? early.get(planned.number) : drawn;
      early.delete(planned.number);
      const traceId = `${prefix}_${planned.number}`;
      const entry = {
        kind: "valid" as const,
        traceId,
        keyIndex: planned.keyIndex,
        fields: sign(JSON.stringify(payment(traceId, attributes as Drawn))),
      };
      recent[validSlots++ % replayWindow] = entry;
      yield entry;
    } else if (kind === DUPLICATE) {
      const original = recent[Math.floor(random() * recent.length)];
      if (original === undefined) throw new Error("unreachable: a replay before any payment");
      yield { kind: "duplicate", traceId: original.traceId, fields: [...original.fields] };
    } else if (kind === REVERSAL) {
      const { payment: planned, beforePayment } = targets.target(
        reversalCount % 2 === 0,
        plan.valid - validSlots,
        fresh,
      );
      if (beforePayment) early.set(planned.number, drawn as Drawn);
      // Refunds and chargebacks in turn, crossed with before/after their payment.
      const eventType =
        Math.floor(reversalCount / 2) % 2 === 0 ? PAYMENT_REFUNDED : PAYMENT_CHARGED_BACK;
      const traceId = `${prefix}_rev_${reversalCount++}`;
      const paymentTraceId = `${prefix}_${planned.number}`;
      const data = envelope(eventType, traceId, keyOf(planned.keyIndex), {
        payment_trace_id: paymentTraceId,
      });
      yield {
        kind: "reversal",
        traceId,
        paymentTraceId,
        keyIndex: planned.keyIndex,
        beforePayment,
        fields: sign(JSON.stringify(data)),
      };
    } else {
      const invalid = INVALID_KINDS[invalidCount % INVALID_KINDS.length] as InvalidKind;
      const broken: Record<string, unknown> = payment(`${prefix}_bad_${invalidCount++}`, draw());
      yield { kind: "invalid", invalid, fields: sign(brokenData(invalid, broken)) };
    }
  }
}

/** The `data` string of an entry the worker must reject, for each kind. */
function brokenData(kind: InvalidKind, envelope: Record<string, unknown>): string {
  switch (kind) {
    case "missing_tenant_id": {
      const { tenant_id: _dropped, ...rest } = envelope;
      return JSON.stringify(rest);
    }
    case "bad_json":
      // Cut off mid-object, as a truncated write would leave it.
      return JSON.stringify(envelope).slice(0, -10);
    case "whitespace_in_id":
      return JSON.stringify({ ...envelope, user_id: `${String(envelope.user_id)} x` });
    case "missing_course_id":
      return JSON.stringify({ ...envelope, metadata: {} });
  }
}
