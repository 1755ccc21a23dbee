/**
 * Course access, the effect a payment buys and a reversal takes back. One batch is: read the
 * rows of the payments it names, fold its facts into them (payment-rules.ts, pure), write the
 * changed rows with one statement, recompute the enrollments of their keys with one statement.
 */
import type { Tx } from "../db/database.ts";
import { type CourseKey, keyString, pickKey } from "./course-key.ts";
import { type RecomputeKeys, recomputeEnrollments } from "./enrollment-recompute.ts";
import { decidingPayment } from "./enrollment-rules.ts";
import {
  type FactEffect,
  foldPayments,
  type PaymentFact,
  type PaymentRecord,
  paymentTraceIdOf,
} from "./payment-rules.ts";
import { readPayments, writePayments } from "./payment-store.ts";

/** An enrollment this batch took from active to revoked. */
export interface Revocation extends CourseKey {
  /** The payment it rested on last. */
  readonly paymentTraceId: string;
  readonly reversalTraceId: string;
}

export interface PaymentBatchResult {
  /** One per fact, in order. */
  readonly effects: readonly FactEffect[];
  /** The row of a payment the facts name, as the batch leaves it. */
  paymentAfter(traceId: string): PaymentRecord | undefined;
  /** The enrollments the batch revoked. */
  readonly revocations: readonly Revocation[];
  /** The status after the batch of the keys whose stored payment a reversal took back. */
  readonly statusAfterReversal: ReadonlyMap<string, string>;
}

export class MonetizationService {
  /**
   * Applies a batch of payments and reversals inside the caller's transaction. The result is
   * the same for any order of a payment and its reversals (reversal is final); a fact whose
   * effect is `conflict` changed nothing.
   */
  async applyPaymentFacts(
    facts: readonly PaymentFact[],
    tx: Tx,
    now: number,
  ): Promise<PaymentBatchResult> {
    const named = new Set<string>();
    const reversedKeys = new Map<string, CourseKey>();
    for (const fact of facts) {
      named.add(paymentTraceIdOf(fact));
      if (fact.kind === "reversed") reversedKeys.set(keyString(fact.key), fact.key);
    }
    // With the keys' other payments, so what the batch leaves each reversed key is known.
    const stored = await readPayments(tx, named, [...reversedKeys.values()]);
    const { changed, effects } = foldPayments(stored, facts, now);
    const paymentAfter = (traceId: string) => changed.get(traceId) ?? stored.get(traceId);
    if (changed.size === 0) {
      return { effects, paymentAfter, revocations: [], statusAfterReversal: new Map() };
    }
    const keysChange = effects.some((effect) => effect.type === "reversal_set_aside");
    await writePayments(tx, changed.values(), keysChange);

    await recomputeEnrollments(tx, recomputeKeys(stored, changed), now);
    return { effects, paymentAfter, ...transitions(facts, effects, stored, changed) };
  }
}

/**
 * What the batch did to the keys whose stored payment a reversal took back: a payment in good
 * standing on record means an active enrollment, so those are the ones it may have revoked.
 * Their status after is that of their deciding payment (enrollment-rules.ts, the rule the
 * recompute statement applies), among all their payments, which the first read fetched.
 */
function transitions(
  facts: readonly PaymentFact[],
  effects: readonly FactEffect[],
  stored: ReadonlyMap<string, PaymentRecord>,
  changed: ReadonlyMap<string, PaymentRecord>,
): Pick<PaymentBatchResult, "revocations" | "statusAfterReversal"> {
  const undone = new Set<string>();
  facts.forEach((fact, i) => {
    const effect = effects[i];
    if (effect?.type === "reversed" && effect.wasStored) undone.add(keyString(fact.key));
  });
  const revocations: Revocation[] = [];
  const statusAfterReversal = new Map<string, string>();
  if (undone.size === 0) return { revocations, statusAfterReversal };
  const payments = new Map<string, PaymentRecord[]>();
  for (const row of new Map([...stored, ...changed]).values()) {
    const key = keyString(row);
    if (undone.has(key)) payments.set(key, [...(payments.get(key) ?? []), row]);
  }
  for (const [key, rows] of payments) {
    const deciding = decidingPayment(rows);
    if (deciding === undefined) continue;
    const status = deciding.state === "succeeded" ? "active" : "revoked";
    statusAfterReversal.set(key, status);
    if (status === "revoked") {
      revocations.push({
        ...pickKey(deciding),
        paymentTraceId: deciding.traceId,
        reversalTraceId: deciding.reversalTraceId ?? "",
      });
    }
  }
  return { revocations, statusAfterReversal };
}

/**
 * The keys to recompute: those of the changed rows whose payment has arrived (a reversal alone
 * leaves its key untouched). A key whose changes are all new payments in good standing is
 * newly paid (its deciding payment needs no lookup); any other change makes it derived.
 */
function recomputeKeys(
  stored: ReadonlyMap<string, PaymentRecord>,
  changed: ReadonlyMap<string, PaymentRecord>,
): RecomputeKeys {
  const newlyPaid = new Map<string, PaymentRecord>();
  const derived = new Map<string, CourseKey>();
  for (const row of changed.values()) {
    if (row.paidAt === null) continue;
    const key = keyString(row);
    if (stored.has(row.traceId) || row.state !== "succeeded") {
      derived.set(key, row);
      newlyPaid.delete(key);
    } else if (!derived.has(key)) {
      const best = newlyPaid.get(key);
      if (best === undefined || row.traceId < best.traceId) newlyPaid.set(key, row);
    }
  }
  // A payment row is its own key, trace_id and language.
  return { derived: derived.values(), newlyPaid: newlyPaid.values() };
}
