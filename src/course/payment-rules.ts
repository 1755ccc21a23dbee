/**
 * What a payment or a reversal does to the payment row it names. Pure: the caller reads the
 * rows, folds the batch's facts into them here and writes the result with one statement.
 *
 * The rules: a payment is in good standing (`succeeded`) until a reversal of it arrives;
 * reversal is final, and the first one recorded stays. A reversal that arrives before its
 * payment is recorded on the payment's row (with `paid_at` null and the reversal's key), so the
 * payment, when it comes, is recorded already reversed. A reversal naming another tenant, user
 * or course than its payment changes nothing: a conflict.
 */
import type { PaymentState } from "../db/schema.ts";
import { type CourseKey, describeMismatch, keysEqual } from "./course-key.ts";

export type ReversalState = Exclude<PaymentState, "succeeded">;

/** A course_payments row. */
export interface PaymentRecord extends CourseKey {
  readonly traceId: string;
  readonly language: string | null;
  readonly state: PaymentState;
  /** Null while only a reversal of it is known. */
  readonly paidAt: number | null;
  readonly reversalTraceId: string | null;
  readonly reversedAt: number | null;
}

export type PaymentFact =
  | {
      readonly kind: "paid";
      readonly traceId: string;
      readonly key: CourseKey;
      readonly language: string | null;
    }
  | {
      readonly kind: "reversed";
      /** The reversal's own trace_id. */
      readonly traceId: string;
      readonly paymentTraceId: string;
      readonly key: CourseKey;
      readonly state: ReversalState;
    };

/** What one fact did to its payment row. */
export type FactEffect =
  /** A payment recorded in good standing: its course is active. */
  | { readonly type: "granted" }
  /** A payment whose reversal arrived first: recorded, and it never makes the course active. */
  | { readonly type: "paid_reversed"; readonly reversalTraceId: string }
  /**
   * A payment whose early reversal named another key: the payment counts, the reversal is set
   * aside (it was acknowledged before it could be checked) and the row is the payment's.
   */
  | {
      readonly type: "reversal_set_aside";
      readonly reversalTraceId: string;
      readonly detail: string;
    }
  /** A reversal that took its payment out of good standing. */
  | { readonly type: "reversed"; readonly wasStored: boolean }
  /** A reversal recorded before its payment arrived. */
  | { readonly type: "reversed_before_payment" }
  /** A second reversal of a reversed payment: nothing changes, not an error. */
  | { readonly type: "already_reversed"; readonly reversalTraceId: string }
  /** A reversal that does not match its payment: never applied. */
  | { readonly type: "conflict"; readonly detail: string };

export interface FactResult {
  /** The row after the fact; undefined when there was none and there still is none. */
  readonly row: PaymentRecord | undefined;
  readonly effect: FactEffect;
}

/** Applies one fact to the row of the payment it names (undefined: no row yet). */
export function applyFact(
  row: PaymentRecord | undefined,
  fact: PaymentFact,
  now: number,
): FactResult {
  return fact.kind === "paid" ? applyPayment(row, fact, now) : applyReversal(row, fact, now);
}

function applyPayment(
  row: PaymentRecord | undefined,
  fact: Extract<PaymentFact, { kind: "paid" }>,
  now: number,
): FactResult {
  const paid: PaymentRecord = {
    ...fact.key,
    traceId: fact.traceId,
    language: fact.language,
    state: "succeeded",
    paidAt: now,
    reversalTraceId: null,
    reversedAt: null,
  };
  if (row === undefined) return { row: paid, effect: { type: "granted" } };
  const reversalTraceId = row.reversalTraceId ?? "";
  // Already on record (backfilled by the migration, say): nothing changes.
  if (row.paidAt !== null) {
    return {
      row,
      effect:
        row.state === "succeeded"
          ? { type: "granted" }
          : { type: "paid_reversed", reversalTraceId },
    };
  }
  if (!keysEqual(row, fact.key)) {
    const detail = `reversal ${reversalTraceId}, recorded before payment ${fact.traceId} arrived, does not match it and is set aside: ${describeMismatch(fact.key, row, "the payment")}`;
    return { row: paid, effect: { type: "reversal_set_aside", reversalTraceId, detail } };
  }
  return {
    row: { ...row, language: fact.language, paidAt: now },
    effect: { type: "paid_reversed", reversalTraceId },
  };
}

function applyReversal(
  row: PaymentRecord | undefined,
  fact: Extract<PaymentFact, { kind: "reversed" }>,
  now: number,
): FactResult {
  const reversal = { state: fact.state, reversalTraceId: fact.traceId, reversedAt: now };
  if (row === undefined) {
    return {
      row: { ...fact.key, traceId: fact.paymentTraceId, language: null, paidAt: null, ...reversal },
      effect: { type: "reversed_before_payment" },
    };
  }
  if (!keysEqual(row, fact.key)) {
    const what = fact.state === "refunded" ? "refund" : "chargeback";
    const detail =
      row.paidAt === null
        ? `${what} ${fact.traceId} does not match reversal ${row.reversalTraceId ?? ""}, recorded for payment ${row.traceId} before it arrived: ${describeMismatch(row, fact.key, "that reversal")}`
        : `${what} ${fact.traceId} does not match payment ${row.traceId}: ${describeMismatch(row, fact.key, "the payment")}`;
    return { row, effect: { type: "conflict", detail } };
  }
  if (row.state !== "succeeded") {
    return {
      row,
      effect: { type: "already_reversed", reversalTraceId: row.reversalTraceId ?? "" },
    };
  }
  return { row: { ...row, ...reversal }, effect: { type: "reversed", wasStored: true } };
}

export interface FoldResult {
  /** The final row of every payment the batch changed, by payment trace_id. */
  readonly changed: ReadonlyMap<string, PaymentRecord>;
  /** One effect per fact, in the facts' order. */
  readonly effects: readonly FactEffect[];
}

/** The payment trace_id a fact names. */
export function paymentTraceIdOf(fact: PaymentFact): string {
  return fact.kind === "paid" ? fact.traceId : fact.paymentTraceId;
}

/**
 * Folds a batch's facts, in order, into the stored rows (`stored`: the rows of the payments the
 * facts name, as read in the batch's transaction). Since reversal is final and the first one
 * stays, the final rows are those of any order in which each reversal is applied after the
 * reversals before it; `wasStored` says whether a reversal undid a payment already committed.
 */
export function foldPayments(
  stored: ReadonlyMap<string, PaymentRecord>,
  facts: readonly PaymentFact[],
  now: number,
): FoldResult {
  const current = new Map(stored);
  const changed = new Map<string, PaymentRecord>();
  const effects: FactEffect[] = [];
  for (const fact of facts) {
    const paymentTraceId = paymentTraceIdOf(fact);
    const before = current.get(paymentTraceId);
    const { row, effect } = applyFact(before, fact, now);
    if (row !== undefined && row !== before) {
      current.set(paymentTraceId, row);
      changed.set(paymentTraceId, row);
    }
    effects.push(
      effect.type === "reversed"
        ? { type: "reversed", wasStored: before === stored.get(paymentTraceId) }
        : effect,
    );
  }
  return { changed, effects };
}
