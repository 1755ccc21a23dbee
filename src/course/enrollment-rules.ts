/**
 * An enrollment's status, derived from the payments of its (tenant, user, course). Pure; the
 * recompute statement (enrollment-recompute.ts) is this function in SQL, and a test checks that
 * they agree on random histories.
 *
 * - Only payments that have arrived count (`paid_at` set): a reversal alone grants nothing.
 * - `active` while at least one of them is in good standing, `revoked` otherwise.
 * - The payment it rests on: while active, the earliest-paid one in good standing (kept while it
 *   stays in good standing); once revoked, the last one reversed, whose reversal is
 *   `revokedByTraceId`. Ties go to the smaller trace_id.
 * - `grantedAt` moves only when it becomes active; `revokedAt` is set when it becomes revoked.
 */
import type { CourseKey } from "./course-key.ts";
import type { PaymentRecord } from "./payment-rules.ts";

export type EnrollmentStatus = "active" | "revoked";

/** The derived columns of a course_enrollments row. */
export interface EnrollmentRecord extends CourseKey {
  readonly language: string | null;
  /** `active` or `revoked`; rows written by hand may hold anything. */
  readonly status: string;
  readonly traceId: string;
  readonly grantedAt: number;
  readonly revokedAt: number | null;
  readonly revokedByTraceId: string | null;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order of the recompute's `ORDER BY … LIMIT 1`: good standing first, then as above. */
function comparePayments(a: PaymentRecord, b: PaymentRecord): number {
  const aGood = a.state === "succeeded";
  const bGood = b.state === "succeeded";
  if (aGood !== bGood) return aGood ? -1 : 1;
  const aRank = aGood ? (a.paidAt ?? 0) : -(a.reversedAt ?? 0);
  const bRank = bGood ? (b.paidAt ?? 0) : -(b.reversedAt ?? 0);
  return aRank - bRank || compareText(a.traceId, b.traceId);
}

/** The payment the status rests on, among the arrived ones; undefined when none has arrived. */
export function decidingPayment(payments: readonly PaymentRecord[]): PaymentRecord | undefined {
  let best: PaymentRecord | undefined;
  for (const payment of payments) {
    if (payment.paidAt === null) continue;
    if (best === undefined || comparePayments(payment, best) < 0) best = payment;
  }
  return best;
}

/**
 * The enrollment of `key` after its payments changed (`payments`: all of the key's rows),
 * given the row before (undefined: none). Undefined when no payment of it has arrived and no
 * row exists; an existing row none of whose payments is on record is left as it is.
 */
export function deriveEnrollment(
  key: CourseKey,
  current: EnrollmentRecord | undefined,
  payments: readonly PaymentRecord[],
  now: number,
): EnrollmentRecord | undefined {
  const deciding = decidingPayment(payments);
  if (deciding === undefined) return current;
  const status: EnrollmentStatus = deciding.state === "succeeded" ? "active" : "revoked";
  if (current === undefined) {
    return {
      tenantId: key.tenantId,
      userId: key.userId,
      courseId: key.courseId,
      language: deciding.language,
      status,
      traceId: deciding.traceId,
      grantedAt: now,
      revokedAt: status === "revoked" ? now : null,
      revokedByTraceId: status === "revoked" ? deciding.reversalTraceId : null,
    };
  }
  const keep =
    current.status === status &&
    (status === "revoked" ||
      payments.some((p) => p.traceId === current.traceId && p.state === "succeeded"));
  if (keep) return current;
  const wasActive = current.status === "active";
  return {
    ...current,
    language: deciding.language,
    status,
    traceId: deciding.traceId,
    grantedAt: status === "active" && !wasActive ? now : current.grantedAt,
    revokedAt: status === "active" ? null : wasActive ? now : current.revokedAt,
    revokedByTraceId:
      status === "active" ? null : wasActive ? deciding.reversalTraceId : current.revokedByTraceId,
  };
}
